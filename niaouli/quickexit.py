"""Leaving a `niaouli` process without the interpreter's teardown.

A command's own work ends long before its process does: Python then tears down every
module it imported (pygeoapi, GDAL/rasterio, PROJ, SQLAlchemy, pandas...), which took
2.5 s on every command and every `niaouli serve` stop, for nothing (measured: 13.7 s
with, 9.3 s without, for the same imports). `leave` does the part of a normal exit that
matters — background threads finish their work, database connections are closed (SQLite
checkpoints its journal, PostgreSQL sees a clean goodbye), `atexit` handlers run (logs
flushed, child processes reaped), standard streams flushed — then ends the process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def status_of(code: object) -> int:
    """The process status `sys.exit(code)` would give (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def leave(code: object = 0) -> NoReturn:
    status = status_of(code)
    main = threading.main_thread()
    for thread in threading.enumerate():  # as the interpreter does at exit
        if thread is not main and not thread.daemon and thread.is_alive():
            thread.join()
    from niaouli.db.engine import dispose_all

    dispose_all()
    atexit._run_exitfuncs()  # noqa: SLF001 - the interpreter's own exit step
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)
