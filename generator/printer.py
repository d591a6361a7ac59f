# SPDX-License-Identifier: GPL-2.0
"""Progress output for long stages: human lines with elapsed time, or JSON lines."""

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Printer:
    """mode: "human" (default), "quiet" (only what print_result gets) or "json"."""

    mode: str = "human"
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)

    def event(self, stage: str, message: str, **fields: object) -> None:
        elapsed = time.monotonic() - self.started
        if self.mode == "json":
            record = {"t": round(elapsed, 1), "stage": stage, "message": message, **fields}
            print(json.dumps(record, default=str), file=self.stream, flush=True)
        elif self.mode == "human":
            print(f"[{elapsed:6.0f}s] {stage:<9} {message}", file=self.stream, flush=True)

    def ticker(self, stage: str, label: str, every: float = 15.0) -> Callable[[float, str], None]:
        """A (seconds, line) callback for build/boot that reports every EVERY s."""
        last = [0.0]

        def _tick(seconds: float, line: str) -> None:
            if seconds - last[0] >= every:
                last[0] = seconds
                self.event(stage, f"{label}: {seconds:.0f} s  {line.strip()[:60]}")

        return _tick

    def result(self, text: str) -> None:
        if self.mode != "json":
            print(text, file=self.stream, flush=True)
