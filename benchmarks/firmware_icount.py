"""Instructions per weight of the generated firmware against a baseline counted in the
same run, on emulated Cortex-M cores (counts, not timings: exact and repeatable).

    python benchmarks/firmware_icount.py [--samples 4]
    python benchmarks/firmware_icount.py --low-bit [--samples 2]

Model: one 784 x 128 ternary layer (the size CMSIS-NN's int8 fully-connected figures
refer to: 6.16 instructions per weight on a Cortex-M0, 1.94 on a Cortex-M4). Kernels:
layout F2 with the portable C, with the DSP kernels where the core has them, and the
baseline benchmarks/fw_t2_baseline.c (decode every 2-bit weight of the C core's T2 layout,
as the core's reference kernel does). Every variant is also checked logit for logit.

--low-bit: instructions per weight of a 256 x 256 dense layer whose input is a hidden layer
of 1, 2 or 4 activation bits, with the popcount kernels (layout M1) and with the F2 tables,
against the same layer after a 7-bit ("int8") layer, on the Cortex-M0 and M4 (and the M4's
portable C). Two exact differences of counts, same first layer: "rows" is [256, 256 (a
bits), 256] minus [256, 256 (a bits), 1] over 256 * 255 weights (what each row costs; F2's
tables cancel), "layer" is [256, 256 (a bits), 256] minus the single layer [256, 256] over
256 * 256 weights (everything the layer adds: its tables, its rows, and the requantization
of its input to bytes or bit planes). Both include an argmax over 255 or 256 more logits,
about 0.02 instructions per weight.
Then the rule's measurement (conntra/codegen/plan.py, POPCOUNT_MAX_ROWS): the whole model
[256, 256 (a bits), n] with the last layer on popcount minus on F2, for n from 4 to 64
rows: F2 builds its tables once per layer, so popcount wins for few rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from conntra import codegen
from conntra.codegen import plan as fwplan
from conntra.codegen.env import c_array
from conntra.model import TernaryModel
from conntra.packing import pack_t2, padded_k
from conntra.quant import InputQuant

HERE = Path(__file__).resolve().parent


def t2_weights_header(model) -> str:
    layer = model.layers[0]
    packed = np.asarray(pack_t2(layer.weights), dtype=np.uint8).ravel()
    return (
        f"#define T2_N_IN {layer.n_in}u\n#define T2_N_OUT {layer.n_out}u\n"
        f"#define T2_BLOCKS {padded_k(layer.n_in) // 128}u\n"
        f"static const uint8_t t2_w[] = {{\n    {c_array(packed)}\n}};\n"
        f"static const int32_t t2_b[] = {{\n    {c_array(layer.bias)}\n}};\n"
    )


def layer_counts(bits: int, kernel: str, target: str, x, flags=()) -> tuple[float, float]:
    """Instructions of the 256 x 256 layer after a layer of ``bits`` activation bits with
    the kernel ``kernel`` ("popcount" or "F2"): its rows (the difference between 256 rows
    and 1 row) and the whole layer (the model minus the model without it)."""
    counts = {}
    for sizes in ([256, 256, 256], [256, 256, 1], [256, 256]):
        model = TernaryModel.random(
            sizes, InputQuant.pixels(256), seed=3, act_bits=bits if len(sizes) > 2 else None
        )
        r = codegen.verify(model, target, x, extra_flags=list(flags))
        if r["identical"] != r["n"]:
            raise SystemExit(f"{target} {bits} bits {kernel}: logits differ")
        counts[len(sizes), sizes[-1]] = r["instructions_per_inference"]
    rows = counts[3, 256] - counts[3, 1]
    return rows / (256 * 255), (counts[3, 256] - counts[2, 256]) / (256 * 256)


def low_bit(samples: int) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(samples, 256)).astype(np.uint8)
    runs = [
        ("cortex-m0", "portable", ()),
        ("cortex-m4", "dsp", ()),
        ("cortex-m4", "portable", ("-DMODEL_PORTABLE",)),
    ]
    print("instructions per weight of a 256 x 256 layer: its rows; the whole layer")
    print(
        f"{'target':<11} {'kernels':<9} {'input':<7} {'layer kernel':<13} {'rows':>7} {'layer':>7}"
    )
    saved = fwplan.POPCOUNT_MAX_ROWS
    try:
        for target, kernels, flags in runs:
            fwplan.POPCOUNT_MAX_ROWS = {}
            base = layer_counts(7, "F2", target, x, flags)
            print(
                f"{target:<11} {kernels:<9} {'int8':<7} {'F2':<13} {base[0]:>7.3f} {base[1]:>7.3f}"
            )
            for bits in (1, 2, 4):
                for kernel in ("popcount", "F2"):
                    fwplan.POPCOUNT_MAX_ROWS = {bits: 256} if kernel == "popcount" else {}
                    rows, layer = layer_counts(bits, kernel, target, x, flags)
                    print(
                        f"{target:<11} {kernels:<9} {f'{bits}-bit':<7} {kernel:<13} {rows:>7.3f}"
                        f" {layer:>7.3f}  ({rows / base[0]:.2f}, {layer / base[1]:.2f} x int8 F2)",
                        flush=True,
                    )
        print("\nwhole model [256, 256 (a bits), n]: popcount minus F2, instructions per inference")
        for target in ("cortex-m0", "cortex-m4"):
            for bits in (1, 2, 4):
                diffs = []
                for n in (4, 10, 16, 32, 64):
                    model = TernaryModel.random(
                        [256, 256, n], InputQuant.pixels(256), seed=3, act_bits=bits
                    )
                    count = {}
                    for kernel, rows in (("popcount", {bits: n}), ("F2", {})):
                        fwplan.POPCOUNT_MAX_ROWS = rows
                        r = codegen.verify(model, target, x)
                        if r["identical"] != r["n"]:
                            raise SystemExit(f"{target} {bits} bits {n} rows: logits differ")
                        count[kernel] = r["instructions_per_inference"]
                    diffs.append(f"{n}: {count['popcount'] - count['F2']:+.0f}")
                print(f"{target:<11} {bits}-bit  rows " + ", ".join(diffs), flush=True)
    finally:
        fwplan.POPCOUNT_MAX_ROWS = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--low-bit", action="store_true", help="popcount against F2 kernels")
    args = ap.parse_args()
    if args.low_bit:
        low_bit(args.samples)
        return
    model = TernaryModel.random([784, 128], InputQuant.pixels(784), seed=3, bias_range=99)
    x = np.random.default_rng(0).integers(0, 256, size=(args.samples, 784)).astype(np.uint8)
    baseline = {
        "model_source": (HERE / "fw_t2_baseline.c").read_text(),
        "extra_files": {"t2_weights.h": t2_weights_header(model)},
    }
    variants = {
        "cortex-m0": [("F2 portable", {}), ("T2 decode (baseline)", baseline)],
        "cortex-m3": [("F2 portable", {}), ("T2 decode (baseline)", baseline)],
        "cortex-m4": [
            ("F2 dsp", {}),
            ("F2 portable", {"extra_flags": ["-DMODEL_PORTABLE"]}),
            ("T2 decode (baseline)", baseline),
        ],
    }
    print(
        f"{'target':<11} {'kernel':<22} {'instr/inference':>15} {'instr/weight':>12} "
        f"{'vs baseline':>11}  identical"
    )
    for target, runs in variants.items():
        results = [(name, codegen.verify(model, target, x, **opts)) for name, opts in runs]
        base = results[-1][1]["instructions_per_inference"]
        for name, r in results:
            per = r["instructions_per_inference"]
            print(
                f"{target:<11} {name:<22} {per:>15.0f} {r['instructions_per_weight']:>12.3f} "
                f"{base / per:>10.2f}x  {r['identical']}/{r['n']}"
            )


if __name__ == "__main__":
    main()
