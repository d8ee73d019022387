"""A trained CIFAR-10 model on emulated Cortex-M4 and Cortex-M0 cores: every logit of
the first N test images against the Python model (``==``), instructions per inference
(QEMU plugin), flash and RAM, for the README.

    python benchmarks/firmware_cifar_verify.py MODEL.ctm [--n 1000] [--data-dir DIR]

The CIFAR-10 CNN needs about 45 KB of activation RAM, more than the 16 KB of the
micro:bit that `conntra verify --target cortex-m0` runs on, so the M0 code
(-mcpu=cortex-m0, the portable kernels) runs on QEMU's mps2-an385 board, as
benchmarks/firmware_conv_icount.py does; the instructions executed are the same on
either board (that script checks it).
"""

from __future__ import annotations

import argparse

from conntra import codegen, datasets, load
from conntra.codegen.targets import Target

M0_BIG = Target("cortex-m0", "cortex-m0", "mps2-an385", 0x0, "4M", 0x20000000, "4M")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    model = load(args.model)
    ds = datasets.load("cifar10", data_dir=args.data_dir)
    x = ds.x_test[: args.n]
    for name, target in (("cortex-m4", "cortex-m4"), ("cortex-m0", M0_BIG)):
        r = codegen.verify(model, target, x)
        s = codegen.size_report(model, target, x=x[:4])
        print(f"{name} ({r['board']}, {r['kernels']} kernels): {r['identical']}/{r['n']} identical")
        print(f"  instructions per inference {r['instructions_per_inference']:,.0f}")
        print(codegen.report.format_report(s))


if __name__ == "__main__":
    main()
