/*
 * Convolution layers: the scratch plan, the split over threads, the decoded
 * weight layout, the im2col tile and the public entry points
 * (ct_layer_scratch_bytes, ct_conv_acc_with, ct_conv_acc_mt). The kernels
 * themselves live in native/src/kernels/<isa>/ct_t2_s8_{conv2d,dwconv2d}__*.c.
 */
#include "core/ct_conv.h"

#include <string.h>

#include "core/ct_threads.h"

static int64_t align64(int64_t v) {
    return (v + 63) / 64 * 64;
}

static int64_t round_up(int64_t v, int64_t m) {
    return (v + m - 1) / m * m;
}

int ct_conv_is_depthwise(const ct_layer *layer) {
    return layer->groups != 1;
}

int32_t ct_conv_k(const ct_layer *layer) {
    return layer->kh * layer->kw * (ct_conv_is_depthwise(layer) ? 1 : layer->in_c);
}

/* Below this many multiply-adds per thread, starting a thread (tens of
 * microseconds) costs more than it saves; the dense layers use the same. */
#define MIN_MACS_PER_THREAD (1LL << 21)

ct_conv_plan ct_conv_plan_of(const ct_layer *layer, int32_t batch) {
    ct_conv_plan p = {0, 0, 1, 0, 0, 0};
    const ct_shape out = ct_layer_out_shape(layer);
    const int32_t k = ct_conv_k(layer);
    const int64_t positions = (int64_t)batch * out.h * out.w;
    const int64_t macs = positions * out.c * k;
    int64_t useful = macs / MIN_MACS_PER_THREAD;
    if (useful > positions) useful = positions;
    p.slots = useful < 1 ? 1 : useful > CT_MAX_THREADS ? CT_MAX_THREADS : (int32_t)useful;
    if (ct_conv_is_depthwise(layer)) {
        /* int16 [tap][c] for AVX2 (the larger of the two decoded layouts) */
        p.shared_bytes = (int64_t)layer->kh * layer->kw * round_up(layer->in_c, CT_DW_CALIGN) * 2;
    } else {
        p.shared_bytes = ct_conv_decoded_bytes(layer, k);
        const int64_t kd = round_up(k, CT_CONV_KALIGN);
        p.kc = (int32_t)(kd < CT_CONV_KC ? kd : CT_CONV_KC);
        int32_t rows = CT_CONV_TILE_BYTES / p.kc / CT_CONV_ROW_ALIGN * CT_CONV_ROW_ALIGN;
        if (rows < CT_CONV_ROW_ALIGN) rows = CT_CONV_ROW_ALIGN;
        if (rows > CT_CONV_MAX_ROWS) rows = CT_CONV_MAX_ROWS;
        p.tile_rows = rows;
        p.slot_bytes = align64((int64_t)rows * p.kc);
    }
    p.total = align64(p.shared_bytes) + p.slots * p.slot_bytes + 64;
    return p;
}

void ct_conv_bind_scratch(ct_conv_args *a, const ct_conv_plan *plan, uint8_t *base) {
    a->shared = base;
    a->slots = base + align64(plan->shared_bytes);
    a->slot_bytes = plan->slot_bytes;
    a->n_slots = plan->slots;
    a->tile_rows = plan->tile_rows;
    a->kc = plan->kc;
}

/* ---- threads -------------------------------------------------------------- */

typedef struct conv_job {
    const ct_conv_args *a;
    ct_conv_rows_fn fn;
    int64_t positions;
    int32_t chunks;
} conv_job;

/* Chunks [begin, end) run in turn on one thread, which owns slot `begin`. */
static void conv_chunks(void *ctx, int32_t begin, int32_t end) {
    const conv_job *j = (const conv_job *)ctx;
    uint8_t *slot = j->a->slots + begin * j->a->slot_bytes;
    for (int32_t i = begin; i < end; ++i) {
        const int64_t p0 = j->positions * i / j->chunks;
        const int64_t p1 = j->positions * (i + 1) / j->chunks;
        j->fn(j->a, p0, p1, slot);
    }
}

void ct_conv_parallel(const ct_conv_args *a, int32_t n_threads, ct_conv_rows_fn fn) {
    const int64_t positions = (int64_t)a->batch * a->out_h * a->out_w;
    int32_t t = n_threads < a->n_slots ? n_threads : a->n_slots;
    if (t > positions) t = (int32_t)positions;
    if (t < 1) t = 1;
    conv_job job = {a, fn, positions, t};
    ct_parallel_for(t, 1, t, conv_chunks, &job);
}

/* ---- weights and tiles ------------------------------------------------------ */

int64_t ct_conv_decoded_bytes(const ct_layer *layer, int32_t k) {
    return round_up(layer->out_c, CT_CONV_CO) * round_up(k, CT_CONV_KALIGN);
}

void ct_t2_decode_block(const uint8_t *p, int8_t out[CT_BLOCK]) {
    for (int s = 0; s < 4; ++s) {
        for (int i = 0; i < 32; ++i) {
            out[32 * s + i] = (int8_t)((int)(((unsigned)p[i] >> (2 * s)) & 3u) - 1);
        }
    }
}

int32_t ct_conv_decode(const ct_layer *layer, int32_t k, int8_t *dst) {
    const int64_t kd = round_up(k, CT_CONV_KALIGN);
    memset(dst, 0, (size_t)ct_conv_decoded_bytes(layer, k));
    const int64_t rb = ct_t2_row_bytes(k);
    const int32_t blocks = ct_t2_padded_k(k) / CT_BLOCK;
    int two = 0; /* a code 3 among the real weights */
    for (int32_t co = 0; co < layer->out_c; ++co) {
        int8_t *base = dst + (int64_t)(co / CT_CONV_CO) * kd * CT_CONV_CO + (co % CT_CONV_CO) * 4;
        for (int32_t blk = 0; blk < blocks; ++blk) {
            int8_t run[CT_BLOCK];
            ct_t2_decode_block(layer->w + co * rb + (int64_t)blk * CT_BLOCK_BYTES, run);
            /* groups of 4 inputs never straddle a block (128 = 32 groups) */
            const int32_t k0 = blk * CT_BLOCK, len = k - k0 < CT_BLOCK ? k - k0 : CT_BLOCK;
            for (int32_t i = 0; i < len; ++i) two |= run[i] == 2;
            int32_t q = 0;
            for (; q + 4 <= len; q += 4) memcpy(base + (int64_t)(k0 + q) * CT_CONV_CO, run + q, 4);
            for (; q < len; ++q) base[(int64_t)(k0 + q / 4 * 4) * CT_CONV_CO + q % 4] = run[q];
        }
    }
    return two ? CT_CONV_STEPS : CT_CONV_STEPS_TERNARY;
}

void ct_dw_decode(const ct_layer *layer, int32_t taps, void *dst, int wide) {
    const int64_t cp = round_up(layer->in_c, CT_DW_CALIGN);
    memset(dst, 0, (size_t)(taps * cp * (wide ? 2 : 1)));
    const int64_t rb = ct_t2_row_bytes(taps);
    const int32_t blocks = ct_t2_padded_k(taps) / CT_BLOCK;
    for (int32_t co = 0; co < layer->in_c; ++co) {
        for (int32_t blk = 0; blk < blocks; ++blk) {
            int8_t run[CT_BLOCK];
            ct_t2_decode_block(layer->w + co * rb + (int64_t)blk * CT_BLOCK_BYTES, run);
            const int32_t t0 = blk * CT_BLOCK;
            const int32_t len = taps - t0 < CT_BLOCK ? taps - t0 : CT_BLOCK;
            for (int32_t i = 0; i < len; ++i) {
                const int64_t at = (t0 + i) * cp + co;
                if (wide) {
                    ((int16_t *)dst)[at] = run[i];
                } else {
                    ((int8_t *)dst)[at] = run[i];
                }
            }
        }
    }
}

static void copy_run(uint8_t *dst, const uint8_t *src, int32_t n) {
    memcpy(dst, src, (size_t)n);
}

static void zero_run(uint8_t *dst, int32_t n) {
    memset(dst, 0, (size_t)n);
}

void ct_conv_im2col(const ct_conv_args *a, int64_t p0, int32_t rows, int32_t k0, int32_t len,
                    uint8_t *dst, int32_t dst_stride) {
    ct_conv_im2col_with(a, p0, rows, k0, len, dst, dst_stride, copy_run, zero_run);
}

/* ---- entry points ------------------------------------------------------------- */

ct_status ct_layer_scratch_bytes(const ct_layer *layer, int32_t batch, int64_t *bytes) {
    if (!bytes) return CT_E_NULL;
    const ct_status st = ct_layer_check(layer);
    if (st != CT_OK) return st;
    if (batch <= 0) return CT_E_SHAPE;
    *bytes = layer->kind == CT_LAYER_CONV2D ? ct_conv_plan_of(layer, batch).total : 0;
    return CT_OK;
}

void ct_conv_run(ct_conv_fn fn, const ct_layer *layer, const int8_t *x, int64_t x_stride,
                 int32_t batch, int32_t *acc, void *scratch, int32_t n_threads) {
    const ct_conv_plan plan = ct_conv_plan_of(layer, batch);
    const ct_shape out = ct_layer_out_shape(layer);
    ct_conv_args a;
    memset(&a, 0, sizeof a);
    a.layer = layer;
    a.x = x;
    a.x_stride = x_stride;
    a.batch = batch;
    a.out_h = out.h;
    a.out_w = out.w;
    a.g = ct_conv_is_depthwise(layer) ? 1 : layer->in_c;
    a.k = ct_conv_k(layer);
    a.acc = acc;
    uint8_t *base = (uint8_t *)scratch;
    base += (64 - (uintptr_t)base % 64) % 64;
    ct_conv_bind_scratch(&a, &plan, base);
    fn(&a, n_threads);
}

int32_t ct_conv_family(const ct_layer *layer) {
    return ct_conv_is_depthwise(layer) ? CT_FAMILY_DWCONV2D : CT_FAMILY_CONV2D;
}

/* The checks shared by ct_conv_acc_with and ct_conv_acc_mt, after the kernel. */
static ct_status conv_args_check(const ct_layer *layer, const int8_t *x, int32_t batch,
                                 const int32_t *acc, const void *scratch, int64_t scratch_bytes) {
    ct_status st = ct_layer_check(layer);
    if (st != CT_OK) return st;
    if (layer->kind != CT_LAYER_CONV2D) return CT_E_RANGE;
    if (!x || !acc || !scratch) return CT_E_NULL;
    if (batch <= 0) return CT_E_SHAPE;
    if (scratch_bytes < ct_conv_plan_of(layer, batch).total) return CT_E_SCRATCH;
    /* Kernels read activations as unsigned bytes: the contract's 0 .. 127. */
    return ct_any_negative(x, (int64_t)batch * layer->n_in) ? CT_E_RANGE : CT_OK;
}

ct_status ct_conv_acc_with(int32_t kernel, const ct_layer *layer, const int8_t *x, int32_t batch,
                           int32_t *acc, void *scratch, int64_t scratch_bytes) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_CONV2D, CT_FAMILY_DWCONV2D, &e);
    if (st != CT_OK) return st;
    st = conv_args_check(layer, x, batch, acc, scratch, scratch_bytes);
    if (st != CT_OK) return st;
    if (e->family != ct_conv_family(layer)) return CT_E_UNKNOWN;
    ct_conv_run(e->fn.conv, layer, x, layer->n_in, batch, acc, scratch, 1);
    return CT_OK;
}

ct_status ct_conv_acc_mt(const ct_layer *layer, const int8_t *x, int32_t batch, int32_t *acc,
                         void *scratch, int64_t scratch_bytes, int32_t n_threads) {
    if (n_threads < 0 || n_threads > CT_MAX_THREADS) return CT_E_RANGE;
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = conv_args_check(layer, x, batch, acc, scratch, scratch_bytes);
    if (st != CT_OK) return st;
    ct_conv_run(ct_active_entry(ct_conv_family(layer))->fn.conv, layer, x, layer->n_in, batch, acc,
                scratch, n_threads == 0 ? ct_num_threads() : n_threads);
    return CT_OK;
}
