"""A small progress bar on stderr (no dependency): one line, redrawn with \\r
when stderr is a terminal, otherwise one line per epoch end."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, epochs: int, label: str = "", stream=None, enabled: bool = True):
        self.epochs = epochs
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()

    def __call__(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        if not self.enabled:
            return
        done = (epoch + batch / max(1, n_batches)) / max(1, self.epochs)
        width = 24
        fill = int(round(width * min(1.0, done)))
        bar = "#" * fill + "." * (width - fill)
        loss_text = "" if loss != loss else f" loss {loss:.4f}"  # NaN: no loss to show
        text = (f"{self.label}[{bar}] epoch {epoch + 1}/{self.epochs} "
                f"batch {batch}/{n_batches}{loss_text} {time.perf_counter() - self.t0:.0f}s")
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif batch == n_batches:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
