"""The example schemas shipped with the platform (`niaouli/tableschema/data/*.json`),
written in the style of schema.data.gouv.fr's for New Caledonian data; each says in its
`sources` where it comes from (docs/schemas.md)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from niaouli.resources import package_dir


@cache
def examples() -> dict[str, dict[str, Any]]:
    """name -> descriptor, read once."""
    folder = package_dir("niaouli.tableschema") / "data"
    found = {}
    for path in sorted(folder.glob("*.json")):
        descriptor = json.loads(path.read_text(encoding="utf-8"))
        found[descriptor.get("name") or path.stem] = descriptor
    return found


def example(name: str) -> dict[str, Any] | None:
    return examples().get(name)
