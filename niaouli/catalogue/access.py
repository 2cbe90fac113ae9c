"""One truth for access: which datasets a viewer may see, as a SQL condition.

Every query that lists, counts or fetches datasets (or anything hanging off them) goes
through `visible_datasets` (`visible_mask`: the same rule over in-memory columns, for
the portal search). The rule: `public` -> everyone; `registered` -> any signed-in
user; `organisation` -> members (any role) of the owning organisation; `draft` -> editors
and admins of the owning organisation. Platform admins see everything. The request's
viewer is built from its credentials by `niaouli.accounts.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, false, or_, true

from niaouli.catalogue.models import AccessLevel, Dataset
from niaouli.catalogue.roles import EDITING_ROLES

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Viewer:
    """Who is asking. `member_of` maps organisation ids to a role (member/editor/admin).

    `read_only` is set for credentials that may only read (an API token of scope
    `read`): seeing is unchanged, writing must be refused (`may_write`).
    """

    user_id: int | None = None
    is_platform_admin: bool = False
    member_of: dict[int, str] = field(default_factory=dict)
    read_only: bool = False

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls()

    @classmethod
    def system(cls) -> Viewer:
        """The command line and internal jobs: sees everything."""
        return cls(is_platform_admin=True)

    @property
    def is_signed_in(self) -> bool:
        return self.user_id is not None or self.is_platform_admin

    @property
    def may_write(self) -> bool:
        """Signed in with credentials allowed to change things (roles are checked apart)."""
        return self.is_signed_in and not self.read_only

    @property
    def visibility_key(self) -> tuple:
        """What decides which datasets this viewer sees (equal keys see the same)."""
        if self.is_platform_admin:
            return ("admin",)
        return (self.is_signed_in, tuple(sorted(self.member_of.items())))


ANONYMOUS = Viewer.anonymous()


def visible_datasets(viewer: Viewer) -> ColumnElement[bool]:
    """The condition on `Dataset` rows that `viewer` may see."""
    if viewer.is_platform_admin:
        return true()
    conditions = [Dataset.access_level == AccessLevel.PUBLIC]
    if viewer.is_signed_in:
        conditions.append(Dataset.access_level == AccessLevel.REGISTERED)
    if viewer.member_of:
        orgs = list(viewer.member_of)
        conditions.append(
            and_(
                Dataset.access_level == AccessLevel.ORGANISATION,
                Dataset.organisation_id.in_(orgs),
            )
        )
        editor_orgs = editor_organisations(viewer)
        if editor_orgs:
            conditions.append(
                and_(
                    Dataset.access_level == AccessLevel.DRAFT,
                    Dataset.organisation_id.in_(editor_orgs),
                )
            )
    return or_(*conditions) if conditions else false()


def visible_mask(viewer: Viewer, access: np.ndarray, organisations: np.ndarray) -> np.ndarray:
    """The same rule as `visible_datasets`, over columns: `access` holds access level
    values (strings), `organisations` the owning organisation ids (the portal search's
    columns, `search.columns`). A boolean array."""
    import numpy as np  # the portal's search columns: not every process needs it

    if viewer.is_platform_admin:
        return np.ones(len(access), dtype=bool)
    mask = access == AccessLevel.PUBLIC.value
    if viewer.is_signed_in:
        mask |= access == AccessLevel.REGISTERED.value
    if viewer.member_of:
        member = np.isin(organisations, list(viewer.member_of))
        mask |= (access == AccessLevel.ORGANISATION.value) & member
        editor_orgs = editor_organisations(viewer)
        if editor_orgs:
            mask |= (access == AccessLevel.DRAFT.value) & np.isin(organisations, editor_orgs)
    return mask


def can_see(viewer: Viewer, dataset: Dataset) -> bool:
    """The same rule as `visible_datasets`, for one loaded dataset."""
    if viewer.is_platform_admin or dataset.access_level == AccessLevel.PUBLIC:
        return True
    if dataset.access_level == AccessLevel.REGISTERED:
        return viewer.is_signed_in
    role = viewer.member_of.get(dataset.organisation_id)
    if dataset.access_level == AccessLevel.ORGANISATION:
        return role is not None
    return role in EDITING_ROLES


def editor_organisations(viewer: Viewer) -> list[int]:
    """The organisations whose drafts `viewer` sees: where they are an editor or admin."""
    return [o for o, role in viewer.member_of.items() if role in EDITING_ROLES]
