#!/usr/bin/env python3
"""Run pycsw 2.6 for Niaouli: a pool of processes on a loopback port, behind `niaouli serve`.

This program runs in `.venv-pycsw` (Python 3.11, SQLAlchemy 1.4, OWSLib < 0.29: what
pycsw 2.6 needs and our main environment cannot hold). `niaouli serve` starts it and
reverse-proxies /csw, /csw/opensearch and /csw/oaipmh to it. Around pycsw's own WSGI
dispatch it adds what the platform needs:

- the configuration is the file given on the command line, never a request parameter
  (pycsw's stock wsgi.py honours `?config=`);
- a request that names no version is answered in CSW 2.0.2 (pycsw 2.6 defaults to 3.0,
  and GDAL's CSW driver, which sends no version, cannot read 3.0 capabilities);
- `outputSchema` must be one of the schemas pycsw serves: anything else (a path, a URL,
  a stylesheet) is refused with 400 before pycsw sees it (row S10);
- `maxRecords` above the configured cap is lowered to it (row R4), while a request
  without `maxRecords` keeps CSW's default page of 10;
- bodies are capped in size. The database is opened read-only by the caller's URL;
- each request sees the records its viewer may see: the reverse proxy sends the viewer's
  visibility (signed in or not, organisations where it is member / editor, platform
  admin) in `X-Niaouli-Viewer`, authenticated by `X-Niaouli-Proxy-Key` (a secret `serve`
  generates at start and hands to both sides). From it we build pycsw's repository
  filter, from integers only; a request without the right key is anonymous (public
  records only). pycsw applies the filter to every query (GetRecords and its counts,
  GetRecordById, GetDomain, GetRepositoryItem, OpenSearch, OAI-PMH).

pycsw is synchronous, CPU-bound Python (SQLAlchemy, lxml): threads in one process answer
one request at a time. So the application runs under gunicorn's arbiter (installed in
`.venv-pycsw`): `--workers` synchronous processes forked from this one after pycsw is
imported, each taking a request when it is free from the shared listening socket, a
worker that dies (even with SIGKILL) replaced at once, each worker replaced after about
`--max-requests` requests or when its memory passes `--max-rss-mb` (after finishing its
answer). Every answer names its worker's pid in `X-Niaouli-Csw-Worker` (the proxy does not
forward it: it is for the tests and for operators on the machine).

It is deliberately not a package named `pycsw` (that would shadow pycsw itself).
"""

from __future__ import annotations

import argparse
import configparser
import copy
import gc
import hmac
import io
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode

warnings.filterwarnings("ignore", message="ReadingError is deprecated")
# pycsw reflects the table in every process: SQLAlchemy 1.4 does not know PostGIS's type.
warnings.filterwarnings("ignore", message="Did not recognize type 'geometry'")
from pycsw import server  # noqa: E402

MAX_BODY = 2 * 1024 * 1024
MAX_RECORDS = 200
OUTPUT_SCHEMAS = {
    "http://www.opengis.net/cat/csw/2.0.2",
    "http://www.opengis.net/cat/csw/3.0",
    "http://www.isotc211.org/2005/gmd",
    "http://www.w3.org/2005/Atom",
    "http://www.opengis.net/cat/csw/csdgm",
    "http://gcmd.gsfc.nasa.gov/Aboutus/xml/dif/",
    "http://www.interlis.ch/INTERLIS2.3",
    "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
}
OAI_SETS = {"", "datasets", "interactiveResources"}  # pycsw's sets; "" = none given
MODES = {"/opensearch": "opensearch", "/oaipmh": "oaipmh"}
POST_MAX_RECORDS = re.compile(rb'maxRecords\s*=\s*["\'](\d+)["\']')
# The opening tag of a POSTed GetRecords and its paging attributes (pycsw's XML Schema
# check refuses what is not a positive integer, but lets a 25-digit one through).
POST_GET_RECORDS = re.compile(rb"<(?:[\w.-]+:)?GetRecords\b[^>]*>")
POST_PAGING = re.compile(rb'\b(startPosition|maxRecords)\s*=\s*["\']\s*([^"\']*)["\']')
MAX_START = 2**53  # far past any catalogue; SQLite and PostgreSQL stop at 2**63 - 1
DIGITS = re.compile(r"[0-9]{1,20}")
KEY_ENV = "NIAOULI_CSW_PROXY_KEY"
HEALTH_PATH = "/_niaouli/health"  # the readiness probe of `niaouli serve`
PUBLIC_ONLY = "(access_level = 'public')"
SIGNED_IN = re.compile(
    r"signed-in;member=((?:\d{1,12},)*\d{1,12})?;editor=((?:\d{1,12},)*\d{1,12})?"
)

StartResponse = Callable[..., object]


def visibility_filter(viewer: str | None) -> str | None:
    """pycsw's repository filter for the viewer header (None: no filter, platform admin).

    The same rule as `niaouli.catalogue.access.visible_datasets`. Built from integers
    parsed here, never from the header's text; anything unexpected means public only.
    """
    if viewer == "admin":
        return None
    match = SIGNED_IN.fullmatch(viewer or "")
    if not match:
        return PUBLIC_ONLY
    members = sorted({int(i) for i in (match.group(1) or "").split(",") if i})
    editors = sorted({int(i) for i in (match.group(2) or "").split(",") if i} & set(members))
    terms = ["access_level IN ('public', 'registered')"]
    if members:
        ids = ", ".join(str(i) for i in members)
        terms.append(f"(access_level = 'organisation' AND organisation_id IN ({ids}))")
    if editors:
        ids = ", ".join(str(i) for i in editors)
        terms.append(f"(access_level = 'draft' AND organisation_id IN ({ids}))")
    return "(" + " OR ".join(terms) + ")"


# pycsw's AnyText filter on SQLite (`fes1`: `anytext like :pvalue0`, the pattern a
# parameter), and the same rows through the FTS5 trigram index of `csw_records.anytext`
# (`niaouli/db/sqlite_trigram.py`, migration 0038): SQLite checks each row the index
# proposes with the same LIKE. Without it every AnyText count read every record.
ANYTEXT_LIKE = re.compile(r"\banytext like (:pvalue\d+)")
ANYTEXT_TRIGRAMS = r"dataset_id IN (SELECT rowid FROM csw_records_trigram WHERE anytext LIKE \1)"


def anytext_through_trigrams(where: str) -> str:
    return ANYTEXT_LIKE.sub(ANYTEXT_TRIGRAMS, where)


def patch_repository_constraint() -> None:
    """Parenthesise pycsw's own WHERE text before the repository filter is ANDed to it.

    pycsw 2.6 joins a top-level `ogc:Or` as `a or b` and SQLAlchemy ANDs the two `text()`
    clauses without grouping them: `a or b AND filter` would let `a` through unfiltered.
    On SQLite, AnyText filters go through the trigram index (`anytext_through_trigrams`).
    """
    from pycsw.core import repository

    original = repository.Repository.query

    def query(self, constraint, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if constraint.get("where"):
            where = constraint["where"]
            if self.dbtype == "sqlite":
                where = anytext_through_trigrams(where)
            constraint = {**constraint, "where": f"({where})"}
        return original(self, constraint, *args, **kwargs)

    repository.Repository.query = query


def paging_problem(kvp: dict[str, str], body: bytes) -> tuple[str, str] | None:
    """(locator, French message) for a `maxRecords` or `startPosition` pycsw would turn
    into a wrong page or an 'Invalid query syntax' (LIMIT -1 on SQLite, a negative OFFSET
    on PostgreSQL, startPosition=0, a number beyond 64 bits), else None."""
    given = [
        ("maxRecords", kvp.get("maxrecords", "")),
        ("startPosition", kvp.get("startposition", "")),
    ]
    tag = POST_GET_RECORDS.search(body) if body else None
    if tag:
        given += [(n.decode(), v.decode("latin-1")) for n, v in POST_PAGING.findall(tag.group())]
    for locator, value in given:
        value = value.strip()
        if value == "":
            continue
        if locator == "maxRecords":
            if not DIGITS.fullmatch(value):
                return locator, "maxRecords : un entier positif ou nul"
        elif not DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_START:
            return locator, f"startPosition : un entier de 1 à {MAX_START}"
    return None


# What pycsw's Repository learns from the database, kept per process (see below).
REFLECTED = ("engine", "dataset", "dbtype", "postgis_geometry_column", "fts")


def patch_repository_cache() -> None:
    """Reflect the records table once per process, not on every request.

    pycsw 2.6 builds a `Repository` per request, and its constructor reflects the table
    (about 16 catalogue queries through SQLAlchemy's autoload, a new mapped class) and
    probes PostGIS (two `postgis_version()` calls, one failing by design, the geometry
    column, the full-text index): 80 % of a GetRecordById. The mapped class, the engine
    and what the probes found are kept per (database, table) for the life of the worker
    process (workers are recycled: `--max-requests`); the per-request parts — the context,
    the viewer's filter, the session and the queryables (which depend on the request's
    context) — are made again each time exactly as pycsw does.
    """
    from pycsw.core import repository
    from sqlalchemy.orm import create_session

    original = repository.Repository.__init__
    known: dict[tuple[str, str, str | None], dict[str, object]] = {}

    def init(
        self: repository.Repository,
        database: str,
        context: object,
        app_root: str | None = None,
        table: str = "records",
        repo_filter: str | None = None,
    ) -> None:
        key = (database, table, app_root)
        if key not in known:
            original(self, database, context, app_root, table, repo_filter)
            known[key] = {name: getattr(self, name) for name in REFLECTED}
            return
        self.context = context
        self.filter = repo_filter
        self.__dict__.update(known[key])
        self.session = create_session(self.engine)
        # pycsw's own code for the queryables (repository.py, end of __init__).
        self.queryables = {}
        for tname in self.context.model["typenames"]:
            for qname in self.context.model["typenames"][tname]["queryables"]:
                self.queryables[qname] = {}
                items = self.context.model["typenames"][tname]["queryables"][qname].items()
                for qkey, qvalue in items:
                    self.queryables[qname][qkey] = qvalue
        self.queryables["_all"] = {}
        for qbl in self.queryables:
            self.queryables["_all"].update(self.queryables[qbl])
        self.queryables["_all"].update(self.context.md_core_model["mappings"])

    repository.Repository.__init__ = init


# A request during which the database failed in passing (connection cut, PostgreSQL
# restarting, SQLite busy): pycsw turns such an error into an ExceptionReport with
# status 200, so it is noted here, per thread, by an engine event (SECURITY-CASES R3).
TROUBLE = threading.local()
RETRY_AFTER = "2"  # seconds, as the main application's 503s (niaouli/db/trouble.py)


def _passing_trouble(context: object) -> None:
    error = getattr(context, "original_exception", None)
    transient = getattr(context, "is_disconnect", False)
    try:
        import psycopg2

        transient = transient or isinstance(error, psycopg2.OperationalError)
    except ImportError:
        pass
    message = str(error).lower()
    if type(error).__name__ == "OperationalError" and ("locked" in message or "busy" in message):
        transient = True
    if transient:
        TROUBLE.seen = True


def patch_engine_health() -> None:
    """pycsw's engine: pooled PostgreSQL connections checked before use (a connection the
    server cut is replaced, not used), and passing trouble noted (see `TROUBLE`)."""
    from pycsw.core import repository
    from sqlalchemy import create_engine, event

    original = repository.Repository.create_engine.__func__

    def create(clazz: type, url: str) -> object:
        if url not in clazz._engines and url.startswith("postgresql"):
            clazz._engines[url] = create_engine(url, echo=False, pool_pre_ping=True)
        engine = original(clazz, url)
        if not event.contains(engine, "handle_error", _passing_trouble):
            event.listen(engine, "handle_error", _passing_trouble)
        return engine

    repository.Repository.create_engine = classmethod(create)


def exception_report(code: str, locator: str, text: str) -> bytes:
    """An OWS 1.0 ExceptionReport (the CSW 2.0.2 form) for what we refuse ourselves."""
    from xml.sax.saxutils import escape, quoteattr

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0" '
        'language="fr">\n'
        f"  <ows:Exception exceptionCode={quoteattr(code)} locator={quoteattr(locator)}>\n"
        f"    <ows:ExceptionText>{escape(text)}</ows:ExceptionText>\n"
        "  </ows:Exception>\n"
        "</ows:ExceptionReport>\n"
    ).encode()


def load_config(path: str) -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as handle:
        config.read_file(handle)
    return config


def choose_version(kvp: dict[str, str], method: str) -> str:
    """2.0.2 for a GET that names neither VERSION nor ACCEPTVERSIONS, else pycsw's rule."""
    if method == "GET" and kvp and "version" not in kvp and "acceptversions" not in kvp:
        return "2.0.2"
    if kvp.get("version") == "2.0.2":
        return "2.0.2"
    return "3.0.0"


def patch_oaipmh_headers() -> None:
    """Fix pycsw 2.6's OAI-PMH headers: records got another record's identifier.

    `OAIPMH.response` evaluates the header xpaths (`//dc:identifier`...) against the whole
    CSW response instead of the record being written (and moves records out of it as it
    goes). The patched helper snapshots the response's records when it writes the first
    header, then evaluates each header's xpath on the copy of its own record.
    """
    from lxml import etree
    from pycsw import oaipmh

    original = oaipmh.OAIPMH._transform_element
    local = threading.local()

    def _records(element: etree._Element) -> list[etree._Element]:
        if etree.QName(element).localname == "GetRecordByIdResponse":
            return list(element)
        return list(element.getchildren()[1])

    def _transform_element(self, parent, element, elname):  # noqa: ANN001, ANN202
        recnode = parent.getparent()
        verbnode = recnode.getparent() if recnode is not None else None
        if verbnode is None or etree.QName(element).localname not in (
            "GetRecordsResponse",
            "GetRecordByIdResponse",
        ):
            return original(self, parent, element, elname)
        index = [c for c in verbnode if etree.QName(c).localname == "record"].index(recnode)
        if index == 0 and elname == "oai:identifier":
            local.snapshot = [etree.fromstring(etree.tostring(r)) for r in _records(element)]
        snapshot = getattr(local, "snapshot", [])
        if index >= len(snapshot):
            return original(self, parent, element, elname)
        return original(self, parent, snapshot[index], elname)

    oaipmh.OAIPMH._transform_element = _transform_element


class App:
    """The WSGI application: checks and defaults, then pycsw's dispatch."""

    def __init__(self, config_path: str, proxy_key: str = "") -> None:
        self.config = load_config(config_path)
        self.proxy_key = proxy_key.encode()
        self._configs: dict[tuple[str | None, bool, bool], configparser.ConfigParser] = {}
        self._lock = threading.Lock()

    def _config_for(
        self, repo_filter: str | None, capped: bool, primary: bool = False
    ) -> configparser.ConfigParser:
        """The configuration with this repository filter (and record cap), built once;
        `primary`: on the primary database rather than the read replica (when the
        configuration names one: `[repository] primary_database`)."""
        key = (repo_filter, capped, primary)
        config = self._configs.get(key)
        if config is None:
            config = copy.deepcopy(self.config)
            if primary and config.has_option("repository", "primary_database"):
                config.set("repository", "database", config.get("repository", "primary_database"))
            if repo_filter is not None:
                config.set("repository", "filter", repo_filter)
            elif config.has_option("repository", "filter"):
                config.remove_option("repository", "filter")
            if capped:
                config.set("server", "maxrecords", str(MAX_RECORDS))
            with self._lock:
                if len(self._configs) > 1000:  # many organisation sets: start again
                    self._configs.clear()
                self._configs[key] = config
        return config

    def _trusted(self, environ: dict) -> bool:
        given = environ.get("HTTP_X_NIAOULI_PROXY_KEY", "").encode("latin-1")
        return bool(self.proxy_key) and hmac.compare_digest(given, self.proxy_key)

    def _viewer_filter(self, environ: dict) -> str | None:
        if not self._trusted(environ):
            return PUBLIC_ONLY
        return visibility_filter(environ.get("HTTP_X_NIAOULI_VIEWER"))

    def _on_primary(self, environ: dict) -> bool:
        """Whether the proxy asked for the primary (`X-Niaouli-Read: primary`: a writer's
        request, read-your-writes despite the replica's lag); else the configured one."""
        return environ.get("HTTP_X_NIAOULI_READ") == "primary" and self._trusted(environ)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        worker = ("X-Niaouli-Csw-Worker", str(os.getpid()))

        def respond(status: str, headers: list[tuple[str, str]], *exc: object) -> object:
            return start_response(status, [*headers, worker], *exc)

        if environ.get("PATH_INFO") == HEALTH_PATH:
            # The pool answers (niaouli's /readyz): no pycsw dispatch, no database.
            respond("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
            return [b"ok"]
        return self._answer(environ, respond)

    def _answer(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        pairs = [(k, v) for k, v in pairs if k.lower() != "config"]
        mode = MODES.get(environ.get("PATH_INFO", "").rstrip("/"))
        if mode and not any(k.lower() == "mode" for k, _ in pairs):
            pairs.insert(0, ("mode", mode))
            if mode == "opensearch" and len(pairs) == 1:
                pairs += [
                    ("service", "CSW"),
                    ("version", "2.0.2"),
                    ("request", "GetCapabilities"),
                ]
        kvp = {k.lower(): v for k, v in pairs}
        if kvp.get("mode") == "oaipmh" and kvp.get("set", "") not in OAI_SETS:
            # pycsw ignores `set` and would list everything: refuse unknown sets instead.
            return self._oai_error(start_response, "badArgument", "set inconnu")
        schema = kvp.get("outputschema")
        if schema and schema not in OUTPUT_SCHEMAS:
            return self._refuse(
                start_response, "outputSchema", f"outputSchema inconnu : {schema[:200]}"
            )
        body = b""
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                return self._refuse(
                    start_response,
                    "request",
                    "requête trop volumineuse",
                    status="413 Payload Too Large",
                )
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        problem = paging_problem(kvp, body)
        if problem is not None:
            return self._refuse(start_response, *problem)
        environ["QUERY_STRING"] = urlencode(pairs)
        wanted = kvp.get("maxrecords", "")
        post_wanted = POST_MAX_RECORDS.search(body) if body else None
        capped = bool(
            (wanted.isdigit() and int(wanted) > MAX_RECORDS)
            or (post_wanted and int(post_wanted.group(1)[:20]) > MAX_RECORDS)
        )
        config = self._config_for(self._viewer_filter(environ), capped, self._on_primary(environ))
        # Read-only (transactions=false): a request the database failed is answered once
        # more (on a fresh connection), then a 503 with Retry-After, never a report of
        # the failure dressed as a 200.
        for attempt in (1, 2):
            TROUBLE.seen = False
            environ["wsgi.input"] = io.BytesIO(body)
            csw = server.Csw(config, environ, version=choose_version(kvp, method))
            status, contents = csw.dispatch_wsgi()
            if not TROUBLE.seen:
                break
            if attempt == 2:
                return self._refuse(
                    start_response,
                    "NoApplicableCode",
                    "service momentanément indisponible (base de données), réessayez",
                    status="503 Service Unavailable",
                    code="NoApplicableCode",
                    extra=[("Retry-After", RETRY_AFTER), ("Cache-Control", "no-store")],
                )
        headers = [
            ("Content-Type", str(csw.contenttype)),
            ("Content-Length", str(len(contents))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        start_response(status, headers)
        return [contents]

    @staticmethod
    def _oai_error(start_response: StartResponse, code: str, text: str) -> list[bytes]:
        from xml.sax.saxutils import escape, quoteattr

        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f"<responseDate>{stamp}</responseDate><request/>"
            f"<error code={quoteattr(code)}>{escape(text)}</error></OAI-PMH>\n"
        ).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=UTF-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    @staticmethod
    def _refuse(
        start_response: StartResponse,
        locator: str,
        text: str,
        status: str = "400 Bad Request",
        code: str = "InvalidParameterValue",
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        body = exception_report(code, locator, text)
        start_response(
            status,
            [
                ("Content-Type", "application/xml; charset=UTF-8"),
                ("Content-Length", str(len(body))),
                *(extra or []),
            ],
        )
        return [body]


def rss_mb() -> float:
    """This process's resident memory in MB (Linux's /proc; else the peak, from getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _watch_parent(pid: int) -> None:
    """Stop when `niaouli serve` is gone (even killed with SIGKILL): no orphan pycsw.

    SIGTERM to ourselves: gunicorn's arbiter then stops its workers before exiting.
    """
    while os.getppid() == pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def gunicorn_options(args: argparse.Namespace) -> dict[str, object]:
    """gunicorn's settings: N synchronous workers, each recycled after K requests or when
    its memory goes above the threshold (after the answer it is writing)."""
    max_rss = args.max_rss_mb

    def post_request(worker, req, environ, resp) -> None:  # noqa: ANN001, ARG001
        if max_rss and worker.alive and rss_mb() > max_rss:
            worker.log.warning(
                "pycsw : processus %s au-delà de %s Mo (%.0f Mo), remplacé",
                worker.pid,
                max_rss,
                rss_mb(),
            )
            worker.alive = False

    def when_ready(arbiter) -> None:  # noqa: ANN001, ARG001
        print(f"pycsw prêt sur http://{args.host}:{args.port}/", flush=True)

    return {
        "bind": [f"{args.host}:{args.port}"],
        "workers": args.workers,
        "worker_class": "sync",
        "max_requests": args.max_requests,
        "max_requests_jitter": max(1, args.max_requests // 10) if args.max_requests else 0,
        "timeout": args.timeout,
        "graceful_timeout": 5,
        # The proxy forwards CSW GET requests whose filters can be long.
        "limit_request_line": 0,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "post_request": post_request,
        "when_ready": when_ready,
    }


def serve(app: App, args: argparse.Namespace) -> None:
    """Run `app` under gunicorn's arbiter (the process pool) until SIGTERM."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(args)

    class Pool(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> App:
            return app

    # Everything imported and built so far moves to the collector's permanent generation:
    # the forked workers keep sharing those pages (a collection would write to them) and
    # a worker or the arbiter stops in a fraction of a second instead of seconds spent
    # collecting pycsw's modules at exit.
    gc.freeze()
    Pool(prog="niaouli-pycsw").run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pycsw pour Niaouli (usage interne)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, help="stop when this process is gone")
    parser.add_argument("--workers", type=int, default=2, help="pycsw processes (2)")
    parser.add_argument(
        "--max-requests", type=int, default=1000, help="recycle a worker after (about) N (1000)"
    )
    parser.add_argument(
        "--max-rss-mb", type=int, default=300, help="recycle a worker above this RSS (300 MB)"
    )
    parser.add_argument("--timeout", type=int, default=60, help="kill a request after (60 s)")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("pycsw n'écoute que sur la boucle locale (il est derrière niaouli serve)")
    if args.workers < 1:
        parser.error("--workers : au moins 1")
    patch_oaipmh_headers()
    patch_repository_constraint()
    patch_repository_cache()
    patch_engine_health()
    app = App(args.config, os.environ.pop(KEY_ENV, ""))
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    serve(app, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
