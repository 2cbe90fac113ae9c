"""Benchmark: precision and recall of the personal-data guard, per kind, on columns.

Why: the guard blocks publication; too many false alarms and editors confirm everything
by habit, too few and personal data goes public (docs/privacy.md).

How: the labelled test set `bench/data/privacy-testset.json` (made by
`bench/privacy_testset.py`, seed 21: New Caledonian people's data and look-alikes) is run
through `niaouli.privacy.scan.classify_table`, the very function the guard calls on a
layer's sample. A column counts once, under the kind the guard reports (or none). Per
kind: precision = right / reported, recall = right / labelled. Free-text names are found
by spaCy's French model when installed (`niaouli[privacy]`), else by the first-name
list: `--no-spacy` measures the fallback on a machine that has the model.

`--hostile DSN` times instead the scan of a PostGIS layer of 10 million distinct values
(`--rows`) with one value of 100 MB: the sample is bounded, so the time is that of a
small table.

Run: `.venv/bin/python bench/privacy.py [--no-spacy] [--errors]`
     `.venv/bin/python bench/privacy.py --hostile postgresql://postgres@127.0.0.1/niaouli_bench`
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from niaouli.privacy import names, scan

TESTSET = Path(__file__).resolve().parent / "data" / "privacy-testset.json"


def run(tables: list[dict], show_errors: bool) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for table in tables:
        columns = [scan.Column(c["header"], list(c["values"])) for c in table["columns"]]
        found = {f.column: f.kind for f in scan.classify_table(columns, table["name"])}
        for c in table["columns"]:
            label, got = c["label"], found.get(c["header"], "none")
            for kind in {label, got} - {"none"}:
                counts.setdefault(kind, Counter())
            if label == got:
                if label != "none":
                    counts[label]["tp"] += 1
            else:
                if got != "none":
                    counts[got]["fp"] += 1
                if label != "none":
                    counts[label]["fn"] += 1
                if show_errors:
                    print(
                        f"  {table['name']}: {c['header']!r} labelled {label}, got {got}"
                        f" — {c['values'][:2]}"
                    )
    return counts


def hostile(dsn: str, rows: int) -> None:
    """A table of `rows` distinct values and a 100 MB value, scanned like a layer."""
    import resource

    from sqlalchemy import create_engine

    class Layer:
        collection_id = "hostile"
        table_name = "privacy_bench"
        attribute_schema = [{"name": "valeur", "column": "valeur", "type": "string"}]

    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS layers")
        conn.exec_driver_sql("DROP TABLE IF EXISTS layers.privacy_bench")
        started = time.perf_counter()
        conn.exec_driver_sql(
            "CREATE TABLE layers.privacy_bench AS SELECT g::bigint AS fid, md5(g::text) AS valeur"
            f" FROM generate_series(1, {int(rows)}) g"
        )
        conn.exec_driver_sql("ALTER TABLE layers.privacy_bench ADD PRIMARY KEY (fid)")
        conn.exec_driver_sql(
            "UPDATE layers.privacy_bench SET valeur = repeat('x', 100000000) WHERE fid = 1"
        )
        conn.exec_driver_sql("ANALYZE layers.privacy_bench")  # as the ingestion does
        print(f"{rows:,} rows and a 100 MB value written in {time.perf_counter() - started:.1f} s")
    try:
        with engine.connect() as conn:
            started = time.perf_counter()
            found = scan.scan_layer(conn, Layer())
            seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"scan: {seconds:.3f} s, {len(found)} finding(s), peak memory {peak:.0f} MB")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS layers.privacy_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-spacy", action="store_true", help="measure the fallback")
    parser.add_argument("--errors", action="store_true", help="list the misclassified columns")
    parser.add_argument("--hostile", metavar="DSN", help="time the scan of a huge layer")
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    if args.hostile:
        hostile(args.hostile, args.rows)
        return
    if args.no_spacy:
        names.MODEL_ENABLED = False
    document = json.loads(TESTSET.read_text("utf-8"))
    started = time.perf_counter()
    counts = run(document["tables"], args.errors)
    seconds = time.perf_counter() - started
    n = sum(len(t["columns"]) for t in document["tables"])
    print(
        f"test set: {len(document['tables'])} tables, {n} columns (seed {document['seed']});"
        f" names in free text: {names.method()}; {seconds:.2f} s"
    )
    print(f"{'kind':<12}{'labelled':>9}{'reported':>9}{'precision':>11}{'recall':>8}")
    total = Counter()
    for kind in scan.KINDS:
        c = counts.get(kind, Counter())
        total.update(c)
        labelled, reported = c["tp"] + c["fn"], c["tp"] + c["fp"]
        precision = c["tp"] / reported if reported else float("nan")
        recall = c["tp"] / labelled if labelled else float("nan")
        print(f"{kind:<12}{labelled:>9}{reported:>9}{precision:>11.3f}{recall:>8.3f}")
    labelled, reported = total["tp"] + total["fn"], total["tp"] + total["fp"]
    print(
        f"{'all kinds':<12}{labelled:>9}{reported:>9}"
        f"{total['tp'] / reported:>11.3f}{total['tp'] / labelled:>8.3f}"
    )


if __name__ == "__main__":
    main()
