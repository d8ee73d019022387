"""What a long-running job tells its caller while it works.

Trainers and data loaders call these methods; the command line implements
them with progress bars, a library user may subclass to log or stop, and the
defaults do nothing, so passing no observer costs nothing. Phases do not
nest: a new ``phase_start`` ends the previous phase.
"""

from __future__ import annotations


class Observer:
    """Receives a job's events; every method here is a no-op."""

    def phase_start(self, name: str, total: int | None = None, unit: str = "it") -> None:
        """A phase begins: ``name`` for people ("hybrid init", "epoch 3/50"),
        ``total`` units of work (None when unknown), counted in ``unit``."""

    def phase_advance(self, n: int = 1, **info: float) -> None:
        """``n`` more units of the current phase are done; ``info`` holds
        figures worth showing beside the bar (``loss=0.31``)."""

    def phase_end(self) -> None:
        """The current phase is over."""

    def epoch_end(self, record: dict) -> None:
        """An epoch ended. ``record`` holds at least ``epoch`` (1-based),
        ``epochs`` (the maximum), ``train_error``, ``val_error`` (fractions;
        NaN when there is no such split), ``improved`` (bool) and ``seconds``."""

    def stopped_early(self, epoch: int, best_epoch: int, patience: int) -> None:
        """Training stopped after ``epoch`` because the validation error did
        not improve for ``patience`` epochs; the model of ``best_epoch`` is kept."""


NULL = Observer()
