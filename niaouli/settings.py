"""Runtime settings: every `NIAOULI_*` variable is read here, and only here.

One typed pydantic-settings model (as tipg does) holds each variable with its type, its
default and its documentation; the README's configuration table is generated from it
(`niaouli settings --markdown`, checked by tests/test_settings.py). Code anywhere
else asks `get_settings()` (or takes a `Settings` it was given) instead of reading
`os.environ`.

`get_settings()` follows the environment: it builds a new `Settings` whenever a
`NIAOULI_*` variable changed since the last call (tests change them at run time) and
returns the same object otherwise. `pin()` fixes the process's settings instead: `niaouli
serve` passes its workers the values it decided (the public URL, the CSW pool's address
and key) explicitly rather than by writing them into the environment.

`NIAOULI_DATABASE_URL` chooses the backend: unset means the embedded SQLite/SpatiaLite
database kept under `NIAOULI_DATA_DIR`, which also holds uploaded and ingested files and
every file written at run time (generated pygeoapi and pycsw configuration included).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from niaouli.mail import SmtpSettings, smtp_from_env

PREFIX = "NIAOULI_"
CHECKOUT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAP_BACKGROUND = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_HARVEST_FETCH_TIMEOUT = 60.0
DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024


def in_checkout() -> bool:
    """Whether this code runs from a source checkout (an editable install), not a wheel."""
    return (CHECKOUT_ROOT / "pyproject.toml").is_file()


def default_data_dir() -> Path:
    """`var/` inside a source checkout, else the user's XDG data folder."""
    if in_checkout():
        return CHECKOUT_ROOT / "var"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "niaouli"


def default_pycsw_python() -> Path:
    """`.venv-pycsw` of the source checkout (made by scripts/install)."""
    return CHECKOUT_ROOT / ".venv-pycsw" / "bin" / "python"


def normalise_database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _doc(meaning: str, default: str, *, joins: str | None = None) -> dict[str, Any]:
    """The README's columns for one variable: its meaning and its default as shown.

    `joins`: the field whose row this variable shares (listed there, after it).
    """
    return {"description": meaning, "json_schema_extra": {"shown_default": default, "joins": joins}}


INTERNAL = {"json_schema_extra": {"internal": True}}
# The one value of `NIAOULI_TEST_PASSWORD_HASHING` that turns it on (see the field).
TEST_PASSWORD_HASHING = "insecure-fast"  # noqa: S105 - a switch's value, not a password


class Settings(BaseSettings):
    """The platform's configuration (field `x` is the variable `NIAOULI_X`)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,  # `NIAOULI_X=` means unset, as before
        frozen=True,
        extra="ignore",
    )

    database_url: str = Field(
        "",
        **_doc(
            "the database; `postgresql://user@host/db` for PostGIS (production)",
            "unset → `sqlite:///$NIAOULI_DATA_DIR/niaouli.sqlite`",
        ),
    )
    database_read_url: str = Field(
        "",
        **_doc(
            "a PostGIS streaming replica for read-only traffic (OGC API items and tiles,"
            " search, CSW); editors and fresh writers read the primary; see"
            " [docs/scaling.md](docs/scaling.md)",
            "unset (everything on `NIAOULI_DATABASE_URL`)",
        ),
    )
    database_read_retry: float = Field(
        5.0,
        **_doc(
            "seconds the read replica is left alone after it failed to answer (its reads go"
            " to the primary meanwhile) before it is tried again (1 to 3600); see"
            " [docs/scaling.md](docs/scaling.md)",
            "5",
        ),
    )
    database_transaction_pooling: bool = Field(
        False,
        **_doc(
            "`on` when the database URLs go through PgBouncer in transaction pooling mode:"
            " no server-side prepared statements; see [docs/scaling.md](docs/scaling.md)",
            "`off`",
        ),
    )
    data_dir: Path = Field(
        Path("var"),
        **_doc(
            "the embedded database and every stored file",
            "`var/` in a source checkout, else `~/.local/share/niaouli`",
        ),
    )
    db_wait_timeout: float = Field(
        60.0,
        **_doc(
            "seconds `niaouli db wait` (the entrypoint, `scripts/entrypoint`) waits for the"
            " database to accept connections before giving up with its last error",
            "60",
        ),
    )
    spatialite_library: str = Field(
        "mod_spatialite", **_doc("the SpatiaLite extension to load", "`mod_spatialite`")
    )
    secret_key: str = Field(
        "",
        **_doc(
            "signs session cookies and CSRF tokens; set the same value on every server of a"
            " deployment",
            "generated once into `$NIAOULI_DATA_DIR/secret_key` (mode 600)",
        ),
    )
    public_url: str = Field(
        "",
        **_doc(
            "the site's public URL (links, reset links); `https://…` also marks cookies `Secure`",
            "the address `niaouli serve` listens on",
        ),
    )
    oidc_issuer: str = Field(
        "",
        **_doc(
            "OpenID Connect sign-in (e.g. the government's SSO): the issuer URL (its"
            " `/.well-known/openid-configuration` is read) and the client registered there,"
            " with redirect URI `$NIAOULI_PUBLIC_URL/connexion/oidc/retour`; see"
            " [docs/accounts.md](docs/accounts.md)",
            "unset (no OpenID Connect)",
        ),
    )
    oidc_client_id: str = Field("", **_doc("", "", joins="oidc_issuer"))
    oidc_client_secret: str = Field("", **_doc("", "", joins="oidc_issuer"))
    oidc_label: str = Field(
        "",
        **_doc("the sign-in button's text", "« Se connecter avec le compte de l'administration »"),
    )
    smtp_host: str = Field(
        "",
        **_doc(
            "outgoing e-mail: password-reset links, sign-up address checks, membership"
            " requests and decisions. **Without it nothing is mailed**: reset links are"
            " written to the server log for the operator to pass on, and sign-up opens the"
            " account at once; see [docs/accounts.md](docs/accounts.md)",
            "unset (no e-mail); port 587, STARTTLS on",
        ),
    )
    smtp_port: str = Field("", **_doc("", "", joins="smtp_host"))
    smtp_user: str = Field("", **_doc("", "", joins="smtp_host"))
    smtp_password: str = Field("", **_doc("", "", joins="smtp_host"))
    smtp_from: str = Field("", **_doc("", "", joins="smtp_host"))
    smtp_starttls: str = Field("", **_doc("", "", joins="smtp_host"))
    map_background: str = Field(
        DEFAULT_MAP_BACKGROUND,
        **_doc(
            "the public map's background: a raster tile URL template"
            " (`https://…/{z}/{x}/{y}.png`) or `none`; the layers and the communes outline"
            " are drawn whatever happens to it; see [docs/portal.md](docs/portal.md)",
            "OpenStreetMap tiles",
        ),
    )
    max_upload_bytes: int = Field(
        DEFAULT_MAX_UPLOAD,
        **_doc(
            "the largest file the portal and the API accept (413 above, nothing stored)",
            "536870912 (512 MiB)",
        ),
    )
    storage: Literal["local", "s3"] = Field(
        "local",
        **_doc(
            "where uploaded files, originals and layer exports are kept: `local` (under"
            " `$NIAOULI_DATA_DIR`) or `s3` (an S3-compatible bucket: AWS S3, MinIO, …); see"
            " [docs/storage.md](docs/storage.md)",
            "`local`",
        ),
    )
    s3_bucket: str = Field(
        "",
        **_doc(
            "the bucket for `NIAOULI_STORAGE=s3` (required then), an optional key prefix in"
            " it, the endpoint of an S3-compatible server (unset: AWS), its region and the"
            " access keys (unset: the usual `AWS_*` variables or instance role); the secret"
            " is never logged",
            "unset",
        ),
    )
    s3_prefix: str = Field("", **_doc("", "", joins="s3_bucket"))
    s3_endpoint_url: str = Field("", **_doc("", "", joins="s3_bucket"))
    s3_region: str = Field("", **_doc("", "", joins="s3_bucket"))
    s3_access_key_id: str = Field("", **_doc("", "", joins="s3_bucket"))
    s3_secret_access_key: SecretStr = Field(SecretStr(""), **_doc("", "", joins="s3_bucket"))
    keep_versions: int = Field(
        3,
        **_doc(
            "how many previous versions of a dataset's layers a replace or append keeps"
            " (tables and source files), for an editor to restore from the dataset page or"
            " `POST /api/datasets/{slug}/versions/{id}/restore`; older ones are deleted at"
            " the next replace; `0` keeps none",
            "3",
        ),
    )
    stats: bool = Field(
        True,
        **_doc(
            "usage statistics (`/statistiques`); `off` counts nothing; see"
            " [docs/stats.md](docs/stats.md)",
            "`on`",
        ),
    )
    stats_flush_seconds: float = Field(
        10.0, **_doc("how often each server process writes its counters to the database", "10")
    )
    workers: int = Field(
        1, **_doc("server processes of `niaouli serve` (same as `--workers`)", "1")
    )
    tile_cache_mb: float = Field(
        64,
        **_doc(
            "per-process memory for large vector tiles (`0`: no cache); see"
            " [docs/ogc.md](docs/ogc.md)",
            "64",
        ),
    )
    tile_heavy_slots: int = Field(
        2,
        **_doc(
            "large vector tiles one server process makes at once (the others wait their"
            " turn); see [docs/ogc.md](docs/ogc.md)",
            "2",
        ),
    )
    tile_heavy_wait: float = Field(
        10.0,
        **_doc(
            "seconds a large vector tile may wait for its turn before a 503 with Retry-After",
            "10",
        ),
    )
    coverage_max_pixels: int = Field(
        16_777_216,
        **_doc(
            "largest OGC API Coverages answer, in pixels times bands (beyond it: 400, ask"
            " for a subset or `scale-size`); see [docs/raster.md](docs/raster.md)",
            "16777216",
        ),
    )
    harvest_fetch_timeout: float = Field(
        DEFAULT_HARVEST_FETCH_TIMEOUT,
        **_doc(
            "seconds one harvest fetch (redirects included) may take in all, however slowly"
            " the remote answers (1 to 3600)",
            "60",
        ),
    )
    harvest_scheduler: bool = Field(
        True,
        **_doc(
            "`0` keeps `niaouli serve` from running scheduled harvests in the inline mode"
            " (`NIAOULI_JOBS`); with the job queue, `niaouli worker` runs them",
            "`1`",
        ),
    )
    jobs: str = Field(
        "auto",
        **_doc(
            "where long jobs (harvests, large uploads, exports) run: `queue` = the PostgreSQL"
            " job queue (procrastinate),"
            " run by `niaouli worker`; `inline` = threads of the process that asked (the"
            " embedded default, no other process); `auto` = `queue` on PostgreSQL, `inline`"
            " on SQLite; see [docs/jobs.md](docs/jobs.md)",
            "`auto`",
        ),
    )
    worker_concurrency: int = Field(
        2, **_doc("jobs one `niaouli worker` runs at once (1 to 64)", "2")
    )
    jobs_stalled_after: float = Field(
        30.0,
        **_doc(
            "seconds without a heartbeat after which a worker is taken for dead and its"
            " jobs are run again (5 to 3600; heartbeats every third of it)",
            "30",
        ),
    )
    jobs_max_attempts: int = Field(
        3,
        **_doc(
            "runs of one job interrupted by a dead worker before it is marked failed (1 to 100)",
            "3",
        ),
    )
    export_wait: float = Field(
        8.0,
        **_doc(
            "seconds a download waits for a layer export being prepared before answering"
            " 202 « en préparation » (0 to 120)",
            "8",
        ),
    )
    exports_prebuild: bool = Field(
        True,
        **_doc(
            "`0` stops preparing a layer's exports as jobs right after it is published"
            " (they are then prepared at the first download)",
            "`1`",
        ),
    )
    upload_job_threshold_mb: float = Field(
        20.0,
        **_doc(
            "uploaded layer files above this size (MB) are ingested as a background job"
            " (202 and `GET /api/jobs/{id}`); `0` = always",
            "20",
        ),
    )
    sqlite_busy_timeout: float = Field(
        30.0,
        **_doc(
            'seconds a SQLite statement waits for another writer before "database is'
            ' locked" (then a 503 with Retry-After)',
            "30",
        ),
    )
    sqlite_strict_writes: bool = Field(
        False,
        **_doc(
            "`1` makes a plain SQLite transaction that writes after reading an error"
            " (the tests set it: such code must use `niaouli.db.engine.writing`)",
            "unset",
        ),
    )
    csw_workers: int | None = Field(
        None,
        **_doc(
            "pycsw processes behind `/csw`; see [docs/csw.md](docs/csw.md)",
            "one per server process, at least 2",
        ),
    )
    csw_queue: int = Field(
        64,
        **_doc(
            "CSW requests a server process holds beyond the pool's size before answering 503",
            "64",
        ),
    )
    csw_max_requests: int = Field(
        1000,
        **_doc("requests after which a pycsw process is replaced (`0`: never)", "1000"),
    )
    csw_max_rss_mb: int = Field(
        300,
        **_doc("memory (MB) above which a pycsw process is replaced (`0`: no limit)", "300"),
    )
    pycsw_python: Path = Field(
        default_factory=default_pycsw_python,
        **_doc(
            "the Python of pycsw's own environment (pycsw 2.6, Python 3.11)",
            "`.venv-pycsw/bin/python` of the source checkout",
        ),
    )
    pygeoapi_config_dir: Path | None = Field(
        None,
        **_doc(
            "a folder replacing the shipped `pygeoapi-config/` (`base.yml`, `templates/`,"
            " `locale/`)",
            "`pygeoapi-config/` as installed with the package",
        ),
    )
    log_format: str = Field(
        "text",
        **_doc(
            "the server's log lines: `text` (uvicorn's, for a terminal) or `json` (one JSON"
            " object per line with `request_id`, for production); see"
            " [docs/operations.md](docs/operations.md)",
            "`text`",
        ),
    )
    metrics_token: str = Field(
        "",
        **_doc(
            "lets a Prometheus server outside this machine read `/metrics` with"
            " `Authorization: Bearer <token>` (loopback clients need none)",
            "unset (`/metrics` answers loopback clients only)",
        ),
    )
    # Tests only (tests/conftest.py sets `NIAOULI_TEST_PASSWORD_HASHING=insecure-fast`):
    # Argon2id with its smallest cost, so that the hundreds of accounts the tests make
    # and sign in cost milliseconds, not half a second each. Any other value is off;
    # with it off, a sign-in re-hashes such a password with the real cost
    # (`niaouli.accounts.passwords.needs_rehash`). Never documented for operators.
    test_password_hashing: bool = Field(False, **INTERNAL)
    # Set by `niaouli serve` for its own workers (`pin`), not by operators.
    csw_backend: str | None = Field(None, **INTERNAL)
    csw_proxy_key: str = Field("", **INTERNAL)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """The data directory's default, and the embedded database inside it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        raw = data.get("data_dir")
        data_dir = Path(raw if raw not in (None, "") else default_data_dir()).resolve()
        data["data_dir"] = data_dir
        if not data.get("database_url"):
            data["database_url"] = f"sqlite:///{data_dir / 'niaouli.sqlite'}"
        return data

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _psycopg(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("secret_key", "oidc_issuer", "oidc_client_id", "oidc_label", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("max_upload_bytes", mode="before")
    @classmethod
    def _upload_cap(cls, value: Any) -> Any:
        """A positive number of bytes; anything else keeps the default."""
        if isinstance(value, str):
            return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_UPLOAD
        return value

    @field_validator("keep_versions", mode="before")
    @classmethod
    def _kept(cls, value: Any) -> Any:
        if isinstance(value, str):
            return int(value.strip()) if value.strip().isdigit() else 3
        return value

    @field_validator("stats", mode="before")
    @classmethod
    def _stats_on(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.lower() not in ("off", "0", "no")
        return value

    @field_validator("harvest_scheduler", mode="before")
    @classmethod
    def _scheduler_on(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value not in ("0", "false", "non")
        return value

    @field_validator("jobs", mode="before")
    @classmethod
    def _jobs_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("auto", "inline", "queue"):
                raise ValueError(f"NIAOULI_JOBS: auto, inline or queue ({value!r})")
        return value

    @field_validator("worker_concurrency", "jobs_max_attempts", mode="before")
    @classmethod
    def _job_counts(cls, value: Any, info: Any) -> Any:
        high = 64 if info.field_name == "worker_concurrency" else 100
        name = f"{PREFIX}{info.field_name.upper()}"
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"{name}: a whole number from 1 to {high} ({value!r})")
            value = int(value.strip())
        if isinstance(value, int) and not 1 <= value <= high:
            raise ValueError(f"{name}: a whole number from 1 to {high} ({value!r})")
        return value

    @field_validator("database_read_retry", mode="before")
    @classmethod
    def _read_retry(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _seconds(f"{PREFIX}DATABASE_READ_RETRY", value, 1, 3600)
        return value

    @field_validator("jobs_stalled_after", mode="before")
    @classmethod
    def _stalled(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _seconds(f"{PREFIX}JOBS_STALLED_AFTER", value, 5, 3600)
        return value

    @field_validator("export_wait", "upload_job_threshold_mb", mode="before")
    @classmethod
    def _export_numbers(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            high = 120 if info.field_name == "export_wait" else 1_000_000
            return _seconds(f"{PREFIX}{info.field_name.upper()}", value, 0, high)
        return value

    @field_validator("exports_prebuild", mode="before")
    @classmethod
    def _prebuild_on(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower() not in ("0", "false", "non", "no", "off")
        return value

    @field_validator("test_password_hashing", mode="before")
    @classmethod
    def _test_hashing(cls, value: Any) -> Any:
        """On for the one exact value only: no `1`/`true` turns it on by accident."""
        return value == TEST_PASSWORD_HASHING if isinstance(value, str) else value

    @field_validator("sqlite_strict_writes", mode="before")
    @classmethod
    def _strict(cls, value: Any) -> Any:
        return value == "1" if isinstance(value, str) else value

    @field_validator("stats_flush_seconds", mode="before")
    @classmethod
    def _flush(cls, value: Any) -> Any:
        """At least 0.05 s; a value that is not a number keeps the default."""
        if isinstance(value, str):
            try:
                return max(0.05, float(value))
            except ValueError:
                return 10.0
        return value

    @field_validator("db_wait_timeout", mode="before")
    @classmethod
    def _wait(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _seconds("NIAOULI_DB_WAIT_TIMEOUT", value, 0, 86400)
        return value

    @field_validator("sqlite_busy_timeout", mode="before")
    @classmethod
    def _busy(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return max(0.0, float(value))
            except ValueError:
                return 30.0
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text not in ("text", "json"):
                raise ValueError(f"NIAOULI_LOG_FORMAT : text ou json attendu, pas {value!r}")
            return text
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        """At least 16 characters: a short token would be guessed."""
        if isinstance(value, str):
            value = value.strip()
            if 0 < len(value) < 16:
                raise ValueError("NIAOULI_METRICS_TOKEN : 16 caractères au moins")
        return value

    @field_validator("csw_queue", mode="before")
    @classmethod
    def _queue(cls, value: Any) -> Any:
        if isinstance(value, str):
            return int(value.strip()) if value.strip().isdigit() else 64
        return value

    @field_validator("harvest_fetch_timeout", mode="before")
    @classmethod
    def _fetch_timeout(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _seconds("NIAOULI_HARVEST_FETCH_TIMEOUT", value, 1, 3600)
        return value

    @field_validator("csw_workers", "csw_max_requests", "csw_max_rss_mb", mode="before")
    @classmethod
    def _count(cls, value: Any, info: Any) -> Any:
        """A whole number (≥ 1 for the pool's size), with the variable named if not."""
        if isinstance(value, str):
            minimum = 1 if info.field_name == "csw_workers" else 0
            text = value.strip()
            if not text.isdigit() or int(text) < minimum:
                name = variable(info.field_name)
                raise ValueError(f"{name} : entier ≥ {minimum} attendu, pas {text!r}")
            return int(text)
        return value

    @field_validator("tile_heavy_slots", "tile_heavy_wait", "tile_cache_mb", mode="before")
    @classmethod
    def _number(cls, value: Any, info: Any) -> Any:
        """A number (whole for the slots), with the variable named if not."""
        if not isinstance(value, str):
            return value
        kind = int if info.field_name == "tile_heavy_slots" else float
        try:
            return kind(value.strip())
        except ValueError:
            name = variable(info.field_name)
            raise ValueError(f"{name}: a number ({value.strip()!r})") from None

    @model_validator(mode="after")
    def _storage_checked(self) -> Settings:
        """`NIAOULI_STORAGE=s3` needs its bucket, and a sane prefix and endpoint."""
        if self.storage != "s3":
            return self
        if not self.s3_bucket.strip():
            raise ValueError("NIAOULI_STORAGE=s3 needs NIAOULI_S3_BUCKET")
        prefix = self.s3_prefix.strip("/")
        if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
            raise ValueError(f"NIAOULI_S3_PREFIX: no . or .. segment ({self.s3_prefix!r})")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"NIAOULI_S3_ENDPOINT_URL: http(s)://… ({self.s3_endpoint_url!r})")
        return self

    @model_validator(mode="after")
    def _mail_checked(self) -> Settings:
        """A wrong SMTP port or STARTTLS value is an error as soon as settings are read."""
        smtp_from_env(self._smtp_environment())
        return self

    def _smtp_environment(self) -> dict[str, str]:
        names = ("host", "port", "user", "password", "from", "starttls")
        return {f"{PREFIX}SMTP_{n.upper()}": getattr(self, f"smtp_{n}") for n in names}

    @property
    def smtp(self) -> SmtpSettings | None:
        """Outgoing e-mail (niaouli/mail.py); None sends nothing."""
        return smtp_from_env(self._smtp_environment())

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def job_queue(self) -> bool:
        """Whether long jobs go through the PostgreSQL queue (else: inline threads)."""
        if self.jobs == "auto":
            return not self.is_embedded
        if self.jobs == "queue" and self.is_embedded:
            raise ValueError("NIAOULI_JOBS=queue needs PostgreSQL (NIAOULI_DATABASE_URL)")
        return self.jobs == "queue"

    @property
    def files_dir(self) -> Path:
        """Where resource files live, under server-generated keys only."""
        return self.data_dir / "files"


def _seconds(name: str, raw: str, low: float, high: float) -> float:
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # also NaN
        raise ValueError(f"{name}: a number of seconds from {low:g} to {high:g} ({raw!r})")
    return value


_pinned: Settings | None = None
_cached: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def _environment_key() -> tuple[tuple[str, str], ...]:
    """What `Settings()` depends on in the environment (its variables, the XDG folder)."""
    return tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith(PREFIX) or name in ("XDG_DATA_HOME", "HOME")
        )
    )


def get_settings() -> Settings:
    """The process's settings: pinned ones, else the environment's (re-read if changed)."""
    global _cached  # noqa: PLW0603 - a one-entry cache keyed by the environment
    if _pinned is not None:
        return _pinned
    key = _environment_key()
    cached = _cached
    if cached is None or cached[0] != key:
        cached = _cached = (key, Settings())
    return cached[1]


def load_settings() -> Settings:
    """The settings as the environment gives them now (same as `get_settings()`)."""
    return get_settings()


def pin(settings: Settings | None) -> None:
    """Make `settings` the process's own (`niaouli serve`'s workers); None follows the
    environment again."""
    global _pinned  # noqa: PLW0603 - the composition root sets it once per process
    _pinned = settings


# --- the README's configuration table --------------------------------------------------

# Variables of the scripts and tests, not of the platform: documented, never read here.
TOOLING_ROWS = (
    ("`NIAOULI_PYTHON`", "searched", "the Python ≥ 3.12 the scripts use to create `.venv`"),
    (
        "`NIAOULI_TEST_DATABASE_URL`",
        "`postgresql://postgres@127.0.0.1:5432/niaouli_test`",
        "the PostGIS database the tests recreate",
    ),
    (
        "`NIAOULI_TEST_WORKERS`",
        "3",
        "pytest-xdist workers of `scripts/test` (`0`: one process; each worker uses"
        " `<test database>_gwN`)",
    ),
    (
        "`NIAOULI_SHARED_DIR`",
        "`../shared` beside the checkout",
        "the project's shared folder (the CITE CSW suite) for the tests",
    ),
)


def variable(field_name: str) -> str:
    return PREFIX + field_name.upper()


def table_rows() -> list[tuple[str, str, str]]:
    """(variables, default, meaning) for each documented setting, in the model's order."""
    rows: dict[str, list[Any]] = {}
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("internal"):
            continue
        joins = extra.get("joins")
        if joins:
            rows[str(joins)][0].append(f"`{variable(name)}`")
            continue
        rows[name] = [[f"`{variable(name)}`"], str(extra["shown_default"]), field.description]
    table = [(", ".join(names), default, meaning) for names, default, meaning in rows.values()]
    return table + list(TOOLING_ROWS)


def markdown_table() -> str:
    """The README's configuration table (between its `settings-table` markers)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| {names} | {default} | {meaning} |" for names, default, meaning in table_rows()]
    return "\n".join(lines) + "\n"


TABLE_START = "<!-- settings-table:"
TABLE_END = "<!-- /settings-table -->"


def readme_table(readme: str) -> str:
    """The configuration table as the README has it (between its markers)."""
    start = readme.index("\n", readme.index(TABLE_START)) + 1
    return readme[start : readme.index(TABLE_END, start)]


def rewrite_readme_table(readme: str) -> str:
    """The README with its configuration table generated afresh (scripts/settings-table)."""
    start = readme.index("\n", readme.index(TABLE_START)) + 1
    return readme[:start] + markdown_table() + readme[readme.index(TABLE_END, start) :]
