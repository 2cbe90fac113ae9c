"""Links in metadata records follow the public URL of the server that serves them (issue
15 §5): records written by the command line under one public URL, then served by
`niaouli serve` on another port, link to the serving host — CSW GetRecords (Dublin Core
and JSON) and GetRecordById (ISO 19139), OGC API Records, DCAT. Both backends."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from niaouli.catalogue.models import AccessLevel, Dataset, Layer
from niaouli.services.csw.stored_urls import STORED_ROOT
from tests.conftest import Backend
from tests.csw_support import serve

WRITTEN_UNDER = "http://127.0.0.1:8000"
URL = re.compile(r"https?://[^\s\"'<>\\]+")


def _hosts(text: str) -> set[str]:
    return {m.group(0).split("/")[2] for m in URL.finditer(text)}


def _public_spatial_slug(backend: Backend) -> str:
    """A public dataset with a layer among those the demo loaded (whatever it holds)."""
    with backend.session() as session:
        return session.scalars(
            select(Dataset.slug)
            .join(Layer, Layer.dataset_id == Dataset.id)
            .where(Dataset.access_level == AccessLevel.PUBLIC, Dataset.original_metadata.is_(None))
            .order_by(Dataset.slug)
        ).first()


def test_records_written_by_the_cli_link_to_the_serving_host(backend: Backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", WRITTEN_UNDER)
    backend.run("demo", "load")  # the command line writes the records
    with serve(backend) as server:  # another port, its own NIAOULI_PUBLIC_URL
        own = server.base.split("/")[2]
        slug = _public_spatial_slug(backend)
        answers = {
            "GetRecords": server.get(
                service="CSW",
                version="2.0.2",
                request="GetRecords",
                typeNames="csw:Record",
                elementSetName="full",
                resultType="results",
            ),
            "GetRecords JSON": server.get(
                service="CSW",
                version="2.0.2",
                request="GetRecords",
                typeNames="csw:Record",
                elementSetName="full",
                resultType="results",
                outputFormat="application/json",
            ),
            "GetRecordById": server.get(
                service="CSW",
                version="2.0.2",
                request="GetRecordById",
                id=slug,
                outputSchema="http://www.isotc211.org/2005/gmd",
            ),
            "Records": httpx.get(f"{server.base}/ogc/collections/catalogue/items?f=json"),
            "DCAT": httpx.get(f"{server.base}/catalog.jsonld"),
        }
        for name, answer in answers.items():
            assert answer.status_code == 200, (name, answer.text[:300])
            text = answer.text
            assert STORED_ROOT not in text and "niaouli-public-url" not in text, name
            assert f"{server.base}/jeux-de-donnees/" in text.replace("\\/", "/"), name
            # No link to the address the records were written under.
            assert "127.0.0.1:8000" not in _hosts(text), (name, _hosts(text))
        iso = answers["GetRecordById"].text
        assert f"{server.base}/jeux-de-donnees/{slug}" in iso
        assert f"{server.base}/ogc/collections/" in iso
        assert own in _hosts(answers["GetRecords"].text)


@pytest.mark.parametrize("kind", ["application/xml", "application/json", "text/html"])
def test_the_placeholder_is_escaped_for_its_document(kind: str):
    from niaouli.services.csw.stored_urls import resolve

    body = f"<a>{STORED_ROOT}/x</a>".encode()
    shown = resolve(body, kind, root='http://h.example/a&b"c')
    assert STORED_ROOT.encode() not in shown
    if "json" in kind:
        assert b'http://h.example/a&b\\"c/x' in shown
    else:
        assert b"http://h.example/a&amp;b&quot;c/x" in shown
