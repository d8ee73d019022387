"""What the trainer for networks with layer kinds costs, for docs/trainer.md.

    python benchmarks/train_chain.py            # MNIST and CIFAR-10 CNNs

For each default CNN (conntra.arch.ARCH_DEFAULTS-like: MNIST c16k3,p2,c32k3,p2,d10
on 28x28x1, CIFAR-10 c32k3,p2,c64k3,p2,d10 on 32x32x3) with random ternary
weights, on the first 2,048 training images: loading the batch (the forward
pass that fills the caches), the integer surrogate gradient over the whole
batch and over 1/8 of it, and per layer the time per exact check of its 200
best-ranked weight steps with screening at 1/8 (none applied), and of one
shift. MNIST from $CONNTRA_DATA, CIFAR-10 from $CONNTRA_DATA's parent or
--data-dir. Prints the CPU and the kernels that ran.
"""

import sys
import time

import numpy as np
from conntra._native import ffi, lib

from conntra import arch, datasets, machine
from conntra.train import coordinate
from conntra.train.convtrainer import SeqTrainer

BATCH = 2048
NETS = [
    ("mnist", "c16k3,p2,c32k3,p2,d10", (28, 28, 1)),
    ("cifar10", "c32k3,p2,c64k3,p2,d10", (32, 32, 3)),
]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(name, text, shape, data_dir):
    ds = datasets.load(name, data_dir=data_dir)
    x = (ds.x_train[:BATCH] // 2).astype(np.int8)  # the pixel quantization: 0..127
    y = ds.y_train[:BATCH].astype(np.int32)
    layers = arch.random_layers(text, shape, seed=0)
    tr = SeqTrainer(layers, shape, BATCH)
    tr.set_params(
        [(ly.weights, ly.bias, ly.shift) for ly in layers if getattr(ly, "has_params", False)]
    )
    t_batch, _ = timed(lambda: tr.set_batch(x, y, 50.0))
    t_grad, _ = timed(lambda: tr.gradient(0))
    t_grad8, _ = timed(lambda: tr.gradient(BATCH // 8))
    print(f"\n{name} {text}: batch {BATCH}")
    print(
        f"  load batch (forward) {t_batch:.3f} s; gradient all {t_grad:.2f} s, 1/8 {t_grad8:.2f} s"
    )
    cfg = coordinate.ConntraConfig(budget=200 * tr.n_layers, bias_checks=0)
    cands = coordinate.chain_candidates(cfg, tr, list(range(tr.n_layers)), 50.0)
    for lay in range(tr.n_layers):
        mine = cands[cands[:, 0] == lay][:200]
        t = 0.0
        for c in mine:
            dt, _ = timed(lambda c=c: tr.step(c[None, :], 1e30, BATCH // 8))  # never applied
            t += dt
        kind = [ly.kind for ly in layers if getattr(ly, "has_params", False)][lay]
        print(f"  layer {lay} ({kind}): {1e3 * t / max(1, len(mine)):.2f} ms per check")
    shift = np.array([[0, 2, 0, 0, 1]], np.int32)
    t_shift, _ = timed(lambda: tr.step(shift, 1e30, 0))
    print(f"  shift check (layer 0): {t_shift:.3f} s")


def kernels() -> str:
    """The kernels dispatched for the families the trainer runs."""
    names = []
    for fam in ("TRAIN_REQUANT_DIFF", "TRAIN_AXPY", "CONV2D", "GEMM"):
        idx = ffi.new("int32_t *")
        lib.ct_kernel_active(getattr(lib, f"CT_FAMILY_{fam}"), idx)
        name, isa = ffi.new("const char **"), ffi.new("const char **")
        fam_out, ok = ffi.new("int32_t *"), ffi.new("int32_t *")
        lib.ct_kernel_info(idx[0], name, fam_out, isa, ok)
        names.append(ffi.string(name[0]).decode())
    return ", ".join(names)


def main(argv):
    data_dir = argv[argv.index("--data-dir") + 1] if "--data-dir" in argv else None
    print(machine.describe())
    print("kernels:", kernels(), "| threads:", lib.ct_num_threads())
    for name, text, shape in NETS:
        run(name, text, shape, data_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
