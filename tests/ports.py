"""Free loopback ports for the test suite's servers, without the free-then-bind race.

A port the kernel hands out for `bind(("127.0.0.1", 0))` comes from the ephemeral range
(`ip_local_port_range`, 32768–60999 on Linux), the same range it uses for the source
ports of outgoing connections: between our probe and the server's own `bind`, a
database or HTTP connection of another test could take it. These ports come from below
that range, and each pytest-xdist worker has its own slice, so neither outgoing
connections nor another worker's servers pick them.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

_FIRST, _LAST = 20000, 32000
_SLICE = 1500


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker[2:].isdigit() else 0
    start = _FIRST + (number % ((_LAST - _FIRST) // _SLICE)) * _SLICE
    return range(start, start + _SLICE)


_candidates = list(_slice())
random.Random(os.getpid()).shuffle(_candidates)
_cycle = itertools.cycle(_candidates)


def free_port() -> int:
    """A port of this worker's slice that nothing listens on now."""
    for port in itertools.islice(_cycle, len(_candidates)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in this test worker's slice")
