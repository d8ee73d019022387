"""Model -> C header text (template model.h.j2), deterministic to the byte."""

from __future__ import annotations

import hashlib

import numpy as np

from conntra.codegen import layout
from conntra.codegen.env import render
from conntra.codegen.names import check_prefix
from conntra.errors import InputError, ModelVersionError

# Version of the generated C interface and weight layout (F2). Bump it when the header's
# API or layout changes: headers of different formats refuse to compile together.
FIRMWARE_FORMAT = 1
MODEL_TEMPLATE = "model.h.j2"
TABLE_BYTES = 4 * layout.TABLE_ENTRIES * 2  # int16 tab[4 * 81]


def _generator_version() -> str:
    from conntra import __version__

    return __version__


def model_digest(model) -> str:
    """sha256 (first 16 hex digits) of the integer content: sizes, shifts, input
    quantization, weights and biases. Names the model inside its header."""
    h = hashlib.sha256()
    h.update(repr((model.sizes, model.input_quant.to_json())).encode())
    for layer in model.layers:
        h.update(np.int64(layer.shift).tobytes())
        if layer.act_bits not in (None, 7):  # 7 bits: the digest of models before the field
            h.update(b"act_bits" + np.int64(layer.act_bits).tobytes())
        h.update(np.ascontiguousarray(layer.weights, dtype=np.int8).tobytes())
        h.update(np.ascontiguousarray(layer.bias, dtype="<i4").tobytes())
    return h.hexdigest()[:16]


def check_model(model) -> None:
    """Raises if the model cannot become firmware (float models, wrong version)."""
    from conntra.model import TernaryModel

    if not isinstance(model, TernaryModel):
        raise InputError(
            "only ternary models can be exported as firmware; this is a "
            f"{type(model).__name__} (train or ternarise it first)"
        )
    if not model.is_dense:
        kinds = sorted({layer.kind for layer in model.layers} - {"dense"})
        raise InputError(
            f"the firmware generator runs chains of dense layers; this model has "
            f"{', '.join(kinds) or 'an image-shaped input'}"
        )
    version = model.metadata.get("firmware_format", FIRMWARE_FORMAT)
    if version != FIRMWARE_FORMAT:
        raise ModelVersionError(
            f"model asks for firmware format {version!r}; this conntra "
            f"generates format {FIRMWARE_FORMAT}"
        )


def scratch_bytes(model) -> int:
    hidden = [layer.n_out for layer in model.layers[:-1]]
    h = max(hidden, default=0)
    n_act = min(2, len(hidden))
    codes = model.sizes[0] if model.input_quant.kind == "affine" else 0  # x_q of _infer_f
    raw = 4 * h + TABLE_BYTES + n_act * h + codes
    return -(-raw // 4) * 4  # the struct is padded to its int32 alignment


def context(model, prefix: str) -> dict:
    check_model(model)
    prefix = check_prefix(prefix)
    q = model.input_quant
    hidden = [layer.n_out for layer in model.layers[:-1]]
    layers = []
    for i, layer in enumerate(model.layers):
        layers.append(
            {
                "index": i,
                "n_in": layer.n_in,
                "n_out": layer.n_out,
                "shift": layer.shift,
                "act_bits": layer.act_bits,
                "last": i == len(model.layers) - 1,
                "n_groups": layout.n_groups(layer.n_in),
                "codes": layout.encode(layer.weights),
                "bias": np.asarray(layer.bias, np.int32),
            }
        )
    if q.kind == "shift":
        input_doc = (
            f"{q.n_features} 8-bit pixels, activation = pixel >> {q.shift} "
            f"({prefix}_infer), or int8 codes 0..127 ({prefix}_infer_q)"
        )
    else:
        input_doc = (
            f"{q.n_features} raw features as double ({prefix}_infer_f, which "
            f"applies the model's affine quantization), or int8 codes 0..127 "
            f"({prefix}_infer_q)"
        )
    return {
        "p": prefix,
        "P": prefix.upper(),
        "version": _generator_version(),
        "template": MODEL_TEMPLATE,
        "format_version": FIRMWARE_FORMAT,
        "sizes": model.sizes,
        "n_weights": model.n_weights,
        "digest": model_digest(model),
        "input_doc": input_doc,
        "input_kind": q.kind,
        "input_shift": q.shift,
        "in_offset": list(q.offset),
        "in_scale": list(q.scale),
        "layers": layers,
        "hidden_max": max(hidden, default=0),
        "act_bits_used": sorted({layer.act_bits for layer in model.layers[:-1]}),
        "n_act_buffers": min(2, len(hidden)),
        "scratch_bytes": scratch_bytes(model),
    }


def render_header(model, prefix: str) -> str:
    return render(MODEL_TEMPLATE, **context(model, prefix))
