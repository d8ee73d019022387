"""Where a model's activations live in the header's working memory, and how big it is.

Chains of dense layers keep the plan they always had: two buffers ``act[2][widest
hidden layer]``, layer i writing ``act[i % 2]``. When the dense layer after a hidden
layer runs the popcount kernels (``uses_popcount``: by its input's activation bits and
its rows), the hidden layer writes its activations as bit planes (``a`` bits each, in
words; conntra/codegen/layout.py) and the dense layer reads them with bit counts; the
two buffers are then ``uint32_t act[2][W]``, ``W`` the most words a hidden layer's output
takes (bit planes, or a byte per activation rounded up to words).

Every other model gets one activation arena ``act[A]`` used from both ends (two
ping-pong buffers that share their memory): the first tensor a layer writes starts at
the bottom, the next at the top (its end at ``A``), and so on alternately, so a layer
always reads one end and writes the other. ``A`` is the largest sum of a layer's input
and output bytes (each rounded up to 4, so every tensor starts word-aligned) over the
layers that read from the arena, and at least the first output; the model's input stays
in the caller's buffer, a flatten moves nothing (its output is its input's buffer), the
output layer writes the caller's logits. Beside the arena the scratch holds what the
kernels need (``Plan.describe`` lists it): the dense kernels' int16 tables (648 bytes),
the accumulators of the largest layer, and for conv2d the tables of pixel pairs (1296
bytes, sharing the dense tables' memory) and the paired im2col row or the depthwise tap
lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from conntra.codegen import layout
from conntra.layers.common import elements

DENSE_TABLE_BYTES = 4 * 81 * 2  # int16 tab.e[4 * 81]
PAIR_TABLE_BYTES = 4 * 81 * 4  # uint32 tab.w[4 * 81]

# For each activation width, the most rows (n_out) of a dense layer reading it for which
# the popcount kernels (layout M1) execute fewer instructions than the F2 tables, on both
# the Cortex-M0 and the M4: a popcount row costs about as much as an F2 row at 1 bit,
# about twice as much at 2 bits and 3-5 times at 4 bits, but needs no tables, which F2
# builds once per layer (about 65 instructions per input on the M0, 40 on the M4).
# Measured with benchmarks/firmware_icount.py --low-bit (docs/firmware.md, "Low-bit
# layers: popcount kernels"): at 2 bits the whole-model counts cross at 59 (M0) and 60
# (M4) rows, at 4 bits at 11 and 14.
POPCOUNT_MAX_ROWS = {1: 1 << 30, 2: 56, 4: 10}


def uses_popcount(bits: int | None, n_out: int) -> bool:
    """Whether a dense layer of ``n_out`` rows reading ``bits``-bit activations uses the
    popcount kernels (its input then lies in bit planes)."""
    return bits is not None and n_out <= POPCOUNT_MAX_ROWS.get(bits, 0)


def _round4(n: int) -> int:
    return -(-n // 4) * 4


@dataclass
class Plan:
    layers: list[dict]  # each layer's firmware context plus index, last, src, src_sh, dst
    dense_only: bool
    arena: int = 0  # bytes of act (general plan) or of act[2][hidden] (dense plan)
    pair: tuple | None = None  # (layer, input bytes, output bytes) that sets the arena
    acc_words: int = 0
    col_words: int = 0
    pair_tables: bool = False
    x_q: int = 0  # bytes of the affine models' x_q
    hidden_max: int = 0  # dense plan: widest hidden layer
    n_act_buffers: int = 0  # dense plan: 0, 1 or 2 buffers
    act_words: int = 0  # dense plan with bit planes: words of each buffer (0: bytes)

    @property
    def table_bytes(self) -> int:
        return PAIR_TABLE_BYTES if self.pair_tables else DENSE_TABLE_BYTES

    @property
    def scratch_bytes(self) -> int:
        if self.dense_only:
            raw = 4 * self.hidden_max + DENSE_TABLE_BYTES
            raw += self.act_bytes + self.x_q
        else:
            raw = 4 * self.acc_words + self.table_bytes + 4 * self.col_words
            raw += self.arena + self.x_q
        return _round4(raw)  # the struct is padded to its int32 alignment

    @property
    def act_bytes(self) -> int:
        """Dense plan: bytes of the activation buffers."""
        per = 4 * self.act_words if self.act_words else self.hidden_max
        return self.n_act_buffers * per

    def storage(self) -> list[str]:
        """Dense plan: how each hidden layer stores its activations."""
        out = []
        for L in self.layers[:-1]:
            n, a = L["n_out"], L["act_bits"]
            if L.get("planes"):
                words = a * layout.n_words(n)
                out.append(f"layer {L['index']}: {n} x {a} bit as {a} bit plane(s), {4 * words} B")
            else:
                out.append(f"layer {L['index']}: {n} x {a} bit as bytes, {n} B")
        return out

    def describe(self) -> dict:
        """The scratch struct, part by part, in bytes (the size report prints it)."""
        if self.dense_only:
            size = f"{self.act_words} words" if self.act_words else f"{self.hidden_max} bytes"
            d = {
                "activation_bytes": self.act_bytes,
                "activation_plan": f"{self.n_act_buffers} buffer(s) of {size}, the largest "
                f"hidden layer output",
                "activation_storage": self.storage(),
                "accumulator_bytes": 4 * self.hidden_max,
                "table_bytes": DENSE_TABLE_BYTES,
                "im2col_bytes": 0,
            }
        else:
            plan = "no activation leaves the caller's buffers"
            if self.pair is not None:
                i, a, b = self.pair
                plan = (
                    f"two ping-pong ends of one arena, sized by layer {i}: "
                    f"input {a} + output {b} bytes"
                )
            d = {
                "activation_bytes": self.arena,
                "activation_plan": plan,
                "accumulator_bytes": 4 * self.acc_words,
                "table_bytes": self.table_bytes,
                "im2col_bytes": 4 * self.col_words,
            }
        d["input_code_bytes"] = self.x_q
        d["scratch_bytes"] = self.scratch_bytes
        return d


def _dense_plan(model, contexts: list[dict]) -> Plan:
    hidden = [layer.n_out for layer in model.layers[:-1]]
    plan = Plan(contexts, dense_only=True)
    plan.hidden_max = max(hidden, default=0)
    plan.n_act_buffers = min(2, len(hidden))
    for i, L in enumerate(contexts):
        a = contexts[i - 1]["act_bits"] if i > 0 else None
        if uses_popcount(a, L["n_out"]):  # reads the bit planes the layer before wrote
            contexts[i - 1]["planes"] = a
            L["popcount"] = a
            L["n_words"] = layout.n_words(L["n_in"])
            L["masks"] = layout.encode_masks(model.layers[i].weights)
    if any(L.get("planes") for L in contexts):
        plan.act_words = max(
            L["act_bits"] * layout.n_words(L["n_out"]) if L.get("planes") else -(-L["n_out"] // 4)
            for L in contexts[:-1]
        )
    plan.arena = plan.act_bytes

    def buf(k: int, planes: bool, const: str) -> str:
        if planes or not plan.act_words:
            return f"s->act[{k}]"
        return f"({const}uint8_t *)({const}void *)s->act[{k}]"  # bytes in a word buffer

    for i, L in enumerate(contexts):
        L["src"] = "x" if i == 0 else buf((i - 1) % 2, bool(L.get("popcount")), "const ")
        L["src_sh"] = "sh" if i == 0 else "0u"
        L["dst"] = "logits" if L["last"] else buf(i % 2, bool(L.get("planes")), "")
    return plan


def _general_plan(model, contexts: list[dict]) -> Plan:
    plan = Plan(contexts, dense_only=False)
    where = "input"  # where the tensor the next layer reads lives: input, bottom, top
    for i, L in enumerate(contexts):
        size = _round4(elements(L["out_shape"]))
        L["src_at"] = where
        if L.get("in_place") or L["last"]:
            L["dst_at"] = where if L.get("in_place") else "logits"
            continue
        end = "top" if where == "bottom" else "bottom"
        need = size + (_round4(elements(L["in_shape"])) if where != "input" else 0)
        if need > plan.arena:
            plan.arena = need
            given = elements(L["in_shape"]) if where != "input" else 0
            plan.pair = (i, given, elements(L["out_shape"]))
        L["dst_at"] = end
        where = end

    def expr(at: str, size: int) -> str:
        if at == "input":
            return "x"
        if at == "logits":
            return "logits"
        offset = 0 if at == "bottom" else plan.arena - size
        return "s->act" if offset == 0 else f"s->act + {offset}"

    for L in contexts:
        in_size = _round4(elements(L["in_shape"]))
        L["src"] = expr(L["src_at"], in_size)
        L["src_sh"] = "sh" if L["src_at"] == "input" else "0u"
        L["dst"] = expr(L["dst_at"], _round4(elements(L["out_shape"])))
        scratch = L["scratch"]
        plan.acc_words = max(plan.acc_words, scratch.get("acc", 0))
        plan.col_words = max(plan.col_words, scratch.get("col", 0))
        plan.pair_tables = plan.pair_tables or bool(scratch.get("pair_tables"))
    return plan


def plan(model) -> Plan:
    """The buffer plan of a checked ternary model, with each layer's firmware context."""
    shapes = model.shapes()
    contexts = []
    for i, layer in enumerate(model.layers):
        L = dict(layer.firmware(shapes[i]))
        L["index"] = i
        L["last"] = i == len(model.layers) - 1
        contexts.append(L)
    p = _dense_plan(model, contexts) if model.is_dense else _general_plan(model, contexts)
    p.x_q = model.sizes[0] if model.input_quant.kind == "affine" else 0
    return p
