"""The archive's table of contents: what it holds, from which backend and schema revision.

Member names come from an untrusted archive (SECURITY-CASES S15, S16): every name is
checked against a strict pattern before anything is written under it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT = "niaouli-backup"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 64 << 20
SECRET_KEY_MEMBER = "secret_key"  # noqa: S105 - a member name
DATABASE_MEMBERS = {"postgresql": "database/catalogue.dump", "sqlite": "database/niaouli.sqlite"}
# files/<storage key>/<clean filename> (niaouli.storage): one safe component each.
_COMPONENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
_FILE_MEMBER = re.compile(rf"files/{_COMPONENT}/{_COMPONENT}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is French and says why."""


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str


@dataclass
class Manifest:
    backend: str  # "postgresql" or "sqlite"
    schema_revision: str
    created_at: str  # ISO 8601, UTC
    niaouli_version: str
    members: list[Member] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    server_version: str | None = None
    missing_files: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")

    @property
    def database_member(self) -> str:
        return DATABASE_MEMBERS[self.backend]

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BackupError(f"manifeste illisible ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError("ce fichier n'est pas une sauvegarde Niaouli (manifeste inconnu)")
        if data.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"format de sauvegarde {data.get('format_version')!r} inconnu de cette version"
            )
        try:
            manifest = cls(
                backend=_text(data["backend"]),
                schema_revision=_text(data["schema_revision"]),
                created_at=_text(data["created_at"]),
                niaouli_version=_text(data["niaouli_version"]),
                members=[_member(item) for item in data["members"]],
                counts={str(k): int(v) for k, v in dict(data.get("counts") or {}).items()},
                server_version=data.get("server_version"),
                missing_files=[str(k) for k in data.get("missing_files") or []],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"manifeste incomplet ou invalide ({exc})") from None
        manifest.check()
        return manifest

    def check(self) -> None:
        """Every name safe and allowed, each once, the database present."""
        if self.backend not in DATABASE_MEMBERS:
            raise BackupError(f"base de données inconnue dans le manifeste : {self.backend!r}")
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise BackupError("le manifeste nomme deux fois le même fichier")
        for name in names:
            if not allowed_name(name, self.backend):
                raise BackupError(f"nom de fichier refusé dans l'archive : {name[:200]!r}")
        if self.database_member not in names:
            raise BackupError("l'archive ne contient pas de base de données")


def allowed_name(name: str, backend: str) -> bool:
    if name in (DATABASE_MEMBERS[backend], SECRET_KEY_MEMBER):
        return True
    if not _FILE_MEMBER.fullmatch(name):
        return False
    return all(part not in (".", "..") for part in name.split("/"))


def _text(value: Any) -> str:  # noqa: ANN401 - JSON
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError("texte attendu")
    return value


def _member(item: Any) -> Member:  # noqa: ANN401 - JSON
    name, size, sha256 = _text(item["name"]), item["size"], _text(item["sha256"])
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"taille invalide pour {name!r}")
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"empreinte invalide pour {name!r}")
    return Member(name, size, sha256)
