"""The platform's public root URL, as the links people copy must carry it.

Shared by the portal's snippets and the API's links (both adapters reach it here, in the
core, rather than through each other).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from niaouli.settings import get_settings

# A Host header we accept to build absolute URLs (the same rule as services/ogc/app.py).
HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def public_root(request: Request) -> str:
    """`NIAOULI_PUBLIC_URL`, else the request's root when its Host header is plausible.

    Never a Host header as sent: a forged one would put an attacker's address in the
    snippets people copy (cache poisoning).
    """
    configured = get_settings().public_url.rstrip("/")
    if configured:
        return configured
    host = request.headers.get("host", "")
    if not HOST_RE.match(host):
        host = "localhost"
    scheme = "https" if request.url.scheme == "https" else "http"
    return f"{scheme}://{host}{request.scope.get('root_path', '')}".rstrip("/")
