"""Progress of long work: a bar on a terminal, plain lines in logs, or a callback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

ProgressCallback = Callable[[int, int | None, str], None]


class Progress:
    """Counts features; `mode` is auto (bar on a TTY, lines otherwise), bar, lines or none."""

    def __init__(
        self,
        total: int | None,
        label: str,
        *,
        mode: str = "auto",
        callback: ProgressCallback | None = None,
        stream: TextIO | None = None,
        interval: float = 1.0,
        unit: str = "entités",
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.callback = callback
        self.stream = stream or sys.stderr
        self.interval = interval
        self.unit = unit
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode
        self._last = 0.0
        self._bar = (
            tqdm(
                total=total,
                desc=label,
                unit=f" {unit}",
                unit_scale=True,
                file=self.stream,
                leave=False,
            )
            if mode == "bar"
            else None
        )

    def advance(self, count: int) -> None:
        self.done += count
        if self.callback:
            self.callback(self.done, self.total, self.label)
        if self._bar is not None:
            self._bar.update(count)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                total = f"/{self.total}" if self.total else ""
                print(
                    f"progression {self.label} : {self.done}{total} {self.unit}",
                    file=self.stream,
                    flush=True,
                )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
