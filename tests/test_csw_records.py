"""CSW records follow the catalogue (both backends), and `niaouli records import` is safe.

No server here: these check the `csw_records` table that pycsw reads — one row per
dataset, tagged with its access level and organisation (pycsw filters on them per
viewer), written in the catalogue's own transaction — and the import of ISO 19139 and
Dublin Core documents, including hostile ones (rows S6, S7, S9, S20, S23).
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import func, select

from niaouli.catalogue import service
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.lifecycle import delete_dataset
from niaouli.demo import load_demo
from tests.csw_support import CITE_SUITE, ISO_RECORD, NS, canary
from tests.demo_support import DEMO_HARVESTED, DEMO_HARVESTED_IDS, DEMO_PUBLIC

CITE_DATA = CITE_SUITE / "data"


def rows(backend) -> dict[str, dict]:
    with backend.engine.connect() as conn:
        return {r["identifier"]: dict(r) for r in conn.execute(select(csw_records)).mappings()}


def public(records: dict[str, dict]) -> set[str]:
    return {i for i, r in records.items() if r["access_level"] == "public"}


def test_datasets_get_iso_records_that_follow_their_access_level(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    records = rows(backend)
    # The demo's datasets, its harvested ISO records under their own identifiers (§8).
    demo = DEMO_PUBLIC - set(DEMO_HARVESTED) | set(DEMO_HARVESTED_IDS)
    assert public(records) == demo
    with backend.session() as session:
        expected = {d.slug: d for d in service.list_datasets(session, service.Viewer.system())}
        identifier = dict(zip(DEMO_HARVESTED, DEMO_HARVESTED_IDS, strict=True))
        assert {i: (r["access_level"], r["organisation_id"]) for i, r in records.items()} == {
            identifier.get(slug, slug): (d.access_level.value, d.organisation_id)
            for slug, d in expected.items()
        }
    communes = records["communes-nc"]
    assert communes["typename"] == "gmd:MD_Metadata"
    assert communes["schema"] == NS["gmd"]
    assert communes["title"].startswith("Communes de Nouvelle-Calédonie")
    assert communes["wkt_geometry"].startswith("POLYGON((163.57 -22.71")
    root = etree.fromstring(communes["xml"].encode())
    assert root.findtext(".//gmd:fileIdentifier/gco:CharacterString", namespaces=NS) == (
        "communes-nc"
    )
    # Accent-insensitive full text: both spellings are in anytext.
    assert "Calédonie" in communes["anytext"] and "Caledonie" in communes["anytext"]

    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(session, dataset, access_level="organisation")
    assert public(rows(backend)) == demo - {"communes-nc"}
    assert rows(backend)["communes-nc"]["access_level"] == "organisation"

    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(session, dataset, access_level="public", title="Communes <b>")
    assert rows(backend)["communes-nc"]["title"] == "Communes <b>"
    assert "Communes &lt;b&gt;" in rows(backend)["communes-nc"]["xml"]  # escaped (S20)

    delete_dataset(backend.engine, backend.settings, "population-communes-nc")
    assert public(rows(backend)) == demo - {"population-communes-nc"}
    assert "population-communes-nc" not in rows(backend)


def test_records_import_keeps_the_producer_xml(backend, org):
    result = backend.run("records", "import", "--org", org, str(ISO_RECORD))
    assert "1 fiche(s) importée(s)" in result.stdout
    with backend.session() as session:
        dataset = service.find_dataset(session, "cadastre-2018-en-bretagne")
        assert dataset.provenance["record_identifier"] == "955c3e47-411e-4969-b61b-3556d1b9f879"
        assert dataset.layers == [] and not dataset.is_spatial
        original = dataset.original_metadata
    assert "DIRECTION GENERALE DES FINANCES PUBLIQUES" in original
    row = rows(backend)["955c3e47-411e-4969-b61b-3556d1b9f879"]
    assert row["xml"] == etree.tostring(
        etree.fromstring(ISO_RECORD.read_bytes()), encoding="unicode"
    )
    assert row["title"] == "Cadastre 2018 en Bretagne"
    assert row["wkt_geometry"].startswith("POLYGON((-5.24 46.76")

    # Importing again updates the same dataset; Dublin Core records import too.
    backend.run(
        "records",
        "import",
        "--org",
        org,
        str(ISO_RECORD),
        *map(str, sorted(CITE_DATA.glob("*.xml"))),
    )
    with backend.session() as session:
        assert service.count_datasets(session, service.Viewer.system()) == 13
    assert rows(backend)["urn:uuid:19887a8a-f6b0-4a63-ae56-7fba0e17801f"]["typename"] == (
        "csw:Record"
    )


def test_records_import_with_access_level_is_tagged(backend, org):
    backend.run("records", "import", "--org", org, "--access", "draft", str(ISO_RECORD))
    with backend.session() as session:
        org_id = service.get_organisation(session, org).id
    row = rows(backend)["955c3e47-411e-4969-b61b-3556d1b9f879"]
    assert (row["access_level"], row["organisation_id"]) == ("draft", org_id)


def _count(backend) -> int:
    with backend.session() as session:
        return session.scalar(select(func.count()).select_from(service.Dataset))


def test_hostile_records_are_rejected_and_never_fetch(backend, org, tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(ISO_RECORD.read_bytes())
    with canary() as hook:
        xxe = tmp_path / "xxe.xml"
        xxe.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">'
            f'<!ENTITY c SYSTEM "{hook.url}/entity">]>\n'
            '<csw:Record xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            "<dc:identifier>x</dc:identifier><dc:title>&e;&c;</dc:title></csw:Record>"
        )
        bomb = tmp_path / "bomb.xml"
        bomb.write_text(
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            '<csw:Record xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier>b</dc:identifier>'
            "<dc:title>&c;</dc:title></csw:Record>"
        )
        for bad in (xxe, bomb):
            result = backend.run(
                "records", "import", "--org", org, str(good), str(bad), check=False
            )
            assert result.returncode == 1
            assert bad.name in result.stderr and "DOCTYPE" in result.stderr
            assert "root:" not in result.stdout + result.stderr
        assert _count(backend) == 0  # all or nothing: the good file did not land either

        # A schemaLocation pointing at the canary is kept as written but never fetched,
        # neither at import nor when the record is read back.
        located = tmp_path / "located.xml"
        located.write_text(
            '<csw:Record xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="http://www.opengis.net/cat/csw/2.0.2 {hook.url}/record.xsd">'
            "<dc:identifier>urn:test:located</dc:identifier>"
            "<dc:title>Fiche &lt;script&gt;alert(1)&lt;/script&gt;</dc:title></csw:Record>"
        )
        backend.run("records", "import", "--org", org, str(located))
        assert rows(backend)["urn:test:located"]["title"] == "Fiche <script>alert(1)</script>"
        assert hook.hits == []


def test_not_a_record_is_refused_by_name(backend, org, tmp_path):
    other = tmp_path / "capabilities.xml"
    other.write_text("<WFS_Capabilities/>")
    broken = tmp_path / "broken.xml"
    broken.write_text("<csw:Record")
    for path, words in ((other, "non pris en charge"), (broken, "mal formé")):
        result = backend.run("records", "import", "--org", org, str(path), check=False)
        assert result.returncode == 1
        assert path.name in result.stderr and words in result.stderr


def test_organisation_changes_reach_the_records(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    with backend.session() as session, session.begin():
        # The demo's datasets have their own contact (issue 15 §6): without one, the
        # record gives the organisation's address.
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(session, dataset, contact_email=None)
    assert "sig@gouv.nc" not in rows(backend)["communes-nc"]["xml"]
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, "gouvernement-nc")
        organisation.email = "sig@gouv.nc"
    assert "sig@gouv.nc" in rows(backend)["communes-nc"]["xml"]


# AnyText's rule (docs/csw.md): the text nodes outside the boilerplate elements, not the
# values of code lists, each distinct one once, in document order.
KEPT_TEXT = (
    "//text()[not(parent::*/@codeListValue) and not(ancestor::*["
    + " or ".join(
        f"self::{name}"
        for name in (
            "gmd:metadataStandardName",
            "gmd:metadataStandardVersion",
            "gmd:authority",
            "gmd:thesaurusName",
            "gmd:report",
            "gmd:metadataMaintenance",
        )
    )
    + "])]"
)


def test_anytext_adds_each_unaccented_word_missing_from_the_text():
    """`anytext` (the record's text plus unaccented copies of accented words) as
    defined: the quick path (words stripped together, searched among distinct words)
    answers as a search of every word in the whole text, spacing marks ("´" decomposes
    to a space) included; the text is each distinct kept node once (since 0037: before,
    every node, empty ones too, which the definition here then said)."""
    import random

    from niaouli import metadata_parse
    from niaouli.marks import strip_marks

    def defined(root) -> str:
        values = [v.strip() for v in root.xpath(KEPT_TEXT, namespaces=NS)]
        text = " ".join(dict.fromkeys(v for v in values if v))
        accented = {w for w in text.split() if not w.isascii()}
        unaccented = {strip_marks(w) for w in accented} - accented
        extra = sorted(u for u in unaccented if u not in text)
        return f"{text} {' '.join(extra)}".strip() if extra else text

    rng = random.Random(19139)
    alphabet = "aeé èüÜ¨´ ̈x\u00a0-ñçœ’"
    samples = ["Hienghène, Nouvelle-Calédonie et Caledonie", "déjà vu ’´ ´’"]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)
    ]
    for sample in samples:
        root = etree.fromstring(f"<a><b>{sample}</b><c>{sample[::-1]}</c></a>")
        assert metadata_parse.anytext(root) == defined(root), repr(sample)
    hienghene = etree.fromstring(f"<a>{samples[0]}</a>")
    assert metadata_parse.anytext(hienghene).endswith(" Hienghene, Nouvelle-Caledonie")
    # Boilerplate, code lists, mixed content, comments, repeats: the walk is the XPath.
    gmd, gco = NS["gmd"], NS["gco"]
    for sample in samples[:200]:
        mixed = etree.fromstring(
            f'<gmd:MD_Metadata xmlns:gmd="{gmd}" xmlns:gco="{gco}">{sample}'
            f"<gmd:a>{sample[:5]}<!-- x -->{sample[5:]}<gmd:report>r {sample}</gmd:report>t"
            f'<gmd:MD_ScopeCode codeListValue="v">dataset<gmd:b>{sample[::-1]}</gmd:b>'
            f"</gmd:MD_ScopeCode>u {sample}</gmd:a><gmd:authority>EPSG</gmd:authority>"
            f"{sample}</gmd:MD_Metadata>"
        )
        assert metadata_parse.anytext(mixed) == defined(mixed), repr(sample)


def test_anytext_of_an_iso_record_leaves_the_boilerplate_out(backend):
    """A dataset's generated record: its title, description, keywords, organisation and
    links are in AnyText; the text every record has is not (the quality rubric, the
    EPSG register's citation, the metadata standard, the thesaurus citation,
    pygeometa's note, code list values)."""
    load_demo(backend.settings, echo=lambda _m: None)
    communes = rows(backend)["communes-nc"]
    text = communes["anytext"]
    assert communes["title"] in text
    assert "Calédonie" in text and "Caledonie" in text
    root = etree.fromstring(communes["xml"].encode())
    for kept in root.xpath("//gmd:keyword/gco:CharacterString/text()", namespaces=NS):
        assert kept.strip() in text
    for gone in (
        "European Petroleum Survey Group",  # gmd:authority
        "ISO 19115:2003",  # gmd:metadataStandardName
        "critère",  # the quality rubric (gmd:report)
        "generated by pygeometa",  # gmd:metadataMaintenance
        "pointOfContact",  # a code list value
    ):
        assert gone in communes["xml"], gone  # (the record itself still says it)
        assert gone not in text, gone
    assert len(text) < len(" ".join(root.xpath("//text()"))) / 2


def test_migration_0037_rewrites_the_old_anytext(backend):
    """Rows written before 0037 hold every text node of their record: its `rewrite`
    computes each row's AnyText again from the stored XML (no record rendered again),
    and touches no row already right."""
    import importlib.util
    from pathlib import Path

    from niaouli import metadata_parse

    path = Path(__file__).parents[1] / "niaouli/migrations/versions/0037_anytext_searchable.py"
    spec = importlib.util.spec_from_file_location("anytext_0037", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    load_demo(backend.settings, echo=lambda _m: None)
    before = rows(backend)
    with backend.engine.begin() as conn:
        assert migration.rewrite(conn) == 0  # written by today's code: nothing to do
        for identifier, row in before.items():
            old = " ".join(
                v.strip() for v in etree.fromstring(row["xml"].encode()).xpath("//text()")
            )
            conn.execute(
                csw_records.update()
                .where(csw_records.c.identifier == identifier)
                .values(anytext=old)
            )
        assert migration.rewrite(conn) == len(before)
    after = rows(backend)
    for identifier, row in after.items():
        root = etree.fromstring(row["xml"].encode())
        assert row["anytext"] == metadata_parse.anytext(root) == before[identifier]["anytext"]
