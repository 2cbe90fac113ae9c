"""Readiness of `/csw`: the pycsw pool answers on its loopback port.

Registered as the `csw` check of `/readyz` by `niaouli/web.py` (`niaouli.health`). It asks
the pool's own probe path (`pycsw/niaouli_csw.py`, answered by a pycsw worker without
pycsw's dispatch or the database, which has its own check): the arbiter is up and a
worker takes connections, as a CSW request needs.
"""

from __future__ import annotations

import httpx

from niaouli.settings import get_settings

PROBE_PATH = "/_niaouli/health"  # HEALTH_PATH in pycsw/niaouli_csw.py
TIMEOUT = httpx.Timeout(1.5)


class PycswNotStartedError(RuntimeError):
    """This process was given no pycsw address (not started by `niaouli serve`)."""


async def pycsw_reachable() -> bool:
    """True when the pool answers its probe with 200."""
    backend = get_settings().csw_backend
    if not backend:
        raise PycswNotStartedError("no pycsw address in the settings")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(backend + PROBE_PATH)
    return response.status_code == 200
