"""A safe HTTP client for harvesting untrusted remotes (rows S11, S12, S13 and R6).

Every request, and every redirect hop, is checked before any connection: only http and
https, the host is resolved here and every address it resolves to must be public
(loopback, private, link-local — cloud metadata at 169.254.169.254 — shared, multicast
and reserved ranges are refused; an IPv6 address carrying an IPv4 one, NAT64, 6to4 or
Teredo, is judged by the IPv4 it carries) unless the source was explicitly allowed the
private network. The connection then goes to the address that was checked (the URL is
rewritten to it, with the original Host header and TLS server name), so a DNS answer
that changes between the check and the connect (rebinding) cannot redirect it.

Connect and read timeouts, a byte cap and a bound on the total time of one fetch
(redirects included, enforced even while a read is blocked) limit what a slow or huge
remote can cost. The body is streamed into an unnamed temporary file (under the data
directory for harvest jobs), never held whole in memory: `Response.save` copies it to
a file, `Response.content` reads it for the small documents parsed in memory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from niaouli.i18n import N_
from niaouli.settings import DEFAULT_HARVEST_FETCH_TIMEOUT

USER_AGENT = "Niaouli-moissonneur/0.1 (+https://data.gouv.nc)"
REDIRECTS = {301, 302, 303, 307, 308}

# French messages (stored in job reports), made from templates the portal can translate.
HOST_UNKNOWN = N_("nom d'hôte introuvable : %(host)s")
HOST_UNKNOWN_DETAIL = N_("nom d'hôte introuvable : %(host)s (%(detail)s)")
SCHEME_REFUSED = N_("adresse refusée : %(url)s (seuls http et https sont autorisés)")
NO_HOST = N_("adresse refusée : %(url)s (pas d'hôte)")
BAD_PORT = N_("adresse refusée : %(url)s (port invalide)")
PRIVATE_REFUSED = N_(
    "adresse refusée : %(host)s correspond à %(address)s, une adresse réseau "
    "privée, locale ou réservée (autorisez le réseau privé pour cette source "
    "si c'est voulu)"
)
TIMEOUT = N_("délai dépassé en lisant %(url)s")
CONNECTION_FAILED = N_("échec de la connexion à %(url)s : %(detail)s")
REDIRECT_NOWHERE = N_("redirection sans destination depuis %(url)s")
HTTP_ERROR = N_("le serveur a répondu HTTP %(status)s pour %(url)s")
TOO_MANY_REDIRECTS = N_("trop de redirections (plus de %(max)s) depuis %(url)s")
TOTAL_TIMEOUT = N_("délai total dépassé (%(seconds)s s) en lisant %(url)s")
TOO_BIG = N_("réponse trop volumineuse (plus de %(megabytes)s Mo) pour %(url)s")
MESSAGES = (  # most specific first
    HOST_UNKNOWN_DETAIL,
    HOST_UNKNOWN,
    SCHEME_REFUSED,
    NO_HOST,
    BAD_PORT,
    PRIVATE_REFUSED,
    TIMEOUT,
    CONNECTION_FAILED,
    REDIRECT_NOWHERE,
    HTTP_ERROR,
    TOO_MANY_REDIRECTS,
    TOTAL_TIMEOUT,
    TOO_BIG,
)


class FetchError(Exception):
    """A remote that could not be read, with a French message naming the address."""


class ForbiddenAddressError(FetchError):
    """The address is not allowed (scheme, private network...)."""


@dataclass
class Limits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # The whole fetch, redirects included (jobs: `Settings.harvest_fetch_timeout`).
    total_timeout: float = DEFAULT_HARVEST_FETCH_TIMEOUT
    max_bytes: int = 200 * 1024 * 1024
    max_redirects: int = 5


@dataclass
class Response:
    """An answer whose body lives in an unnamed temporary file (gone once closed)."""

    url: str
    status: int
    headers: httpx.Headers
    body: IO[bytes] | None = None
    size: int = 0
    _content: bytes | None = field(default=None, repr=False)

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def content(self) -> bytes:
        """The whole body in memory: for the documents parsed as a whole (XML, JSON)."""
        if self._content is None:
            self._content = self.open().read() if self.body is not None else b""
        return self._content

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def open(self) -> IO[bytes]:
        """The body as a file, from its start."""
        if self.body is None:
            raise ValueError("response without body")
        self.body.seek(0)
        return self.body

    def is_blank(self) -> bool:
        """Empty or only whitespace (read in blocks, not in one piece)."""
        if self.body is None:
            return True
        handle = self.open()
        while block := handle.read(1 << 16):
            if block.strip():
                return False
        return True

    def save(self, path: Path) -> Path:
        """Copy the body to `path` in blocks (a data file is never read whole)."""
        with path.open("wb") as out:
            if self.body is not None:
                shutil.copyfileobj(self.open(), out, 1 << 20)
        return path

    def close(self) -> None:
        if self.body is not None:
            self.body.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_net = ipaddress.ip_network
# Refused whatever Python's `is_global` says: Python 3.12.1 predates the fix of
# CVE-2024-4032 (3.12.4), which called 192.0.0.8 and the ranges below global; and some
# are still called global by fixed versions although no public server lives there.
_REFUSED = (
    _net("0.0.0.0/8"),  # "this network"
    _net("192.0.0.0/24"),  # IETF protocol assignments (192.0.0.8: only /29 before the fix)
    _net("::/96"),  # IPv4-compatible ::a.b.c.d (deprecated, RFC 4291), :: and ::1 too
    _net("::ffff:0:0:0/96"),  # IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
    _net("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    _net("fec0::/10"),  # site-local (deprecated, still routed on some networks)
    _net("3fff::/20"),  # documentation (RFC 9637)
    _net("5f00::/16"),  # segment routing SIDs (RFC 9602)
)
NAT64 = _net("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052): last 32 bits are IPv4
SIX_TO_FOUR = _net("2002::/16")  # 6to4 (RFC 3056): bits 16-48 are IPv4
TEREDO = _net("2001::/32")  # Teredo (RFC 4380): server and (obfuscated) client IPv4


def carried_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for (mapped, NAT64, 6to4, Teredo).

    Connecting to it reaches (through a translator or a tunnel) that IPv4 address, so
    it is that address that must be allowed: 64:ff9b::7f00:1 is 127.0.0.1."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in SIX_TO_FOUR:
        return [ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]
    if ip in TEREDO:
        server, client = ip.teredo  # type: ignore[misc]
        return [server, client]
    return None


def is_public_address(ip: IPAddress) -> bool:
    """A public unicast address (rows S11, S12), checked explicitly, not only by Python."""
    if any(ip in network for network in _REFUSED if network.version == ip.version):
        return False
    carried = carried_ipv4(ip)
    if carried is not None:
        return all(is_public_address(v4) for v4 in carried)
    return ip.is_global and not ip.is_multicast


def _is_allowed_ip(ip: IPAddress) -> bool:
    return is_public_address(ip)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals, including 0x7f000001, included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(HOST_UNKNOWN_DETAIL % {"host": host, "detail": exc}) from None
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass
class Fetcher:
    """GET untrusted URLs; one per job (keeps its connection pool)."""

    allow_private_network: bool = False
    limits: Limits = field(default_factory=Limits)
    # Where bodies are spooled (unnamed files); the system's temporary folder if None.
    spool_dir: Path | None = None
    _client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            timeout = httpx.Timeout(
                connect=self.limits.connect_timeout,
                read=self.limits.read_timeout,
                write=self.limits.read_timeout,
                pool=self.limits.connect_timeout,
            )
            # trust_env=False: no proxy from the environment (the address we checked is
            # the one we connect to).
            self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def check(self, url: str) -> tuple[str, str, str]:
        """(URL rewritten to the checked address, Host header, TLS name) or refusal."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ForbiddenAddressError(SCHEME_REFUSED % {"url": url[:200]})
        host = parts.hostname
        if not host:
            raise ForbiddenAddressError(NO_HOST % {"url": url[:200]})
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ForbiddenAddressError(BAD_PORT % {"url": url[:200]}) from None
        addresses = resolve(host, port)
        chosen = None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not self.allow_private_network and not _is_allowed_ip(ip):
                raise ForbiddenAddressError(PRIVATE_REFUSED % {"host": host, "address": address})
            chosen = chosen or ip
        if chosen is None:
            raise FetchError(HOST_UNKNOWN % {"host": host})
        literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        netloc = f"{literal}:{port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        default_port = (parts.scheme == "https" and port == 443) or port == 80
        named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        host_header = named if default_port else f"{named}:{port}"
        return pinned, host_header, host

    def get(
        self, url: str, params: dict[str, str | int] | None = None, accept: str | None = None
    ) -> Response:
        """The body of `url` after checked redirects; `FetchError` for any failure or HTTP ≥ 400."""
        if params:
            url = str(httpx.URL(url).copy_merge_params(params))
        deadline = time.monotonic() + self.limits.total_timeout
        for _hop in range(self.limits.max_redirects + 1):
            pinned, host_header, server_name = self.check(url)
            headers = {"Host": host_header, "User-Agent": USER_AGENT}
            if accept:
                headers["Accept"] = accept
            try:
                response = self._read(pinned, headers, server_name, deadline, url)
            except httpx.HTTPError as exc:
                if time.monotonic() >= deadline:  # cut by the total bound
                    raise FetchError(self._too_slow(url)) from None
                if isinstance(exc, httpx.TimeoutException):
                    raise FetchError(TIMEOUT % {"url": url[:300]}) from None
                detail = {"url": url[:300], "detail": exc}
                raise FetchError(CONNECTION_FAILED % detail) from None
            if response.status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(REDIRECT_NOWHERE % {"url": url[:300]})
                url = urljoin(url, location)
                continue
            if response.status >= 400:
                raise FetchError(HTTP_ERROR % {"status": response.status, "url": url[:300]})
            return response
        raise FetchError(TOO_MANY_REDIRECTS % {"max": self.limits.max_redirects, "url": url[:300]})

    def reach(self, url: str) -> int:
        """The HTTP status `url` finally answers (checked redirects followed), without
        reading its body: the link checks (`niaouli.ingest.linkcheck`). GET, not HEAD,
        which many servers answer wrongly. `FetchError` when it cannot be reached."""
        for _hop in range(self.limits.max_redirects + 1):
            pinned, host_header, server_name = self.check(url)
            headers = {"Host": host_header, "User-Agent": USER_AGENT}
            extensions = {"sni_hostname": server_name} if pinned.startswith("https") else {}
            try:
                request = self._http().build_request(
                    "GET", pinned, headers=headers, extensions=extensions
                )
                response = self._http().send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchError(TIMEOUT % {"url": url[:300]}) from None
            except httpx.HTTPError as exc:
                raise FetchError(CONNECTION_FAILED % {"url": url[:300], "detail": exc}) from None
            status, location = response.status_code, response.headers.get("location")
            response.close()
            if status in REDIRECTS:
                if not location:
                    raise FetchError(REDIRECT_NOWHERE % {"url": url[:300]})
                url = urljoin(url, location)
                continue
            return status
        raise FetchError(TOO_MANY_REDIRECTS % {"max": self.limits.max_redirects, "url": url[:300]})

    def _read(
        self, pinned: str, headers: dict[str, str], server_name: str, deadline: float, url: str
    ) -> Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(self._too_slow(url))
        # Waiting for the connection or the headers never outlasts the total bound...
        connect = min(self.limits.connect_timeout, remaining)
        read = min(self.limits.read_timeout, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        extensions = {"sni_hostname": server_name} if pinned.startswith("https") else {}
        request = self._http().build_request(
            "GET", pinned, headers=headers, extensions=extensions, timeout=timeout
        )
        response = self._http().send(request, stream=True)
        # ... nor does reading the body: at the deadline the socket is shut down, which
        # ends a read blocked on a remote that sends a byte now and then.
        watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _cut, (response,))
        watchdog.daemon = True
        watchdog.start()
        body: IO[bytes] | None = None
        try:
            if response.status_code in REDIRECTS:
                return Response(url, response.status_code, response.headers)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
                raise FetchError(self._too_big(url))
            body = self._spool()
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.limits.max_bytes:
                    raise FetchError(self._too_big(url))
                if time.monotonic() > deadline:
                    raise FetchError(self._too_slow(url))
                body.write(chunk)
            if time.monotonic() > deadline:
                raise FetchError(self._too_slow(url))
            body.flush()
            result = Response(url, response.status_code, response.headers, body, size)
            body = None  # the response owns it now
            return result
        finally:
            watchdog.cancel()
            response.close()
            if body is not None:
                body.close()

    def _spool(self) -> IO[bytes]:
        """An unnamed file (O_TMPFILE where available): nothing is left after a crash."""
        folder = self.spool_dir
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - owned by the Response

    def _too_big(self, url: str) -> str:
        return TOO_BIG % {"megabytes": self.limits.max_bytes // (1024 * 1024), "url": url[:300]}

    def _too_slow(self, url: str) -> str:
        return TOTAL_TIMEOUT % {"seconds": f"{self.limits.total_timeout:g}", "url": url[:300]}


def _cut(response: httpx.Response) -> None:
    """Shut the response's socket down (from the watchdog thread): the blocked read ends."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        response.close()
        return
    # socket.socket's own shutdown, also for a TLS socket (whose state the reading thread
    # still uses): the file descriptor is shut, not the TLS object.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def spool_dir_for(data_dir: Path) -> Path:
    """Where harvest jobs spool remote bodies: under the data directory."""
    return data_dir / "tmp" / "harvest"
