"""What a harvest job did (or, in a dry run, would do): one line per remote record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from niaouli.ingest.harvest.harvest_tables import ItemAction, JobStatus


@dataclass
class ItemReport:
    remote_id: str
    action: ItemAction
    reason: str = ""
    diff: dict[str, Any] = field(default_factory=dict)
    target: str | None = None


@dataclass
class JobReport:
    source: str
    dry_run: bool
    status: JobStatus = JobStatus.RUNNING
    message: str = ""
    items: list[ItemReport] = field(default_factory=list)
    job_id: int | None = None
    # The interrupted job this run resumed, and how many records it had read by then.
    resumed_from: int | None = None
    resumed_at: int = 0
    # How many of `items` are stored already (each batch stores its own).
    saved: int = 0

    def count(self, action: ItemAction) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {a.value: self.count(a) for a in ItemAction}

    def summary(self) -> str:
        """One French line: status and counts."""
        labels = {
            JobStatus.SUCCESS: "réussie",
            JobStatus.PARTIAL: "partielle",
            JobStatus.FAILED: "en échec",
            JobStatus.RUNNING: "en cours",
        }
        c = self.counts
        prefix = "simulation" if self.dry_run else "moisson"
        text = (
            f"{prefix} {labels[self.status]} ({self.source}) : {c['created']} créé(s), "
            f"{c['updated']} mis à jour, {c['unchanged']} inchangé(s), "
            f"{c['deleted']} supprimé(s), {c['failed']} en échec"
        )
        return f"{text} — {self.message}" if self.message else text


ProgressHook = Callable[[ItemReport, int | None], None]
