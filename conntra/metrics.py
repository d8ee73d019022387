"""The one error-rate definition every trainer, command and report uses."""

from __future__ import annotations

import numpy as np


def error_rate(predicted, labels) -> float:
    """Fraction of samples whose predicted class differs from the label; NaN
    for an empty set (an empty validation split has no error rate)."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if labels.size == 0:
        return float("nan")
    return float(np.mean(predicted != labels))
