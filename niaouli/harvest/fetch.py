"""A safe HTTP client for harvesting untrusted remotes (rows S11, S12, S13 and R6).

Every request, and every redirect hop, is checked before any connection: only http and
https, the host is resolved here and every address it resolves to must be public
(loopback, private, link-local — cloud metadata at 169.254.169.254 — shared, multicast
and reserved ranges are refused) unless the source was explicitly allowed the private
network. The connection then goes to the address that was checked (the URL is rewritten
to it, with the original Host header and TLS server name), so a DNS answer that changes
between the check and the connect (rebinding) cannot redirect it. Connect, read and
total timeouts and a byte cap bound what a slow or huge remote can cost.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from niaouli.i18n import N_

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
    total_timeout: float = 120.0
    max_bytes: int = 200 * 1024 * 1024
    max_redirects: int = 5


@dataclass
class Response:
    url: str
    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _is_allowed_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
        host_header = host if default_port else f"{host}:{port}"
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
            except httpx.TimeoutException:
                raise FetchError(TIMEOUT % {"url": url[:300]}) from None
            except httpx.HTTPError as exc:
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

    def _read(
        self, pinned: str, headers: dict[str, str], server_name: str, deadline: float, url: str
    ) -> Response:
        extensions = {"sni_hostname": server_name} if pinned.startswith("https") else {}
        request = self._http().build_request("GET", pinned, headers=headers, extensions=extensions)
        response = self._http().send(request, stream=True)
        try:
            if response.status_code in REDIRECTS:
                return Response(url, response.status_code, response.headers, b"")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
                raise FetchError(self._too_big(url))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.limits.max_bytes:
                    raise FetchError(self._too_big(url))
                if time.monotonic() > deadline:
                    raise FetchError(self._too_slow(url))
                chunks.append(chunk)
            if time.monotonic() > deadline:
                raise FetchError(self._too_slow(url))
            return Response(url, response.status_code, response.headers, b"".join(chunks))
        finally:
            response.close()

    def _too_big(self, url: str) -> str:
        return TOO_BIG % {"megabytes": self.limits.max_bytes // (1024 * 1024), "url": url[:300]}

    def _too_slow(self, url: str) -> str:
        return TOTAL_TIMEOUT % {"seconds": f"{self.limits.total_timeout:g}", "url": url[:300]}
