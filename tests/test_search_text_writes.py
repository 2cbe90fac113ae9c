"""The search text's hook does not rewrite a dataset inserted with its text already right.

`service.create_dataset` computes `search_text` at the insertion; the hook (batched, as a
harvest does, or per flush) rewrites only the rows whose stored text differs, or that
existed before the writes it is notified of (their `updated_at` still moves, as before).
"""

from __future__ import annotations

from sqlalchemy import event, select

from niaouli.catalogue import changes, service
from niaouli.catalogue.models import Dataset, Organisation, Resource, ResourceKind
from niaouli.catalogue.search.text import search_text
from tests.conftest import Backend

UPDATE = "UPDATE datasets SET search_text"


def _rewrites(engine):  # noqa: ANN001, ANN202 - a test helper
    """The number of rows each `UPDATE datasets SET search_text` statement wrote."""
    counts: list[int] = []

    def seen(_conn, _cursor, statement, parameters, _context, executemany) -> None:  # noqa: ANN001
        if statement.startswith(UPDATE):
            counts.append(len(parameters) if executemany else 1)

    event.listen(engine, "before_cursor_execute", seen)
    return counts, lambda: event.remove(engine, "before_cursor_execute", seen)


def _stored_equal_recomputed(session) -> None:  # noqa: ANN001
    d, o = Dataset.__table__, Organisation.__table__
    rows = session.execute(
        select(d.c.slug, d.c.title, d.c.description, d.c.themes, d.c.keywords, o.c.name)
        .add_columns(d.c.search_text)
        .join(o, o.c.id == d.c.organisation_id)
    ).all()
    assert rows
    for row in rows:
        assert row.search_text == search_text(*row[1:6]), row.slug


def test_inserted_datasets_are_not_rewritten_unless_their_text_changed(
    backend: Backend, org: str
) -> None:
    counts, stop = _rewrites(backend.engine)
    try:
        with backend.session() as session, session.begin(), changes.batched(session):
            owner = service.get_organisation(session, org)
            for slug in ("ecoles", "routes"):
                service.create_dataset(
                    session, owner, slug, f"Les {slug}", flush=False, keywords=["Koné"]
                )
            changed = service.create_dataset(session, owner, "eaux", "Eaux", flush=False)
            changed.keywords = ["Hienghène"]  # after its text was computed, before the flush
            renamed = service.create_dataset(session, owner, "sols", "Sols", flush=False)
            session.flush()
            renamed.title = "Sols de Poya"  # after its insertion, in the same batch
            session.flush()
            changes.notify_batch(session)
        assert sum(counts) == 2  # "eaux" and "sols"; 4 without the check
        with backend.session() as session:
            _stored_equal_recomputed(session)
            found = {d.slug: d.search_text for d in session.scalars(select(Dataset))}
            assert " hienghene " in found["eaux"]
            assert " poya " in found["sols"]

        # An existing dataset touched through a resource is still rewritten (per flush).
        counts.clear()
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "ecoles")
            before = dataset.updated_at
            dataset.resources.append(
                Resource(title="Plan", kind=ResourceKind.LINK, url="https://example.nc/plan")
            )
            session.flush()
            session.refresh(dataset)
            assert dataset.updated_at > before
        assert sum(counts) == 1
        with backend.session() as session:
            _stored_equal_recomputed(session)
    finally:
        stop()
