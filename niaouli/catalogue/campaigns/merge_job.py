"""The campaign merge job's registration, apart from `merge` itself.

`merge` brings geometry and layer SQL (shapely, pyarrow, the PostgreSQL driver): every
process registers the job at start-up (`niaouli.startup`), few ever merge, so the job's
functions import it when a merge runs.
"""

from __future__ import annotations

from typing import Any

MERGE_JOB = "campaign-merge"


def run(info: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - the job registry's signature
    from niaouli.catalogue.campaigns.merge import merge_job

    return merge_job(info, **kwargs)


def interrupted(info: Any, **kwargs: Any) -> None:  # noqa: ANN401
    from niaouli.catalogue.campaigns.merge import resolve_interrupted_merge

    resolve_interrupted_merge(info, **kwargs)


def install() -> None:
    """Register the merge job (the composition root calls it at start-up)."""
    from niaouli.jobs.registry import JobDef, register

    register(JobDef(MERGE_JOB, run, queue="default", interrupted=interrupted))
