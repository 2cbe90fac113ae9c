"""One truth for access through /csw: each access level x each kind of viewer, both backends.

Organisation A owns a dataset at each level (tests/accounts_support.py); every viewer asks
through a real `niaouli serve` (proxy -> pycsw -> csw_records) with its API token as a
Bearer header: GetRecords (full text and hits counts, and an `ogc:Or` filter, which pycsw
joins without parentheses), GetRecordById in Dublin Core and ISO 19139, GetDomain,
OpenSearch and OAI-PMH. Each answer must hold exactly the records `SEES` allows, and
counts must not betray the others. Then QGIS's way in (HTTP Basic, the token as password)
through GDAL's CSW driver and OWSLib, and the viewer header a client cannot forge.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lxml import etree
from owslib.catalogue.csw2 import CatalogueServiceWeb

from tests.accounts_support import (
    LEVELS,
    SEES,
    VIEWERS,
    LoggedServer,
    build_matrix,
    email_of,
    slug_of,
)
from tests.csw_support import NS

GMD = "http://www.isotc211.org/2005/gmd"
CSW = {"service": "CSW", "version": "2.0.2"}
OR_FILTER = """<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2"
    xmlns:ogc="http://www.opengis.net/ogc" service="CSW" version="2.0.2"
    resultType="results" maxRecords="50">
  <csw:Query typeNames="csw:Record">
    <csw:ElementSetName>brief</csw:ElementSetName>
    <csw:Constraint version="1.1.0">
      <ogc:Filter>
        <ogc:Or>
          <ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\">
            <ogc:PropertyName>csw:AnyText</ogc:PropertyName>
            <ogc:Literal>%zorglub%</ogc:Literal>
          </ogc:PropertyIsLike>
          <ogc:PropertyIsEqualTo>
            <ogc:PropertyName>dc:identifier</ogc:PropertyName>
            <ogc:Literal>n-existe-pas</ogc:Literal>
          </ogc:PropertyIsEqualTo>
        </ogc:Or>
      </ogc:Filter>
    </csw:Constraint>
  </csw:Query>
</csw:GetRecords>
"""


def _ids(root: etree._Element) -> set[str]:
    return {e.text for e in root.iterfind(".//dc:identifier", NS)}


def _matched(root: etree._Element) -> int:
    results = root.find(".//csw:SearchResults", NS)
    assert results is not None, etree.tostring(root)[:500]
    return int(results.get("numberOfRecordsMatched"))


def _csw_view(base: str, headers: dict[str, str]) -> dict[str, object]:
    """Everything one viewer gets from /csw about the matrix datasets."""

    def get(path: str = "/csw", **params: str) -> bytes:
        answer = httpx.get(base + path, params=params, headers=headers, timeout=60)
        assert answer.status_code == 200, (path, params, answer.text[:300])
        return answer.content

    full_text = {
        **CSW,
        "request": "GetRecords",
        "typenames": "csw:Record",
        "elementsetname": "brief",
        "constraintlanguage": "CQL_TEXT",
        "constraint": "csw:AnyText like '%zorglub%'",
    }
    found = etree.fromstring(get(**full_text, resulttype="results", maxrecords="50"))
    hits = etree.fromstring(get(**full_text, resulttype="hits"))
    everything = etree.fromstring(
        get(
            **CSW,
            request="GetRecords",
            typenames="csw:Record",
            elementsetname="brief",
            resulttype="hits",
        )
    )
    posted = httpx.post(
        base + "/csw",
        content=OR_FILTER,
        headers={**headers, "Content-Type": "application/xml"},
        timeout=60,
    )
    assert posted.status_code == 200
    ored = etree.fromstring(posted.content)
    domain = get(**CSW, request="GetDomain", propertyname="dc:title").decode()
    opensearch = get(
        "/csw/opensearch",
        q="zorglub",
        **CSW,
        request="GetRecords",
        elementsetname="full",
        typenames="csw:Record",
        resulttype="results",
    ).decode()
    total = re.search(r"totalResults>(\d+)<", opensearch)
    listed = etree.fromstring(get("/csw/oaipmh", verb="ListRecords", metadataPrefix="oai_dc"))
    oai_ids = {e.text for e in listed.iterfind(".//oai:header/oai:identifier", NS)}
    view: dict[str, object] = {
        "found": _ids(found) & {slug_of(level) for level in LEVELS},
        "matched": _matched(found),
        "hits": _matched(hits),
        "all_hits": _matched(everything),
        "or_filter": (_ids(ored), _matched(ored)),
        "opensearch_total": int(total.group(1)) if total else None,
    }
    for level in LEVELS:
        slug, title = slug_of(level), f"Matrice {level} zorglub"
        dc = get(**CSW, request="GetRecordById", id=slug).decode()
        iso = get(**CSW, request="GetRecordById", id=slug, outputschema=GMD).decode()
        item = httpx.get(
            base + "/csw",
            params={**CSW, "request": "GetRepositoryItem", "id": slug},
            headers=headers,
            timeout=60,
        )
        record = get("/csw/oaipmh", verb="GetRecord", identifier=slug, metadataPrefix="oai_dc")
        view[level] = {
            "dc": title in dc,
            "iso": title in iso and "MD_Metadata" in iso,
            "item": item.status_code == 200 and title in item.text,
            "domain": title in domain,
            "opensearch": f">{slug}<" in opensearch,
            "oai_list": slug in oai_ids,
            "oai_get": title in record.decode() and b"idDoesNotExist" not in record,
        }
    return view


def _ogrinfo(url: str, token: str) -> str:
    """GDAL's CSW driver, full text on the matrix word, Basic with the token as password."""
    options = ["--config", "GDAL_HTTP_AUTH", "BASIC", "--config", "GDAL_HTTP_USERPWD"]
    result = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-al",
            "-geom=NO",
            "-where",
            "anytext LIKE '%zorglub%'",
            *options,
            f"qgis:{token}",
            f"CSW:{url}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"},
    )
    return result.stdout + result.stderr


def _pycsw_port(server: LoggedServer) -> int:
    """The loopback port of the server's pycsw child (from its command line)."""
    assert server.process is not None
    tasks = Path(f"/proc/{server.process.pid}/task")
    for pid in (p for t in tasks.iterdir() for p in (t / "children").read_text().split()):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if any(a.endswith(b"niaouli_csw.py") for a in args):
            return int(args[args.index(b"--port") + 1])
    raise AssertionError("no pycsw child")


def test_csw_access_matrix(backend, tmp_path):
    matrix = build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        for viewer in VIEWERS:
            headers = {}
            if viewer != "anonymous":
                headers = {"Authorization": f"Bearer {matrix.tokens[viewer]}"}
            view = _csw_view(server.url, headers)
            seen = {slug_of(level) for level in LEVELS if viewer in SEES[level]}
            assert view["found"] == seen, (viewer, view)
            # build_matrix loads nothing else: every count is exactly the visible records.
            assert view["matched"] == view["hits"] == view["all_hits"] == len(seen), view
            assert view["or_filter"] == (seen, len(seen)), (viewer, view["or_filter"])
            assert view["opensearch_total"] == len(seen), (viewer, view)
            for level in LEVELS:
                sees = viewer in SEES[level]
                assert view[level] == dict.fromkeys(view[level], sees), (viewer, level, view)

        # QGIS and GDAL: HTTP Basic with the token as password (the user name is ignored).
        member, other = matrix.tokens["member_a"], matrix.tokens["member_b"]
        restricted = slug_of("organisation")
        csw = CatalogueServiceWeb(
            server.url + "/csw", username=email_of("member_a"), password=member, timeout=60
        )
        csw.getrecordbyid(id=[restricted], outputschema=GMD)
        assert restricted in csw.records
        assert csw.records[restricted].identification[0].title == "Matrice organisation zorglub"
        csw = CatalogueServiceWeb(
            server.url + "/csw", username=email_of("member_b"), password=other, timeout=60
        )
        csw.getrecordbyid(id=[restricted], outputschema=GMD)
        assert restricted not in csw.records

        as_member = _ogrinfo(server.url + "/csw", member)
        assert f"identifier (String) = {restricted}" in as_member, as_member[-2000:]
        assert f"identifier (String) = {slug_of('draft')}" not in as_member
        as_other = _ogrinfo(server.url + "/csw", other)
        assert f"identifier (String) = {slug_of('public')}" in as_other, as_other[-2000:]
        assert f"identifier (String) = {restricted}" not in as_other
        bad = httpx.get(
            server.url + "/csw",
            params={**CSW, "request": "GetCapabilities"},
            auth=("qgis", member + "x"),
            timeout=60,
        )
        assert bad.status_code == 401 and "Basic" in bad.headers["www-authenticate"]

        # The viewer header cannot be forged: the proxy drops it, and pycsw ignores it
        # without the secret key (asked directly on its loopback port).
        forged = {"X-Niaouli-Viewer": "admin", "X-Niaouli-Proxy-Key": "devine"}
        hits = {
            **CSW,
            "request": "GetRecords",
            "typenames": "csw:Record",
            "elementsetname": "brief",
            "resulttype": "hits",
        }
        for base in (server.url + "/csw", f"http://127.0.0.1:{_pycsw_port(server)}/"):
            answer = httpx.get(base, params=hits, headers=forged, timeout=60)
            assert _matched(etree.fromstring(answer.content)) == 1, base


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("admin", None),
        ("anonymous", "(access_level = 'public')"),
        ("", "(access_level = 'public')"),
        ("signed-in;member=;editor=", "(access_level IN ('public', 'registered'))"),
        (
            "signed-in;member=3,1;editor=3,9",
            "(access_level IN ('public', 'registered') OR (access_level = 'organisation' "
            "AND organisation_id IN (1, 3)) OR (access_level = 'draft' AND organisation_id "
            "IN (3)))",
        ),
        ("signed-in;member=1) OR (1=1;editor=", "(access_level = 'public')"),
        ("signed-in;member=1;editor=1 ", "(access_level = 'public')"),
        ("Admin", "(access_level = 'public')"),
    ],
)
def test_visibility_filter_is_built_from_integers_only(header, expected, monkeypatch):
    """pycsw's side in isolation (it runs in another environment: loaded by path here)."""
    import importlib.util
    import types

    from tests.conftest import REPO

    # niaouli_csw imports pycsw at module level: a stand-in is enough for this function.
    stand_in = types.ModuleType("pycsw")
    stand_in.server = None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pycsw", stand_in)
    spec = importlib.util.spec_from_file_location("niaouli_csw", REPO / "pycsw/niaouli_csw.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert module.visibility_filter(header) == expected
