"""``conntra info MODEL``: layers, parameters, bits per parameter, bytes."""

from __future__ import annotations

import json
import os

from conntra.model import TernaryModel
from conntra.modelfile import HEADER, load, read_header


def describe(path) -> dict:
    """Everything ``conntra info`` prints, as plain data."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    meta_bytes, payload_bytes, _ = read_header(data, path)
    model = load(path)
    ternary = isinstance(model, TernaryModel)
    layers = []
    for i, layer in enumerate(model.layers):
        row = {"index": i, "n_in": layer.n_in, "n_out": layer.n_out,
               "weights": int(layer.weights.size), "biases": int(layer.bias.size)}
        if ternary:
            row["shift"] = layer.shift
            row["nonzero_weights"] = int((layer.weights != 0).sum())
        layers.append(row)
    n_params = model.n_params
    return {
        "path": path,
        "kind": "ternary" if ternary else "float32",
        "sizes": model.sizes,
        "layers": layers,
        "input": model.input_quant.to_json(),
        "parameters": n_params,
        "file_bytes": len(data),
        "header_bytes": HEADER.size + meta_bytes,
        "parameter_bytes": payload_bytes,
        "bits_per_parameter": 8 * payload_bytes / n_params,
        "metadata": model.metadata,
    }


def format_text(d: dict) -> str:
    lines = [f"model       {d['path']}",
             f"kind        {d['kind']}",
             f"sizes       {'-'.join(str(s) for s in d['sizes'])}",
             f"input       {d['input']['kind']} quantization, {d['input']['n_features']} features"]
    for row in d["layers"]:
        extra = ""
        if "shift" in row:
            shift = "output" if row["shift"] < 0 else f"shift {row['shift']}"
            extra = f", {shift}, {row['nonzero_weights']} nonzero"
        lines.append(f"layer {row['index']}     {row['n_in']} -> {row['n_out']}{extra}")
    lines += [f"parameters  {d['parameters']}",
              f"bits/param  {d['bits_per_parameter']:.3f}",
              f"memory      {d['parameter_bytes']} bytes of parameters, "
              f"{d['file_bytes']} bytes in the file ({d['header_bytes']} of header)"]
    for key, value in sorted(d["metadata"].items()):
        lines.append(f"{key:<11} {value}")
    return "\n".join(lines)


def run(args) -> int:
    d = describe(args.model)
    print(json.dumps(d, indent=2, sort_keys=True) if args.json else format_text(d))
    return 0


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model", help="path of a .ctm model file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
