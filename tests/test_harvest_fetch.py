"""The harvest HTTP client against hostile remotes (rows S11, S12, R6). No database."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from niaouli.ingest.harvest.fetch import Fetcher, FetchError, ForbiddenAddressError, Limits
from tests.harvest_support import FakeRemote, Reply


@pytest.fixture
def remote():
    fake = FakeRemote(lambda path, _q: Reply(f"<ok path='{path}'/>".encode()))
    yield fake
    fake.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://10.1.2.3/",
        "http://localhost/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
    ],
)
def test_private_addresses_are_refused_before_connecting(url):
    with pytest.raises(ForbiddenAddressError, match="adresse refusée"):
        Fetcher().get(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_x", "ftp://a/b"])
def test_other_schemes_are_refused(url):
    with pytest.raises(ForbiddenAddressError, match="seuls http et https"):
        Fetcher(allow_private_network=True).get(url)


def test_loopback_needs_the_source_to_allow_the_private_network(remote):
    with pytest.raises(ForbiddenAddressError):
        Fetcher().get(remote.url + "/csw")
    assert remote.requests == []  # refused before any connection
    response = Fetcher(allow_private_network=True).get(remote.url + "/csw", params={"a": 1})
    assert response.content == b"<ok path='/csw'/>"
    assert remote.requests == [("/csw", {"a": "1"})]


def test_every_redirect_hop_is_checked(remote):
    remote.inject("redirect", lambda p, _q: p == "/meta", "http://169.254.169.254/latest/")
    remote.inject("redirect", lambda p, _q: p == "/ailleurs", "/csw")
    remote.inject("redirect", lambda p, _q: p == "/fichier", "file:///etc/passwd")
    remote.inject("redirect", lambda p, _q: p == "/boucle", "/boucle")
    fetcher = Fetcher(allow_private_network=True)
    assert fetcher.get(remote.url + "/ailleurs").content == b"<ok path='/csw'/>"
    # Even a source allowed on the private network cannot be sent to a non-http scheme.
    with pytest.raises(ForbiddenAddressError):
        fetcher.get(remote.url + "/fichier")
    with pytest.raises(FetchError, match="trop de redirections"):
        fetcher.get(remote.url + "/boucle")
    # A public-only source redirected to the metadata address: refused at that hop.
    strict = Fetcher(allow_private_network=False)
    with pytest.raises(ForbiddenAddressError, match="169.254.169.254"):
        strict.check("http://169.254.169.254/latest/")
    with pytest.raises(ForbiddenAddressError):
        strict.get(remote.url + "/meta")


def test_redirect_to_the_metadata_address_from_an_allowed_hop(remote, monkeypatch):
    """A public-only source whose remote answers 302 -> 169.254.169.254: that hop is refused."""
    import ipaddress

    import niaouli.ingest.harvest.fetch as fetch

    real_check = fetch._is_allowed_ip
    loopback = ipaddress.ip_address("127.0.0.1")
    # The fake remote stands for a public server: only its address is let through.
    monkeypatch.setattr(fetch, "_is_allowed_ip", lambda ip: ip == loopback or real_check(ip))
    remote.inject("redirect", lambda p, _q: p == "/meta", "http://169.254.169.254/latest/")
    fetcher = Fetcher(allow_private_network=False)
    assert fetcher.get(remote.url + "/ok").content == b"<ok path='/ok'/>"
    with pytest.raises(ForbiddenAddressError, match="169.254.169.254"):
        fetcher.get(remote.url + "/meta")
    assert [p for p, _q in remote.requests] == ["/ok", "/meta"]
    # The connection goes to the address that was checked, with the original Host.
    pinned, host, server_name = fetcher.check(remote.url + "/x?y=1")
    assert pinned == remote.url + "/x?y=1" and host == remote.url.split("//")[1]


def test_byte_cap_and_timeouts(remote):
    big = FakeRemote(lambda _p, _q: Reply(b"x" * 300_000))
    try:
        fetcher = Fetcher(allow_private_network=True, limits=Limits(max_bytes=100_000))
        with pytest.raises(FetchError, match="trop volumineuse"):
            fetcher.get(big.url)
    finally:
        big.close()
    remote.inject("timeout", lambda _p, _q: True, "2")
    fetcher = Fetcher(allow_private_network=True, limits=Limits(read_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(FetchError, match="délai dépassé"):
        fetcher.get(remote.url)
    assert time.monotonic() - started < 1.9


def test_a_trickling_remote_hits_the_total_timeout():
    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        limits = Limits(read_timeout=1, total_timeout=1)
        started = time.monotonic()
        with pytest.raises(FetchError, match="délai total dépassé"):
            Fetcher(allow_private_network=True, limits=limits).get(
                f"http://127.0.0.1:{server.server_address[1]}/"
            )
        assert time.monotonic() - started < 3
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_host():
    with pytest.raises(FetchError, match="introuvable"):
        Fetcher().get("http://nexiste-pas.invalid/")
    assert socket  # resolution goes through the system resolver


# --- addresses Python 3.12.1's is_global calls public (CVE-2024-4032) -----------------


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64 prefix
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:808:808:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "::7f00:1",  # IPv4-compatible ::127.0.0.1
        "::808:808",  # IPv4-compatible, even of a public address (deprecated form)
        "::ffff:0:7f00:1",  # IPv4-translated ::ffff:0:127.0.0.1
        "::ffff:0:808:808",  # IPv4-translated, even of a public address
        "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
        "fec0::1",  # site-local
        "3fff::1",  # documentation
        "5f00::1",  # SRv6
        "192.0.0.8",  # IETF protocol assignments (only /29 was private before the fix)
        "192.0.0.9",
        "192.0.0.170",
        "0.1.2.3",
    ],
)
def test_ranges_python_calls_global_are_refused(address):
    """S11/S12: Python 3.12.1 predates CVE-2024-4032's fix; these are checked explicitly,
    and an IPv6 address carrying an IPv4 one (NAT64, 6to4, Teredo) is judged by that
    IPv4. Refused before any connection, also as a redirect target (every hop goes
    through `check`)."""
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(ForbiddenAddressError, match="privée, locale ou réservée"):
        Fetcher().check(f"http://{literal}:8080/")


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700:4700::1111",
        "64:ff9b::808:808",  # NAT64 of a public IPv4 (what DNS64 gives an IPv6-only host)
        "2002:808:808::1",  # 6to4 of a public IPv4
        "::ffff:808:808",  # IPv4-mapped public
    ],
)
def test_public_addresses_and_what_carries_them_pass(address):
    """S11: the explicit checks do not refuse a public server reached through NAT64."""
    literal = f"[{address}]" if ":" in address else address
    pinned, host, _name = Fetcher().check(f"http://{literal}:8080/x")
    assert pinned.endswith(":8080/x") and host == f"{literal}:8080"


def test_a_redirect_to_a_nat64_loopback_is_refused(remote, monkeypatch):
    """S12: a hop to 64:ff9b::7f00:1 (127.0.0.1 through NAT64) is refused like 127.0.0.1."""
    import ipaddress

    import niaouli.ingest.harvest.fetch as fetch

    remote.inject("redirect", lambda p, _q: p == "/nat64", "http://[64:ff9b::7f00:1]:5432/")
    loopback = ipaddress.ip_address("127.0.0.1")
    real = fetch.is_public_address
    # The fake remote stands for a public server: only its own address is let through.
    monkeypatch.setattr(fetch, "_is_allowed_ip", lambda ip: ip == loopback or real(ip))
    with pytest.raises(ForbiddenAddressError, match="64:ff9b::7f00:1"):
        Fetcher(allow_private_network=False).get(remote.url + "/nat64")
    assert [p for p, _q in remote.requests] == ["/nat64"]


# --- the total time of one fetch, the body on disk ------------------------------------


@contextlib.contextmanager
def _stalling_server(before_headers: bool):
    """A loopback server that sends one byte (or nothing) and then waits for the test."""
    release = threading.Event()

    class Stall(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            try:
                if before_headers:
                    release.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.end_headers()
                self.wfile.write(b"<")
                self.wfile.flush()
                release.wait(30)  # far longer than the bound, shorter than read_timeout
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("before_headers", [False, True])
def test_the_total_bound_cuts_a_blocked_read(before_headers):
    """R6: a remote that trickles a byte now and then within the read timeout (issue 13:
    1 byte/s was cut only after ~123 s) is cut by the total bound even while a read is
    blocked — here the read timeout (40 s) would otherwise answer, with another message."""
    limits = Limits(read_timeout=40, total_timeout=0.5)
    fetcher = Fetcher(allow_private_network=True, limits=limits)
    with _stalling_server(before_headers) as url, pytest.raises(FetchError, match="total"):
        fetcher.get(url)


def test_the_fetch_bound_is_a_setting(monkeypatch):
    from niaouli.settings import load_settings

    assert Limits().total_timeout == 60
    monkeypatch.setenv("NIAOULI_HARVEST_FETCH_TIMEOUT", "12.5")
    assert load_settings().harvest_fetch_timeout == 12.5
    monkeypatch.setenv("NIAOULI_HARVEST_FETCH_TIMEOUT", "0")
    with pytest.raises(ValueError, match="NIAOULI_HARVEST_FETCH_TIMEOUT"):
        load_settings()


def test_a_large_body_is_streamed_to_disk_not_held_in_memory(tmp_path):
    """A 50 MB body goes through the spool file and `download()` in blocks: the Python
    heap never holds it (before: every chunk in a list, then joined — twice its size)."""
    import tracemalloc

    from niaouli.ingest.harvest.base import DataSource
    from niaouli.ingest.harvest.download import download

    size = 50 * 1024 * 1024
    block = b"0123456789abcdef" * 4096  # 64 kB

    class Big(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/geo+json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                for _ in range(size // len(block)):
                    self.wfile.write(block)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Big)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spool = tmp_path / "spool"
    workdir = tmp_path / "work"
    workdir.mkdir()
    fetcher = Fetcher(allow_private_network=True, spool_dir=spool)
    url = f"http://127.0.0.1:{server.server_address[1]}/grand.geojson"
    try:
        tracemalloc.start()
        with fetcher.get(url) as response:
            assert response.size == size
            get_peak = tracemalloc.get_traced_memory()[1]
            path = download(fetcher, DataSource(url=url, format="geojson"), workdir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        fetcher.close()
        server.shutdown()
        server.server_close()
    assert path.stat().st_size == size
    with path.open("rb") as handle:
        assert handle.read(len(block)) == block
    assert get_peak < size // 10, f"get() held {get_peak} bytes for a {size}-byte body"
    assert peak < size // 10, f"download() held {peak} bytes for a {size}-byte body"
    assert spool.is_dir() and list(spool.iterdir()) == []  # unnamed spool files
