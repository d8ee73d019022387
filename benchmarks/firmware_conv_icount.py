"""Instructions per multiply-accumulate of the generated conv2d kernels on emulated
Cortex-M0 and M4 cores (QEMU plugin counts: exact and repeatable), the flash and RAM of a
small CIFAR-shaped network, and MNIST verified on all 10,000 test images.

    python benchmarks/firmware_conv_icount.py [--samples 2] [--mnist-dir DIR] [--skip-mnist]

Layers (random ternary weights, uniform over -1, 0, +1; random inputs 0..127):

  a. conv 3x3, 16 -> 32 channels, 16x16, padding 1 (CMSIS-NN arm_convolve_s8: 2.14 on
     a Cortex-M4, 7.13 on a Cortex-M0, counted the same way: gcc 12 -O2, newlib, QEMU);
  b. depthwise 3x3 on 16x16x32, padding 1 (arm_depthwise_conv_3x3_s8: 7.96 and 37.8);
  c. first layer 32x32x3 -> 32, 3x3, padding 1 (arm_convolve_s8: 4.09 and 10.7).

A layer's count is the exact difference between two models that differ by the layer
alone: [layer, flatten, dense to 1 logit] and [flatten, dense to 1 logit] on the layer's
output shape (the same dense weights; its cost does not depend on the data). So it
includes everything the layer does: im2col, tables, lookups, flushes, requantization and
its call. The M0 code (-mcpu=cortex-m0) runs on QEMU's mps2-an385 board, whose RAM holds
these layers (the micro:bit's 16 KB does not); the instructions executed are the same on
either board, which the script checks on a small model first. Every run is also verified
logit for logit against the numpy reference.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from conntra import (
    Flatten,
    InputQuant,
    MaxPool2D,
    TernaryConv2D,
    TernaryDense,
    TernaryModel,
    codegen,
)
from conntra.codegen.targets import Target, get_target

M0_BIG = Target("cortex-m0", "cortex-m0", "mps2-an385", 0x0, "4M", 0x20000000, "4M")
CMSIS_NN = {  # instructions per MAC of ARM's int8 kernels, counted the same way
    "a": {"cortex-m4": 2.14, "cortex-m0": 7.13},
    "b": {"cortex-m4": 7.96, "cortex-m0": 37.8},
    "c": {"cortex-m4": 4.09, "cortex-m0": 10.7},
}


def ternary(rng, *shape):
    return rng.integers(-1, 2, size=shape).astype(np.int8)


def layers_of(name: str, rng):
    """(input shape, the layer, its MACs)."""
    if name == "a":
        layer = TernaryConv2D(ternary(rng, 32, 3, 3, 16), rng.integers(-99, 100, 32), 6, padding=1)
        return (16, 16, 16), layer, 16 * 16 * 32 * 9 * 16
    if name == "b":
        layer = TernaryConv2D(
            ternary(rng, 32, 3, 3, 1), rng.integers(-99, 100, 32), 3, padding=1, groups=32
        )
        return (16, 16, 32), layer, 16 * 16 * 32 * 9
    layer = TernaryConv2D(ternary(rng, 32, 3, 3, 3), rng.integers(-99, 100, 32), 4, padding=1)
    return (32, 32, 3), layer, 32 * 32 * 32 * 27


def pair_of_models(shape, layer, rng):
    """[layer, flatten, dense 1] and [flatten, dense 1] with the same dense weights."""
    out = layer.out_shape(shape)
    n = int(np.prod(out))
    dense = TernaryDense(ternary(rng, 1, n), np.zeros(1, np.int32), -1)
    with_layer = TernaryModel(
        [layer, Flatten(), dense], InputQuant.pixels(int(np.prod(shape)), shape=shape)
    )
    without = TernaryModel([Flatten(), dense], InputQuant.pixels(n, shape=out))
    return with_layer, without


def count(model, target, x) -> tuple[float, dict]:
    r = codegen.verify(model, target, x)
    assert r["identical"] == r["n"], r
    return r["instructions_per_inference"], r


def same_count_on_both_m0_boards() -> None:
    rng = np.random.default_rng(5)
    model = TernaryModel(
        [TernaryConv2D(ternary(rng, 4, 3, 3, 2), np.zeros(4, np.int32), 3, padding=1), Flatten()]
        + [TernaryDense(ternary(rng, 3, 8 * 8 * 4), np.zeros(3, np.int32), -1)],
        InputQuant.pixels(128, shape=(8, 8, 2)),
    )
    x = rng.integers(0, 256, size=(2, 128))
    a, _ = count(model, "cortex-m0", x)
    b, _ = count(model, M0_BIG, x)
    assert a == b, (a, b)
    print(f"M0 code on micro:bit and on mps2-an385: {a:.0f} = {b:.0f} instructions per inference")


def measure_layers(samples: int) -> None:
    print(f"{'layer':<52} {'target':<10} {'instr/MAC':>9} {'CMSIS-NN':>8}")
    for name, what in (
        ("a", "conv 3x3 16->32 on 16x16, pad 1"),
        ("b", "depthwise 3x3 on 16x16x32, pad 1"),
        ("c", "first layer 32x32x3 -> 32, 3x3, pad 1"),
    ):
        rng = np.random.default_rng(ord(name))
        shape, layer, macs = layers_of(name, rng)
        with_layer, without = pair_of_models(shape, layer, rng)
        x = rng.integers(0, 256, size=(samples, int(np.prod(shape))))  # int: codes, _infer_q
        xo = rng.integers(0, 256, size=(samples, without.sizes[0]))
        for target in ("cortex-m4", "cortex-m0"):
            t = M0_BIG if target == "cortex-m0" else get_target(target)
            per = (count(with_layer, t, x)[0] - count(without, t, xo)[0]) / macs
            print(f"({name}) {what:<48} {target:<10} {per:>9.3f} {CMSIS_NN[name][target]:>8}")


def cifar_model(rng) -> TernaryModel:
    layers = [
        TernaryConv2D(ternary(rng, 32, 3, 3, 3), np.zeros(32, np.int32), 4, padding=1),
        MaxPool2D(2),
        TernaryConv2D(ternary(rng, 64, 3, 3, 32), np.zeros(64, np.int32), 6, padding=1),
        MaxPool2D(2),
        Flatten(),
        TernaryDense(ternary(rng, 10, 8 * 8 * 64), np.zeros(10, np.int32), -1),
    ]
    return TernaryModel(layers, InputQuant.pixels(32 * 32 * 3, shape=(32, 32, 3)))


def measure_cifar(samples: int) -> None:
    rng = np.random.default_rng(10)
    model = cifar_model(rng)
    x = rng.integers(0, 256, size=(samples, 32 * 32 * 3)).astype(np.uint8)
    for target in ("cortex-m4", "cortex-m0"):
        t = M0_BIG if target == "cortex-m0" else target
        r = codegen.size_report(model, t, x=x)
        print(f"CIFAR-shaped network on {target}:")
        print(codegen.report.format_report(r))


def measure_mnist(data_dir) -> None:
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from _conv_models import mnist_conv_model

    from conntra import datasets

    ds = datasets.load("mnist", data_dir=data_dir)
    model = mnist_conv_model()
    for target in ("host", "cortex-m0", "cortex-m4"):
        t0 = time.perf_counter()
        r = codegen.verify(model, target, ds.x_test, prefix="mnist")
        extra = (
            f", {r['instructions_per_inference']:.0f} instructions per inference"
            if "instructions_per_inference" in r
            else ""
        )
        print(
            f"mnist_conv_model on {target}: {r['identical']}/{r['n']} identical "
            f"({time.perf_counter() - t0:.0f} s{extra})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--mnist-dir", default=os.environ.get("CONNTRA_DATA"))
    ap.add_argument("--skip-mnist", action="store_true")
    args = ap.parse_args()
    same_count_on_both_m0_boards()
    measure_layers(args.samples)
    measure_cifar(args.samples)
    if not args.skip_mnist:
        measure_mnist(args.mnist_dir)


if __name__ == "__main__":
    main()
