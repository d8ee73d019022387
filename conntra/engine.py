"""Integer inference through the C core.

``NativeNet`` holds T2-packed layers in C structs that point into numpy
arrays it keeps alive, and runs batches through ``ct_net_forward`` in chunks
over one reusable scratch buffer.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.errors import InputError, ShapeError

SHIFT_OUTPUT = int(lib.CT_SHIFT_OUTPUT)
ACT_BITS_OUTPUT = int(lib.CT_ACT_BITS_OUTPUT)
CHUNK = 512  # samples per C call: scratch stays a few MB for wide layers
# docs/format.md's kind names -> ct_layer_kind
LAYER_KINDS = {
    "dense": int(lib.CT_LAYER_DENSE),
    "conv2d": int(lib.CT_LAYER_CONV2D),
    "maxpool2d": int(lib.CT_LAYER_MAXPOOL2D),
    "flatten": int(lib.CT_LAYER_FLATTEN),
}


def _fill_packed(c, packed, bias, shift, act_bits, keep: list) -> None:
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    bias = np.ascontiguousarray(bias, dtype=np.int32)
    keep += [packed, bias]
    c.shift = int(shift)
    c.act_bits = ACT_BITS_OUTPUT if act_bits is None else int(act_bits)
    c.w = ffi.from_buffer("uint8_t[]", packed)
    c.bias = ffi.from_buffer("int32_t[]", bias)


def fill_params(c, layer, keep: list) -> None:
    """The parameters of a layer that has them into its ct_layer: weights T2
    packed with one row per output (channel), the biases, shift and bits;
    ``keep`` holds the arrays the struct points into."""
    from conntra.packing import pack_t2

    rows = layer.weights.reshape(layer.weights.shape[0], -1)
    _fill_packed(c, pack_t2(rows), layer.bias, layer.shift, layer.act_bits, keep)


class NativeNet:
    """A chain of ternary layers ready for the C core."""

    def __init__(self, layers, input_shape=None, popcount: bool | None = None):
        """``layers``: layer objects of conntra.layers (``c_fill``) reading
        ``input_shape`` (H, W, C) at the start, or, for a chain of dense
        layers, tuples (packed_t2 uint8, n_in, n_out, bias int32, shift,
        act_bits): act_bits is a hidden layer's 1, 2, 4 or 7 and None for the
        output layer (CT_ACT_BITS_OUTPUT); the C core checks everything.

        ``popcount``: True gives every dense and conv2d (groups 1) layer that
        reads activations of 1, 2 or 4 bits its popcount masks (converted once, here), so the
        forward runs it through the popcount kernels (docs/kernels.md); False
        gives none; None (the default) only the dense layers whose bits the
        dispatched popcount kernel runs faster than the int8 one
        (``POPCOUNT_PAYS``). The
        logits are the same either way. ``popcount_layers`` lists them."""
        self._keep: list = []
        self.n_layers = len(layers)
        if self.n_layers == 0:
            raise ShapeError("a network needs at least one layer")
        self._c = ffi.new("ct_layer[]", self.n_layers)
        shape = input_shape
        for i, layer in enumerate(layers):
            c = self._c[i]
            if isinstance(layer, tuple):
                packed, n_in, n_out, bias, shift, act_bits = layer
                c.n_in, c.n_out = int(n_in), int(n_out)
                _fill_packed(c, packed, bias, shift, act_bits, self._keep)
                continue
            if shape is None:
                shape = (1, 1, int(layer.n_in))
            layer.c_fill(c, shape, self._keep)
            shape = layer.out_shape(shape)
        check(lib.ct_net_check(self._c, self.n_layers), "network")
        top = 4 if popcount else 0
        if popcount is None:
            top = POPCOUNT_PAYS.get(active_kernels()["tm_bp_mm"].rsplit("__", 1)[1], 0)
        # conv2d layers only when asked for: the int8 conv kernels were faster
        # at every bit width measured (docs/kernels.md)
        self.popcount_layers = popcount_layers(self._c, self.n_layers, top, conv=bool(popcount))
        for i in self.popcount_layers:
            c = self._c[i]
            rows, k = _matrix_shape(c)
            masks = tm_pack(ffi.buffer(c.w, int(lib.ct_t2_packed_bytes(rows, k))), rows, k)
            self._keep.append(masks)
            c.pc_w = ffi.from_buffer("uint64_t[]", masks)
        self.n_in = int(self._c[0].n_in)
        self.n_out = int(self._c[self.n_layers - 1].n_out)
        self._scratch = None

    def _scratch_for(self, batch: int):
        need = ffi.new("int64_t *")
        check(lib.ct_net_scratch_bytes(self._c, self.n_layers, batch, need), "scratch size")
        if self._scratch is None or len(self._scratch) < need[0]:
            self._scratch = ffi.new("uint8_t[]", int(need[0]))
        return self._scratch

    def logits(self, xq: np.ndarray) -> np.ndarray:
        """int32 logits (n, n_out) of quantized int8 inputs (n, n_in) in 0..127."""
        xq = np.asarray(xq)
        if xq.dtype != np.int8:
            raise InputError(f"quantized inputs must be int8, got {xq.dtype}")
        if xq.ndim != 2 or xq.shape[1] != self.n_in:
            raise ShapeError(f"quantized inputs must have shape (n, {self.n_in}), got {xq.shape}")
        if xq.size and xq.min() < 0:
            raise InputError("quantized inputs must be in 0..127")
        return self.logits_trusted(xq)

    def logits_trusted(self, xq: np.ndarray) -> np.ndarray:
        """``logits`` for inputs a public entry point has already checked: int8,
        (n, n_in), 0..127. The model classes call this, so inputs are checked
        once, at the edge."""
        xq = np.ascontiguousarray(xq)
        n = xq.shape[0]
        out = np.empty((n, self.n_out), dtype=np.int32)
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            scratch = self._scratch_for(stop - start)
            check(
                lib.ct_net_forward(
                    self._c,
                    self.n_layers,
                    ffi.from_buffer("int8_t[]", xq[start:stop]),
                    stop - start,
                    ffi.from_buffer("int32_t[]", out[start:stop]),
                    scratch,
                    len(scratch),
                ),
                "ct_net_forward",
            )
        return out


# ---- popcount kernels for low-bit activations ----------------------------------

POPCOUNT_BITS = (1, 2, 4)
# The most input bits at which each ISA's popcount kernel beat the int8 kernel
# on the same layers (docs/kernels.md, "Popcount kernels"): the default of
# NativeNet. x86 from benchmarks/bench_popcount.py; NEON from instruction
# counts under qemu (benchmarks/popcount_icount.py: 1.2-3.6x fewer than the
# int8 kernels at 2 bits, fewer or about even at 4), not timed on hardware. The
# ref kernel (a bit loop) never pays.
POPCOUNT_PAYS = {"avx512vpopcnt": 2, "avx2": 1, "neon": 2}


def _matrix_shape(c) -> tuple[int, int]:
    """(rows, k) of the T2 matrix of a dense or conv2d (groups 1) ct_layer."""
    if c.kind == LAYER_KINDS["conv2d"]:
        return int(c.out_c), int(c.kh * c.kw * c.in_c)
    return int(c.n_out), int(c.n_in)


def popcount_layers(c_layers, n_layers: int, top: int = 4, conv: bool = True) -> list[int]:
    """Indices of the dense and (``conv``) conv2d (groups 1) layers of a checked
    ct_layer array that read activations of 1, 2 or 4 bits, at most ``top``: the
    bits of the last layer before them that requantizes (maxpool2d and flatten
    keep the range); never layer 0, which reads the 7-bit input."""
    dense, conv_kind = LAYER_KINDS["dense"], LAYER_KINDS["conv2d"]
    out, bits = [], 7
    for i in range(n_layers):
        c = c_layers[i]
        kind_ok = c.kind == dense or (conv and c.kind == conv_kind and c.groups == 1)
        if i > 0 and kind_ok and bits in POPCOUNT_BITS and bits <= top:
            out.append(i)
        if c.kind in (dense, conv_kind):
            bits = int(c.act_bits)
    return out


def tm_pack(packed, rows: int, k: int) -> np.ndarray:
    """Popcount masks (uint64 words, docs/kernels.md) of T2 bytes of a (rows, k)
    matrix, as the forward reads them from ``ct_layer.pc_w``."""
    words = ffi.new("int64_t *")
    check(lib.ct_tm_words(int(rows), int(k), words), "ct_tm_words")
    out = np.zeros(int(words[0]), dtype=np.uint64)
    src = np.frombuffer(packed, dtype=np.uint8)
    check(
        lib.ct_tm_pack(
            ffi.from_buffer("uint8_t[]", src),
            int(rows),
            int(k),
            ffi.from_buffer("uint64_t[]", out),
            out.size,
        ),
        "ct_tm_pack",
    )
    return out


def bp_pack_with(kernel: int | None, x, bits: int) -> np.ndarray:
    """Bit planes (uint64 words, docs/kernels.md) of int8 activations (batch, k)
    in 0 .. 2^bits - 1, with registered BP_PACK kernel ``kernel`` (None: the
    dispatched one)."""
    x = np.ascontiguousarray(x, dtype=np.int8)
    batch, k = x.shape
    words = ffi.new("int64_t *")
    check(lib.ct_bp_words(batch, k, int(bits), words), "ct_bp_words")
    out = np.zeros(int(words[0]), dtype=np.uint64)
    args = (ffi.from_buffer("int8_t[]", x), k, batch, k, int(bits))
    dst = (ffi.from_buffer("uint64_t[]", out), out.size)
    if kernel is None:
        check(lib.ct_bp_pack(*args, *dst), "ct_bp_pack")
    else:
        check(lib.ct_bp_pack_with(int(kernel), *args, *dst), "ct_bp_pack_with")
    return out


class PopcountOp:
    """``DenseOp`` for the popcount kernels: one dense layer's masks and a
    batch of activations staged as bit planes (tests and benchmarks)."""

    def __init__(self, packed, n_in: int, n_out: int, bias, x, bits: int, pack_kernel=None):
        x = np.asarray(x)
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != n_in:
            raise ShapeError(f"x must be int8 of shape (batch, {n_in}), got {x.dtype} {x.shape}")
        self.n_in, self.n_out, self.batch, self.bits = int(n_in), int(n_out), int(x.shape[0]), bits
        self._packed = np.ascontiguousarray(packed, dtype=np.uint8)
        self._bias = np.ascontiguousarray(bias, dtype=np.int32)
        self.masks = tm_pack(self._packed, n_out, n_in)
        self.planes = bp_pack_with(pack_kernel, x, bits)
        self._layer = ffi.new("ct_layer *")
        self._layer.n_in, self._layer.n_out, self._layer.shift = n_in, n_out, SHIFT_OUTPUT
        self._layer.act_bits = ACT_BITS_OUTPUT
        self._layer.w = ffi.from_buffer("uint8_t[]", self._packed)
        self._layer.bias = ffi.from_buffer("int32_t[]", self._bias)
        self._layer.pc_w = ffi.from_buffer("uint64_t[]", self.masks)
        self._planes = ffi.from_buffer("uint64_t[]", self.planes)
        self.acc = np.zeros((self.batch, n_out), dtype=np.int32)
        self._acc = ffi.from_buffer("int32_t[]", self.acc)

    def run(self, kernel: int | None = None, threads: int | None = None) -> np.ndarray:
        """Registered TM_BP_MM kernel ``kernel`` on the calling thread, or
        (None) the dispatched one on ``threads`` threads (None: the default).
        Returns the reused int32 (batch, n_out) output."""
        if kernel is not None:
            check(
                lib.ct_pc_dense_acc_with(
                    int(kernel), self._layer, self._planes, self.bits, self.batch, self._acc
                ),
                "ct_pc_dense_acc_with",
            )
        else:
            check(
                lib.ct_pc_dense_acc_mt(
                    self._layer,
                    self._planes,
                    self.bits,
                    self.batch,
                    self._acc,
                    0 if threads is None else int(threads),
                ),
                "ct_pc_dense_acc_mt",
            )
        return self.acc


# ---- kernel registry, dispatch and threads -------------------------------------


def _family_name(family: int) -> str:
    return ffi.string(lib.ct_family_name(family)).decode()


def kernels() -> list[dict]:
    """Every registered kernel: index, name, family (number and name), ISA,
    whether this CPU runs it, and whether it is the one dispatched for its
    family."""
    name, isa = ffi.new("const char **"), ffi.new("const char **")
    family, supported, active = ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *")
    rows = []
    for i in range(lib.ct_kernel_count()):
        check(lib.ct_kernel_info(i, name, family, isa, supported), "ct_kernel_info")
        check(lib.ct_kernel_active(family[0], active), "ct_kernel_active")
        rows.append(
            {
                "index": i,
                "name": ffi.string(name[0]).decode(),
                "family": int(family[0]),
                "family_name": _family_name(int(family[0])),
                "isa": ffi.string(isa[0]).decode(),
                "supported": bool(supported[0]),
                "active": active[0] == i,
            }
        )
    return rows


def active_kernels() -> dict:
    """{family name: name of the dispatched kernel}."""
    return {row["family_name"]: row["name"] for row in kernels() if row["active"]}


def kernel_index(name: str) -> int:
    """Registry index of the kernel called ``name`` (InputError if unknown)."""
    for row in kernels():
        if row["name"] == name:
            return row["index"]
    raise InputError(f"no registered kernel is called {name!r}")


def select_kernel(family: int, index: int = -1) -> None:
    """Dispatch kernel ``index`` for ``family`` (tests, benchmarks); -1 re-runs
    the automatic choice (which honours CONNTRA_FORCE_SCALAR / CONNTRA_KERNELS).
    Not to be called while another thread runs a forward pass."""
    check(lib.ct_kernel_select(int(family), int(index)), "ct_kernel_select")


def check_environment() -> None:
    """Runs the C core's one-time setup; EnvironmentConfigError naming the
    variable and value if CONNTRA_KERNELS, CONNTRA_FORCE_SCALAR,
    CONNTRA_GEMV_STREAMS or CONNTRA_NUM_THREADS holds a value that is not allowed. Every C call that
    dispatches or starts threads reports the same error on its own."""
    check(lib.ct_init(), "environment")


def num_threads() -> int:
    """Default thread count of the C forward (CONNTRA_NUM_THREADS, else 1)."""
    check_environment()
    return int(lib.ct_num_threads())


def set_num_threads(n: int) -> None:
    """Sets the default thread count: 1 .. CT_MAX_THREADS, or 0 to re-read
    CONNTRA_NUM_THREADS. Results are the same bits for every count."""
    n = int(n)
    if not 0 <= n <= int(lib.CT_MAX_THREADS):
        raise InputError(f"thread count must be in 0..{int(lib.CT_MAX_THREADS)}, got {n}")
    check(lib.ct_set_num_threads(n), "ct_set_num_threads")


GEMV_STREAMS = (1, 2, 4, 8)


def gemv_streams() -> int:
    """Rows the VNNI GEMV kernels walk at once (concurrent weight streams):
    CONNTRA_GEMV_STREAMS (1, 2, 4, 8 or auto), else 1, or the last
    set_gemv_streams. Results are the same bits for every count."""
    check_environment()
    return int(lib.ct_get_gemv_streams())


def set_gemv_streams(n: int) -> None:
    """Sets the GEMV stream count: 1, 2, 4 or 8."""
    n = int(n)
    if n not in GEMV_STREAMS:
        raise InputError(f"GEMV stream count must be 1, 2, 4 or 8, got {n}")
    check(lib.ct_set_gemv_streams(n), "ct_set_gemv_streams")


class DenseOp:
    """One dense layer and a batch of activations staged for repeated calls
    of one kernel (tests and benchmarks): the ct_layer struct, the zero-padded
    activation buffer and the int32 output are built once, so ``run`` is one
    C call.

    ``packed``: T2 bytes of an (n_out, n_in) matrix; ``bias``: n_out int32;
    ``x``: int8 (batch, n_in); ``x_offset`` shifts the start of the
    activation buffer by that many bytes (unaligned-start tests).
    """

    def __init__(
        self, packed, n_in: int, n_out: int, bias, x, x_offset: int = 0, x_stride: int | None = None
    ):
        x = np.asarray(x)
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != n_in:
            raise ShapeError(f"x must be int8 of shape (batch, {n_in}), got {x.dtype} {x.shape}")
        kp = int(lib.ct_t2_padded_k(n_in))
        self.n_in, self.n_out, self.batch = int(n_in), int(n_out), int(x.shape[0])
        self.x_stride = kp if x_stride is None else int(x_stride)
        self._packed = np.ascontiguousarray(packed, dtype=np.uint8)
        self._bias = np.ascontiguousarray(bias, dtype=np.int32)
        self._xbuf = np.zeros(x_offset + self.batch * self.x_stride, dtype=np.int8)
        xv = self._xbuf[x_offset:].reshape(self.batch, self.x_stride)
        xv[:, :n_in] = x
        self._layer = ffi.new("ct_layer *")
        self._layer.n_in, self._layer.n_out, self._layer.shift = n_in, n_out, SHIFT_OUTPUT
        self._layer.act_bits = ACT_BITS_OUTPUT
        self._layer.w = ffi.from_buffer("uint8_t[]", self._packed)
        self._layer.bias = ffi.from_buffer("int32_t[]", self._bias)
        self._x = ffi.from_buffer("int8_t[]", xv.reshape(-1))
        self.acc = np.zeros((self.batch, n_out), dtype=np.int32)
        self._acc = ffi.from_buffer("int32_t[]", self.acc)

    def run(self, kernel: int | None = None, threads: int | None = None) -> np.ndarray:
        """Runs registered kernel ``kernel`` on the calling thread, or (None)
        the dispatched GEMV/GEMM kernel on ``threads`` threads (None: the
        default count). Returns the int32 (batch, n_out) output array, which
        is reused by the next call."""
        if kernel is not None:
            check(
                lib.ct_dense_acc_with(
                    int(kernel), self._layer, self._x, self.x_stride, self.batch, self._acc
                ),
                "ct_dense_acc_with",
            )
        else:
            check(
                lib.ct_dense_acc_mt(
                    self._layer,
                    self._x,
                    self.x_stride,
                    self.batch,
                    self._acc,
                    0 if threads is None else int(threads),
                ),
                "ct_dense_acc_mt",
            )
        return self.acc


def pack_with(kernel: int, w) -> np.ndarray:
    """T2-pack int8 weights (rows, k) with registered T2_PACK kernel ``kernel``."""
    w = np.ascontiguousarray(w, dtype=np.int8)
    rows, k = w.shape
    out = np.zeros(int(lib.ct_t2_packed_bytes(rows, k)), dtype=np.uint8)
    check(
        lib.ct_t2_pack_with(
            int(kernel),
            ffi.from_buffer("int8_t[]", w),
            rows,
            k,
            ffi.from_buffer("uint8_t[]", out),
            out.size,
        ),
        "ct_t2_pack_with",
    )
    return out


def unpack_with(kernel: int, packed, rows: int, k: int) -> np.ndarray:
    """Unpack T2 bytes into int8 (rows, k) with registered T2_UNPACK kernel ``kernel``."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    w = np.empty((rows, k), dtype=np.int8)
    check(
        lib.ct_t2_unpack_with(
            int(kernel),
            ffi.from_buffer("uint8_t[]", packed),
            rows,
            k,
            ffi.from_buffer("int8_t[]", w),
        ),
        "ct_t2_unpack_with",
    )
    return w
