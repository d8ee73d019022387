"""Training memory by accounting: the bytes of the arrays each trainer holds.

Every trainer reports a :class:`Memory` with four parts, counted at the
trainer's peak (the phase that holds the most):

- ``parameters``: the model being trained and the copy of the best epoch's
  model (float32 weights; for QAT also the ternary codes and the scaled float
  copies of the forward pass; for CoNNTrA the C trainer's int8 weights, their
  transposed copy and the int32 biases, and the copies read back per round);
- ``optimizer``: Adam's two moments and one set of gradients, or CoNNTrA's
  ranking state (the float copies of the batch's activations, the gradient
  matrices and the per-weight estimates of the surrogate ranking);
- ``activations``: what the forward and backward pass of one batch hold
  (float trainers), or the C trainer's per-batch caches (int32
  pre-activations, int8 activations, their spare copies for shift checks,
  the softmax caches and the scratch of the incremental checks); an
  evaluation pass over the data in chunks is counted too when it is larger;
- ``data``: the training and validation data as the trainer holds it (int8
  codes, their float32 copy for the float trainers, int64 labels) and the
  batch copies (for CoNNTrA with the C trainer's lists of the samples where
  each input is nonzero, a bit per sample and input).

The counts come from the objects themselves (``Adam.memory``,
``CTrainer.memory``, which asks the C trainer and its ranking state for
their own byte counts), not from a table here, so a change of a trainer's
state shows up in the numbers. The tests check the totals against tracemalloc
and malloc measurements with a tolerance (temporaries of numpy expressions and
allocator overhead are not counted here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARTS = ("parameters", "optimizer", "activations", "data")
FLOAT32 = 4
EVAL_CHUNK = 4096  # samples per evaluation call of the float baselines


@dataclass(frozen=True)
class Memory:
    parameters: int = 0
    optimizer: int = 0
    activations: int = 0
    data: int = 0
    phase: str = ""

    @property
    def total(self) -> int:
        return self.parameters + self.optimizer + self.activations + self.data

    def __add__(self, other: Memory) -> Memory:
        return Memory(
            parameters=self.parameters + other.parameters,
            optimizer=self.optimizer + other.optimizer,
            activations=self.activations + other.activations,
            data=self.data + other.data,
            phase=self.phase or other.phase,
        )

    def as_dict(self) -> dict:
        return {
            **{p: int(getattr(self, p)) for p in PARTS},
            "total": self.total,
            "phase": self.phase,
        }


def nbytes(*items) -> int:
    """Bytes of the numpy arrays in ``items`` (nested lists and tuples allowed)."""
    total = 0
    for item in items:
        if isinstance(item, np.ndarray):
            total += item.nbytes
        elif isinstance(item, (list, tuple)):
            total += nbytes(*item)
    return total


def peak(*phases: Memory) -> Memory:
    """The phase with the largest total (the phases do not overlap in time)."""
    return max(phases, key=lambda m: m.total)


def layer_params(sizes) -> tuple[int, int]:
    """(weights, biases) counts of a dense network of layer ``sizes``."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return sum(a * b for a, b in pairs), sum(b for _, b in pairs)


def float_batch_activations(sizes, batch: int) -> int:
    """One float32 forward and backward pass of ``batch`` samples
    (``floatnet.grads``): the batch's inputs, each hidden activation and the
    logits kept for the backward pass, the softmax output and one gradient
    row per layer output travelling back."""
    kept = sum(sizes[:-1]) + sizes[-1]  # inputs, hidden activations, logits
    back = sizes[-1] + max(sizes[1:])  # softmax / its gradient, the widest hidden gradient
    return FLOAT32 * batch * (kept + back)


def float_eval_activations(sizes, n: int) -> int:
    """A float32 evaluation pass over ``n`` samples in chunks of EVAL_CHUNK:
    the chunk's float inputs, the widest layer output and its ReLU copy."""
    chunk = min(n, EVAL_CHUNK)
    return FLOAT32 * chunk * (sizes[0] + 2 * max(sizes[1:]))


def code_data(n_train: int, n_val: int, n_features: int) -> int:
    """int8 codes and int64 labels of both parts."""
    return (n_train + n_val) * (n_features + 8)


def float_data(n_train: int, n_val: int, n_features: int) -> int:
    """int8 codes and int64 labels of both parts, and the float32 copy of the
    training part the float trainers read."""
    return code_data(n_train, n_val, n_features) + FLOAT32 * n_train * n_features


def batch_data(batch: int, n_features: int) -> int:
    """The gathered copy of one batch (float32 inputs, int64 labels)."""
    return batch * (FLOAT32 * n_features + 8)


def to_integer_activations(sizes, fit_n: int) -> int:
    """``floatnet.to_integer`` (QAT's evaluation and the end of the hybrid
    init): an int64 copy of the fit samples' codes and the int64
    accumulators of the widest layer, to place each hidden shift."""
    return 8 * fit_n * (sizes[0] + 2 * max(sizes[1:]))
