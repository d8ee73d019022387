/*
 * conntra C core: the public API.
 *
 * Everything between the CT_CDEF_BEGIN and CT_CDEF_END markers is read verbatim
 * by cffi (native/build_ffi.py), so it must stay plain declarations that
 * pycparser understands: no macros, no includes, no inline code.
 *
 * Conventions (docs/format.md is the normative text):
 *   - every function returns a ct_status; results go through out-pointers;
 *   - the library never allocates in kernels, never aborts, never prints;
 *     scratch memory is owned by the caller and sized by *_scratch_bytes();
 *   - packed ternary weights use the T2 layout: 2 bits per weight, code
 *     u = w + 1, blocks of 128 weights in 32 bytes, rows padded to 128.
 */
#ifndef CONNTRA_H
#define CONNTRA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CT_CDEF_BEGIN */

/* Status codes. The message table in ct_status.c is indexed by these. */
typedef enum ct_status {
    CT_OK = 0,
    CT_E_NULL = 1,    /* a required pointer is NULL */
    CT_E_SHAPE = 2,   /* a size is zero, negative or above its limit */
    CT_E_RANGE = 3,   /* a value lies outside its allowed range */
    CT_E_CODE = 4,    /* a packed ternary code is 3 (not a weight) */
    CT_E_SCRATCH = 5, /* caller-provided scratch is too small */
    CT_E_CHAIN = 6,   /* consecutive layers do not fit together */
    CT_E_NOMEM = 7,   /* memory owned by the library could not be allocated */
    CT_E_STATE = 8,   /* a call is not valid in the object's current state */
    CT_E_UNKNOWN = 9, /* a name (kernel, ISA) is not known */
    CT_E_ENV = 10,    /* a CONNTRA_* environment variable has a value not allowed */
    CT_STATUS_COUNT = 11
} ct_status;

/* Limits of the integer contract (docs/format.md, "Bounds"). */
enum {
    CT_BLOCK = 128,          /* weights per T2 block */
    CT_BLOCK_BYTES = 32,     /* bytes per T2 block */
    CT_MAX_INPUTS = 1048576, /* K <= 2^20 so |sum w*x| <= 127 * 2^20 < 2^27 */
    CT_MAX_OUTPUTS = 1048576,
    CT_MAX_BIAS = 134217728, /* |bias| <= 2^27, so |acc| < 2^28 */
    CT_MAX_SHIFT = 24,       /* acc + 2^(shift-1) < 2^28 + 2^23: no overflow */
    CT_ACT_MAX = 127,        /* inputs are 0 .. 127, and so are 7-bit activations */
    CT_ACT_BITS_MAX = 7,     /* hidden activation bits: 1, 2, 4 or 7 (0 .. 2^bits - 1) */
    CT_ACT_BITS_OUTPUT = 0,  /* act_bits of the output layer: it has no activations */
    CT_MAX_LAYERS = 64,
    CT_SHIFT_OUTPUT = -1 /* shift of the output layer: no requantization */
};

/* Human-readable text of a status code; never NULL. */
const char *ct_status_message(int32_t status);

/* One-time setup of the library: CPU detection, the environment
 * (CONNTRA_FORCE_SCALAR, CONNTRA_KERNELS, CONNTRA_NUM_THREADS) and the kernel
 * registry. Runs once per process (later calls return the first outcome, or
 * that of a later ct_kernel_select(f, -1) / ct_set_num_threads(0)); every call
 * that dispatches or starts threads runs it first and fails with its status.
 * CT_E_ENV if a variable holds a value it may not: ct_env_message says which. */
ct_status ct_init(void);

/* The variable, value and allowed values behind the last CT_E_ENV, e.g.
 * "CONNTRA_NUM_THREADS=abc: expected an integer in 1..64"; "" if none. */
const char *ct_env_message(void);

/* ---- T2 packed ternary weights ------------------------------------------- */

/* Padded row length: k rounded up to a multiple of CT_BLOCK. */
int32_t ct_t2_padded_k(int32_t k);

/* Bytes of a packed (rows x k) matrix: rows * ct_t2_padded_k(k) / 4. */
int64_t ct_t2_packed_bytes(int32_t rows, int32_t k);

/* Pack row-major int8 weights w[rows][k] in {-1,0,1} into out (packed_bytes).
 * Padding weights get code 0. CT_E_RANGE if any weight is outside {-1,0,1}. */
ct_status ct_t2_pack(const int8_t *w, int32_t rows, int32_t k, uint8_t *out, int64_t out_bytes);

/* Unpack into row-major int8 w[rows][k]. CT_E_CODE if a code 3 is found. */
ct_status ct_t2_unpack(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w);

/* ---- T3 storage packing: base 3, 5 weights per byte (1.6 bits) ---------- */

/* Bytes for n weights: ceil(n / 5). */
int64_t ct_t3_packed_bytes(int64_t n);

/* byte = sum_{i<5} (w[5b+i] + 1) * 3^i; missing trailing weights count as
 * code 0. CT_E_RANGE for a weight outside {-1,0,1}. */
ct_status ct_t3_pack(const int8_t *w, int64_t n, uint8_t *out, int64_t out_bytes);

/* ---- layers and whole networks ------------------------------------------- */

/* Layer kinds (docs/format.md, 1.2). Activations between layers are int8
 * tensors (h, w, c) stored channels last: element (y, x, ch) of a sample at
 * (y * w + x) * c + ch; a vector of n values is the tensor (1, 1, n). */
typedef enum ct_layer_kind {
    CT_LAYER_DENSE = 0,     /* a vector in, a vector out */
    CT_LAYER_CONV2D = 1,    /* ternary 2-D convolution, groups 1 or depthwise */
    CT_LAYER_MAXPOOL2D = 2, /* integer max over windows, per channel */
    CT_LAYER_FLATTEN = 3,   /* (h, w, c) -> (1, 1, h * w * c): the same bytes */
    CT_LAYER_KIND_COUNT = 4
} ct_layer_kind;

/* One layer of the integer contract.
 *   w:        T2 packed, n_out rows of n_in weights
 *   bias:     n_out int32 values, |bias| <= CT_MAX_BIAS
 *   shift:    0 .. CT_MAX_SHIFT for a hidden layer (requantize + ReLU),
 *             CT_SHIFT_OUTPUT for the output layer (int32 logits)
 *   act_bits: a hidden layer's activation bits, 1, 2, 4 or 7: it requantizes
 *             to 0 .. 2^act_bits - 1 (7 is the 0 .. 127 of models without the
 *             field); CT_ACT_BITS_OUTPUT (0) for the output layer. Anything
 *             else is CT_E_RANGE: 0 is not a default for a hidden layer, so a
 *             caller that forgets the field gets an error, not 7 bits. It sits
 *             before the pointers so that an old positional initializer
 *             {n_in, n_out, shift, w, bias} does not compile. */
typedef struct ct_layer {
    int32_t n_in;
    int32_t n_out;
    int32_t shift;
    int32_t act_bits;
    const uint8_t *w;
    const int32_t *bias;
    /* The kind and its geometry. A struct zeroed before the fields above are
     * set is a dense layer, as every layer was before kinds existed. For a
     * kind other than dense, n_in and n_out are the element counts of its
     * input and output tensors (in_h * in_w * in_c, out_h * out_w * out_c),
     * which ct_net_check holds against the geometry. */
    int32_t kind;                /* ct_layer_kind */
    int32_t in_h, in_w, in_c;    /* conv2d, maxpool2d, flatten: the input tensor */
    int32_t out_c;               /* conv2d: output channels */
    int32_t kh, kw;              /* conv2d: kernel; maxpool2d: window */
    int32_t stride_h, stride_w;  /* conv2d, maxpool2d: >= 1 */
    int32_t pad_top, pad_bottom; /* conv2d: rows of zeros read above and below */
    int32_t pad_left, pad_right; /* conv2d: columns of zeros read left and right */
    int32_t groups;              /* conv2d: 1, or in_c with out_c == in_c (depthwise) */
    /* Optional, dense and conv2d (groups 1) layers: the same weights as w as
     * popcount masks (ct_tm_pack of w's rows: n_out x n_in, or out_c x K),
     * or NULL. When set and the layer reads activations of 1, 2 or 4 bits,
     * ct_net_forward runs it through the popcount kernels (docs/kernels.md,
     * "Popcount kernels"): the same int32 sums as w gives. Ignored everywhere
     * else (the first layer, 7-bit inputs, depthwise layers, ct_dense_acc,
     * ct_conv_acc_*, the trainers). A zeroed struct leaves it NULL. */
    const uint64_t *pc_w;
} ct_layer;
/* conv2d: w is T2 packed with out_c rows of kh * kw * (in_c / groups)
 * weights, each row the filter [kh][kw][in_c / groups] in row-major order;
 * bias has out_c values. shift and act_bits as for a hidden dense layer (a
 * convolution is never the output layer). maxpool2d and flatten have no w,
 * bias or shift: w and bias are NULL, shift and act_bits 0. */

/* acc[b][j] = bias[j] + sum_i w[j][i] * x[b][i] for b < batch.
 * x: batch rows of x_stride int8 values (x_stride >= padded k, the padding
 * is ignored by the reference and must be zero for the SIMD kernels);
 * acc: batch rows of n_out int32. */
ct_status ct_dense_acc(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                       int32_t *acc);

/* y = clamp((acc + round) >> shift, 0, 2^act_bits - 1), written as int8 into
 * rows of y_stride (>= n), with y[n .. y_stride) set to zero. act_bits is 1,
 * 2, 4 or 7 (CT_E_RANGE otherwise). */
ct_status ct_requantize_bits(const int32_t *acc, int32_t batch, int32_t n, int32_t shift,
                             int32_t act_bits, int8_t *y, int32_t y_stride);

/* ct_requantize_bits with 7 bits (0 .. 127), as before activation bits. */
ct_status ct_requantize(const int32_t *acc, int32_t batch, int32_t n, int32_t shift, int8_t *y,
                        int32_t y_stride);

/* Checks a chain of layers against the contract (docs/format.md 1.2): each
 * layer on its own, then that the last layer (and only it) is a dense output
 * layer, and that each layer reads the shape the one before writes: a dense
 * layer reads (1, 1, n_in), so after a tensor with h or w above 1 it needs a
 * flatten; any other kind reads (in_h, in_w, in_c). Layer 0's input is
 * (1, 1, n_in) for dense and (in_h, in_w, in_c) otherwise. Statuses:
 *   CT_E_NULL   dense or conv2d without w or bias;
 *   CT_E_SHAPE  a size < 1 or above its limit (dimensions, kernel, strides,
 *               K = kh * kw * in_c / groups <= CT_MAX_INPUTS, every tensor
 *               <= 2^20 elements), an output dimension < 1, depthwise out_c
 *               != in_c, n_in / n_out not the element counts of the geometry;
 *   CT_E_RANGE  an unknown kind; shift, act_bits or a bias outside its range
 *               (conv2d is hidden: shift 0 .. CT_MAX_SHIFT, act_bits 1, 2, 4,
 *               7); padding outside 0 .. kernel - 1 (maxpool2d: not 0);
 *               groups neither 1 nor in_c; w, bias, shift or act_bits set on
 *               a maxpool2d or flatten layer;
 *   CT_E_CHAIN  shapes of consecutive layers differ, an output layer before
 *               the end, or a last layer that is not a dense output layer.
 * Geometry fields a kind does not use are ignored (all of them for dense). */
ct_status ct_net_check(const ct_layer *layers, int32_t n_layers);

/* Scratch bytes for ct_net_forward over a batch: activations, accumulators
 * and the convolution scratch (decoded weights, one im2col tile per thread
 * the work can use), whatever kernels and thread count are chosen later. */
ct_status ct_net_scratch_bytes(const ct_layer *layers, int32_t n_layers, int32_t batch,
                               int64_t *bytes);

/* Whole-network forward. x: batch samples of n_in(layer 0) int8 in 0..127
 * (CT_E_RANGE otherwise), each the NHWC tensor layer 0 reads; logits: batch
 * rows of n_out(last) int32. */
ct_status ct_net_forward(const ct_layer *layers, int32_t n_layers, const int8_t *x, int32_t batch,
                         int32_t *logits, void *scratch, int64_t scratch_bytes);

/* ---- kernel registry (the dispatch seam) --------------------------------- */

/* Kernel families. Each family has a scalar reference ("ref", the
 * specification) and may have SIMD variants; one is chosen at initialisation
 * from CPUID / HWCAP. Names follow ct_<weights>_<acts>_<op>__<isa>, e.g.
 * ct_t2_s8_gemv__avx2 (docs/kernels.md lists them all).
 *   GEMM:  the batched forward, acc[b][j] = bias[j] + sum_i w[j][i] x[b][i],
 *          used by ct_dense_acc for batch >= 4;
 *   GEMV:  the same contract, tuned for one column, used for batch < 4;
 *   T2_PACK / T2_UNPACK: the kernels behind ct_t2_pack / ct_t2_unpack;
 *   TRAIN_*: the trainer's inner loops (conntra_train.h, docs/trainer.md);
 *   CONV2D:  conv2d layers with groups 1 (ct_conv_acc_with);
 *   DWCONV2D: depthwise conv2d layers, groups == in_c > 1;
 *   BP_PACK: int8 activations of 1, 2 or 4 bits -> bit planes (ct_bp_pack);
 *   TM_BP_MM: dense sums from popcount masks and bit planes (GEMV and GEMM
 *          in one kernel: samples go 4 at a time over each weight row);
 *   TM_PACK: T2 weights -> popcount masks (ct_tm_pack). */
typedef enum ct_family {
    CT_FAMILY_GEMM = 0,
    CT_FAMILY_GEMV = 1,
    CT_FAMILY_T2_PACK = 2,
    CT_FAMILY_T2_UNPACK = 3,
    CT_FAMILY_TRAIN_AXPY = 4,                 /* trainer: acc[b] += d * x[b] */
    CT_FAMILY_TRAIN_REQUANT_DIFF = 5,         /* trainer: samples whose activation moves */
    CT_FAMILY_TRAIN_CE_OUT_DELTA = 6,         /* trainer: loss change of one output row */
    CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA = 7, /* trainer: ... of one last-hidden neuron */
    CT_FAMILY_CONV2D = 8,                     /* conv2d layers with groups 1 */
    CT_FAMILY_DWCONV2D = 9,                   /* depthwise conv2d layers (groups == in_c > 1) */
    CT_FAMILY_BP_PACK = 10,                   /* int8 activations -> bit planes */
    CT_FAMILY_TM_BP_MM = 11,                  /* dense sums from masks and bit planes */
    CT_FAMILY_TM_PACK = 12,                   /* T2 weights -> popcount masks */
    CT_FAMILY_COUNT = 13
} ct_family;

/* Number of registered kernels (all families, all ISAs). */
int32_t ct_kernel_count(void);

/* Name, family, ISA and whether this CPU can run kernel i. */
ct_status ct_kernel_info(int32_t i, const char **name, int32_t *family, const char **isa,
                         int32_t *supported);

/* Short name of a family ("gemm", "gemv", "t2_pack", "t2_unpack", ...,
 * "conv2d", "dwconv2d"); NULL if the family is unknown. */
const char *ct_family_name(int32_t family);

/* Runs registered kernel `kernel` (family GEMM or GEMV) with the arguments of
 * ct_dense_acc, on the calling thread; CT_E_UNKNOWN if it is not such a
 * kernel, CT_E_STATE if this CPU cannot run it. Tests and benchmarks use it. */
ct_status ct_dense_acc_with(int32_t kernel, const ct_layer *layer, const int8_t *x,
                            int32_t x_stride, int32_t batch, int32_t *acc);

/* Scratch bytes for ct_conv_acc_with / ct_conv_acc_mt on a conv2d layer and
 * a batch (the same for every kernel and thread count); 0 for the other
 * kinds, which need none. The statuses of ct_net_check for one layer,
 * CT_E_SHAPE for batch < 1. */
ct_status ct_layer_scratch_bytes(const ct_layer *layer, int32_t batch, int64_t *bytes);

/* Runs registered kernel `kernel` (family CONV2D for groups 1, DWCONV2D for a
 * depthwise layer) on a conv2d layer, on the calling thread:
 *   acc[b][oy][ox][co] = bias[co] + sum_{ky, kx, g} w[co][ky][kx][g] *
 *                        in_b(oy * stride_h + ky - pad_top, ox * stride_w + kx - pad_left, c)
 * with c = g (groups 1) or co (depthwise) and in_b 0 outside the image: the
 * accumulators before requantization. x: batch samples of n_in int8 in
 * 0 .. 127 (in_h x in_w x in_c, NHWC; CT_E_RANGE for a negative value); acc:
 * batch x n_out int32 (out_h x out_w x out_c, NHWC); scratch: at least
 * ct_layer_scratch_bytes bytes, any alignment (CT_E_SCRATCH otherwise).
 * CT_E_UNKNOWN if it is not a kernel of the layer's family, CT_E_STATE if
 * this CPU cannot run it, CT_E_RANGE for a layer that is not conv2d, plus
 * the statuses of ct_layer_scratch_bytes and CT_E_NULL. Tests and benchmarks
 * use it. */
ct_status ct_conv_acc_with(int32_t kernel, const ct_layer *layer, const int8_t *x, int32_t batch,
                           int32_t *acc, void *scratch, int64_t scratch_bytes);

/* The same with the kernel dispatched for the layer's family, on n_threads
 * threads (0: the default count; CT_E_RANGE outside 0 .. CT_MAX_THREADS). The
 * threads split output positions, so the bits do not depend on the count. */
ct_status ct_conv_acc_mt(const ct_layer *layer, const int8_t *x, int32_t batch, int32_t *acc,
                         void *scratch, int64_t scratch_bytes, int32_t n_threads);

/* Runs registered kernel `kernel` of family T2_PACK (the arguments and
 * statuses of ct_t2_pack) or T2_UNPACK (those of ct_t2_unpack). On an error
 * status the output buffer holds unspecified bytes. */
ct_status ct_t2_pack_with(int32_t kernel, const int8_t *w, int32_t rows, int32_t k, uint8_t *out,
                          int64_t out_bytes);
ct_status ct_t2_unpack_with(int32_t kernel, const uint8_t *packed, int32_t rows, int32_t k,
                            int8_t *w);

/* Index of the kernel currently dispatched for a family. */
ct_status ct_kernel_active(int32_t family, int32_t *index);

/* Force one kernel (tests, benchmarks) or, with index -1, re-read the
 * environment and re-run the automatic choice, which honours
 * CONNTRA_FORCE_SCALAR=1 (every family uses its ref kernel; 0 or unset: off)
 * and CONNTRA_KERNELS=a,b,... (only kernels whose ISA or name is listed, plus
 * the ref kernels, are eligible; e.g. CONNTRA_KERNELS=neon keeps a dotprod CPU
 * on the plain NEON kernels; each item must be a known ISA or kernel name of
 * any architecture). CT_E_ENV (choice unchanged) for any other value. Not
 * thread-safe against running kernels: call it while no forward is running. */
ct_status ct_kernel_select(int32_t family, int32_t index);

/* Run one registered trainer kernel by index (tests, benchmarks), with the
 * arguments of its family (ct_internal.h / docs/trainer.md): TRAIN_AXPY
 * acc[b] += d * x[b]; TRAIN_REQUANT_DIFF writes *count (index, change) pairs;
 * TRAIN_CE_OUT_DELTA writes *delta, with tab pointing at the centre of an
 * exp(m / T) table covering every d * x[b] (|d| <= 2, else CT_E_RANGE; x in
 * 0 .. 127 with a table of |m| <= 254 as the trainer builds it).
 * CT_E_UNKNOWN for a kernel of another family, CT_E_STATE if this CPU cannot
 * run it, CT_E_NULL, CT_E_SHAPE for n < 0, CT_E_RANGE for a shift outside
 * 0 .. CT_MAX_SHIFT or (TRAIN_REQUANT_DIFF) act_bits not 1, 2, 4 or 7. */
ct_status ct_train_axpy_with(int32_t kernel, int32_t *acc, const int8_t *x, int32_t d, int32_t n);
ct_status ct_train_requant_diff_with(int32_t kernel, const int32_t *acc, const int8_t *x, int32_t d,
                                     int32_t n, int32_t shift, int32_t act_bits, const int8_t *act,
                                     int32_t *idx, int32_t *da, int32_t *count);
ct_status ct_train_ce_out_delta_with(int32_t kernel, const int8_t *x, int32_t d, int32_t n,
                                     const int32_t *y, int32_t cls, const double *e_row,
                                     const double *sminus, const double *lns, const double *tab,
                                     double inv_t, double *delta);
/* TRAIN_CE_LAST_HIDDEN_DELTA: *delta for activation changes da[s] (|da| <= 127,
 * else CT_E_RANGE) in samples idx[s] (rows of e, sample-major with `classes`
 * columns, and of lns), outgoing weights col[0 .. classes) in -1..1 and labels
 * y[idx[s]] in 0 .. classes-1 (else CT_E_RANGE); tab as above (|m| <= 127). */
ct_status ct_train_ce_last_hidden_delta_with(int32_t kernel, const int32_t *idx, const int32_t *da,
                                             int32_t n, const int8_t *col, int32_t classes,
                                             const double *e, const double *lns, const int32_t *y,
                                             const double *tab, double inv_t, double *delta);

/* ---- popcount kernels for low-bit activations (docs/kernels.md) ---------- */

/* Popcount masks of ternary weights ("tm"): each row of k weights is
 * ceil(k / 256) chunks of 8 uint64 words, the first 4 the bits of w = +1
 * (P), the last 4 those of w = -1 (N), weight i of the chunk at bit i % 64 of
 * word i / 64; the padding is zero. *words = rows * 8 * ceil(k / 256).
 * CT_E_NULL, CT_E_SHAPE for rows or k outside 1 .. 2^20. */
ct_status ct_tm_words(int32_t rows, int32_t k, int64_t *words);

/* T2 packed weights (rows x k, as ct_t2_pack writes them) -> masks of
 * n_words >= ct_tm_words words. CT_E_CODE for a code 3 among the k weights
 * of a row (padding codes are ignored), CT_E_SCRATCH if n_words is short,
 * plus the statuses of ct_tm_words; the dispatched TM_PACK kernel. Runs
 * once, when a network is loaded. */
ct_status ct_tm_pack(const uint8_t *t2, int32_t rows, int32_t k, uint64_t *masks, int64_t n_words);

/* ct_tm_pack with registered kernel `kernel` of family TM_PACK (tests,
 * benchmarks); on an error status the masks hold unspecified words. */
ct_status ct_tm_pack_with(int32_t kernel, const uint8_t *t2, int32_t rows, int32_t k,
                          uint64_t *masks, int64_t n_words);

/* Bit planes of activations ("bp"): a sample of k values of `bits` bits (1,
 * 2 or 4) is `bits` planes of 4 * ceil(k / 256) uint64 words, plane b holding
 * bit b of value i at bit i % 64 of word i / 64, the padding zero; samples
 * follow one another. *words = batch * bits * 4 * ceil(k / 256). CT_E_NULL,
 * CT_E_SHAPE for batch < 1 or k outside 1 .. 2^20, CT_E_RANGE for bits not
 * 1, 2 or 4. */
ct_status ct_bp_words(int32_t batch, int32_t k, int32_t bits, int64_t *words);

/* int8 activations (batch rows of k values at x + b * x_stride, each in
 * 0 .. 2^bits - 1) -> bit planes of n_words >= ct_bp_words words, through
 * the dispatched kernel (ct_bp_pack) or registered kernel `kernel` of family
 * BP_PACK (ct_bp_pack_with). CT_E_RANGE (planes unspecified) for a value
 * outside 0 .. 2^bits - 1, CT_E_SHAPE for x_stride < k, CT_E_SCRATCH if
 * n_words is short, plus the statuses of ct_bp_words and of the registry. */
ct_status ct_bp_pack(const int8_t *x, int32_t x_stride, int32_t batch, int32_t k, int32_t bits,
                     uint64_t *planes, int64_t n_words);
ct_status ct_bp_pack_with(int32_t kernel, const int8_t *x, int32_t x_stride, int32_t batch,
                          int32_t k, int32_t bits, uint64_t *planes, int64_t n_words);

/* acc[b][j] = bias[j] + sum_i w[j][i] * x[b][i] for a dense layer whose
 * pc_w holds its masks and x given as bit planes (ct_bp_pack, `bits` bits,
 * k = n_in): the sums ct_dense_acc gives for the same values. Registered
 * kernel `kernel` of family TM_BP_MM on the calling thread (tests and
 * benchmarks), or the dispatched one on n_threads threads (0: the default).
 * CT_E_NULL (pc_w, bias, planes or acc NULL), CT_E_RANGE for bits not 1, 2
 * or 4 or a layer that is not dense, CT_E_SHAPE for batch < 1, plus the
 * statuses of ct_layer_check and of the registry. */
ct_status ct_pc_dense_acc_with(int32_t kernel, const ct_layer *layer, const uint64_t *planes,
                               int32_t bits, int32_t batch, int32_t *acc);
ct_status ct_pc_dense_acc_mt(const ct_layer *layer, const uint64_t *planes, int32_t bits,
                             int32_t batch, int32_t *acc, int32_t n_threads);

/* ---- threads -------------------------------------------------------------- */

enum { CT_MAX_THREADS = 64 };

/* The default thread count of ct_dense_acc and ct_net_forward: 1 unless
 * CONNTRA_NUM_THREADS (1 .. CT_MAX_THREADS) says otherwise on first use.
 * Any other value is CT_E_ENV from ct_init and from the calls that start
 * threads; this function then reports 1. */
int32_t ct_num_threads(void);

/* Sets the default thread count: 1 .. CT_MAX_THREADS, or 0 to re-read
 * CONNTRA_NUM_THREADS (CT_E_ENV, count unchanged, for a value not allowed);
 * CT_E_RANGE otherwise. Results never depend on it: threads split output
 * rows, so every sum is formed by one thread in one order. */
ct_status ct_set_num_threads(int32_t n);

/* ct_dense_acc with an explicit thread count (0: the default above). Small
 * problems run on the calling thread whatever the count. CT_E_RANGE for a
 * count outside 0 .. CT_MAX_THREADS, plus the statuses of ct_dense_acc. */
ct_status ct_dense_acc_mt(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                          int32_t *acc, int32_t n_threads);

/* ---- benchmarks ------------------------------------------------------------ */

/* Reads n bytes once and folds them into *out (XOR of 64-bit words): the plain
 * memory read that benchmarks compare a GEMV kernel's weight stream with.
 * CT_E_NULL, CT_E_SHAPE for n < 0. */
ct_status ct_read_bytes(const uint8_t *p, int64_t n, uint64_t *out);

/* ct_read_bytes with `streams` (1, 2, 4 or 8; CT_E_RANGE otherwise) equal
 * contiguous parts read concurrently, two cache lines from each per step:
 * the access pattern of a GEMV walking that many rows at once. */
ct_status ct_read_streams(const uint8_t *p, int64_t n, int32_t streams, uint64_t *out);

/* The single-thread memory read ceiling: reads a fresh buffer of `bytes`
 * (>= 4096, else CT_E_SHAPE; make it several times the L3) with 1, 2, 4 and
 * 8 streams, `rounds` interleaved rounds (>= 1), and stores each count's best
 * GB/s in gbs[0..3] and the fastest count in *best_streams. CT_E_NOMEM if the
 * buffer cannot be allocated. */
ct_status ct_read_ceiling(int64_t bytes, int32_t rounds, double gbs[4], int32_t *best_streams);

/* Rows the VNNI GEMV kernels walk at once (concurrent weight streams): 1, 2,
 * 4 or 8, else CT_E_RANGE. The default comes from CONNTRA_GEMV_STREAMS (a
 * count, or auto: measured by ct_read_ceiling once per process), else 1.
 * Results never depend on it. */
ct_status ct_set_gemv_streams(int32_t streams);
int32_t ct_get_gemv_streams(void);

/* CT_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* CONNTRA_H */
