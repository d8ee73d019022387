/*
 * Internal declarations shared by the C core's translation units.
 * Not part of the public API and not read by cffi.
 */
#ifndef CT_INTERNAL_H
#define CT_INTERNAL_H

#include "conntra.h"
#include "core/ct_kernels.h"

/* Bytes per packed row: padded k / 4 (4 weights per byte). */
static inline int64_t ct_t2_row_bytes(int32_t k) {
    return (int64_t)ct_t2_padded_k(k) / 4;
}

/* T2 address of weight (row, col): byte offset and bit shift.
 * Within a 128-weight block, byte j holds weights j, j+32, j+64, j+96 at bit
 * offsets 0, 2, 4, 6: one 32-byte load and four shift+mask steps give four
 * runs of 32 consecutive weights, which is what the SIMD kernels want. */
static inline int64_t ct_t2_byte_index(int32_t k, int32_t row, int32_t col) {
    return (int64_t)row * ct_t2_row_bytes(k) + (int64_t)(col / CT_BLOCK) * CT_BLOCK_BYTES +
           (col % 32);
}
static inline unsigned ct_t2_bit_shift(int32_t col) {
    return (unsigned)(2 * ((col % CT_BLOCK) / 32));
}

/* Whether act_bits is a hidden layer's activation bits (1, 2, 4, 7), and the
 * largest activation 2^bits - 1 it allows. */
static inline int ct_act_bits_ok(int32_t act_bits) {
    return act_bits == 1 || act_bits == 2 || act_bits == 4 || act_bits == 7;
}
static inline int32_t ct_act_max_of(int32_t act_bits) {
    return ((int32_t)1 << act_bits) - 1;
}

/* Whether any of x[0 .. n) is negative (outside the contract's 0 .. 127).
 * The OR of the bytes over blocks, with no exit inside a block, so the
 * compiler vectorises it. */
static inline int ct_any_negative(const int8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 4096) {
        const int64_t m = n - i < 4096 ? n - i : 4096;
        unsigned char bits = 0;
        for (int64_t j = 0; j < m; ++j) bits |= (unsigned char)x[i + j];
        if (bits & 0x80u) return 1;
    }
    return 0;
}

/* The contract's requantization of one pre-activation: clamp((a + round) >>
 * shift, 0, act_max), act_max = 2^bits - 1 of the layer. Negative sums clamp
 * to 0 before the shift, so only non-negative values are shifted (C leaves >>
 * of negatives to the implementation); the sum is int64 so any int32 a is
 * safe, not only those the contract produces. Every scalar path (forward,
 * trainer) uses this. */
static inline int32_t ct_requant1(int32_t a, int32_t shift, int32_t act_max) {
    const int64_t t = shift > 0 ? (int64_t)a + ((int64_t)1 << (shift - 1)) : (int64_t)a;
    if (t <= 0) return 0;
    const int64_t q = t >> shift;
    return q > act_max ? act_max : (int32_t)q;
}

/* The row loop of the SIMD T2 packers: full 128-weight blocks go straight to
 * `block`, the partial last block of a row through a staging buffer padded
 * with w = -1 (code 0, zero bits). `block` is that ISA's packer of one
 * block; one direct call per 128 weights is nothing next to the block's work,
 * and packing runs once, at load time. */
static inline void ct_t2_pack_rows(const int8_t *w, int32_t rows, int32_t k, uint8_t *out,
                                   void (*block)(const int8_t *w, uint8_t *out)) {
    const int32_t full = k / CT_BLOCK, tail = k % CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(k);
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *wr = w + (int64_t)r * k;
        uint8_t *o = out + r * rb;
        for (int32_t blk = 0; blk < full; ++blk) {
            block(wr + blk * CT_BLOCK, o + blk * CT_BLOCK_BYTES);
        }
        if (tail) {
            int8_t stage[CT_BLOCK];
            for (int32_t i = 0; i < CT_BLOCK; ++i) {
                stage[i] = (int8_t)(i < tail ? wr[full * CT_BLOCK + i] : -1);
            }
            block(stage, o + full * CT_BLOCK_BYTES);
        }
    }
}

/* Validates one layer on its own (docs/format.md 1.1, 1.2): its kind, sizes,
 * geometry, shift, activation bits and biases. Statuses:
 *   CT_E_NULL   a dense or conv2d layer without w or bias;
 *   CT_E_SHAPE  a size is < 1 or above its limit (n_in, n_out, in_h, in_w,
 *               in_c, out_c, kh, kw, strides, K, a tensor's elements), an
 *               output dimension comes out < 1, a depthwise out_c differs from
 *               in_c, or n_in / n_out differ from the element counts of the
 *               geometry;
 *   CT_E_RANGE  a value outside its set: the kind, shift, act_bits, a bias,
 *               a padding outside 0 .. kernel - 1 (maxpool2d: not 0), groups
 *               neither 1 nor in_c, and w, bias, shift or act_bits set on a
 *               maxpool2d or flatten layer.
 * Geometry fields a kind does not use are ignored (all of them for dense). */
ct_status ct_layer_check(const ct_layer *layer);

/* The tensor shape (h, w, c) of one sample. */
typedef struct ct_shape {
    int32_t h, w, c;
} ct_shape;

/* The shapes a checked layer reads and writes: dense (1, 1, n_in) ->
 * (1, 1, n_out); the other kinds (in_h, in_w, in_c) -> their output. */
ct_shape ct_layer_in_shape(const ct_layer *layer);
ct_shape ct_layer_out_shape(const ct_layer *layer);

/* Validates the arguments of ct_dense_acc (and of ct_dense_acc_with). */
ct_status ct_dense_args_check(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                              int32_t batch, const int32_t *acc);

/* Signature of ct_dense_acc once its arguments are validated: what
 * ct_active_dense_acc() returns (GEMV or GEMM by batch, threads). */
typedef void (*ct_dense_acc_fn)(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                                int32_t batch, int32_t *acc);

/* Kernel signature of the GEMM and GEMV families: acc[b * acc_stride + j]
 * for b < batch, j < n_out. The stride lets a thread own a range of rows
 * (a sub-layer) and still write into the caller's full accumulator.
 * Arguments are validated; x rows are zero from n_in to the padded k. */
typedef void ct_mm_kernel(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                          int32_t *acc, int32_t acc_stride);

/* Kernel signatures of the T2_PACK / T2_UNPACK families (dimensions and
 * pointers validated). Pack returns CT_E_RANGE (out untouched) for a weight
 * outside {-1,0,1}; unpack returns CT_E_CODE for a code 3. */
typedef ct_status ct_pack_kernel(const int8_t *w, int32_t rows, int32_t k, uint8_t *out);
typedef ct_status ct_unpack_kernel(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w);

/* Trainer kernels (docs/trainer.md), arguments validated by the caller:
 * axpy:          acc[b] += d * x[b] for b < n.
 * requant_diff:  for each b with x[b] != 0, the activation of acc[b] + d * x[b]
 *                under `shift`, clamped to 0 .. act_max (2^bits - 1 of the
 *                layer); where it differs from act[b], appends b to idx
 *                and the difference to da. Returns the count.
 * ce_out_delta:  the change of sum_b loss[b] when logit row `cls` moves by
 *                d * x[b]: per sample with x[b] != 0,
 *                log(sminus[b] + e[b] * tab[d * x[b]]) - lns[b]
 *                - (y[b] == cls) * d * x[b] * inv_t, where e = exp((z - zmax)/T)
 *                of class cls, sminus the other classes' sum, lns = log of the
 *                full sum, tab[m] = exp(m/T) (centred, valid for |m| <= 254). */
typedef void ct_train_axpy_kernel(int32_t *acc, const int8_t *x, int32_t d, int32_t n);
typedef int32_t ct_train_requant_diff_kernel(const int32_t *acc, const int8_t *x, int32_t d,
                                             int32_t n, int32_t shift, int32_t act_max,
                                             const int8_t *act, int32_t *idx, int32_t *da);
typedef double ct_train_ce_out_delta_kernel(const int8_t *x, int32_t d, int32_t n, const int32_t *y,
                                            int32_t cls, const double *e, const double *sminus,
                                            const double *lns, const double *tab, double inv_t);

/* ce_last_hidden_delta: the loss change when the activation of one neuron of
 * the last hidden layer moves by da[s] in samples idx[s] (s < n): its outgoing
 * weights col[k] (k < classes, in -1..1) move logit k by col[k] * da[s]; e
 * holds exp((z - zmax)/T) sample-major (e[b * classes + k]); |da| <= 127. */
typedef double ct_train_ce_last_hidden_delta_kernel(const int32_t *idx, const int32_t *da,
                                                    int32_t n, const int8_t *col, int32_t classes,
                                                    const double *e, const double *lns,
                                                    const int32_t *y, const double *tab,
                                                    double inv_t);

/* Arguments of a convolution kernel (families CONV2D and DWCONV2D), all
 * validated by the caller (core/ct_conv.c):
 *   x:       batch samples of (in_h, in_w, in_c) int8 in 0 .. 127, sample b
 *            at x + b * x_stride;
 *   acc:     batch x out_h x out_w x out_c int32 (NHWC), bias included;
 *   shared:  64-aligned scratch every thread reads (decoded weights), of
 *            ct_conv_plan's shared_bytes;
 *   slots:   n_slots per-thread regions of slot_bytes each (64-aligned).
 * Output position p (0 .. batch * out_h * out_w - 1) is (b, oy, ox) in that
 * order, its out_c sums at acc + p * out_c. */
typedef struct ct_conv_args {
    const ct_layer *layer;
    const int8_t *x;
    int64_t x_stride;
    int32_t batch;
    int32_t out_h, out_w;
    int32_t g; /* input channels per filter: in_c (groups 1) or 1 (depthwise) */
    int32_t k; /* inputs per output: kh * kw * g */
    int32_t *acc;
    uint8_t *shared;
    uint8_t *slots;
    int64_t slot_bytes;
    int32_t n_slots;
    int32_t tile_rows; /* conv2d: positions per im2col tile */
    int32_t kc;        /* conv2d: inputs per im2col chunk (a multiple of 16) */
    int32_t steps;     /* conv2d: groups of 4 inputs an int16 lane may sum (ct_conv_decode) */
} ct_conv_args;

/* Kernel signature of the CONV2D and DWCONV2D families: fills a->acc on up to
 * n_threads threads (>= 1; ct_conv_parallel splits the output positions). */
typedef void ct_conv_kernel(const ct_conv_args *a, int32_t n_threads);

/* Popcount kernels (docs/kernels.md, "Popcount kernels"), arguments
 * validated by the caller:
 * bp_pack: one sample, x[0 .. k) each in 0 .. 2^bits - 1 (bits 1, 2 or 4),
 *          into `bits` planes of 4 * chunks words (chunks = ceil(k / 256)),
 *          the padding bits zero;
 * pc_mm:   acc[b * acc_stride + j] = bias[j] + sum over planes p of
 *          2^p * (popcount(P_j & X_bp) - popcount(N_j & X_bp)) for j < n_out,
 *          b < batch: w holds n_out mask rows of 8 * chunks words, x the
 *          batch samples of bits * 4 * chunks words each. */
typedef void ct_bp_pack_kernel(const int8_t *x, int32_t k, int32_t bits, uint64_t *planes);
/* tm_pack: rows x k T2 weights -> masks (all rows x 8 * chunks words written),
 * CT_E_CODE for a code 3 among the k weights of a row. */
typedef ct_status ct_tm_pack_kernel(const uint8_t *t2, int32_t rows, int32_t k, uint64_t *masks);
typedef void ct_pc_mm_kernel(const uint64_t *w, const int32_t *bias, int32_t n_out, int32_t chunks,
                             const uint64_t *x, int32_t bits, int32_t batch, int32_t *acc,
                             int32_t acc_stride);
enum {
    /* weights per chunk: one AVX2 vector per mask, one AVX-512 vector for
     * both masks of a chunk (a 512-bit unit would pad a 256-wide layer to
     * twice its work) */
    CT_PC_CHUNK_BITS = 256,
    CT_PC_CHUNK_WORDS = 4 /* uint64 words of one mask or plane chunk */
};
static inline int32_t ct_pc_chunks(int32_t k) {
    return (k + CT_PC_CHUNK_BITS - 1) / CT_PC_CHUNK_BITS;
}

/* The row and sample loops of a SIMD popcount kernel (ct_pc_mm_kernel),
 * instantiated in each ISA's file around its own
 *     static void pc_row(const uint64_t *w, int32_t chunks, const uint64_t *x,
 *                        int64_t sample_words, int32_t bits, int ns, int64_t *sum)
 * (sum[s] = the dot product of row w with sample s of x, s < ns): samples go
 * 4 at a time over each weight row, so a row's masks are read once per 4. */
#define CT_PC_MM_LOOPS(ATTR, NAME)                                                             \
    ATTR void NAME(const uint64_t *w, const int32_t *bias, int32_t n_out, int32_t chunks,      \
                   const uint64_t *x, int32_t bits, int32_t batch, int32_t *acc,               \
                   int32_t acc_stride) {                                                       \
        const int64_t row_words = 2 * (int64_t)chunks * CT_PC_CHUNK_WORDS;                     \
        const int64_t sample_words = (int64_t)bits * chunks * CT_PC_CHUNK_WORDS;               \
        int32_t b = 0;                                                                         \
        for (; b + 4 <= batch; b += 4) {                                                       \
            for (int32_t j = 0; j < n_out; ++j) {                                              \
                int64_t sum[4];                                                                \
                pc_row(w + j * row_words, chunks, x + b * sample_words, sample_words, bits, 4, \
                       sum);                                                                   \
                for (int s = 0; s < 4; ++s) {                                                  \
                    acc[(int64_t)(b + s) * acc_stride + j] = (int32_t)(bias[j] + sum[s]);      \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (; b < batch; ++b) {                                                               \
            for (int32_t j = 0; j < n_out; ++j) {                                              \
                int64_t sum[1];                                                                \
                pc_row(w + j * row_words, chunks, x + b * sample_words, sample_words, bits, 1, \
                       sum);                                                                   \
                acc[(int64_t)b * acc_stride + j] = (int32_t)(bias[j] + sum[0]);                \
            }                                                                                  \
        }                                                                                      \
    }

/* Input bits of layer l in a checked network: those of the last layer before
 * it that requantizes (maxpool2d and flatten keep the range), or 7 for the
 * network's input. */
int32_t ct_net_in_bits(const ct_layer *layers, int32_t l);

/* Runs the dispatched popcount kernel over validated arguments, splitting
 * rows over n_threads (>= 1) as ct_dense_run does. */
void ct_pc_run(const ct_layer *layer, const uint64_t *planes, int32_t bits, int32_t batch,
               int32_t *acc, int32_t n_threads);

/* conv2d (groups 1) through the popcount kernels on the calling thread
 * (ct_pc_conv.c): a checked layer with pc_w, inputs of `bits` bits (1, 2, 4)
 * at x + b * x_stride, acc as ct_conv_run writes it; scratch 64-aligned, of
 * ct_pc_conv_scratch_bytes. */
int64_t ct_pc_conv_scratch_bytes(const ct_layer *layer, int32_t bits);
void ct_pc_conv_run(const ct_layer *layer, const int8_t *x, int64_t x_stride, int32_t batch,
                    int32_t bits, int32_t *acc, uint8_t *scratch);

/* Pointers to them. */
typedef ct_mm_kernel *ct_mm_fn;
typedef ct_conv_kernel *ct_conv_fn;
typedef ct_bp_pack_kernel *ct_bp_pack_fn;
typedef ct_pc_mm_kernel *ct_pc_mm_fn;
typedef ct_tm_pack_kernel *ct_tm_pack_fn;
typedef ct_pack_kernel *ct_pack_fn;
typedef ct_unpack_kernel *ct_unpack_fn;
typedef ct_train_axpy_kernel *ct_train_axpy_fn;
typedef ct_train_requant_diff_kernel *ct_train_requant_diff_fn;
typedef ct_train_ce_out_delta_kernel *ct_train_ce_out_delta_fn;
typedef ct_train_ce_last_hidden_delta_kernel *ct_train_ce_last_hidden_delta_fn;

/* One registered kernel (a row of the registry in ct_dispatch.c). */
typedef struct ct_kernel_entry {
    const char *name;
    int32_t family;
    const char *isa;
    int (*supported)(void);
    union {
        ct_mm_fn mm;     /* GEMM and GEMV */
        ct_conv_fn conv; /* CONV2D and DWCONV2D */
        ct_bp_pack_fn bp_pack;
        ct_pc_mm_fn pc_mm;
        ct_tm_pack_fn tm_pack;
        ct_pack_fn pack;
        ct_unpack_fn unpack;
        ct_train_axpy_fn train_axpy;
        ct_train_requant_diff_fn train_requant_diff;
        ct_train_ce_out_delta_fn train_ce_out_delta;
        ct_train_ce_last_hidden_delta_fn train_ce_last_hidden_delta;
    } fn;
} ct_kernel_entry;

/* Argument checks of ct_t2_pack / ct_t2_unpack, then the given kernel. */
ct_status ct_t2_pack_checked(ct_pack_fn fn, const int8_t *w, int32_t rows, int32_t k, uint8_t *out,
                             int64_t out_bytes);
ct_status ct_t2_unpack_checked(ct_unpack_fn fn, const uint8_t *packed, int32_t rows, int32_t k,
                               int8_t *w);

/* Registered kernel `kernel` if its family is fam_a or fam_b (CT_E_UNKNOWN
 * otherwise, or for an index out of range) and this CPU runs it (else
 * CT_E_STATE). */
ct_status ct_kernel_lookup(int32_t kernel, int32_t fam_a, int32_t fam_b, const ct_kernel_entry **e);

/* The dispatched kernels (initialise on first use). */
ct_dense_acc_fn ct_active_dense_acc(void);
ct_pack_fn ct_active_t2_pack(void);
ct_unpack_fn ct_active_t2_unpack(void);

/* Runs the dispatched GEMV (batch < CT_GEMM_MIN_BATCH) or GEMM kernel over
 * validated arguments, splitting rows over n_threads (>= 1) when the work is
 * large enough to pay for starting threads. */
enum { CT_GEMM_MIN_BATCH = 4 };
void ct_dense_run(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                  int32_t *acc, int32_t n_threads);

/* maxpool2d over a checked layer: batch samples at x + b * x_stride into
 * y + b * y_stride (n_out bytes each, then zeros up to y_stride, so a dense
 * layer may read whole blocks of the row). */
void ct_maxpool_run(const ct_layer *layer, const int8_t *x, int64_t x_stride, int32_t batch,
                    int8_t *y, int64_t y_stride);

/* CPU features, probed once per process (ct_cpu.c). Each is 0 on other
 * architectures; ct_cpu_any is 1 everywhere (the ref kernels). */
int ct_cpu_any(void);
int ct_cpu_avx2(void);
int ct_cpu_neon(void);
int ct_cpu_neon_dot(void);
int ct_cpu_avx512_vpopcnt(void); /* avx512f + avx512bw + avx512vpopcntdq */
/* x86-64 VNNI: avx512vnni = AVX-512 F/BW/VL/VNNI (+ AVX2); avx512vnni256 =
 * AVX-512 F/VL/VNNI (+ AVX2), enough for the 256-bit EVEX vpdpbusd;
 * avxvnni = AVX2 + the VEX AVX-VNNI encoding. */
int ct_cpu_avx512vnni(void);
int ct_cpu_avx512vnni256(void);
int ct_cpu_avxvnni(void);

/* Rows the VNNI GEMV kernels walk at once, i.e. concurrent read streams
 * through the weights: 1, 2, 4 or 8 (ct_streams.c: CONNTRA_GEMV_STREAMS,
 * ct_set_gemv_streams). Results do not depend on it. */
int32_t ct_gemv_streams(void);
/* CT_OK, or CT_E_ENV when CONNTRA_GEMV_STREAMS holds a value not allowed. */
ct_status ct_streams_status(void);

/* Prototypes of every kernel compiled on this architecture, from the kernel
 * list (ct_kernels.h). */
#define CT_KERNEL_PROTOTYPE(FAMILY, sig, name, isa, arch, supported) \
    CT_ARCH_##arch(ct_##sig##_kernel name;)
CT_KERNELS(CT_KERNEL_PROTOTYPE)

/* The dispatched entry of any family (its union member matches the family).
 * Callers check ct_dispatch_status() first. */
const ct_kernel_entry *ct_active_entry(int32_t family);

/* One-time setup, each through pthread_once, and its outcome: CT_OK, or
 * CT_E_ENV when CONNTRA_FORCE_SCALAR / CONNTRA_KERNELS (dispatch) or
 * CONNTRA_NUM_THREADS (threads) holds a value that is not allowed. */
ct_status ct_dispatch_status(void);
ct_status ct_threads_status(void);

/* Records the detail of a CT_E_ENV for ct_env_message(): the variable, its
 * value and what it may hold. Returns CT_E_ENV. */
ct_status ct_env_error(const char *var, const char *value, const char *expected);

#endif /* CT_INTERNAL_H */
