"""The harvest HTTP client against hostile remotes (rows S11, S12, R6). No database."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from niaouli.harvest.fetch import Fetcher, FetchError, ForbiddenAddressError, Limits
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

    import niaouli.harvest.fetch as fetch

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
