"""Progress on stderr for the command line: a conntra.events.Observer on tqdm.

On a terminal every phase (loading data, the hybrid initialisation, each
epoch) is a tqdm bar with its ETA and throughput, and each epoch's errors
are printed above the bars as the epoch ends. When stderr is not a terminal
(a log file, CI), bars would be a stream of redraws, so each phase prints one
line when it ends instead, merged with the epoch's errors: one line per epoch.
"""

from __future__ import annotations

import math
import sys
import time

from tqdm import tqdm

from conntra.events import Observer


def percent(value) -> str:
    """An error rate for people: "2.56 %", or "n/a" for a missing split."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.2f} %"


def epoch_line(record: dict) -> str:
    line = (
        f"epoch {record['epoch']}/{record['epochs']}: training error "
        f"{percent(record.get('train_error'))}, validation error "
        f"{percent(record.get('val_error'))}"
    )
    if record.get("improved"):
        line += " (best so far)"
    if record.get("seconds") is not None:
        line += f", {record['seconds']:.1f} s"
    return line


def early_stop_line(epoch: int, best_epoch: int, patience: int) -> str:
    return (
        f"stopped early after epoch {epoch}: the validation error has not improved for "
        f"{patience} epochs; keeping the model of epoch {best_epoch}"
    )


class TqdmObserver(Observer):
    """Shows a job's phases and epochs on ``stream`` (stderr by default).

    ``label`` prefixes every line (``"mnist conntra "`` in compare);
    ``enabled=False`` shows nothing (``--quiet``); ``early_stop`` holds what
    ``stopped_early`` said, for the command's JSON output.
    """

    def __init__(self, label: str = "", stream=None, enabled: bool = True, tty=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.bar = None
        self.phase = None  # (name, total, unit, start time, done, info)
        self.pending = None  # a finished epoch phase's line, waiting for its errors
        self.early_stop = None

    # ---------------------------------------------------------------- output
    def _write(self, line: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(self.label + line, file=self.stream)
        else:
            self.stream.write(self.label + line + "\n")
        self.stream.flush()

    def _flush_pending(self) -> None:
        if self.pending is not None:
            line, self.pending = self.pending, None
            self._write(line)

    # ---------------------------------------------------------------- events
    def phase_start(self, name: str, total: int | None = None, unit: str = "it") -> None:
        self.phase_end()
        self._flush_pending()
        self.phase = {
            "name": name,
            "total": total,
            "unit": unit,
            "t0": time.perf_counter(),
            "done": 0,
            "info": {},
        }
        if self.enabled and self.tty:
            self.bar = tqdm(
                total=total,
                desc=f"{self.label}{name}",
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
                unit_scale=unit == "B",
                mininterval=0.2,
            )

    def phase_advance(self, n: int = 1, **info: float) -> None:
        if self.phase is None:
            self.phase_start("working")
        self.phase["done"] += n
        shown = {k: v for k, v in info.items() if not (isinstance(v, float) and math.isnan(v))}
        self.phase["info"].update(shown)
        if self.bar is not None:
            if shown:
                self.bar.set_postfix(
                    {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in shown.items()},
                    refresh=False,
                )
            self.bar.update(n)

    def phase_end(self) -> None:
        if self.phase is None:
            return
        phase, self.phase = self.phase, None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if not self.enabled or self.tty:
            return
        seconds = time.perf_counter() - phase["t0"]
        if phase["done"] or phase["total"]:
            line = f"{phase['name']}: {phase['done']}"
            if phase["total"]:
                line += f"/{phase['total']}"
            line += f" {phase['unit']} in {seconds:.1f} s"
        else:  # a phase that only said when it started and ended
            line = f"{phase['name']}: {seconds:.1f} s"
        if seconds > 0 and phase["done"]:
            line += f" ({phase['done'] / seconds:,.1f} {phase['unit']}/s)"
        for key, value in phase["info"].items():
            line += f", {key} {value:.4g}" if isinstance(value, float) else f", {key} {value}"
        if phase["name"].startswith("epoch "):
            self.pending = line  # epoch_end adds the errors to it: one line per epoch
        else:
            self._write(line)

    def epoch_end(self, record: dict) -> None:
        if self.phase is not None and self.phase["name"].startswith("epoch "):
            self.phase_end()
        line = epoch_line(record)
        if self.pending is not None:
            # "epoch 3/16: 421/421 batch in 9.8 s (43 batch/s), loss 0.31" + errors
            head, _, rest = self.pending.partition(": ")
            line = f"{line}; {rest}"
            self.pending = None
        self._write(line)

    def stopped_early(self, epoch: int, best_epoch: int, patience: int) -> None:
        self.early_stop = {"epoch": epoch, "best_epoch": best_epoch, "patience": patience}
        self.phase_end()
        self._flush_pending()
        self._write(early_stop_line(epoch, best_epoch, patience))

    def close(self) -> None:
        self.phase_end()
        self._flush_pending()
