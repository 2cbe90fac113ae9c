"""Who may do what: the platform's named actions and each one's rule, in one place.

Seeing datasets is `access.visible_datasets` (one SQL condition); everything else a viewer
may do is a named `Action` decided by `allowed(viewer, action, target)`. The API, the
portal, the command line (as `Viewer.system()`) and the services all ask here, so a rule
changes in one place and every interface follows. Actions that change something need
credentials that may write (`Viewer.may_write`: a `read` token may not); reading ones
(`journal.read`, `harvest.read`, ...) do not.

The target is what the action is about: an organisation (its id or the row), or a row
that belongs to one (`organisation_id`: dataset, code project, event, reuse, harvest
source); for `reuse.edit` the reuse itself (its author may edit it).

Reuses are seen by one rule too, `visible_reuses`, written once as SQL (the API and the
pages both look reuses up through it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, or_, true

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import ModerationStatus, Organisation, Reuse
from niaouli.catalogue.roles import EDITING_ROLES, Role


class Action(enum.StrEnum):
    """Everything a viewer may be allowed to do, by name (as the audit log names changes)."""

    DATASET_CREATE = "dataset.create"  # target: the organisation
    DATASET_EDIT = "dataset.edit"  # metadata, columns, files, layers, versions
    DATASET_PUBLISH = "dataset.publish"  # and unpublish
    DATASET_DELETE = "dataset.delete"
    ORGANISATION_CREATE = "organisation.create"  # no target
    ORGANISATION_EDIT = "organisation.edit"
    ORGANISATION_MEMBER_VIEW = "organisation.member_view"  # its page as members see it
    MEMBERS_MANAGE = "members.manage"  # add, remove, change roles, answer requests
    JOURNAL_READ = "journal.read"  # the organisation's audit log
    HARVEST_READ = "harvest.read"  # its harvest sources and jobs (addresses may be internal)
    HARVEST_RUN = "harvest.run"  # start a harvest or a dry run
    CODE_EDIT = "code.edit"  # add or change a code project of the organisation
    EVENT_EDIT = "event.edit"  # add or change an event (no organisation: platform admins)
    REUSE_PROPOSE = "reuse.propose"  # no target: any signed-in user who may write
    REUSE_EDIT = "reuse.edit"  # target: the reuse
    REUSE_MODERATE = "reuse.moderate"  # approve or reject; a moderator's reuse is approved
    CONTACTS_READ = "contacts.read"  # e-mail addresses in lists and journals, no target
    CATALOGUE_READ_ALL = "catalogue.read_all"  # sees every dataset, so may choose any slug
    CAMPAIGN_MANAGE = "campaign.manage"  # create, change, open, close a cartoparty campaign
    CAMPAIGN_CONTRIBUTE = "campaign.contribute"  # any signed-in user who may write
    CAMPAIGN_REVIEW = "campaign.review"  # approve, reject, send back a campaign's contributions
    CAMPAIGN_MERGE = "campaign.merge"  # merge the approved ones into the campaign's layer
    PARTNER_MANAGE = "partner.manage"  # partnership status, agreement, obligation figures
    PARTNER_CONTACTS = "partner.contacts"  # the organisation's open-data contacts
    CALL_APPLY = "call.apply"  # apply to a call for projects: any signed-in user who may write
    CALL_READ = "call.read"  # target: the call's event; read every application of the call
    CALL_REVIEW = "call.review"  # target: the call's event; score, publish the laureates


def _organisation_of(target: Any) -> int | None:  # noqa: ANN401 - any row of an organisation
    """The organisation a target belongs to (its id), or None."""
    if target is None or isinstance(target, int):
        return target
    if isinstance(target, Organisation):
        return target.id
    return getattr(target, "organisation_id", None)


def _role(viewer: Viewer, target: Any) -> Role | None:  # noqa: ANN401
    organisation_id = _organisation_of(target)
    if organisation_id is None:
        return None
    role = viewer.member_of.get(organisation_id)
    return Role(role) if role is not None else None


def _platform(viewer: Viewer, target: Any) -> bool:  # noqa: ANN401, ARG001
    return viewer.is_platform_admin


def _editor(viewer: Viewer, target: Any) -> bool:  # noqa: ANN401
    """The organisation's editors and admins, and platform admins."""
    return viewer.is_platform_admin or _role(viewer, target) in EDITING_ROLES


def _admin(viewer: Viewer, target: Any) -> bool:  # noqa: ANN401
    """The organisation's admins, and platform admins."""
    return viewer.is_platform_admin or _role(viewer, target) == Role.ADMIN


def _member(viewer: Viewer, target: Any) -> bool:  # noqa: ANN401
    """The organisation's members (any role), and platform admins."""
    return viewer.is_platform_admin or _role(viewer, target) is not None


def _signed_in(viewer: Viewer, target: Any) -> bool:  # noqa: ANN401, ARG001
    return viewer.is_signed_in


def _reuse_editor(viewer: Viewer, reuse: Any) -> bool:  # noqa: ANN401
    """Its author, the editors of its organisation (if any), platform admins."""
    if viewer.is_platform_admin:
        return True
    if viewer.user_id is not None and reuse.submitted_by_id == viewer.user_id:
        return True
    return reuse.organisation_id is not None and _editor(viewer, reuse)


Rule = Callable[[Viewer, Any], bool]
# Each action: its rule, and whether it changes something (needs credentials that write).
RULES: dict[Action, tuple[Rule, bool]] = {
    Action.DATASET_CREATE: (_editor, True),
    Action.DATASET_EDIT: (_editor, True),
    Action.DATASET_PUBLISH: (_editor, True),
    Action.DATASET_DELETE: (_editor, True),
    Action.ORGANISATION_CREATE: (_platform, True),
    Action.ORGANISATION_EDIT: (_admin, True),
    Action.ORGANISATION_MEMBER_VIEW: (_member, False),
    Action.MEMBERS_MANAGE: (_admin, True),
    Action.JOURNAL_READ: (_admin, False),
    Action.HARVEST_READ: (_member, False),
    Action.HARVEST_RUN: (_editor, True),
    Action.CODE_EDIT: (_editor, True),
    Action.EVENT_EDIT: (_editor, True),
    Action.REUSE_PROPOSE: (_signed_in, True),
    Action.REUSE_EDIT: (_reuse_editor, True),
    Action.REUSE_MODERATE: (_platform, True),
    Action.CONTACTS_READ: (_platform, False),
    Action.CATALOGUE_READ_ALL: (_platform, False),
    Action.CAMPAIGN_MANAGE: (_editor, True),
    # Whether the campaign is open (state, dates) is the campaign's own check
    # (`campaigns.check_open`); who sees staged contributions is
    # `contributions.visible_contributions`.
    Action.CAMPAIGN_CONTRIBUTE: (_signed_in, True),
    # Target: the campaign (its organisation). Nobody approves their own contribution:
    # that is the review's own check (`campaigns.review`), per contribution.
    Action.CAMPAIGN_REVIEW: (_editor, True),
    Action.CAMPAIGN_MERGE: (_editor, True),
    # Partner administrations (niaouli/catalogue/partners): the programme is the
    # platform's; an organisation's admins keep its contacts.
    Action.PARTNER_MANAGE: (_platform, True),
    Action.PARTNER_CONTACTS: (_admin, True),
    # Whether the call is open (its dates) and who is in a team are the call's own checks
    # (`community.calls`); an event without organisation: platform admins.
    Action.CALL_APPLY: (_signed_in, True),
    Action.CALL_READ: (_editor, False),
    Action.CALL_REVIEW: (_editor, True),
}


def allowed(viewer: Viewer, action: Action | str, target: Any = None) -> bool:  # noqa: ANN401
    """Whether `viewer` may do `action` on `target` (see the module's docstring)."""
    rule, writes = RULES[Action(action)]
    if writes and not viewer.may_write:
        return False
    return rule(viewer, target)


def publishes_somewhere(viewer: Viewer) -> bool:
    """Whether `viewer` may create datasets in some organisation (the portal then offers
    « Publier des données »)."""
    return allowed(viewer, Action.DATASET_CREATE) or any(
        allowed(viewer, Action.DATASET_CREATE, o) for o in viewer.member_of
    )


# --- reuses: who sees one ---------------------------------------------------------------


def visible_reuses(viewer: Viewer) -> ColumnElement[bool]:
    """Approved reuses; a pending or rejected one for its author and platform admins."""
    if viewer.is_platform_admin:
        return true()
    condition = Reuse.status == ModerationStatus.APPROVED
    if viewer.user_id is not None:
        condition = or_(condition, Reuse.submitted_by_id == viewer.user_id)
    return condition
