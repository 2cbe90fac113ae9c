"""Generate the labelled test set of the personal-data guard (bench/privacy.py).

Why: the guard's precision and recall are measured on New Caledonian data — Kanak,
Caldoche, Wallisian, Vietnamese and French names, addresses in Nouméa and the communes,
+687 numbers, NIR, IBAN, plates — and on look-alikes that must not be flagged (RIDET,
SIRET, 988xx postcodes, a directory of public services, ordinary dates, product codes,
place and species names under a `nom` header). Everything is invented; a third of the
first names and surnames drawn here are NOT in the guard's own lists
(niaouli/privacy/data), so that the measure is not taken on what the guard memorised.

Each table is a list of columns {header, label, values}; `label` is the kind the guard
should report, or "none". Run: `.venv/bin/python bench/privacy_testset.py [--seed 21]`
→ bench/data/privacy-testset.json (committed; same seed, same file).
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "privacy-testset.json"
ROWS = 40

FIRST = {
    "listed": [
        "Jean",
        "Marie",
        "Pierre",
        "Sylvie",
        "Nathalie",
        "Christophe",
        "Malia",
        "Sosefo",
        "Petelo",
        "Soane",
        "Kalepo",
        "Atonio",
        "Lusia",
        "Mikaele",
        "Thi",
        "Van",
        "Minh",
        "Lan",
        "Hoa",
        "Tuan",
        "Linh",
        "Waïa",
        "Wassissi",
        "Rock",
        "Hnalaine",
        "Teva",
        "Moana",
        "Jean-Marc",
        "Jean-Pierre",
        "Marie-Claire",
        "Gaston",
        "Firmin",
        "Apollinaire",
        "Scholastique",
    ],
    "unlisted": [
        "Wanakat",
        "Hmeun",
        "Bwéé",
        "Kaloïe",
        "Nathanaël",
        "Ehnyimë",
        "Tawa",
        "Waikata",
        "Sioné",
        "Falaniko",
        "Vaimalama",
        "Trinh-Mai",
        "Nhung",
        "Kim-Ly",
        "Ngoc",
        "Wayaé",
        "Yolaine",
        "Madeleina",
        "Josaphat",
        "Ephrem",
        "Cyprien",
        "Léontine",
        "Epéli",
        "Kusitino",
        "Matéo",
    ],
}
LAST = {
    "listed": [
        "Wamytan",
        "Tjibaou",
        "Wapotro",
        "Néaoutyine",
        "Goromido",
        "Wakolo",
        "Kasarhérou",
        "Hnawia",
        "Tein",
        "Tuihani",
        "Taofifenua",
        "Falelavaki",
        "Tukumuli",
        "Lauhea",
        "Kulimoetoke",
        "Nguyen",
        "Tran",
        "Pham",
        "Huynh",
        "Lafleur",
        "Frogier",
        "Gomès",
        "Ohlen",
        "Backès",
        "Martin",
        "Dubois",
        "Dupont",
        "Lambert",
        "Lacroix",
    ],
    "unlisted": [
        "Wahnyamalla",
        "Boewa",
        "Hnaeje",
        "Poadja",
        "Taputu",
        "Mulikihaamea",
        "Vaihu",
        "Hoang",
        "Quach",
        "Lethezer",
        "Guépy",
        "Sakiliva",
        "Wéjième",
        "Gopoea",
        "Ounéï",
        "Trolue",
        "Païdi",
        "Kaddour",
        "Bargibant",
        "Pétrignani",
        "Delathière",
        "Hnacipan",
        "Naouna",
        "Wenehoua",
    ],
}
STREETS = [
    "rue Jean Jaurès",
    "avenue du Maréchal Foch",
    "rue de Sébastopol",
    "rue Higginson",
    "boulevard Vauban",
    "rue Georges Clemenceau",
    "route de l'Anse Vata",
    "rue Anatole France",
    "avenue James Cook",
    "rue du Général Mangin",
    "allée des Cocotiers",
    "rue Duquesne",
    "chemin des Niaoulis",
    "route de la Tontouta",
    "rue Édouard Unger",
    "impasse des Flamboyants",
]
COMMUNES = {
    "Nouméa": "98800",
    "Dumbéa": "98835",
    "Mont-Dore": "98809",
    "Païta": "98890",
    "Koné": "98860",
    "Bourail": "98870",
    "La Foa": "98880",
    "Koumac": "98850",
    "Lifou": "98820",
    "Maré": "98828",
    "Poindimié": "98822",
    "Thio": "98829",
}
DOMAINS = ("gmail.com", "lagoon.nc", "canl.nc", "mls.nc", "yahoo.fr", "hotmail.fr", "outlook.com")
PUBLIC_NUMBERS = ("27 31 15", "24 65 65", "25 40 00", "26 63 00", "25 66 66", "27 30 00")
SERVICES = [
    "Mairie de Nouméa",
    "Direction des affaires sanitaires et sociales",
    "Province Sud - Direction de l'environnement",
    "Gendarmerie de Koné",
    "Centre hospitalier territorial",
    "Office des postes et télécommunications",
    "Agence sanitaire et sociale",
    "Mairie de Lifou",
    "Collège de Koumac",
    "Lycée Jules Garnier",
    "Caisse de compensation des prestations familiales",
    "Service des mines",
    "Dispensaire de Thio",
    "Bibliothèque Bernheim",
    "Chambre de commerce et d'industrie",
]
SPECIES = [
    "Araucaria columnaris",
    "Amborella trichopoda",
    "Rhynochetos jubatus",
    "Agathis lanceolata",
    "Melaleuca quinquenervia",
    "Cerberiopsis candelabra",
    "Nepenthes vieillardii",
    "Drimys winteri",
]
SITES = [
    "Baie des Citrons",
    "Pointe Magnin",
    "Tribu de Gohapin",
    "Mont Panié",
    "Rivière Bleue",
    "Îlot Maître",
    "Plage de Poé",
    "Col de la Pirogue",
    "Anse Vata",
    "Chutes de la Madeleine",
    "Grotte de Koumac",
]


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, seq):  # noqa: ANN001, ANN201
        return self.r.choice(list(seq))

    def first(self) -> str:
        return self.pick(FIRST["listed"] if self.r.random() < 0.66 else FIRST["unlisted"])

    def last(self) -> str:
        return self.pick(LAST["listed"] if self.r.random() < 0.66 else LAST["unlisted"])

    def full(self) -> str:
        style = self.r.randrange(4)
        if style == 0:
            return f"{self.first()} {self.last().upper()}"
        if style == 1:
            return f"{self.last().upper()} {self.first()}"
        if style == 2:
            return f"{self.first()} {self.last()}"
        return f"{self.last()} {self.first()}"

    def phone(self, international: bool = False) -> str:
        head = self.pick("2345789")
        digits = head + "".join(str(self.r.randrange(10)) for _ in range(5))
        pairs = " ".join(digits[i : i + 2] for i in (0, 2, 4))
        if international:
            return self.pick((f"+687 {pairs}", f"00687 {pairs}", f"+687{digits}"))
        return self.pick(
            (
                pairs,
                digits,
                pairs.replace(" ", "."),
                f"+687 {pairs}",
                f"00687{digits}",
                f"+687{digits}",
                f"{digits[:3]} {digits[3:]}",
            )
        )

    def email(self) -> str:
        a, b = _ascii(self.first()).lower(), _ascii(self.last()).lower()
        local = self.pick((f"{a}.{b}", f"{a[0]}{b}", f"{b}{self.r.randrange(99)}", f"{a}_{b}"))
        return f"{local}@{self.pick(DOMAINS)}"

    def birth(self, iso: bool) -> str:
        born = date(1940, 1, 1) + timedelta(days=self.r.randrange(365 * 70))
        return born.isoformat() if iso else born.strftime("%d/%m/%Y")

    def nir(self, spaced: bool) -> str:
        sex = self.pick("12")
        yy = f"{self.r.randrange(100):02d}"
        mm = f"{self.r.randrange(1, 13):02d}"
        dep = self.pick(("98", "75", "13", "2A", "69", "99"))
        if dep == "98":
            com = f"8{self.r.randrange(10, 33):02d}"
        else:
            com = f"{self.r.randrange(1, 999):03d}"
        order = f"{self.r.randrange(1, 999):03d}"
        body = sex + yy + mm + dep + com + order
        number = int(body.replace("2A", "19").replace("2B", "18"))
        key = f"{97 - number % 97:02d}"
        if spaced:
            return f"{sex} {yy} {mm} {dep} {com} {order} {key}"
        return body + key

    def iban(self) -> str:
        bban = "14889" + "".join(str(self.r.randrange(10)) for _ in range(18))
        number = int("".join(str(int(c, 36)) for c in bban + "FR00"))
        iban = f"FR{98 - number % 97:02d}{bban}"
        return (
            " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            if self.r.random() < 0.5
            else iban
        )

    def plate(self) -> str:
        if self.r.random() < 0.6:
            n = self.r.randrange(100000, 999999)
            return self.pick((f"{n} NC", f"{n}NC", f"{n}.NC"))
        letters = "ABCDEFGHJKLMNPQRSTVWXYZ"
        a = "".join(self.pick(letters) for _ in range(2))
        b = "".join(self.pick(letters) for _ in range(2))
        return f"{a}-{self.r.randrange(100, 999)}-{b}"

    def address(self) -> str:
        commune = self.pick(COMMUNES)
        style = self.r.randrange(4)
        if style == 0:
            return f"{self.r.randrange(1, 200)} {self.pick(STREETS)}, {commune}"
        if style == 1:
            return f"{self.r.randrange(1, 90)} {self.pick(STREETS)} {COMMUNES[commune]} {commune}"
        if style == 2:
            return f"BP {self.r.randrange(100, 9999)} {COMMUNES[commune]} {commune}"
        return f"Lot {self.r.randrange(1, 120)} lotissement Les Palmiers, {commune}"

    def ridet(self) -> str:
        n = f"{self.r.randrange(10**6, 10**7):07d}"
        e = f"{self.r.randrange(1, 20):03d}"
        return self.pick((f"{n}.{e}", f"{n} {e}", f"{n}{e}"))

    def siret(self) -> str:
        while True:
            digits = "".join(str(self.r.randrange(10)) for _ in range(14))
            total = 0
            for i, c in enumerate(reversed(digits)):
                d = int(c) * (2 if i % 2 else 1)
                total += d - 9 if d > 9 else d
            if total % 10 == 0:
                return digits

    def day(self) -> str:
        return (date(2015, 1, 1) + timedelta(days=self.r.randrange(3000))).isoformat()

    def free_text(self, personal: bool) -> str:
        if personal:
            return self.pick(
                (
                    f"Signalé par {self.full()} le {self.day()}, rappeler au {self.phone()}.",
                    f"M. {self.last()} demande une visite du site avant la fin du mois.",
                    f"Mme {self.last()} indique que le chemin est coupé après les pluies.",
                    f"Contact sur place : {self.first()} {self.last()}, {self.email()}",
                    f"Propriétaire : {self.full()}, joignable au {self.phone()}.",
                    f"Dossier suivi par {self.first()} {self.last()} (agent de terrain).",
                )
            )
        return self.pick(
            (
                f"Relevé effectué en saison sèche près de {self.pick(SITES)}, accès par la piste.",
                "Station de mesure installée en 2019, données transmises chaque semaine.",
                f"Zone classée en réserve naturelle, proche de {self.pick(COMMUNES)}.",
                "Observation de nids sur la falaise ; aucune perturbation constatée.",
                f"Inventaire réalisé par la {self.pick(SERVICES)} avec les associations.",
                "Écoulement faible, végétation rivulaire dense, eau claire.",
            )
        )


def _ascii(value: str) -> str:
    import unicodedata

    return (
        "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
        .replace(" ", "")
        .replace("'", "")
    )


def col(header: str, label: str, values: list[str]) -> dict:
    return {"header": header, "label": label, "values": values}


def generate(seed: int) -> list[dict]:
    g = Gen(seed)
    n = ROWS
    tables: list[dict] = []

    def many(f):  # noqa: ANN001, ANN202
        return [f() for _ in range(n)]

    name_headers = ("nom", "NOM", "Nom de famille", "patronyme", "last_name", "surname")
    first_headers = ("prénom", "Prenom", "first_name", "PRENOMS", "given name")
    full_headers = (
        "nom_prenom",
        "Nom complet",
        "responsable",
        "titulaire",
        "contact",
        "Patient",
        "full name",
        "demandeur",
        "personne",
    )
    # People: a register of some kind, with several personal columns each.
    for i in range(24):
        cols = []
        if i % 3 == 0:
            cols.append(col(g.pick(name_headers), "name", many(lambda: g.last().upper())))
            cols.append(col(g.pick(first_headers), "name", many(g.first)))
        elif i % 3 == 1:
            cols.append(col(g.pick(full_headers), "name", many(g.full)))
        else:  # a header that says nothing
            cols.append(col(g.pick(("col2", "champ_3", "libelle", "valeur")), "name", many(g.full)))
        choices = [
            (
                "email",
                lambda: col(
                    g.pick(
                        (
                            "email",
                            "Courriel",
                            "E-mail",
                            "mail",
                            "adresse électronique",
                            "contact_mail",
                        )
                    ),
                    "email",
                    many(g.email),
                ),
            ),
            ("email2", lambda: col(g.pick(("info", "x1")), "email", many(g.email))),
            (
                "phone",
                lambda: col(
                    g.pick(("téléphone", "tel", "Tél. portable", "mobile", "phone", "numero_tel")),
                    "phone",
                    many(g.phone),
                ),
            ),
            (
                "phone2",
                lambda: col(
                    g.pick(("numéro", "joindre")),
                    "phone",
                    [g.phone(international=True) for _ in range(n)],
                ),
            ),
            (
                "birth",
                lambda: col(
                    g.pick(
                        ("date de naissance", "Date_Naissance", "DOB", "birth_date", "né le", "ddn")
                    ),
                    "birth_date",
                    [g.birth(g.r.random() < 0.5) for _ in range(n)],
                ),
            ),
            (
                "address",
                lambda: col(
                    g.pick(("adresse", "Adresse postale", "domicile", "address")),
                    "address",
                    many(g.address),
                ),
            ),
            (
                "address2",
                lambda: col(
                    g.pick(("lieu", "localisation")),
                    "address",
                    [
                        f"{g.r.randrange(1, 200)} {g.pick(STREETS)}, {g.pick(COMMUNES)}"
                        for _ in range(n)
                    ],
                ),
            ),
            (
                "nir",
                lambda: col(
                    g.pick(("NIR", "numéro sécurité sociale", "n° CAFAT", "ssn", "num_secu")),
                    "nir",
                    [g.nir(g.r.random() < 0.5) for _ in range(n)],
                ),
            ),
            (
                "nir2",
                lambda: col(
                    g.pick(("identifiant", "ref")), "nir", [g.nir(False) for _ in range(n)]
                ),
            ),
            ("iban", lambda: col(g.pick(("IBAN", "RIB", "compte bancaire")), "iban", many(g.iban))),
            (
                "plate",
                lambda: col(
                    g.pick(("immatriculation", "plaque", "immat", "véhicule")),
                    "plate",
                    many(g.plate),
                ),
            ),
            (
                "text",
                lambda: col(
                    g.pick(("commentaire", "observations", "remarques", "notes")),
                    "free_text",
                    [g.free_text(g.r.random() < 0.6) for _ in range(n)],
                ),
            ),
        ]
        for _key, make in g.r.sample(choices, 4):
            cols.append(make())
        cols.append(col("commune", "none", [g.pick(COMMUNES) for _ in range(n)]))
        cols.append(col(g.pick(("date_inscription", "date_maj", "date")), "none", many(g.day)))
        tables.append({"name": f"registre-{i}", "columns": cols})
    # Look-alikes.
    for i in range(8):  # directories of public services: professional contacts
        services = [g.pick(SERVICES) for _ in range(n)]
        tables.append(
            {
                "name": f"annuaire-{i}",
                "columns": [
                    col(
                        g.pick(("service", "nom", "administration", "organisme", "Nom du service")),
                        "none",
                        services,
                    ),
                    col(g.pick(("téléphone", "tel", "standard")), "none", many(g.phone)),
                    col(
                        g.pick(("courriel", "email")),
                        "none",
                        [
                            g.pick(("contact", "accueil", "secretariat", "dass", "mairie"))
                            + "@"
                            + g.pick(("gouv.nc", "province-sud.nc", "ville-noumea.nc", "opt.nc"))
                            for _ in range(n)
                        ],
                    ),
                    col("adresse", "none", many(g.address)),
                    col("code_postal", "none", [COMMUNES[g.pick(COMMUNES)] for _ in range(n)]),
                ],
            }
        )
    for i in range(8):  # businesses, places, products, species: nothing personal
        tables.append(
            {
                "name": f"sosies-{i}",
                "columns": [
                    col(g.pick(("RIDET", "numero_ridet", "identifiant")), "none", many(g.ridet)),
                    col(g.pick(("SIRET", "siret_etab")), "none", many(g.siret)),
                    col(
                        g.pick(("code_postal", "cp", "postcode")),
                        "none",
                        [COMMUNES[g.pick(COMMUNES)] for _ in range(n)],
                    ),
                    col(
                        g.pick(("numéro", "standard", "tel_service")),
                        "none",
                        [g.pick(PUBLIC_NUMBERS) for _ in range(n)],
                    ),
                    col(
                        g.pick(("date_releve", "date_creation", "date", "mise_a_jour")),
                        "none",
                        many(g.day),
                    ),
                    col(
                        g.pick(("code_article", "ref_produit", "code")),
                        "none",
                        [
                            g.pick(
                                (
                                    f"REF-{g.r.randrange(10000, 99999)}",
                                    f"PRD-{g.r.randrange(1000):04d}-{g.pick('ABC')}",
                                    f"{g.r.randrange(100000, 999999)}",
                                )
                            )
                            for _ in range(n)
                        ],
                    ),
                    col(
                        "nom",
                        "none",
                        [g.pick(SITES) for _ in range(n)]
                        if i % 2
                        else [g.pick(COMMUNES) for _ in range(n)],
                    ),
                    col(
                        g.pick(("nom_scientifique", "espece", "name")),
                        "none",
                        [g.pick(SPECIES) for _ in range(n)],
                    ),
                    col(
                        g.pick(("nom_voie", "rue")),
                        "none",
                        [g.pick(STREETS).capitalize() for _ in range(n)],
                    ),
                    col("description", "none", [g.free_text(False) for _ in range(n)]),
                    col(
                        g.pick(("effectif", "population", "nb_eleves")),
                        "none",
                        [str(g.r.randrange(10, 90000)) for _ in range(n)],
                    ),
                    col(
                        "plaque",
                        "none",
                        [
                            g.pick(
                                (
                                    "Plaque commémorative du centenaire",
                                    "Plaque du souvenir",
                                    "Stèle des pionniers",
                                )
                            )
                            for _ in range(n)
                        ],
                    ),
                ],
            }
        )
    # Harder cases: unlisted names without a header, noisy columns, bare numbers,
    # businesses named after people, names in text without a civility.
    shops = ("Boulangerie", "Garage", "Snack", "Pharmacie", "Épicerie", "Transports", "Menuiserie")
    for i in range(8):
        unlisted = [
            f"{g.pick(FIRST['unlisted'])} {g.pick(LAST['unlisted']).upper()}" for _ in range(n)
        ]
        noisy = [
            g.email() if g.r.random() < 0.7 else g.pick(("non renseigné", "-", "inconnu"))
            for _ in range(n)
        ]
        tables.append(
            {
                "name": f"difficile-{i}",
                "columns": [
                    col(g.pick(("valeur", "champ_7", "libelle")), "name", unlisted),
                    col(
                        g.pick(("joindre au", "appel", "contact_tel")),
                        "phone",
                        [
                            g.phone()[-6:].replace(" ", "")
                            if False
                            else "".join(ch for ch in g.phone() if ch.isdigit())[-6:]
                            for _ in range(n)
                        ],
                    ),
                    col(g.pick(("courriel", "mail_contact", "adresse_mail")), "email", noisy),
                    col(
                        g.pick(("remarque", "suivi")),
                        "free_text",
                        [
                            f"Visite avec {g.pick(FIRST['unlisted'])} "
                            f"{g.pick(LAST['unlisted'])} à la tribu, à revoir."
                            if g.r.random() < 0.5
                            else g.free_text(False)
                            for _ in range(n)
                        ],
                    ),
                    col(
                        g.pick(("nom", "enseigne", "raison_sociale")),
                        "none",
                        [f"{g.pick(shops)} {g.last()}" for _ in range(n)],
                    ),
                    col(
                        g.pick(("age", "annee")),
                        "none",
                        [str(g.r.randrange(1, 99)) for _ in range(n)],
                    ),
                ],
            }
        )
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    tables = generate(args.seed)
    document = {"seed": args.seed, "generator": "bench/privacy_testset.py", "tables": tables}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", "utf-8")
    count = sum(len(t["columns"]) for t in tables)
    print(f"{len(tables)} tables, {count} columns → {args.out}")


if __name__ == "__main__":
    main()
