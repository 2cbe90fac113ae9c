"""`niaouli backup` / `niaouli restore` on both backends (issue 17 §5).

The demo (and an account) is backed up, restored into a new, empty database and data
directory, and compared: catalogue rows, layer rows, accounts, stored files' checksums,
and the OGC API serving the restored features. Damaged or hostile archives (truncated,
altered, path traversal, links, unknown or missing members) are refused with nothing
changed and nothing written outside the staging folder (SECURITY-CASES S15, S16).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from niaouli import storage
from niaouli.accounts import secrets, users
from niaouli.backup import BackupError, create_backup, restore_backup
from niaouli.backup.archive import read_manifest
from niaouli.backup.restore import head_revision
from niaouli.db.engine import make_engine
from niaouli.demo import load_demo
from niaouli.settings import Settings
from tests.backup_support import empty_target, snapshot
from tests.conftest import Backend
from tests.storage_support import S3Server, s3_server  # noqa: F401

PASSWORD = "lagon-bleu-2025"  # noqa: S105 - a test account's


def _load(backend: Backend) -> None:
    load_demo(backend.settings, echo=lambda _m: None)
    with Session(backend.engine) as session, session.begin():
        users.create_user(session, "admin@niaouli.nc", "Admin", PASSWORD, is_platform_admin=True)
    secrets.secret_key(backend.settings)  # written into the data directory


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive, "r:*") as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            copy = tarfile.TarInfo(info.name)
            copy.type, copy.linkname, copy.mode = info.type, info.linkname, 0o600
            copy.size = len(data) if info.isreg() else 0
            tar.addfile(copy, io.BytesIO(data) if info.isreg() else None)
    return path


def _with_manifest(members, change) -> list[tuple[tarfile.TarInfo, bytes]]:  # noqa: ANN001
    manifest = json.loads(members[0][1])
    change(manifest)
    raw = json.dumps(manifest).encode()
    return [(members[0][0], raw), *members[1:]]


def _entry(name: str, data: bytes) -> dict[str, object]:
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _reg(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _bad_archives(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (archive, part of the expected message)."""
    members = _members(good)
    names = [info.name for info, _ in members]
    database = next(i for i, n in enumerate(names) if n.startswith("database/"))
    made: dict[str, tuple[Path, str]] = {}

    raw = good.read_bytes()
    truncated = folder / "truncated.tar.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    made["truncated"] = (truncated, "tronquée ou corrompue")

    altered = list(members)
    info, data = altered[database]
    altered[database] = (info, data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    made["altered byte"] = (_write(folder / "altered.tar", altered), "empreinte SHA-256")

    evil = b"print('pwned')\n"
    for label, name in (
        ("traversal", "files/../../evil.py"),
        ("absolute", "/tmp/evil.py"),  # noqa: S108 - the attack
        ("dotdot key", "files/../evil.py"),
    ):
        listed = _with_manifest(members, lambda m, n=name: m["members"].append(_entry(n, evil)))
        made[label] = (_write(folder / f"{label}.tar", [*listed, (_reg(name), evil)]), "refusé")

    link = tarfile.TarInfo("files/0123456789abcdef0123456789abcdef/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    listed = _with_manifest(members, lambda m: m["members"].append(_entry(link.name, b"")))
    made["symlink"] = (_write(folder / "symlink.tar", [*listed, (link, b"")]), "lien")

    extra = _reg("files/0123456789abcdef0123456789abcdef/extra.txt")
    made["unlisted member"] = (
        _write(folder / "extra.tar", [*members, (extra, b"x")]),
        "inattendu",
    )
    made["missing member"] = (
        _write(folder / "missing.tar", [m for i, m in enumerate(members) if i != database]),
        "incomplète ou tronquée",
    )
    made["no manifest"] = (_write(folder / "nomanifest.tar", members[1:]), "pas de manifeste")
    junk = folder / "junk.tar"
    junk.write_bytes(b"not an archive at all" * 100)
    made["not a tar"] = (junk, "corrompue")
    # Checksums right, database not one: refused by SQLite's check or by pg_restore,
    # after the files were swapped in on PostgreSQL (they must be put back).
    garbage = b"PGDMP not really a dump" * 50

    def forge(manifest: dict) -> None:
        for entry in manifest["members"]:
            if entry["name"] == names[database]:
                entry.update(_entry(entry["name"], garbage))

    forged = _with_manifest(members, forge)
    forged[database] = (forged[database][0], garbage)
    made["not a database"] = (
        _write(folder / "forged.tar", forged),
        "illisible|abîmée|pg_restore ne lit pas",
    )
    newer = _with_manifest(members, lambda m: m.update(schema_revision="0099_future"))
    made["newer revision"] = (_write(folder / "newer.tar", newer), "plus récente")
    return made


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch):
    def make(settings: Settings) -> TestClient:
        from niaouli.web import create_app

        monkeypatch.setenv("NIAOULI_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("NIAOULI_DATABASE_URL", settings.database_url)
        return TestClient(create_app(), raise_server_exceptions=False)

    return make


def test_backup_restores_the_demo_into_a_new_database(
    backend: Backend, request: pytest.FixtureRequest, tmp_path: Path, client_for
):
    _load(backend)
    before = snapshot(backend.settings)
    assert before["users"] and len(before["files"]) == 5 and before["layers"]
    archive = tmp_path / "niaouli.tar.gz"
    manifest = create_backup(backend.settings, archive)
    assert manifest.schema_revision == head_revision()
    assert read_manifest(archive).members == manifest.members
    assert manifest.counts["datasets"] == len(before["datasets"])

    with empty_target(request, backend.name, tmp_path) as target:
        report = restore_backup(target, archive)
        assert not report.upgraded and not report.replaced
        assert snapshot(target) == before
        key = (target.data_dir / "secret_key").read_text()
        assert key == (backend.settings.data_dir / "secret_key").read_text()
        assert not [p for p in target.data_dir.iterdir() if p.name.startswith(".niaouli")]

        # A second restore over it is refused without --force, then replaces it.
        with pytest.raises(BackupError, match="n'est pas vide.*--force"):
            restore_backup(target, archive)
        assert restore_backup(target, archive, force=True).replaced["datasets"] == len(
            before["datasets"]
        )
        assert snapshot(target) == before

        # The restored platform serves the restored features.
        collection, count, _rows = next(item for item in before["layers"] if item[1] > 10)
        with client_for(target) as client:
            items = client.get(
                f"/ogc/collections/{collection}/items", params={"f": "json", "limit": 500}
            )
            assert items.status_code == 200, items.text[:300]
            assert len(items.json()["features"]) == count
        engine = make_engine(target)
        with Session(engine) as session:
            assert users.authenticate(session, "admin@niaouli.nc", PASSWORD) is not None
        engine.dispose()


def test_damaged_or_hostile_archives_change_nothing(
    backend: Backend, request: pytest.FixtureRequest, tmp_path: Path
):
    _load(backend)
    good = tmp_path / "good.tar.gz"
    create_backup(backend.settings, good)
    bad = tmp_path / "bad"
    bad.mkdir()
    with empty_target(request, backend.name, tmp_path) as target:
        restore_backup(target, good)
        before = snapshot(target)
        for label, (archive, message) in _bad_archives(good, bad).items():
            with pytest.raises(BackupError, match=message):
                restore_backup(target, archive, force=True)  # --force: only the archive stops it
            assert snapshot(target) == before, label
            leftovers = [p for p in target.data_dir.iterdir() if p.name.startswith(".niaouli")]
            assert not leftovers, label
        assert not list(tmp_path.rglob("evil.py"))
        assert not (Path("/tmp") / "evil.py").exists()  # noqa: S108


def test_backup_refuses_to_overwrite_and_names_a_missing_file(backend: Backend, tmp_path: Path):
    _load(backend)
    existing = tmp_path / "exists.tar"
    existing.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="existe déjà"):
        create_backup(backend.settings, existing)
    assert existing.read_bytes() == b"keep me"
    stored = next(p for p in backend.settings.files_dir.iterdir())
    for path in stored.iterdir():
        path.unlink()
    stored.rmdir()
    manifest = create_backup(backend.settings, tmp_path / "partial.tar")
    assert manifest.missing_files == [stored.name]


def test_the_command_line_backs_up_and_restores(
    backend: Backend, request: pytest.FixtureRequest, tmp_path: Path
):
    backend.run("org", "create", "province-nord", "--name", "Province Nord", "--kind", "province")
    archive = tmp_path / "cli.tar"
    made = backend.run("backup", str(archive))
    assert "sauvegarde écrite" in made.stdout and "organisations : 1" in made.stdout
    with empty_target(request, backend.name, tmp_path) as settings:
        target = Backend(backend.name, settings, make_engine(settings))
        try:
            restored = target.run("restore", str(archive))
            assert f"sauvegarde restaurée (révision {head_revision()})" in restored.stdout
            assert "province-nord" in target.run("org", "list").stdout
            again = target.run("restore", str(archive), check=False)
            assert again.returncode == 1
            assert again.stderr.startswith("erreur : le catalogue visé n'est pas vide")
            cut = tmp_path / "cut.tar"
            cut.write_bytes(archive.read_bytes()[:3000])
            broken = target.run("restore", "--force", str(cut), check=False)
            assert broken.returncode == 1 and "tronquée" in broken.stderr
            assert "Traceback" not in broken.stderr
        finally:
            target.engine.dispose()


def test_missing_postgresql_client_programs_are_named():
    from niaouli.backup.postgres import find_tools

    with pytest.raises(BackupError, match="postgresql-client-99"):
        find_tools(99)


def test_sqlite_database_on_another_file_system(sqlite_template: Path, tmp_path: Path):
    """`NIAOULI_DATABASE_URL` may put the SQLite file outside the data directory, on
    another file system (here /dev/shm): the restore still swaps it by rename, and the
    old file is kept until the new one is in place."""
    import shutil
    import tempfile

    from niaouli.catalogue import service
    from niaouli.db.engine import release_engine

    shm = Path(tempfile.mkdtemp(prefix="niaouli-backup-", dir="/dev/shm"))
    try:
        source_db = shm / "source.sqlite"
        shutil.copyfile(sqlite_template, source_db)
        source = Settings(
            data_dir=tmp_path / "a",
            database_url=f"sqlite:///{source_db}",
            spatialite_library="mod_spatialite",
        )
        engine = make_engine(source)
        with Session(engine) as session, session.begin():
            service.create_organisation(session, "province-nord", "Province Nord", "province")
        engine.dispose()
        archive = tmp_path / "shm.tar"
        create_backup(source, archive)
        target_db = shm / "target.sqlite"
        shutil.copyfile(sqlite_template, target_db)  # migrated, empty
        target = source.model_copy(
            update={"data_dir": tmp_path / "b", "database_url": f"sqlite:///{target_db}"}
        )
        restore_backup(target, archive)
        assert snapshot(target)["organisations"] == ["province-nord"]
        assert sorted(p.name for p in shm.iterdir()) == ["source.sqlite", "target.sqlite"]
        release_engine(target)
    finally:
        shutil.rmtree(shm)


def _objects(settings: Settings) -> dict[str, str]:
    backend = storage.area(settings)
    return {
        name: hashlib.sha256(b"".join(backend.read(name))).hexdigest() for name in backend.names()
    }


def test_backup_and_restore_through_object_storage(
    backend: Backend,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811 - the fixture imported above
):
    """With S3-compatible storage (moto's server), the archive holds the bucket's objects
    and a restore puts them into the target's bucket; a restore that fails on the database
    removes the objects it had put."""
    source = s3_server.settings(backend.settings, s3_server.new_bucket())
    load_demo(source, echo=lambda _m: None)
    objects = _objects(source)
    assert len(objects) == 5 and not source.files_dir.exists()
    archive = tmp_path / "s3.tar.gz"
    manifest = create_backup(source, archive)
    assert {m.name.removeprefix("files/") for m in manifest.members} >= set(objects)
    assert manifest.missing_files == []

    with empty_target(request, backend.name, tmp_path) as base:
        target = s3_server.settings(base, s3_server.new_bucket())
        restore_backup(target, archive)
        assert _objects(target) == objects
        assert snapshot(target) == snapshot(source)
        assert not target.files_dir.exists()  # nothing went to the local folder

        # A damaged database member: refused, and the bucket is as it was.
        bad = tmp_path / "bad"
        bad.mkdir()
        forged, message = _bad_archives(archive, bad)["not a database"]
        other = s3_server.settings(base, s3_server.new_bucket())
        with pytest.raises(BackupError, match=message):
            restore_backup(other, forged, force=True)
        assert _objects(other) == {}
