"""The review pages, the merge button and the credit, through the portal (both backends):
who may see the queue, decisions with CSRF, no self-approval from the page either, a
merge run as a job (inline), then the contributors credited on the dataset and event
pages and counted on /statistiques, never by e-mail."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from niaouli.catalogue.campaigns.campaign_tables import Campaign, Contribution, ContributionState
from niaouli.catalogue.models import Event, EventKind
from niaouli.db.engine import writing
from niaouli.settings import pin
from niaouli.web import create_app
from tests.accounts_support import csrf_of, sign_in
from tests.campaign_review_support import PASSWORD, contributions, points, submission, world
from tests.conftest import Backend


@contextmanager
def _client(backend: Backend) -> Iterator[TestClient]:
    """The whole web app in-process, inline jobs; `create_app(settings)` pins the
    process's settings, so they are unpinned after (later tests read the environment)."""
    settings = backend.settings.model_copy(update={"jobs": "inline"})
    try:
        with TestClient(create_app(settings), follow_redirects=False) as client:
            yield client
    finally:
        pin(None)


def test_review_merge_and_credit_through_the_pages(backend: Backend, tmp_path: Path) -> None:
    w = world(backend, tmp_path)
    with Session(writing(backend.engine)) as session, session.begin():
        event = Event(
            slug="cartopartie-nord",
            title="Cartopartie du Nord",
            kind=EventKind.CARTOPARTY,
            organisation_id=w.org_id,
            starts_at=session.get(Campaign, w.campaign_id).created_at,
        )
        session.add(event)
        session.flush()
        session.get(Campaign, w.campaign_id).event_id = event.id
    kim = submission(backend, w, w.volunteer_ids[0], "Kim des Tamanous")
    with Session(writing(backend.engine)) as session, session.begin():
        ids = contributions(
            session, w, kim, w.volunteer_ids[0], points("p", 3), ContributionState.RECEIVED
        )
    queue = "/campagnes/cartopartie-releves/revue"

    with _client(backend) as anonymous:
        assert anonymous.get(queue).status_code == 403
        assert anonymous.get("/campagnes/inconnue/revue").status_code == 404
    with _client(backend) as volunteer:
        sign_in(volunteer, "benevole0@example.nc", PASSWORD)
        assert volunteer.get(queue).status_code == 403
        assert volunteer.get(queue + ".geojson").status_code == 403

    with _client(backend) as editor:
        sign_in(editor, "relectrice@example.nc", PASSWORD)
        page = editor.get(queue)
        assert page.status_code == 200
        assert all(f"p-{i}" in page.text for i in range(3)) and "Kim des Tamanous" in page.text
        assert "benevole0@example.nc" not in page.text
        features = editor.get(queue + ".geojson").json()["features"]
        assert len(features) == 3 and features[0]["geometry"]["type"] == "Point"
        detail = editor.get(f"{queue}/{ids[0]}")
        assert detail.status_code == 200 and "p-0" in detail.text
        token = csrf_of(page.text)
        form = {"decision": "approuver", "contribution": [str(ids[0]), str(ids[1])]}
        assert editor.post(queue + "/decider", data=form).status_code == 403  # no CSRF
        done = editor.post(queue + "/decider", data={**form, "csrf": token})
        assert done.status_code == 303 and "fait=approve" in done.headers["location"]
        refused = editor.post(
            queue + "/decider",
            data={"decision": "renvoyer", "contribution": str(ids[2]), "csrf": token},
        )
        assert refused.status_code == 400 and "commentaire" in refused.text
        filtered = editor.get(queue, params={"etat": "approved"}).text
        assert "p-0" in filtered and "p-2" not in filtered

        merged = editor.post(queue + "/fusionner", data={"csrf": token})
        assert merged.status_code == 303
        deadline = time.monotonic() + 30
        while True:
            state = editor.get(queue + "/fusions", params={"format": "json"}).json()
            if state["merges"] and not state["running"]:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["merges"][0]["state_value"] == "done", state
        assert state["merges"][0]["created"] == 2
        _page_waits_for_the_merge_row(editor, queue, merged.headers["location"], state)
        again = editor.post(queue + "/fusionner", data={"csrf": token})
        assert again.status_code == 409  # nothing approved left

    with backend.session() as session:
        states = {session.get(Contribution, i).state for i in ids[:2]}
    assert states == {ContributionState.MERGED}
    with _client(backend) as public:
        dataset = public.get(f"/jeux-de-donnees/{w.dataset_slug}").text
        assert "Cartopartie des relevés" in dataset
        assert re.search(r"Kim des Tamanous</span> \(2\)", dataset)
        assert "benevole0@example.nc" not in dataset
        event_page = public.get("/evenements/cartopartie-nord").text
        assert "Kim des Tamanous" in event_page
        results = public.get("/campagnes/cartopartie-releves/resultats.geojson").json()
        assert len(results["features"]) == 2  # merged only: the staged one stays private
        stats = public.get("/statistiques.json").json()["catalogue"]
        assert (stats["campagnes"], stats["contributions"], stats["contributeurs"]) == (1, 3, 1)


def _page_waits_for_the_merge_row(
    editor: TestClient, queue: str, location: str, state: dict
) -> None:
    """Between « Fusionner » and the job's first write there is no merge row yet (a thread
    importing the merge, a queue whose workers are busy): the page must say the merge is
    coming and refresh until its row is there, not show "no merge" and stop."""
    asked = parse_qs(urlsplit(location).query)
    assert asked["apres"] == ["0"] and asked["fait"] == ["fusion"]
    newest = state["merges"][0]["id"]
    now = int(time.time())
    refresh = '<meta http-equiv="refresh"'
    waiting = editor.get(queue + "/fusions", params={"fait": "fusion", "apres": newest, "le": now})
    assert "La fusion demandée va commencer" in waiting.text and refresh in waiting.text
    as_json = editor.get(
        queue + "/fusions", params={"format": "json", "apres": newest, "le": now}
    ).json()
    assert as_json["starting"] == "waiting" and as_json["running"] is True
    late = editor.get(queue + "/fusions", params={"apres": newest, "le": now - 601}).text
    assert "n'a pas commencé après 10 minutes" in late and refresh not in late
    there = editor.get(queue + "/fusions", params={"apres": newest - 1, "le": now}).text
    assert "va commencer" not in there and refresh not in there
    # Hand-made values: not numbers are refused as this module refuses any (404); one
    # of the two alone gives the plain page.
    for bad in ({"apres": "x", "le": now}, {"apres": newest, "le": "1e9"}, {"apres": "-1"}):
        assert editor.get(queue + "/fusions", params=bad).status_code == 404, bad
    for alone in ({"apres": newest}, {"le": now}):
        page = editor.get(queue + "/fusions", params=alone)
        assert page.status_code == 200, alone
        assert "va commencer" not in page.text and refresh not in page.text, alone


def test_review_and_merge_through_the_api(backend: Backend, tmp_path: Path) -> None:
    from niaouli.accounts import tokens
    from niaouli.accounts.account_tables import User

    w = world(backend, tmp_path)
    sub = submission(backend, w, w.volunteer_ids[0], "Kim")
    with Session(writing(backend.engine)) as session, session.begin():
        ids = contributions(
            session, w, sub, w.volunteer_ids[0], points("a", 2), ContributionState.RECEIVED
        )
        _t, write = tokens.create_token(session, session.get(User, w.editor_id), "revue", "write")
        _t, read = tokens.create_token(session, session.get(User, w.editor_id), "lecture", "read")
        _t, own = tokens.create_token(
            session, session.get(User, w.volunteer_ids[0]), "moi", "write"
        )
    base = "/api/campaigns/cartopartie-releves"
    with _client(backend) as api:
        auth = {"Authorization": f"Bearer {write}"}
        listed = api.get(base + "/review", params={"state": "received"}, headers=auth).json()
        assert listed["total"] == 2 and listed["contributions"][0]["contributor"] == "Kim"
        assert api.get(base + "/review", params={"state": "x"}, headers=auth).status_code == 422
        decision = {"decision": "approve", "contributions": ids}
        assert api.post(base + "/review", json=decision).status_code == 401
        read_only = api.post(
            base + "/review", json=decision, headers={"Authorization": f"Bearer {read}"}
        )
        assert read_only.status_code == 403
        by_volunteer = api.post(
            base + "/review", json=decision, headers={"Authorization": f"Bearer {own}"}
        )
        assert by_volunteer.status_code == 403
        done = api.post(base + "/review", json=decision, headers=auth)
        assert done.status_code == 200, done.text
        assert {d["state"] for d in done.json()["decided"]} == {"approved"}
        started = api.post(base + "/merge", headers=auth)
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 30
        while (
            not (merges := api.get(base + "/merges", headers=auth).json())
            or merges[0]["state"] == "running"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert merges[0]["state"] == "done" and merges[0]["report"]["created"] == 2
        late = api.post(
            base + "/review", json={"decision": "reject", "contributions": ids[:1]}, headers=auth
        )
        assert late.status_code == 409
        assert "/api/campaigns/{slug}/merge" in api.get("/api/openapi.json").json()["paths"]
