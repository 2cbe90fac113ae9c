"""Random secrets the platform hands out (tokens, cookies, reset links) and their hashes.

Only the SHA-256 of a secret is stored: the secrets have 256 bits of entropy, so a plain
fast hash is enough (no salt or slow hash needed, unlike passwords), and it lets the
server find the row by its hash in one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from niaouli.settings import Settings, get_settings

API_TOKEN_PREFIX = "nia_"  # noqa: S105 - a marker, not a secret
VISIBLE_PREFIX_LENGTH = 12  # "nia_" + 8 characters, shown in lists to recognise a token


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_api_token(value: str) -> bool:
    return value.startswith(API_TOKEN_PREFIX) and 20 <= len(value) <= 100


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def keyed_digest(key: str, value: str) -> str:
    """HMAC-SHA256 of `value`: for throttle keys and CSRF tokens."""
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def secret_key(settings: Settings) -> str:
    """`NIAOULI_SECRET_KEY`, else a key generated once and kept in the data directory.

    Every worker of every process reads the same file; the first to need it creates it
    with O_EXCL, so concurrent starts agree on one key.
    """
    configured = get_settings().secret_key
    if configured:
        return configured
    path = Path(settings.data_dir) / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # the creator may not have written it yet
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: remove it or set NIAOULI_SECRET_KEY") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
