"""The ASGI side of /csw: a reverse proxy to the pycsw process.

pycsw lives in another process (another Python environment), so the main application
forwards /csw (and /csw/opensearch, /csw/oaipmh) to it over loopback HTTP, streaming
nothing clever: CSW answers are small and pycsw builds them whole anyway. Only the
headers that matter are passed either way; a pycsw that is down gives a 503 with an OWS
exception report rather than a stack trace.

The viewer the accounts middleware resolved goes along as `X-Niaouli-Viewer` (signed in
or not, organisation ids where it is a member / an editor, or platform admin) with the
shared secret in `X-Niaouli-Proxy-Key`; pycsw turns it into its repository filter. Only
the headers listed below are forwarded, so a client cannot send either of its own.

Load: pycsw is a pool of `NIAOULI_CSW_WORKERS` processes, each answering one request at a
time. Each server process sends at most that many requests at once (the rest wait here,
in order) and holds at most `NIAOULI_CSW_QUEUE` more (waiting, or reading their body):
beyond that, or after waiting `QUEUE_WAIT` seconds, the answer is 503 with `Retry-After`,
so a crowd of harvesters gets told to come back instead of piling up memory and latency.
A waiting request whose client went away leaves the queue. A request whose pycsw worker
died under it (killed, recycled) is sent once more: CSW here is read-only (no CSW-T), so
that is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from xml.sax.saxutils import escape

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from niaouli.catalogue.access import Viewer, editor_organisations
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.readroute import on_replica
from niaouli.services.csw import stored_urls
from niaouli.settings import get_settings

MAX_BODY = 2 * 1024 * 1024
# No accept-encoding: httpx would decode gzip anyway, and answers are small.
REQUEST_HEADERS = ("content-type", "accept", "accept-language")
RESPONSE_HEADERS = ("content-type", "x-content-type-options", "retry-after", "cache-control")
QUEUE_WAIT = 10.0  # seconds a request may wait for a pycsw worker
RETRY_AFTER = "2"
# The worker answering died or closed the connection before answering: send it again.
RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)


def _exception(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0" '
        'language="fr">\n'
        '  <ows:Exception exceptionCode="NoApplicableCode">\n'
        f"    <ows:ExceptionText>{escape(text)}</ows:ExceptionText>\n"
        "  </ows:Exception>\n"
        "</ows:ExceptionReport>\n"
    )
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def _busy() -> Response:
    return _exception(
        503,
        "service CSW saturé, réessayez dans quelques secondes",
        {"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"},
    )


def viewer_header(viewer: Viewer | None) -> str:
    """What pycsw needs to know of the viewer to apply `access.visible_datasets`' rule."""
    if viewer is None or not viewer.is_signed_in:
        return "anonymous"
    if allowed(viewer, Action.CATALOGUE_READ_ALL):
        return "admin"
    members = sorted(int(o) for o in viewer.member_of)
    editors = sorted(int(o) for o in editor_organisations(viewer))
    return f"signed-in;member={','.join(map(str, members))};editor={','.join(map(str, editors))}"


class CswProxy:
    """ASGI app forwarding to pycsw; `prefix` is the public path it is mounted under."""

    def __init__(
        self,
        backend: str | None = None,
        prefix: str = "/csw",
        capacity: int | None = None,
        queue: int | None = None,
    ) -> None:
        self._backend = backend
        self.prefix = prefix
        self._client: httpx.AsyncClient | None = None
        self._capacity = capacity
        self._queue = queue
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0  # requests in this process between arrival and answer

    @property
    def capacity(self) -> int:
        """Requests sent to pycsw at once: the pool's size (one request per process)."""
        return max(1, self._capacity or get_settings().csw_workers or 2)

    @property
    def queue(self) -> int:
        """Requests held here beyond `capacity` before answering 503."""
        return self._queue if self._queue is not None else get_settings().csw_queue

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(self.capacity), loop
        return self._slots

    @property
    def backend(self) -> str | None:
        return self._backend or get_settings().csw_backend

    def _relative_path(self, scope: Scope) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        return path if path.startswith("/") else "/" + path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._forward(request, self._relative_path(scope))
        await response(scope, receive, send)

    async def _forward(self, request: Request, path: str) -> Response:
        backend = self.backend
        if not backend:
            return _exception(503, "service CSW non démarré")
        if request.method not in ("GET", "POST", "HEAD"):
            return _exception(405, "méthode non autorisée")
        if self._pending >= self.capacity + self.queue:
            return _busy()
        self._pending += 1
        try:
            return await self._queued(request, path, backend)
        finally:
            self._pending -= 1

    @staticmethod
    async def _take(slots: asyncio.Semaphore, receive: Receive) -> bool:
        """Wait for a free pycsw worker: False after `QUEUE_WAIT` or if the client left.

        A client that gave up (closed its connection) must not keep its place: a crowd
        that timed out would otherwise leave pycsw minutes of answers nobody reads.
        """

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        acquire = asyncio.ensure_future(slots.acquire())
        watch = asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait({acquire, watch}, timeout=QUEUE_WAIT, return_when="FIRST_COMPLETED")
        finally:
            watch.cancel()
            if not acquire.done():
                acquire.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquire
        # acquire may have succeeded even as it was being given up: then keep the slot.
        return acquire.done() and not acquire.cancelled()

    async def _queued(self, request: Request, path: str, backend: str) -> Response:
        body = b""
        if request.method == "POST":
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY:
                return _exception(413, "requête trop volumineuse")
            chunks = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    return _exception(413, "requête trop volumineuse")
                chunks.append(chunk)
            body = b"".join(chunks)
        headers = {k: v for k, v in request.headers.items() if k in REQUEST_HEADERS}
        headers["x-niaouli-viewer"] = viewer_header(request.scope.get("state", {}).get("viewer"))
        headers["x-niaouli-proxy-key"] = get_settings().csw_proxy_key
        # With a read replica, pycsw reads it unless this request reads the primary.
        headers["x-niaouli-read"] = "replica" if on_replica() else "primary"
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5))
        query = request.url.query
        url = backend + path + (f"?{query}" if query else "")
        slots = self._semaphore()
        if not await self._take(slots, request.receive):
            return _busy()
        try:
            for attempt in (1, 2):
                try:
                    upstream = await self._client.request(
                        request.method, url, content=body or None, headers=headers
                    )
                    break
                except RETRYABLE:
                    if attempt == 2:
                        raise
        except httpx.HTTPError:
            return _exception(503, "service CSW momentanément indisponible, réessayez")
        finally:
            slots.release()
        kept = {k: v for k, v in upstream.headers.items() if k.lower() in RESPONSE_HEADERS}
        # Stored records carry a placeholder root: links follow the serving address.
        content = stored_urls.resolve(upstream.content, upstream.headers.get("content-type", ""))
        return Response(content, status_code=upstream.status_code, headers=kept)
