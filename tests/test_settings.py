"""Settings in one place (issue 16 §4): every `NIAOULI_*` variable is read by
niaouli/settings.py only, the README's table is the one generated from it, and the
settings follow the environment that tests change at run time."""

from __future__ import annotations

import pickle
import re
import subprocess
from functools import partial
from pathlib import Path

import pytest

from niaouli import settings as settings_module
from niaouli.settings import (
    Settings,
    get_settings,
    markdown_table,
    pin,
    readme_table,
    variable,
)

ROOT = Path(__file__).resolve().parents[1]
NIAOULI = ROOT / ".venv" / "bin" / "niaouli"
PLATFORM_CODE = ("niaouli", "ingest", "services", "portal")


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table(readme) == markdown_table(), (
        "the README's configuration table differs from niaouli/settings.py:"
        " run scripts/settings-table"
    )


def test_the_command_prints_the_table():
    shown = subprocess.run(
        [str(NIAOULI), "settings", "--markdown"], capture_output=True, text=True, check=True
    ).stdout
    assert shown == markdown_table()


def test_every_setting_is_documented_in_the_table():
    table = markdown_table()
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("internal"):
            continue
        assert f"`{variable(name)}`" in table, name
        if not extra.get("joins"):
            assert field.description and extra.get("shown_default"), name


def _environment_reads(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.search(r"os\.environ|getenv|envvar=", line) and "NIAOULI" in line:
            found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_other_module_reads_niaouli_variables():
    """Only niaouli/settings.py reads them (the pycsw program, run by pycsw's own Python,
    gets its key from the environment `niaouli serve` starts it with)."""
    reads = []
    for folder in PLATFORM_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name != "settings.py":
                reads += _environment_reads(path)
    assert reads == []
    # ...and the check itself finds such a read
    assert _environment_reads(ROOT / "tests" / "conftest.py")


def test_settings_follow_the_environment(monkeypatch):
    monkeypatch.setenv("NIAOULI_KEEP_VERSIONS", "5")
    first = get_settings()
    assert first.keep_versions == 5
    assert get_settings() is first  # unchanged environment: the same object
    monkeypatch.setenv("NIAOULI_KEEP_VERSIONS", "x")  # not a number: the default, as before
    assert get_settings().keep_versions == 3
    monkeypatch.setenv("NIAOULI_STATS", "OFF")
    monkeypatch.setenv("NIAOULI_HARVEST_SCHEDULER", "non")
    monkeypatch.setenv("NIAOULI_MAX_UPLOAD_BYTES", "0")
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", "")  # empty means unset
    current = get_settings()
    assert (current.stats, current.harvest_scheduler) == (False, False)
    assert current.max_upload_bytes == 512 * 1024 * 1024 and current.public_url == ""


def test_wrong_values_name_their_variable(monkeypatch):
    for name, value in (
        ("NIAOULI_CSW_WORKERS", "0"),
        ("NIAOULI_SMTP_PORT", "smtp"),
        ("NIAOULI_TILE_HEAVY_SLOTS", "deux"),
    ):
        monkeypatch.setenv("NIAOULI_SMTP_HOST", "mail.gouv.nc")
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            get_settings()
        monkeypatch.delenv(name)


def test_the_data_directory_holds_the_embedded_database(tmp_path, monkeypatch):
    monkeypatch.delenv("NIAOULI_DATABASE_URL", raising=False)
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(tmp_path))
    assert get_settings().database_url == f"sqlite:///{tmp_path / 'niaouli.sqlite'}"
    monkeypatch.setenv("NIAOULI_DATABASE_URL", "postgresql://u@h/db")
    assert get_settings().database_url == "postgresql+psycopg://u@h/db"


def test_pinned_settings_win_over_the_environment(monkeypatch):
    """`niaouli serve` gives its workers their settings explicitly, without writing the
    environment: a pinned object is what every reader gets."""
    chosen = get_settings().model_copy(update={"public_url": "http://127.0.0.1:8931"})
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", "https://ailleurs.example.nc")
    try:
        pin(chosen)
        assert get_settings().public_url == "http://127.0.0.1:8931"
    finally:
        pin(None)
    assert get_settings().public_url == "https://ailleurs.example.nc"
    assert settings_module._pinned is None


def test_the_factory_with_its_settings_reaches_spawned_workers():
    """uvicorn pickles the factory for each worker process."""
    from niaouli.web import create_app

    chosen = get_settings().model_copy(update={"csw_proxy_key": "clé", "csw_workers": 3})
    factory = pickle.loads(pickle.dumps(partial(create_app, chosen)))
    assert factory.func is create_app and factory.args[0] == chosen
