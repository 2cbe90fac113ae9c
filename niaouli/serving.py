"""Run an ASGI app under uvicorn with several worker processes, without the 40 ms stall.

Why not `uvicorn.run(..., workers=N)`: with more than one worker, uvicorn binds the
listening socket itself as ``socket.socket(family)``, protocol 0, and asyncio only turns
on ``TCP_NODELAY`` for connections whose protocol is ``IPPROTO_TCP``. Every response is
written in two parts (headers, then body), so Nagle's algorithm holds the body until the
client acknowledges the headers, which Linux delays by up to 40 ms: measured here, one
connection made 22 requests/s with two workers against 550 with one. Binding the socket
with ``IPPROTO_TCP`` (and ``TCP_NODELAY`` on the listener, which accepted connections
inherit on Linux) removes it. uvicorn 0.55 binds with ``IPPROTO_TCP``
itself; this module stays for older releases, such as the peers' in `bench/`.

Depends on uvicorn and the standard library only, so that `bench/features.py` can start
the peers' servers (in their own virtualenvs) with the same code:
``python niaouli/serving.py MODULE:APP [--factory] --port 8000 --workers 2``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

WORKER_HEALTHCHECK = 60  # seconds; see `run`


def tcp_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose accepted connections get ``TCP_NODELAY``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(
    app: str | Callable[..., Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    factory: bool = False,
    log_level: str = "info",
    access_log: bool = True,
    log_config: dict[str, Any] | None = None,
) -> None:
    """`uvicorn.run` with `workers` processes sharing one socket.

    `app`: an import string, or (with `factory`) a picklable callable such as a
    `functools.partial` of a module-level factory, which each worker calls.
    `log_config`: a `logging.config.dictConfig` applied in every process (uvicorn's own
    when None).
    """
    extra: dict[str, Any] = {} if log_config is None else {"log_config": log_config}
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        log_level=log_level,
        access_log=access_log,
        # uvicorn kills a worker that does not answer its supervisor's ping within this
        # many seconds; a new worker answers only once its app is imported, which took
        # over 5 s (uvicorn's default) on a loaded machine: workers were killed and
        # restarted in a loop, and the server never answered.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK,
        **extra,
    )
    server = uvicorn.Server(config)
    sock = tcp_socket(host, port)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the
    # previous handler: with the default one the process dies right there, and the
    # caller's `finally` (stopping pycsw, removing its configuration) never runs.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="MODULE:ATTRIBUTE")
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args()
    run(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        factory=args.factory,
        log_level=args.log_level,
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()
