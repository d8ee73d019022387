"""Model -> C header text (template model.h.j2), deterministic to the byte."""

from __future__ import annotations

import hashlib

import numpy as np

from conntra.codegen import plan as fwplan
from conntra.codegen.env import render
from conntra.codegen.kinds import PIECES
from conntra.codegen.names import check_prefix
from conntra.errors import InputError, ModelVersionError

# Version of the generated C interface and weight layouts (F2, D2, M1). Bump it when the
# header's API or layout changes: headers of different formats refuse to compile together.
# 2: a dense layer reading low-bit activations may hold layout M1 masks (popcount
# kernels; plan.uses_popcount), and the scratch struct then holds those activations as
# bit planes (uint32_t act words).
FIRMWARE_FORMAT = 2
MODEL_TEMPLATE = "model.h.j2"


def _generator_version() -> str:
    from conntra import __version__

    return __version__


def model_digest(model) -> str:
    """sha256 (first 16 hex digits) of the integer content: sizes, shifts, input
    quantization, weights and biases, and the kind and geometry of every layer that is
    not dense. Names the model inside its header."""
    h = hashlib.sha256()
    h.update(repr((model.sizes, model.input_quant.to_json())).encode())
    for layer in model.layers:
        if layer.kind != "dense":  # dense layers: the digest of models before kinds
            h.update(repr(sorted(layer.to_record(0, 2)[0].items())).encode())
        if not layer.has_params:
            continue
        h.update(np.int64(layer.shift).tobytes())
        if layer.act_bits not in (None, 7):  # 7 bits: the digest of models before the field
            h.update(b"act_bits" + np.int64(layer.act_bits).tobytes())
        h.update(np.ascontiguousarray(layer.weights, dtype=np.int8).tobytes())
        h.update(np.ascontiguousarray(layer.bias, dtype="<i4").tobytes())
    return h.hexdigest()[:16]


def check_model(model) -> None:
    """Raises if the model cannot become firmware (float models, a layer kind without
    kernels, wrong version)."""
    from conntra.model import TernaryModel

    if not isinstance(model, TernaryModel):
        raise InputError(
            "only ternary models can be exported as firmware; this is a "
            f"{type(model).__name__} (train or ternarise it first)"
        )
    unknown = sorted({layer.kind for layer in model.layers} - set(PIECES))
    if unknown:
        raise InputError(
            f"the firmware generator has no kernels for the layer kind(s) "
            f"{', '.join(unknown)}; it runs {', '.join(PIECES)}"
        )
    version = model.metadata.get("firmware_format", FIRMWARE_FORMAT)
    if version != FIRMWARE_FORMAT:
        raise ModelVersionError(
            f"model asks for firmware format {version!r}; this conntra "
            f"generates format {FIRMWARE_FORMAT}"
        )


def scratch_bytes(model) -> int:
    return fwplan.plan(model).scratch_bytes


def _shape(s) -> str:
    return "x".join(str(v) for v in s)


def _model_doc(model, p: fwplan.Plan) -> str:
    """The banner's model line: widths for chains of dense layers (as always), tensor
    shapes and kinds for the rest."""
    if p.dense_only:
        return "-".join(str(n) for n in model.sizes)
    steps = [_shape(model.input_shape)]
    for L in p.layers:
        steps.append(f"{L['kind']} {_shape(L['out_shape'])}")
    return " -> ".join(steps)


def context(model, prefix: str) -> dict:
    check_model(model)
    prefix = check_prefix(prefix)
    q = model.input_quant
    p = fwplan.plan(model)
    layers = p.layers
    for L in layers:
        L["piece"] = PIECES[L["kind"]]
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
    if not p.dense_only:
        input_doc += f"; a {_shape(model.input_shape)} tensor (H x W x C), channels last"
    return {
        "p": prefix,
        "P": prefix.upper(),
        "version": _generator_version(),
        "template": MODEL_TEMPLATE,
        "format_version": FIRMWARE_FORMAT,
        "sizes": model.sizes,
        "model_doc": _model_doc(model, p),
        "input_shape": model.input_shape,
        "n_weights": model.n_weights,
        "digest": model_digest(model),
        "input_doc": input_doc,
        "input_kind": q.kind,
        "input_shift": q.shift,
        "in_offset": list(q.offset),
        "in_scale": list(q.scale),
        "layers": layers,
        "dense_only": p.dense_only,
        "pieces": list(PIECES.items()),
        "kinds_used": sorted({L["kind"] for L in layers}),
        "hidden_max": p.hidden_max,
        # one requantization function per activation width of the hidden dense layers
        # that write bytes, one to bit planes per width read by popcount kernels
        "act_bits_used": sorted(
            {
                L["act_bits"]
                for L in layers
                if L["kind"] == "dense" and L.get("act_bits") and not L.get("planes")
            }
        ),
        "pc_bits_used": sorted({L["popcount"] for L in layers if L.get("popcount")}),
        "act_words": p.act_words,
        "n_act_buffers": p.n_act_buffers,
        "arena_bytes": p.arena,
        "acc_words": p.acc_words,
        "col_words": p.col_words,
        "pair_tables": p.pair_tables,
        "scratch_bytes": p.scratch_bytes,
    }


def render_header(model, prefix: str) -> str:
    return render(MODEL_TEMPLATE, **context(model, prefix))
