"""JSON output that is both correct for clients and safe to embed in HTML.

pygeoapi 0.24's `util.to_json` replaces ``<`` and ``>`` by the HTML entities ``&lt;`` and
``&gt;`` in every JSON response (its answer to XSS, see geopython/pygeoapi#2304 and
PR #2310): a property value ``a < b`` then reaches GDAL, QGIS or a web app as
``a &lt; b`` — the data is changed. We install an encoder that writes them as the JSON
escapes ``\\u003c`` and ``\\u003e`` instead (and ``&`` as ``\\u0026``): every client decodes
the original text, and the JSON still cannot close a ``<script>`` element when a page
embeds it. HTML escaping itself is the templates' job (autoescape).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson
import pygeoapi.util

_ORIGINAL = pygeoapi.util.to_json


def _escape(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def to_json(dict_: Any, pretty: bool = False) -> str:
    """`pygeoapi.util.to_json` without altering the data (orjson: several times faster on
    feature pages; the standard library for what orjson refuses, such as huge integers)."""
    if not pretty:
        try:
            encoded = orjson.dumps(
                dict_, default=pygeoapi.util.json_serial, option=orjson.OPT_NON_STR_KEYS
            )
            return _escape(encoded.decode())
        except (orjson.JSONEncodeError, TypeError):
            pass
    text = json.dumps(
        dict_,
        default=pygeoapi.util.json_serial,
        indent=4 if pretty else None,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return _escape(text)


def install() -> None:
    """Point every loaded pygeoapi module's `to_json` at ours (idempotent)."""
    for name, module in list(sys.modules.items()):
        if (name == "pygeoapi" or name.startswith("pygeoapi.")) and getattr(
            module, "to_json", None
        ) is _ORIGINAL:
            module.to_json = to_json
