"""OGC CITE CSW 2.0.2 conformance: the 68 requests of ../shared/conformance/csw-cite.

Its 12 `csw:Record` documents are loaded with `niaouli records import` into an empty
catalogue, `niaouli serve` runs, and the suite's own runner (`run_cite.py`, semantic mode)
replays the requests over HTTP. Every request must match, except the differences below,
which come from how this platform is configured, not from what pycsw does with records:

* `--ignore operations,schemas`: the expected answers were produced with transactions on
  (Transaction and Harvest listed in GetCapabilities) and without the ISO application
  profile; we run without CSW-T (no accounts yet, row S25) and with ISO 19139 loaded
  (DescribeRecord then also describes gmd:MD_Metadata).
* NO_VERSION: seven GetCapabilities requests name no VERSION. pycsw 2.6 answers those in
  CSW 3.0; we answer CSW 2.0.2, because GDAL's CSW driver (QGIS) sends no version and
  cannot read 3.0 capabilities. Each of these answers is checked to be the right CSW
  2.0.2 answer instead: 2.0.2 Capabilities, or an OWS 1.0 ExceptionReport.
* ORDER: without SortBy, record order is the database's. The expected answers come
  from pycsw's own SQLite repository (table order); ours has an index for the viewer's
  repository filter (`ix_csw_records_access_org`, migration 0035: at 100,000 records a
  GetRecords read every record without it), so SQLite returns the records in that
  index's order, PostgreSQL in heap order, and PostgreSQL sorts NULLs first in DESC
  where SQLite puts them last. Such answers must hold the same counts and the same
  records (for the NULL case: the same counts, and the dated records in descending
  order).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from lxml import etree

from tests.conftest import Backend
from tests.csw_support import CITE_SUITE, serve

SUITE = CITE_SUITE
NO_VERSION = {
    "get_3a8a3c47-455f-4f49-9078-03119f3e70b3",  # acceptformats=message/example
    "get_477b23a3-baa9-47c8-9541-5fe27735ed49",  # sections= (empty)
    "get_55c38f00-2553-42c1-99ab-33edbb561ad7",  # sections=OperationsMetadata,...
    "get_5ab5db18-c87a-4fbf-a8d8-b7289b09ac81",  # service=FOO
    "get_80f31def-4185-48b9-983a-960566918eae",  # service=CSW&request=GetCapabilities
    "get_9697f0aa-3b6a-4125-83a5-61e8826127c4",  # same
    "get_c4ea754f-c158-4d8d-8253-dc8f86021b52",  # request=GetCapabilities only
}
NULLS_ORDER = {"post_948b39d5-bb4f-45b8-a8f2-4ff9501aaedd"}  # SortBy dc:date DESC, page 10


def _runner():  # noqa: ANN202 - the suite's own module
    assert (SUITE / "run_cite.py").is_file(), (
        f"CITE CSW 2.0.2 suite not found at {SUITE}: put the project's shared/ folder "
        "beside the checkout or set NIAOULI_SHARED_DIR"
    )
    spec = importlib.util.spec_from_file_location("run_cite", SUITE / "run_cite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_no_version(name: str, body: str) -> None:
    root = etree.fromstring(body.encode())
    if "5ab5db18" in name or "c4ea754f" in name:
        assert root.tag == "{http://www.opengis.net/ows}ExceptionReport", name
        code = root.find("{*}Exception").get("exceptionCode")
        assert code in ("InvalidParameterValue", "MissingParameterValue"), (name, code)
    else:
        assert root.tag == "{http://www.opengis.net/cat/csw/2.0.2}Capabilities", name
        assert root.get("version") == "2.0.2"


def test_cite_csw_202_semantic(backend: Backend, org: str, tmp_path: Path):
    files = sorted(str(p) for p in (SUITE / "data").glob("*.xml"))
    assert len(files) == 12
    backend.run("records", "import", "--org", org, *files)
    saved = tmp_path / "answers"
    with serve(backend) as server:
        result = subprocess.run(
            [
                sys.executable,
                str(SUITE / "run_cite.py"),
                "--url",
                server.csw,
                "--suite",
                str(SUITE),
                "--mode",
                "semantic",
                "--ignore",
                "operations,schemas",
                "--save-dir",
                str(saved),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    lines = result.stdout.splitlines()
    assert "68 requests against" in result.stdout, result.stdout + result.stderr
    failed = {line.split()[0] for line in lines if line.endswith("FAIL")}
    runner = _runner()
    unexplained = []
    for name in sorted(failed):
        body = (saved / f"{name}.xml").read_text()
        if name in NO_VERSION:
            _check_no_version(name, body)
            continue
        expected = (SUITE / "expected" / f"{name}.xml").read_text()
        got, want = runner.summarize(body), runner.summarize(expected)
        for key in ("operations", "schemas"):
            got.pop(key, None)
            want.pop(key, None)
        counts = ("numberOfRecordsMatched", "numberOfRecordsReturned", "nextRecord")
        same_counts = all(got.get(k) == want.get(k) for k in counts)
        if name in NULLS_ORDER and same_counts:
            dates = [
                e.text
                for e in etree.fromstring(body.encode()).iter(
                    "{http://purl.org/dc/elements/1.1/}date"
                )
            ]
            assert dates == sorted(dates, reverse=True), dates
            continue
        records_got, records_want = got.pop("records", []), want.pop("records", [])
        if got == want and sorted(records_got) == sorted(records_want):
            # Same answer, in another order: which only a list of records can have.
            assert len(records_got) > 1, name
            continue
        unexplained.append(name)
    assert not unexplained, "\n".join(line for line in lines if "FAIL" in line)
    # Every other request matched exactly: at least 55 of 68. Which lists come in the
    # reference's order depends on the database's plan (no SortBy): 61 on SQLite before
    # the index of migration 0035, 55 after; 55, then 59 on PostGIS since 0036's.
    assert 68 - len(failed) >= 55, result.stdout
