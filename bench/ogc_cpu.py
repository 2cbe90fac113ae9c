"""Benchmark: where the CPU of one /ogc request goes, through the whole ASGI app.

Why: a by-id request costs us about 0.6 ms of CPU under uvicorn and stock pygeoapi about
2.4 (`bench/features.py`); requests/s on a shared machine mostly measure the scheduler,
and a profiler's overhead inflates the many small calls of the middlewares and routing.
This measures instead, in one process, the CPU time per request of `niaouli.web`'s app
(called directly, no HTTP server) in variants made by patching one thing at a time, in
alternating blocks (the median of each variant's blocks is printed):

- `as is`: the app as it runs;
- `read on the loop`: the database read run on the event loop instead of a worker
  thread (what the thread hop costs; not an option for the server: a stalled database
  would stall every request of the worker);
- `held connection`: the layer reads on one connection kept across requests instead of
  a checkout from SQLAlchemy's pool (what the pool costs);
- `without <middleware>`: one middleware made a pass-through (what it costs);
- `without middlewares`: all of them.

    .venv/bin/python bench/ogc_cpu.py       # the bench/features.py database, items/{id}
    .venv/bin/python bench/ogc_cpu.py --query "limit=100" --blocks 6 --requests 100
    .venv/bin/python bench/ogc_cpu.py --dsn postgresql://postgres@127.0.0.1:5432/other_db

The database is one `bench/features.py` made (its `bench-points` layer); nothing is
written to it but the usage counters, as a server would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_FEATURES_DSN", DEFAULT_DSN))
    parser.add_argument("--fid", type=int, default=333_340, help="id of the feature (333340)")
    parser.add_argument("--query", default="", help="ask the items page with this query instead")
    parser.add_argument("--blocks", type=int, default=8, help="blocks per variant (8)")
    parser.add_argument("--requests", type=int, default=200, help="requests per block (200)")
    args = parser.parse_args()
    os.environ["NIAOULI_DATABASE_URL"] = args.dsn
    os.environ.setdefault("NIAOULI_TILE_CACHE_MB", "0")
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from niaouli.accounts.middleware import AccountsMiddleware
    from niaouli.db.engine import get_engine
    from niaouli.db.readroute import ReadRouting
    from niaouli.metrics import MetricsMiddleware
    from niaouli.requestlog import RequestIdMiddleware
    from niaouli.services.ogc import runtime
    from niaouli.services.ogc.app import SecurityHeaders
    from niaouli.stats.middleware import UsageMiddleware
    from niaouli.unavailable import DatabaseTroubleMiddleware
    from niaouli.web import BarePrefixes, NulPaths, OpsEndpoints, create_app

    app = create_app()
    with get_engine().connect() as conn:
        collection = conn.execute(
            text(
                "SELECT l.collection_id FROM layers l JOIN datasets d ON d.id = l.dataset_id"
                " WHERE d.slug = 'bench-points'"
            )
        ).scalar()
    if collection is None:
        sys.exit(f"pas de couche bench-points dans {args.dsn} : lancez bench/features.py")
    items = f"/ogc/collections/{collection}/items"
    path, query = (items, args.query.encode()) if args.query else (f"{items}/{args.fid}", b"")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    answers: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)

    to_thread, run_read = asyncio.to_thread, runtime.run_read

    async def on_loop(function: Callable, *a: Any, **k: Any) -> Any:  # noqa: ANN401
        return function(*a, **k)

    held: list[Any] = []

    def held_read(function: Callable) -> Any:  # noqa: ANN401
        if not held:
            held.append(runtime.reader().connect())
        return function(held[0])

    middlewares = [
        RequestIdMiddleware,
        MetricsMiddleware,
        OpsEndpoints,
        NulPaths,
        BarePrefixes,
        DatabaseTroubleMiddleware,
        UsageMiddleware,
        AccountsMiddleware,
        ReadRouting,
        SecurityHeaders,
    ]
    calls = {cls: cls.__call__ for cls in middlewares}

    async def passing(self: Any, scope: Any, receive: Any, send: Any) -> None:  # noqa: ANN401
        await self.app(scope, receive, send)

    def variant(thread: bool = True, pool: bool = True, skipped: tuple = ()) -> Callable:
        def setup() -> None:
            asyncio.to_thread = to_thread if thread else on_loop  # type: ignore[assignment]
            runtime.run_read = run_read if pool else held_read  # type: ignore[assignment]
            for cls in middlewares:
                cls.__call__ = passing if cls in skipped else calls[cls]  # type: ignore[method-assign]

        return setup

    variants = {
        "as is": variant(),
        "read on the loop": variant(thread=False),
        "held connection": variant(pool=False),
        "without middlewares": variant(skipped=tuple(middlewares)),
        **{f"without {cls.__name__}": variant(skipped=(cls,)) for cls in middlewares},
    }
    for _ in range(300):  # warm: API object, shells, prepared statements
        await one()
    if set(answers) != {200}:
        sys.exit(f"réponses inattendues : {sorted(set(answers))} pour {path}")
    blocks: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.blocks):
        for name, setup in variants.items():
            setup()
            started = time.process_time()
            for _ in range(args.requests):
                await one()
            blocks[name].append((time.process_time() - started) * 1e3 / args.requests)
    variants["as is"]()
    if set(answers) != {200}:
        sys.exit(f"réponses inattendues : {sorted(set(answers))} pour {path}")
    print(f"{path}{'?' + args.query if args.query else ''} : ms de CPU par requête")
    base = statistics.median(blocks["as is"])
    for name, values in blocks.items():
        median = statistics.median(values)
        print(f"  {name:<38} {median:6.3f}  ({median - base:+.3f})  min {min(values):.3f}")


if __name__ == "__main__":
    main()
