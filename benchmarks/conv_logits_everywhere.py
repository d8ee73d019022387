"""One convolutional model on every MNIST test image, on every C path here:
the numpy reference, the C core with its dispatched SIMD kernels and with the
scalar references (CONNTRA_FORCE_SCALAR=1), 1 and 2 threads, and the C core
built for aarch64 under qemu with -cpu max (NEON dotprod) and -cpu
cortex-a53 (plain NEON), through benchmarks/net_driver.c. Prints how many
samples' logits equal the numpy reference's (==) on each.

    CONNTRA_DATA=... python benchmarks/conv_logits_everywhere.py [--limit N]

The model is tests/_conv_models.mnist_conv_model (random ternary weights:
conv 1->8 3x3 same, maxpool 2, depthwise 3x3, conv 8->16 3x3 stride 2,
flatten, dense 10), written to conv_mnist.ctm beside the results so that the
firmware check (`conntra verify`) can run the same model.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from _conv_models import mnist_conv_model  # noqa: E402
from conntra._native import ffi  # noqa: E402

from conntra import datasets  # noqa: E402

FIELDS = (
    "kind n_in n_out shift act_bits in_h in_w in_c out_c kh kw stride_h stride_w "
    "pad_top pad_bottom pad_left pad_right groups"
).split()


def net_file(model, xq) -> bytes:
    """benchmarks/net_driver.c's input: the ct_layer structs the engine built."""
    net = model._engine()
    out = [struct.pack("<i", net.n_layers)]
    for i in range(net.n_layers):
        c = net._c[i]
        out.append(struct.pack(f"<{len(FIELDS)}i", *(int(getattr(c, f)) for f in FIELDS)))
        if c.w == ffi.NULL:
            out.append(struct.pack("<ii", 0, 0))
            continue
        rows = c.out_c if c.kind == 1 else c.n_out
        k = c.n_in if c.kind == 0 else c.kh * c.kw * (c.in_c // max(1, c.groups))
        w_bytes = rows * (-(-k // 128) * 128) // 4
        out.append(struct.pack("<ii", w_bytes, rows))
        out.append(bytes(ffi.buffer(c.w, w_bytes)))
        out.append(bytes(ffi.buffer(c.bias, 4 * rows)))
    out.append(struct.pack("<i", xq.shape[0]))
    out.append(np.ascontiguousarray(xq, np.int8).tobytes())
    return b"".join(out)


def child_logits(path, env) -> np.ndarray:
    code = (
        "import sys, numpy as np, conntra; from conntra import datasets; "
        "m = conntra.load(sys.argv[1]); x = np.load(sys.argv[2]); "
        "np.save(sys.argv[3], m.logits_quantized(x))"
    )
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", np.load(path.with_suffix(".x.npy")))
        subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                str(path),
                str(Path(tmp) / "x.npy"),
                str(Path(tmp) / "l.npy"),
            ],
            env={**os.environ, **env},
            check=True,
            cwd=tmp,
        )
        return np.load(Path(tmp) / "l.npy")


def aarch64_logits(model, xq, work: Path, cpu: str) -> np.ndarray:
    exe = work / "net_driver_aarch64"
    if not exe.exists():
        srcs = sorted(str(p) for p in (REPO / "native" / "src").glob("**/*.c"))
        subprocess.run(
            [
                "aarch64-linux-gnu-gcc",
                "-std=c99",
                "-O2",
                "-static",
                f"-I{REPO}/native/include",
                f"-I{REPO}/native/src",
                *srcs,
                str(REPO / "benchmarks" / "net_driver.c"),
                "-o",
                str(exe),
            ],
            check=True,
        )
    (work / "net.bin").write_bytes(net_file(model, xq))
    subprocess.run(
        ["qemu-aarch64", "-cpu", cpu, str(exe), str(work / "net.bin"), str(work / "out.bin")],
        check=True,
    )
    n_out = model.layers[-1].n_out
    return np.fromfile(work / "out.bin", dtype="<i4").reshape(-1, n_out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=10000)
    p.add_argument("--out", default="conv_logits")
    args = p.parse_args()
    work = Path(args.out)
    work.mkdir(exist_ok=True)
    model = mnist_conv_model(0)
    path = work / "conv_mnist.ctm"
    model.save(path)
    xq = model.quantize(datasets.load_mnist().x_test[: args.limit])
    np.save(path.with_suffix(".x.npy"), xq)
    want = model.logits_quantized(xq, backend="numpy")
    runs = {
        "c, dispatched SIMD, 1 thread": child_logits(path, {"CONNTRA_NUM_THREADS": "1"}),
        "c, dispatched SIMD, 2 threads": child_logits(path, {"CONNTRA_NUM_THREADS": "2"}),
        "c, scalar references": child_logits(path, {"CONNTRA_FORCE_SCALAR": "1"}),
        "aarch64 qemu -cpu max (neondot)": aarch64_logits(model, xq, work, "max"),
        "aarch64 qemu -cpu cortex-a53 (neon)": aarch64_logits(model, xq, work, "cortex-a53"),
    }
    result = {}
    for name, got in runs.items():
        same = int((got == want).all(axis=1).sum())
        result[name] = same
        print(f"{name}: {same}/{len(want)} identical to the numpy reference")
    (work / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
