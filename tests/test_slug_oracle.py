"""Slugs reveal no hidden dataset or proposal (issue 13, a slug oracle; SECURITY-CASES S23).

Before: an editor of organisation B asking `POST /api/datasets` for the slug of A's
draft got 409 « existe déjà », and a title made `a-org-2`, proving that `a-org` exists.
Now the slugs editors get live in their organisation's namespace (`<org>--<name>`, see
docs/api.md): what an outsider gets for the slug of A's draft or organisation-only
dataset is, name for name, what they get for a slug nobody holds. Reuse proposals
(hidden until moderated) take a random tail instead of a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from niaouli.catalogue import service
from niaouli.catalogue.models import Reuse
from tests.accounts_support import ORG_A, ORG_B, csrf_of, email_of, sign_in, slug_of
from tests.api_support import ApiSite, start_api_site
from tests.conftest import Backend

HIDDEN = (slug_of("draft"), slug_of("organisation"))  # A's datasets an editor of B cannot see
FREE = ("zz-libre", "zz-personne")  # slugs nobody holds
OUTSIDER = "member_b"  # an editor of organisation B


@pytest.fixture
def api_site(backend: Backend, tmp_path: Path) -> Iterator[ApiSite]:
    with start_api_site(backend, tmp_path) as site:
        yield site


def _shape(answer: httpx.Response, name: str) -> tuple[int, str]:
    """The answer with the asked name taken out: what must not depend on who holds it."""
    body = answer.json()
    return answer.status_code, str(body.get("slug", body.get("code"))).replace(name, "<nom>")


def _title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()  # a title whose slug is `slug`


def test_an_outsider_editor_cannot_tell_a_hidden_slug_from_a_free_one(api_site: ApiSite):
    prefix = f"{ORG_B}--"
    with api_site.client(OUTSIDER) as http:
        for name in HIDDEN:  # they really cannot see those
            assert http.get(f"/api/datasets/{name}").status_code == 404

        def create(**fields: str) -> httpx.Response:
            return http.post("/api/datasets", json={"organisation": ORG_B, **fields})

        # A slug asked for: the same answer, the same slug pattern; asked again, a 409
        # for both (in their own namespace: a dataset they do see).
        hidden, free = HIDDEN[1], FREE[1]
        asked = [_shape(create(title="Essai", slug=n), n) for n in (hidden, free)]
        assert asked[0] == asked[1] == (201, prefix + "<nom>")
        again = [_shape(create(title="Essai", slug=n), n) for n in (hidden, free)]
        assert again[0] == again[1] == (409, "Conflict")
        # A title whose slug a hidden dataset holds: never numbered after it.
        hidden, free = HIDDEN[0], FREE[0]
        titled = [_shape(create(title=_title(n)), n) for n in (hidden, free)]
        assert titled[0] == titled[1] == (201, prefix + "<nom>")
        numbered = [_shape(create(title=_title(n)), n) for n in (hidden, free)]
        assert numbered[0] == numbered[1] == (201, prefix + "<nom>-2")

    # A's editor still works in A's namespace, and A's hidden datasets are untouched.
    with api_site.client("editor_a") as http:
        made = http.post("/api/datasets", json={"organisation": ORG_A, "title": "Matrice draft"})
        assert made.status_code == 201 and made.json()["slug"] == f"{ORG_A}--matrice-draft"
        for name in HIDDEN:
            assert http.get(f"/api/datasets/{name}").status_code == 200
    # Platform admins see everything: bare slugs, and a taken one is a plain 409.
    with api_site.client("platform_admin") as http:
        taken = http.post(
            "/api/datasets", json={"organisation": ORG_A, "title": "Jeu pris", "slug": HIDDEN[0]}
        )
        assert taken.status_code == 409
        bare = http.post(
            "/api/datasets",
            json={"organisation": ORG_A, "title": "Jeu nu", "slug": "jeu-nu-de-plateforme"},
        )
        assert bare.status_code == 201 and bare.json()["slug"] == "jeu-nu-de-plateforme"


def test_the_portal_form_allocates_the_same_way(api_site: ApiSite):
    """The data managers' « Nouveau jeu de données » form: a title whose slug is held by
    a hidden dataset of A gives the same address as a title nobody holds."""
    with httpx.Client(base_url=api_site.url, timeout=60) as http:
        assert sign_in(http, email_of(OUTSIDER)).status_code == 303
        token = csrf_of(http.get("/jeux-de-donnees/nouveau").text)
        form = {"organisation": ORG_B, "csrf": token, "licence": "ODbL 1.0"}
        form.update(themes="Transports", keywords="essai", access_level="draft")
        places = []
        for name in (HIDDEN[0], FREE[0]):
            made = http.post("/jeux-de-donnees/nouveau", data={**form, "title": _title(name)})
            assert made.status_code == 303, made.text[:500]
            places.append(made.headers["location"].replace(name, "<nom>"))
        assert places[0] == places[1] == f"/jeux-de-donnees/{ORG_B}--<nom>/envoyer"


def test_namespaces_hold_whatever_the_path(backend: Backend):
    """The rule behind it, for every way in (command line, harvest, import): a slug with
    « -- » belongs to the organisation named before it; organisation slugs have none."""
    with backend.session() as session, session.begin():
        a = service.create_organisation(session, ORG_A, "A", "province")
        service.create_organisation(session, ORG_B, "B", "province")
        with pytest.raises(service.CatalogueError, match="espace de l'organisation"):
            service.create_dataset(session, a, f"{ORG_B}--intrus", "Intrus")
        assert service.create_dataset(session, a, f"{ORG_A}--le-sien", "Le sien").id
        with pytest.raises(service.CatalogueError, match="--"):
            service.create_organisation(session, "double--tiret", "C", "province")


def test_reuse_proposals_do_not_reveal_each_other(api_site: ApiSite):
    """A proposal awaiting moderation is hidden from other users: the slug of a second
    proposal with the same title must not be numbered after it."""
    body = {
        "title": "Carte secrète des points",
        "kind": "application",
        "url": "https://exemple.nc/carte",
        "datasets": [slug_of("public")],
    }
    slugs = []
    for who in ("user", OUTSIDER):
        with api_site.client(who) as http:
            made = http.post("/api/reuses", json=body)
            assert made.status_code == 201, made.text
            slugs.append(made.json()["slug"])
    pattern = re.compile(r"^carte-secrete-des-points-[0-9a-f]{6}$")
    assert all(pattern.match(slug) for slug in slugs), slugs
    with api_site.client(OUTSIDER) as http:  # the first one is indeed hidden from them
        assert http.get(f"/api/reuses/{slugs[0]}").status_code == 404
    with api_site.backend.session() as session:
        assert len(session.scalars(select(Reuse.slug)).all()) == 2
