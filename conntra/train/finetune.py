"""Fine-tuning a deployed ternary model: its checks and its starting points.

``api.train(..., init_model=...)`` (``conntra train --from``) starts a run
from a saved ``TernaryModel`` instead of an initialisation: CoNNTrA from the
model's integer parameters exactly, QAT from float shadow weights built from
them (the baseline). docs/finetune.md describes both.

The model fixes what the run must match: its input quantization, its
architecture and its activation bits. Settings that contradict it are
refused rather than silently overridden, so that nobody fine-tunes a
different network than the one they think they deployed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from conntra.errors import InputError, ShapeError
from conntra.model import TernaryModel
from conntra.train import coordinate

# Model metadata key of a fine-tuned model: the hash of the model it started from.
FINETUNED_FROM = "finetuned_from"
SAMPLES_FOR_TEMPERATURE = 1024  # what random_init reads for its temperature
SAMPLES_FOR_QAT_TEMPERATURE = 5000  # what QAT's conversion fits its shifts on


@dataclass
class FinetuneConfig(coordinate.ConntraConfig):
    """The CoNNTrA config of a fine-tuning run. ``init_model`` (the start
    model's hash) goes into the checkpoint with the rest of the config, so
    ``checkpoint.check_same_run`` refuses to resume a run from another start."""

    init_model: str = ""


def load_init_model(init_model) -> tuple[TernaryModel, str]:
    """(model, where) from a TernaryModel or the path of a model file. A missing
    or damaged file raises the model-file errors (ModelNotFoundError,
    CorruptModelError, ...); any other model is an InputError."""
    from conntra.modelfile import load

    where = "init_model"
    if isinstance(init_model, (str, os.PathLike)):
        where = os.fspath(init_model)
        init_model = load(init_model)
    if not isinstance(init_model, TernaryModel):
        kind = type(init_model).__name__
        raise InputError(
            f"init_model must be a ternary model (TernaryModel, or the path of its file); "
            f"{where} is a {kind}, which CoNNTrA cannot fine-tune"
        )
    if not init_model.is_dense:
        kinds = sorted({layer.kind for layer in init_model.layers} - {"dense"})
        raise InputError(
            f"{where} has {', '.join(kinds)} layers or an image-shaped input: the trainers "
            f"train chains of dense layers on a vector input"
        )
    return init_model, where


def model_hash(model: TernaryModel) -> str:
    """``sha256:<hex>`` of the model's file bytes as conntra writes them (for a
    file written by conntra, what ``sha256sum`` prints): the same for the file
    and for the model object loaded from it."""
    from conntra.modelfile import to_bytes

    return "sha256:" + hashlib.sha256(to_bytes(model)).hexdigest()


def check_data(model: TernaryModel, where: str, dataset) -> None:
    """ShapeError when the data does not fit the model, naming both sides."""
    if model.sizes[0] != dataset.n_features or model.n_classes != dataset.n_classes:
        raise ShapeError(
            f"model {where} takes {model.sizes[0]} features and has {model.n_classes} "
            f"classes; dataset {dataset.name} has {dataset.n_features} features and "
            f"{dataset.n_classes} classes"
        )


def model_act_bits(model: TernaryModel) -> list:
    return [int(layer.act_bits) for layer in model.layers[:-1]]


def resolve_hidden(model: TernaryModel, hidden, name: str = "hidden") -> list:
    """The model's hidden widths; ``hidden`` (None, or widths) must agree with them."""
    ours = model.sizes[1:-1]
    if hidden is None:
        return ours
    given = [int(h) for h in ([hidden] if isinstance(hidden, (int, np.integer)) else hidden)]
    if given != ours:
        raise InputError(
            f"{name} {given} disagrees with the hidden layers of the model to fine-tune "
            f"{ours}: leave it out or give the model's"
        )
    return ours


def resolve_act_bits(model: TernaryModel, bits, name: str = "act_bits") -> list:
    """The model's activation bits; ``bits`` (None, or one per hidden layer as
    ``api.check_act_bits`` returns them) must agree with them."""
    ours = model_act_bits(model)
    if bits is not None and list(bits) != ours:
        raise InputError(
            f"{name} {list(bits)} disagrees with the activation bits of the model to "
            f"fine-tune {ours}: leave it out or give the model's"
        )
    return ours


def check_split(model: TernaryModel, split) -> None:
    """A split prepared by the caller must be the model's: its sizes and its
    input quantization (``prepare(..., input_quant=model.input_quant)``)."""
    if list(split.sizes) != model.sizes:
        raise ShapeError(
            f"split has layer sizes {list(split.sizes)}, the model to fine-tune {model.sizes}"
        )
    if split.input_quant != model.input_quant:
        raise InputError(
            "split was quantized with another input quantization than the model to "
            "fine-tune: prepare it with input_quant=model.input_quant"
        )


def integer_params(model: TernaryModel) -> list:
    """The model's (weights, bias, shift) per layer with parameters, in layer
    order, as writable copies: the C trainer's starting point, bit for bit
    (conv weights (C_out, KH, KW, C_in / groups); pool and flatten layers
    have none)."""
    return [
        (np.array(L.weights, np.int8), np.array(L.bias, np.int32), int(L.shift))
        for L in model.layers
        if L.has_params
    ]


def model_bytes(model: TernaryModel) -> int:
    """Bytes of the start model's arrays, held through the run (int8 weights,
    int32 biases)."""
    return sum(L.weights.nbytes + L.bias.nbytes for L in model.layers)


def logits_spread(model: TernaryModel, xq) -> float:
    """The temperature a random init starts from: the standard deviation of
    the logits of the first training samples, at least 1."""
    sample = np.ascontiguousarray(xq[:SAMPLES_FOR_TEMPERATURE])
    return max(1.0, float(model.logits_quantized(sample).std()))


def best_fit_temperature(model: TernaryModel, xq, y) -> float:
    """The temperature with the lowest cross-entropy of the model's logits on
    the first training samples: the trainer's own grid search
    (``surrogate.best_temperature``), repeated from the logits' spread until
    it stays put (as ``ConntraClassifier`` picks a QAT model's temperature)."""
    from conntra.train.surrogate import best_temperature

    n = min(len(y), SAMPLES_FOR_QAT_TEMPERATURE)
    logits = model.logits_quantized(np.ascontiguousarray(xq[:n])).T
    temp = logits_spread(model, xq)
    for _ in range(64):
        new = best_temperature(logits, y[:n], temp)
        if new == temp:
            break
        temp = new
    return float(temp)


def shadow_params(model: TernaryModel, temperature: float) -> list:
    """Float32 shadow parameters whose TWN ternarisation gives the model's codes.

    Each layer's weights are ``code * alpha`` and its biases ``bias * alpha / 127``:
    a hidden layer gets ``alpha = 2^-shift``, so its float output is its integer
    activation / 127 (before rounding and the clamp), the same 0..1 scale as the
    inputs; the output layer gets ``alpha = 127 / temperature``, so the float
    logits are the integer logits / temperature. TWN's threshold is 0.7 times
    the mean |w|, which is ``0.7 * alpha * (share of non-zero codes) < alpha``:
    every non-zero code stays above it and every zero below, so ternarising
    gives back exactly the codes, with scale alpha; ``floatnet.to_integer``
    gives back the biases too where it picks the model's shifts (QAT's
    conversion chooses the shifts anew each epoch, as it always does)."""
    params = []
    for layer in model.layers:
        last = layer.shift < 0
        alpha = 127.0 / temperature if last else 2.0**-layer.shift
        w = layer.weights.astype(np.float32) * np.float32(alpha)
        b = (layer.bias.astype(np.float64) * (alpha / 127.0)).astype(np.float32)
        params.append([w, b])
    return params
