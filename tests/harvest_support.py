"""Fake remote servers on 127.0.0.1 for the harvest tests, with failures injected.

A `FakeRemote` serves whatever its `handler(path, query)` answers; `inject()` replaces
the answer of requests matching a predicate by a failure: HTTP 500, an empty 200, the
body cut in half (truncated XML/JSON), a hang longer than the client's read timeout, or
a redirect. Requests are recorded so tests can assert what was asked.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from niaouli.harvest.fetch import Limits

HARVEST_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "harvest"
FAST_LIMITS = Limits(connect_timeout=2, read_timeout=1.0, total_timeout=20)


@dataclass
class Reply:
    body: bytes
    content_type: str = "application/xml"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[str, dict[str, str]], Reply]
Predicate = Callable[[str, dict[str, str]], bool]


class FakeRemote:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.failures: list[tuple[Predicate, str, str]] = []
        remote = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                remote.requests.append((parts.path, query))
                reply = remote.handler(parts.path, query)
                for predicate, kind, arg in remote.failures:
                    if predicate(parts.path, query):
                        reply = remote._fail(kind, arg, reply)
                        break
                if reply is None:
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def inject(self, kind: str, when: Predicate, arg: str = "") -> None:
        """kind: "500", "empty", "truncated", "timeout" or "redirect" (arg: Location)."""
        self.failures.append((when, kind, arg))

    def clear(self) -> None:
        self.failures.clear()
        self.requests.clear()

    def _fail(self, kind: str, arg: str, reply: Reply) -> Reply | None:
        if kind == "500":
            return Reply(b"<html>Internal Server Error</html>", "text/html", 500)
        if kind == "empty":
            return Reply(b"", reply.content_type)
        if kind == "truncated":
            return Reply(reply.body[: len(reply.body) // 2], reply.content_type)
        if kind == "timeout":
            time.sleep(float(arg or 3))
            return reply
        if kind == "redirect":
            return Reply(b"", "text/plain", 302, {"Location": arg})
        if kind == "entity":
            return Reply(arg.encode(), reply.content_type)
        raise ValueError(kind)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- CSW -------------------------------------------------------------------------------

CSW_NS = "http://www.opengis.net/cat/csw/2.0.2"


def real_iso_records() -> list[str]:
    """The three real ISO 19139 records of the fixtures, as XML strings."""
    from lxml import etree

    records = []
    page = etree.parse(str(HARVEST_FIXTURES / "csw_getrecords_geonetwork_inspire.xml"))
    for node in page.getroot().iter("{http://www.isotc211.org/2005/gmd}MD_Metadata"):
        records.append(etree.tostring(node, encoding="unicode"))
    single = (HARVEST_FIXTURES / "iso19139_geonetwork_record.xml").read_text(encoding="utf-8")
    records.append(re.sub(r"^<\?xml[^>]*>\s*", "", single))
    return records


def iso_variant(template: str, identifier: str, title: str) -> str:
    """The real GeoNetwork record with another identifier and title (for many pages)."""
    old_id = "955c3e47-411e-4969-b61b-3556d1b9f879"
    assert old_id in template
    return template.replace(old_id, identifier).replace("Cadastre 2018 en Bretagne", title)


@dataclass
class FakeCsw:
    """A CSW 2.0.2 GetRecords endpoint over a list of record XML strings."""

    records: list[str]
    matched_offset: int = 0  # announce more records than there are (a lying server)

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        if query.get("request") != "GetRecords":
            return Reply(b"<error/>", status=400)
        start = int(query.get("startPosition", 1))
        size = int(query.get("maxRecords", 10))
        chunk = self.records[start - 1 : start - 1 + size]
        matched = len(self.records) + self.matched_offset
        next_record = start + len(chunk)
        if next_record > matched:
            next_record = 0
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<csw:GetRecordsResponse xmlns:csw="{CSW_NS}" version="2.0.2">'
            f'<csw:SearchStatus timestamp="2026-11-26T00:00:00Z"/>'
            f'<csw:SearchResults numberOfRecordsMatched="{matched}" '
            f'numberOfRecordsReturned="{len(chunk)}" elementSet="full" '
            f'nextRecord="{next_record}">' + "".join(chunk) + "</csw:SearchResults>"
            "</csw:GetRecordsResponse>"
        )
        return Reply(body.encode("utf-8"))
