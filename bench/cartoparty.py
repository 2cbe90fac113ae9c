"""Cartoparty merges and the review queue at scale, on PostGIS (issue 18).

    .venv/bin/python bench/cartoparty.py [--dsn postgresql://...] [--big 1000000]

Two layers of generated points are ingested with the real ingestion (10,000 and, by
default, 1,000,000 features, cached as GeoPackages under bench/out/); into each, a
campaign merges 1,000 then 10,000 approved contributions with the real merge
(`niaouli.catalogue.campaigns.merge.run_merge`: one transaction, statements by fid).
Printed: features merged per second for each, and for each submission size the ratio
of the two layer sizes' times (goal ≤ 1.5: the cost follows the submission, not the
layer). Then 100,000 pending contributions are staged in another campaign and the
review queue's first page, a filtered page and a deep page are timed, through the core
(`review.queue`) and through the portal page with a signed-in editor (goal < 1 s; ODK
Central takes 17–27 s at that scale).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdata import OUT, input_file, recreate_database  # noqa: E402
from geoalchemy2 import WKTElement  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from niaouli import startup  # noqa: E402
from niaouli.accounts import users  # noqa: E402
from niaouli.catalogue import service  # noqa: E402
from niaouli.catalogue.access import Viewer  # noqa: E402
from niaouli.catalogue.campaigns import merge, review  # noqa: E402
from niaouli.catalogue.campaigns.campaign_tables import (  # noqa: E402
    Campaign,
    CampaignState,
    Contribution,
    ContributionState,
    Submission,
)
from niaouli.catalogue.models import Dataset  # noqa: E402
from niaouli.db import schema  # noqa: E402
from niaouli.db.engine import make_engine  # noqa: E402
from niaouli.ingest import ingest_file  # noqa: E402
from niaouli.settings import Settings  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_cartoparty"
ORG = "bench-org"
PASSWORD = "un mot de passe de banc d'essai"
SUBMISSIONS = (1_000, 10_000)
QUEUE_SIZE = 100_000
RUNS = 5


def _settings(dsn: str) -> Settings:
    data = OUT / "cartoparty-data"
    data.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data, database_url=dsn, spatialite_library="mod_spatialite")


def _people(engine) -> tuple[int, int, int]:  # noqa: ANN001
    with Session(engine) as session, session.begin():
        org = service.create_organisation(session, ORG, "Banc d'essai", "government")
        editor = users.create_user(session, "editeur@bench.nc", "Éditrice", PASSWORD)
        users.set_membership(session, org, editor, "editor")
        volunteer = users.create_user(session, "benevole@bench.nc", "Bénévole", PASSWORD)
        return org.id, editor.id, volunteer.id


def _campaign(engine, dataset_slug: str, slug: str, editor_id: int) -> int:  # noqa: ANN001
    with Session(engine) as session, session.begin():
        dataset = session.scalar(select(Dataset).where(Dataset.slug == dataset_slug))
        campaign = Campaign(
            slug=slug,
            title=slug,
            organisation_id=dataset.organisation_id,
            dataset_id=dataset.id,
            layer_name=dataset.layers[0].name,
            geometry_type="Point",
            attribute_schema=[
                {"name": "code", "type": "integer"},
                {"name": "lieu", "type": "string"},
            ],
            state=CampaignState.OPEN,
            collection_id=f"{slug}-contributions",
            created_by_id=editor_id,
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def _stage(engine, campaign_id: int, volunteer_id: int, count: int, state, tag: str) -> None:  # noqa: ANN001
    """`count` contributions of one submission, inserted 5,000 at a time."""
    with Session(engine) as session, session.begin():
        sub = Submission(
            campaign_id=campaign_id,
            contributor_id=volunteer_id,
            display_name="Bénévole",
            source="file",
        )
        session.add(sub)
        session.flush()
        for start in range(0, count, 5000):
            rows = [
                {
                    "campaign_id": campaign_id,
                    "uid": f"{tag}-{i}",
                    "submission_id": sub.id,
                    "contributor_id": volunteer_id,
                    "geom": WKTElement(
                        f"POINT({164 + (i % 1000) / 400} {-22.5 + (i // 1000) / 400})", srid=4326
                    ),
                    "properties": {"code": i, "lieu": f"Relevé {i}"},
                    "state": state,
                    "problems": [],
                }
                for i in range(start, min(count, start + 5000))
            ]
            session.execute(insert(Contribution), rows)


def bench_merges(
    engine,  # noqa: ANN001
    settings: Settings,
    sizes: list[int],
    editor_id: int,
    volunteer_id: int,
) -> None:
    """Both layers are ingested first and vacuumed (a fresh 1M-row COPY leaves autovacuum
    and hint-bit writes behind, which would be timed otherwise); then the runs alternate
    between the two layers so that the machine's own noise falls on both alike."""
    campaigns: dict[int, int] = {}
    for size in sizes:
        report = ingest_file(
            input_file(size),
            organisation=ORG,
            dataset=f"bench-{size}",
            settings=settings,
            engine=engine,
            progress="none",
        )
        assert report.layers[0].feature_count == size
        campaigns[size] = _campaign(engine, f"bench-{size}", f"merge-{size}", editor_id)
        # A first small merge adds the provenance columns and warms the process up.
        _stage(engine, campaigns[size], volunteer_id, 10, ContributionState.APPROVED, f"{size}-w")
        merge.run_merge(engine, campaigns[size], started_by_id=editor_id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    timings: dict[tuple[int, int], list[float]] = {}
    for submitted in SUBMISSIONS:
        for run in range(RUNS):
            for size in sizes:
                _stage(
                    engine,
                    campaigns[size],
                    volunteer_id,
                    submitted,
                    ContributionState.APPROVED,
                    f"{size}-{submitted}-{run}",
                )
                started = time.perf_counter()
                outcome = merge.run_merge(engine, campaigns[size], started_by_id=editor_id)
                timings.setdefault((size, submitted), []).append(time.perf_counter() - started)
                assert outcome.created == submitted, outcome
        for size in sizes:
            elapsed = statistics.median(timings[(size, submitted)])
            print(
                f"couche de {size:>9,} entités, fusion de {submitted:>6,} : "
                f"{elapsed:6.2f} s (médiane de {RUNS}), {submitted / elapsed:8,.0f} entités/s",
                flush=True,
            )
    small, big = sizes[0], sizes[-1]
    for submitted in SUBMISSIONS:
        ratio = statistics.median(timings[(big, submitted)]) / statistics.median(
            timings[(small, submitted)]
        )
        verdict = "ok" if ratio <= 1.5 else "AU-DESSUS DE L'OBJECTIF"
        print(
            f"rapport {big:,} / {small:,} entités à {submitted:,} contributions : "
            f"{ratio:.2f} (objectif ≤ 1,5 : {verdict})",
            flush=True,
        )


def bench_queue(engine, settings: Settings, org_id: int, editor_id: int, volunteer_id: int) -> None:  # noqa: ANN001
    campaign_id = _campaign(engine, "bench-10000", "revue-100k", editor_id)
    print(f"{QUEUE_SIZE:,} contributions en attente...", flush=True)
    _stage(engine, campaign_id, volunteer_id, QUEUE_SIZE, ContributionState.RECEIVED, "q")
    # As autovacuum leaves it: the visibility map lets the counts read the index only.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE campaign_contributions")
    editor = Viewer(user_id=editor_id, member_of={org_id: "editor"})
    cases = {
        "1re page": ({}, 1),
        "page 1000": ({}, 1000),
        "filtre état + contributeur": ({"state": "received", "contributor_id": volunteer_id}, 1),
        "filtre problème (aucun trouvé)": ({"problem": "duplicate"}, 1),
    }
    for label, (filters, page) in cases.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            with Session(engine) as session:
                campaign = session.get(Campaign, campaign_id)
                result = review.queue(session, campaign, editor, review.Filters(**filters), page)
            times.append(time.perf_counter() - started)
        print(
            f"file de relecture ({QUEUE_SIZE:,} en attente), {label} : "
            f"{statistics.median(times) * 1000:7.1f} ms (médiane de 5 ; {result.total:,} trouvées)",
            flush=True,
        )
    _page_timing(settings, editor_id)


def _page_timing(settings: Settings, editor_id: int) -> None:
    """The portal page itself, signed in, through the ASGI app (no network)."""
    try:
        from starlette.testclient import TestClient

        from niaouli.web import create_app
    except ImportError:
        return
    import re

    with TestClient(create_app(settings)) as client:
        page = client.get("/connexion")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        client.post(
            "/connexion",
            data={
                "email": "editeur@bench.nc",
                "password": PASSWORD,
                "csrf": token.group(1) if token else "",
            },
        )
        times = []
        for _ in range(5):
            started = time.perf_counter()
            response = client.get("/campagnes/revue-100k/revue")
            times.append(time.perf_counter() - started)
        if response.status_code != 200:
            print(f"page de relecture : HTTP {response.status_code}", flush=True)
            return
        print(
            f"page /campagnes/revue-100k/revue ({QUEUE_SIZE:,} en attente) : "
            f"{statistics.median(times) * 1000:7.1f} ms (médiane de 5, objectif < 1 s)",
            flush=True,
        )
    del editor_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--big", type=int, default=1_000_000, help="the big layer's size")
    args = parser.parse_args()
    startup.install()
    recreate_database(args.dsn)
    settings = _settings(args.dsn)
    engine = make_engine(settings)
    schema.upgrade(engine)
    org_id, editor_id, volunteer_id = _people(engine)
    bench_merges(engine, settings, [10_000, args.big], editor_id, volunteer_id)
    bench_queue(engine, settings, org_id, editor_id, volunteer_id)


if __name__ == "__main__":
    main()
