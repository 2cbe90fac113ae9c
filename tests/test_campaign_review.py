"""Reviewing contributions: the queue and its filters, decisions and their history, no
self-approval, a merged contribution is final (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import merge, review
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    ContributionState,
    ReviewEntry,
)
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError
from tests.campaign_review_support import ORG, PASSWORD, contributions, points, submission, world
from tests.conftest import Backend

DUPLICATE = {
    "code": "duplicate",
    "field": None,
    "severity": "warning",
    "message": {"fr": "doublon probable", "en": "likely duplicate"},
}


def _stage(backend, w, items, volunteer=0, name="Jeanne", state=ContributionState.RECEIVED):  # noqa: ANN001, ANN201
    sub = submission(backend, w, w.volunteer_ids[volunteer], name)
    with Session(writing(backend.engine)) as session, session.begin():
        return sub, contributions(session, w, sub, w.volunteer_ids[volunteer], items, state)


def _decide(backend, w, viewer, ids, decision, comment=None):  # noqa: ANN001, ANN201
    with Session(writing(backend.engine)) as session, session.begin():
        campaign = session.get(Campaign, w.campaign_id)
        return [c.state for c in review.decide(session, viewer, campaign, ids, decision, comment)]


def _state(backend, cid):  # noqa: ANN001, ANN201
    with backend.session() as session:
        return session.get(Contribution, cid).state


def test_decisions_history_and_who_may_take_them(backend: Backend, tmp_path: Path) -> None:
    w = world(backend, tmp_path)
    editor = w.editor()
    _sub, (a, b, c) = _stage(backend, w, points("r", 3))

    assert _decide(backend, w, editor, [a], "approve") == [ContributionState.APPROVED]
    with pytest.raises(CatalogueError, match="commentaire"):
        _decide(backend, w, editor, [b], "send_back", "  ")
    _decide(backend, w, editor, [b], "send_back", "Photo floue, reprenez-la")
    _decide(backend, w, editor, [c], "reject", "Hors sujet")
    assert [_state(backend, i) for i in (a, b, c)] == [
        ContributionState.APPROVED,
        ContributionState.HAS_ISSUES,
        ContributionState.REJECTED,
    ]
    # The volunteer sees the comment on their own contributions, not on others'.
    with backend.session() as session:
        campaign = session.get(Campaign, w.campaign_id)
        own = {x.id: x.review_comment for x in review.mine(session, campaign, w.volunteer(0))}
        assert own[b] == "Photo floue, reprenez-la"
        assert review.mine(session, campaign, w.volunteer(1)) == []
        entries = session.scalars(select(ReviewEntry).order_by(ReviewEntry.id)).all()
    assert [(e.contribution_id, e.action, e.reviewer_id) for e in entries] == [
        (a, "approve", w.editor_id),
        (b, "send_back", w.editor_id),
        (c, "reject", w.editor_id),
    ]
    assert entries[1].before == {"state": "received"}

    # A volunteer, even an editor of the organisation, never approves their own work.
    with Session(writing(backend.engine)) as session, session.begin():
        org = service.get_organisation(session, ORG)
        self_reviewer = users.create_user(session, "double@example.nc", "Double", PASSWORD)
        users.set_membership(session, org, self_reviewer, "editor")
        own_id = self_reviewer.id
    sub = submission(backend, w, own_id, "Double")
    with Session(writing(backend.engine)) as session, session.begin():
        (mine,) = contributions(
            session, w, sub, own_id, points("own", 1), ContributionState.RECEIVED
        )
    as_editor = Viewer(user_id=own_id, member_of={w.org_id: "editor"})
    with pytest.raises(ForbiddenError, match="propre contribution"):
        _decide(backend, w, as_editor, [mine, b], "approve")
    assert _state(backend, b) == ContributionState.HAS_ISSUES  # all or none
    _decide(backend, w, as_editor, [mine], "reject", "je retire")  # rejecting is allowed
    _decide(backend, w, editor, [mine], "approve")  # another editor may approve it

    # Volunteers, other organisations and read-only credentials may not review.
    for viewer in (
        w.volunteer(1),
        Viewer(user_id=w.volunteer_ids[1], member_of={w.org_id + 1: "editor"}),
        Viewer(user_id=w.editor_id, member_of={w.org_id: "editor"}, read_only=True),
        Viewer(user_id=w.volunteer_ids[1], member_of={w.org_id: "member"}),
    ):
        with pytest.raises(ForbiddenError):
            _decide(backend, w, viewer, [c], "approve")

    # Once merged, final: a later decision is refused.
    assert merge.run_merge(backend.engine, w.campaign_id).created == 2
    with pytest.raises(ConflictError, match="fusionnée"):
        _decide(backend, w, editor, [a], "reject", "trop tard")


def test_a_whole_submission_at_once(backend: Backend, tmp_path: Path) -> None:
    w = world(backend, tmp_path)
    sub, ids = _stage(backend, w, points("s", 4))
    _other, (kept,) = _stage(backend, w, points("t", 1), volunteer=1)
    with Session(writing(backend.engine)) as session, session.begin():
        campaign = session.get(Campaign, w.campaign_id)
        done = {
            c.id for c in review.decide_submission(session, w.editor(), campaign, sub, "approve")
        }
    assert done == set(ids)
    assert {_state(backend, i) for i in ids} == {ContributionState.APPROVED}
    assert _state(backend, kept) == ContributionState.RECEIVED


def test_queue_filters_and_pages(backend: Backend, tmp_path: Path) -> None:
    w = world(backend, tmp_path)
    plain = points("q", 120)
    warned = [{**p, "uid": f"w{i}", "problems": [DUPLICATE]} for i, p in enumerate(points("w", 7))]
    _stage(backend, w, plain, name="Jeanne")
    _stage(backend, w, warned, volunteer=1, name="Kim")
    _sub, (approved,) = _stage(backend, w, points("z", 1), state=ContributionState.APPROVED)

    def page(**kwargs):  # noqa: ANN003, ANN202
        number = kwargs.pop("page", 1)
        with backend.session() as session:
            campaign = session.get(Campaign, w.campaign_id)
            return review.queue(session, campaign, w.editor(), review.Filters(**kwargs), number)

    first = page()
    assert first.total == 128 and first.pages == 3 and len(first.rows) == 50
    assert first.counts == {"received": 127, "approved": 1}
    assert first.approved_waiting == 1
    assert [name for _id, name in first.contributors] == ["Jeanne", "Kim"]
    assert first.rows[0].geometry["type"] == "Point"
    assert first.rows[0].display_name == "Jeanne"
    last = page(page=3)
    assert len(last.rows) == 28 and last.rows[-1].id == approved
    assert page(state="approved").total == 1
    assert page(contributor_id=w.volunteer_ids[1]).total == 7
    assert page(problem="duplicate").total == 7
    assert page(problem="warning").total == 7
    assert page(problem="any").total == 7
    assert page(problem="none").total == 121
    assert page(problem="outside_area").total == 0
    assert {r.uid for r in page(problem="duplicate").rows} == {f"w{i}" for i in range(7)}
    with pytest.raises(CatalogueError):
        page(state="bogus")
    with backend.session() as session, pytest.raises(ForbiddenError):
        campaign = session.get(Campaign, w.campaign_id)
        review.queue(session, campaign, w.volunteer(0))
