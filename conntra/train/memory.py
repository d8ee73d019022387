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


# -- architectures (conv2d, maxpool2d, flatten, dense; conntra.arch) ---------------


def _chain(layers, input_shape):
    """(layer, input shape, output shape) along the template."""
    shape = tuple(input_shape)
    for layer in layers:
        out = layer.out_shape(shape)
        yield layer, shape, out
        shape = out


def _elements(shape) -> int:
    return int(np.prod(shape))


def _conv_rows(layer, in_shape, out_shape) -> int:
    """Floats per sample of what a float conv keeps for its backward pass:
    the im2col rows (groups 1: KH * KW * C_in per output pixel) or the
    padded input (depthwise)."""
    kh, kw = layer.kernel
    if layer.groups == 1:
        return out_shape[0] * out_shape[1] * kh * kw * in_shape[2]
    top, bottom, left, right = layer.padding
    return (in_shape[0] + top + bottom) * (in_shape[1] + left + right) * in_shape[2]


def conv_batch_activations(layers, input_shape, batch: int) -> int:
    """One float32 forward and backward pass of ``batch`` samples through an
    architecture (``floatnet.grads`` on a ``floatconv.Net``): each conv's
    saved im2col rows (or padded input), each layer's output with its
    pre-activation and straight-through mask (one byte), each pool's winning
    taps (int32); then the backward pass's largest conv gradient (its rows
    and its padded input gradient) and the widest gradient travelling back."""
    kept = back = widest = 0
    for layer, in_shape, out_shape in _chain(layers, input_shape):
        n_out = _elements(out_shape)
        widest = max(widest, n_out, _elements(in_shape))
        if layer.kind == "conv2d":
            rows = _conv_rows(layer, in_shape, out_shape)
            top, bottom, left, right = layer.padding
            padded = (in_shape[0] + top + bottom) * (in_shape[1] + left + right) * in_shape[2]
            kept += FLOAT32 * (rows + 2 * n_out) + n_out
            back = max(back, FLOAT32 * (rows + padded))
        elif layer.kind == "maxpool2d":
            kept += 2 * FLOAT32 * n_out
        elif layer.kind != "flatten":  # dense
            kept += FLOAT32 * 2 * n_out + n_out
    return batch * (kept + back + FLOAT32 * widest)


def conv_eval_activations(layers, input_shape, n: int) -> int:
    """A float32 evaluation pass over ``n`` samples through a float model with
    conv layers (``FloatModel`` runs FLOAT_CONV_CHUNK samples at a time): the
    chunk's float inputs, and the largest layer's im2col rows and output with
    its ReLU copy."""
    from conntra.model import FLOAT_CONV_CHUNK

    chunk = min(n, FLOAT_CONV_CHUNK)
    largest = 0
    for layer, in_shape, out_shape in _chain(layers, input_shape):
        rows = _conv_rows(layer, in_shape, out_shape) if layer.kind == "conv2d" else 0
        largest = max(largest, rows + 2 * _elements(out_shape))
    return FLOAT32 * chunk * (_elements(input_shape) + largest)


def conv_to_integer_activations(layers, input_shape, fit_n: int) -> int:
    """``floatnet.to_integer`` on an architecture: the numpy reference's pass
    over the fit samples to place each hidden shift (a float64 padded input
    and accumulator and the int64 pre-activations of the widest layer)."""
    widest_in = widest_out = 0
    for _, in_shape, out_shape in _chain(layers, input_shape):
        widest_in = max(widest_in, _elements(in_shape))
        widest_out = max(widest_out, _elements(out_shape))
    return 8 * fit_n * (2 * widest_in + 2 * widest_out)
