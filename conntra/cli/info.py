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
    shapes = model.shapes()
    layers = []
    for i, layer in enumerate(model.layers):
        row: dict = {"index": i, "kind": getattr(layer, "kind", "dense")}
        if row["kind"] == "dense":
            row.update(n_in=layer.n_in, n_out=layer.n_out)
        else:
            row.update(in_shape=list(shapes[i]), out_shape=list(shapes[i + 1]))
        for name in ("kernel", "stride", "padding", "groups", "window"):
            if hasattr(layer, name):
                value = getattr(layer, name)
                row[name] = list(value) if isinstance(value, tuple) else value
        if getattr(layer, "has_params", True):
            row.update(weights=int(layer.weights.size), biases=int(layer.bias.size))
            if ternary:
                row["shift"] = layer.shift
                row["act_bits"] = layer.act_bits  # None for the output layer
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


def _geometry(row: dict) -> str:
    """What a layer reads and writes: sizes for dense, shapes and geometry
    for the other kinds."""
    if row["kind"] == "dense":
        return f"{row['n_in']} -> {row['n_out']}"
    shape_in, shape_out = ("x".join(map(str, row[k])) for k in ("in_shape", "out_shape"))
    what = row["kind"]
    if what == "conv2d":
        kh, kw = row["kernel"]
        what = f"{'depthwise ' if row['groups'] > 1 else ''}conv2d {kh}x{kw}"
        what += f", stride {'x'.join(map(str, row['stride']))}, padding {row['padding']}"
    elif what == "maxpool2d":
        what = f"maxpool2d {'x'.join(map(str, row['window']))}"
        what += f", stride {'x'.join(map(str, row['stride']))}"
    return f"{what}: {shape_in} -> {shape_out}"


def format_text(d: dict) -> str:
    lines = [
        f"model       {d['path']}",
        f"kind        {d['kind']}",
        f"sizes       {'-'.join(str(s) for s in d['sizes'])}",
        f"input       {d['input']['kind']} quantization, {d['input']['n_features']} features"
        + (f", shape {'x'.join(map(str, d['input']['shape']))}" if "shape" in d["input"] else ""),
    ]
    for row in d["layers"]:
        extra = ""
        if "shift" in row:
            shift = (
                "output"
                if row["shift"] < 0
                else f"shift {row['shift']}, activations {row['act_bits']}-bit"
            )
            extra = f", {shift}, {row['nonzero_weights']} nonzero"
        lines.append(f"layer {row['index']}     {_geometry(row)}{extra}")
    lines += [
        f"parameters  {d['parameters']}",
        f"bits/param  {d['bits_per_parameter']:.3f}",
        f"memory      {d['parameter_bytes']} bytes of parameters, "
        f"{d['file_bytes']} bytes in the file ({d['header_bytes']} of header)",
    ]
    for key, value in sorted(d["metadata"].items()):
        lines.append(f"{key:<11} {value}")
    return "\n".join(lines)


def run(args) -> int:
    """Like ``ls``: one file prints as before; several get a header each
    (``--json``: an object keyed by path). A file that cannot be read gets
    its error, the others are still described, and the exit status is 1."""
    import sys

    from conntra.errors import ConntraError

    several = len(args.model) > 1
    results, status = {}, 0
    for i, path in enumerate(args.model):
        try:
            d = describe(path)
        except (ConntraError, OSError) as exc:
            if not several:
                raise
            print(f"conntra info: error: {exc}", file=sys.stderr)
            results[path] = {"error": str(exc)}
            status = 1
            continue
        results[path] = d
        if not args.json:
            if several:
                print(f"{'' if i == 0 else chr(10)}{path}:")
            print(format_text(d))
    if args.json:
        value = results if several else next(iter(results.values()))
        print(json.dumps(value, indent=2, sort_keys=True))
    return status


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="describe model files",
        description="Layers, parameters, bits per parameter and bytes of each model file.",
    )
    p.add_argument("model", nargs="+", help="path of a .ctm model file (several allowed)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: one object, or for several files an object keyed by "
        'path (a file that cannot be read maps to {"error": ...})',
    )
    p.set_defaults(func=run)
