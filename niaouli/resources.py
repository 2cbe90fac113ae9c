"""Files shipped with the package (configuration, templates, demo data), wherever installed.

The committed folders `pygeoapi-config/`, `pycsw/` and `geodata/` stay at the top of the
checkout, as the user asked, and `pyproject.toml` maps them into the package
(`niaouli.pygeoapi_config`, `niaouli.pycsw`, `niaouli.geodata`), as it does `ingest/`,
`services/` and `portal/`. Code finds them through `importlib.resources`, never by
walking up from `__file__` to a checkout: an installed wheel has no checkout.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder of `package` on disk (pip installs packages unzipped).

    Each data folder holds an `__init__.py` (a docstring only): setuptools' editable
    installs do not find namespace packages mapped from another folder.
    """
    root = importlib.resources.files(package)
    if not isinstance(root, Path):
        raise FileNotFoundError(f"{package} is not installed as a folder ({root!r})")
    return root
