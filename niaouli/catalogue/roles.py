"""The roles a member holds in an organisation (imports nothing, so every layer may use it)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """A member's role in an organisation (strongest last)."""

    MEMBER = "member"
    EDITOR = "editor"
    ADMIN = "admin"


# The roles that change and publish an organisation's content (and see its drafts).
EDITING_ROLES = frozenset({Role.EDITOR, Role.ADMIN})
