"""What the device pays: flash, RAM, stack and executed instructions.

Sizes come from the model's own object file (``model.o``: the header's
implementation and nothing else) through ``arm-none-eabi-size -A`` and
``arm-none-eabi-nm -S``; stack use from GCC's ``-fstack-usage`` file; the
instruction count from the QEMU plugin over the model's address range.
"""

from __future__ import annotations

from conntra.codegen import toolchain
from conntra.codegen.build import Build


def object_sizes(b: Build) -> dict:
    """Bytes of code (.text*), constant data (.rodata*: weights and biases), and
    writable data (.data*, .bss*) of the model object; weights separately."""
    size = toolchain.tool("arm-none-eabi-size")
    out = toolchain.run([size, "-A", str(b.model_object)], what="arm-none-eabi-size")
    code = rodata = data = bss = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        name, n = parts[0], int(parts[1])
        if name.startswith(".text"):
            code += n
        elif name.startswith(".rodata"):
            rodata += n
        elif name.startswith(".data"):
            data += n
        elif name.startswith(".bss"):
            bss += n
    nm = toolchain.tool("arm-none-eabi-nm")
    arrays = {}
    for line in toolchain.run(
        [nm, "-S", str(b.model_object)], what="arm-none-eabi-nm"
    ).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "rR":
            arrays[parts[3]] = int(parts[1], 16)
    # Exact names (<prefix>_w<i>, <prefix>_b<i>): a prefix match would also count the
    # input quantization tables or another prefix's arrays.
    weights = sum(n for sym, n in arrays.items() if _array_kind(sym, b.prefix) == "w")
    biases = sum(n for sym, n in arrays.items() if _array_kind(sym, b.prefix) == "b")
    return {
        "code_bytes": code,
        "const_bytes": rodata,
        "weight_bytes": weights,
        "bias_bytes": biases,
        "data_bytes": data,
        "bss_bytes": bss,
        "flash_bytes": code + rodata + data,
    }


def _array_kind(symbol: str, prefix: str) -> str | None:
    """'w' or 'b' for the weight and bias arrays of layer i (``<prefix>_w<i>``)."""
    rest = symbol[len(prefix) + 1 :] if symbol.startswith(prefix + "_") else ""
    if len(rest) >= 2 and rest[0] in "wb" and rest[1:].isdigit():
        return rest[0]
    return None


def stack_bytes(b: Build) -> dict:
    """Frames from -fstack-usage. Every model function lies on one call chain
    (infer -> run -> dense -> pass -> table; infer_f -> quantize, then run), so the sum
    of the frames of all functions but the entry points, plus the largest entry point,
    bounds the stack from above."""
    frames = {}
    su = b.model_object.with_suffix(".su")
    for line in su.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            frames[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    entries = [
        f
        for f in frames
        if f in (f"{b.prefix}_infer", f"{b.prefix}_infer_q", f"{b.prefix}_infer_f")
    ]
    rest = sum(n for f, n in frames.items() if f not in entries)
    return {
        "stack_bytes": rest + max((frames[f] for f in entries), default=0),
        "stack_frames": frames,
    }


def format_report(r: dict) -> str:
    """Human-readable lines of one target's report."""
    lines = [f"target {r['target']} ({r['board']}, {r['kernels']} kernels, {r['opt']})"]
    lines.append(
        f"  flash  {r['flash_bytes']:>7} bytes = weights {r['weight_bytes']} "
        f"({r['weight_bits_per_weight']:.2f} bits/weight) + biases {r['bias_bytes']} "
        f"+ code {r['code_bytes']}"
        + (f" + other constants {r['other_const_bytes']}" if r["other_const_bytes"] else "")
    )
    lines.append(
        f"  RAM    {r['ram_bytes']:>7} bytes = scratch {r['scratch_bytes']} "
        f"+ stack {r['stack_bytes']} (upper bound from -fstack-usage)"
        + (
            f" + static {r['data_bytes'] + r['bss_bytes']}"
            if r["data_bytes"] + r["bss_bytes"]
            else ""
        )
    )
    plan = r.get("ram_plan")
    if plan:
        parts = [
            f"activations {plan['activation_bytes']} ({plan['activation_plan']})",
            f"accumulators {plan['accumulator_bytes']}",
            f"tables {plan['table_bytes']}",
        ]
        if plan["im2col_bytes"]:
            parts.append(f"conv2d im2col row or taps {plan['im2col_bytes']}")
        if plan["input_code_bytes"]:
            parts.append(f"input codes {plan['input_code_bytes']}")
        lines.append("         scratch = " + " + ".join(parts) + " (+ padding to 4)")
        if any("bit plane" in s for s in plan.get("activation_storage", ())):
            # low-bit layers store their activations as bit planes: RAM per layer
            lines.append("         activations: " + "; ".join(plan["activation_storage"]))
    if r.get("instructions_per_inference") is not None:
        per_mac = r.get("instructions_per_mac", r["instructions_per_weight"])
        reuse = (  # convolutions reuse their weights: per multiply-accumulate says more
            f", {per_mac:.3f} per MAC" if per_mac != r["instructions_per_weight"] else ""
        )
        lines.append(
            f"  instructions per inference {r['instructions_per_inference']:.0f} "
            f"({r['instructions_per_weight']:.3f} per weight{reuse}, mean over "
            f"{r['instruction_samples']} inputs, counted under QEMU)"
        )
    return "\n".join(lines)
