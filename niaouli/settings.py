"""Runtime settings, read from the environment in one place.

`NIAOULI_DATABASE_URL` chooses the backend: unset means the embedded SQLite/SpatiaLite
database kept under `NIAOULI_DATA_DIR`, which also holds uploaded and ingested files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from niaouli.mail import SmtpSettings, smtp_from_env

CHECKOUT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAP_BACKGROUND = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_HARVEST_FETCH_TIMEOUT = 60.0


def default_data_dir() -> Path:
    """`var/` inside a source checkout, else the user's XDG data folder."""
    if (CHECKOUT_ROOT / "pyproject.toml").is_file():
        return CHECKOUT_ROOT / "var"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "niaouli"


def normalise_database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    spatialite_library: str
    map_background: str = DEFAULT_MAP_BACKGROUND
    """The public map's background: a raster tile URL template, or `none` (plain)."""
    harvest_fetch_timeout: float = DEFAULT_HARVEST_FETCH_TIMEOUT
    """Seconds one harvest fetch may take in all (redirects included), however the remote
    trickles (`NIAOULI_HARVEST_FETCH_TIMEOUT`)."""

    smtp: SmtpSettings | None = None
    """Outgoing e-mail (`NIAOULI_SMTP_HOST`, ...: niaouli/mail.py); None sends nothing."""

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def files_dir(self) -> Path:
        """Where resource files live, under server-generated keys only."""
        return self.data_dir / "files"


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("NIAOULI_DATA_DIR") or default_data_dir()).resolve()
    url = os.environ.get("NIAOULI_DATABASE_URL") or f"sqlite:///{data_dir / 'niaouli.sqlite'}"
    return Settings(
        data_dir=data_dir,
        database_url=normalise_database_url(url),
        spatialite_library=os.environ.get("NIAOULI_SPATIALITE_LIBRARY", "mod_spatialite"),
        map_background=os.environ.get("NIAOULI_MAP_BACKGROUND") or DEFAULT_MAP_BACKGROUND,
        harvest_fetch_timeout=_seconds(
            "NIAOULI_HARVEST_FETCH_TIMEOUT", DEFAULT_HARVEST_FETCH_TIMEOUT, 1, 3600
        ),
        smtp=smtp_from_env(dict(os.environ)),
    )


def _seconds(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also NaN
        raise ValueError(f"{name}: a number of seconds from {low:g} to {high:g} ({raw!r})")
    return value
