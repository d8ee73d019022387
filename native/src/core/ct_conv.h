/*
 * Shared parts of the convolution kernels (families CONV2D and DWCONV2D):
 * the scratch plan every kernel of a family fits in, the split of output
 * positions over threads, the decoded weight layouts and the im2col tile.
 * docs/kernels.md describes the layouts; docs/format.md 1.2 the arithmetic.
 */
#ifndef CT_CONV_H
#define CT_CONV_H

#include "core/ct_internal.h"

enum {
    /* Decoded conv2d weights: blocks of CT_CONV_CO output channels; in a
     * block, each group of 4 consecutive inputs k holds 16 x 4 int8 weights
     * ([co][k % 4]), so one 32-byte load is 8 channels x 4 inputs and a
     * broadcast 4-byte group of activations multiplies all of them. */
    CT_CONV_CO = 16,
    /* Inputs are decoded and im2col'd in multiples of 16 (a NEON vector of
     * activations), zero beyond K. */
    CT_CONV_KALIGN = 16,
    /* Groups of 4 inputs summed in int16 lanes before widening to int32.
     * Bound: a lane adds two products x * w per group, x in 0 .. 127 and
     * |w| <= 2 (code 3 decodes to 2, as in the references), so <= 508 per
     * group and 64 * 508 = 32512 <= 32767. Weights without code 3 have
     * |w| <= 1, <= 254 per group, and 128 groups stay <= 32512: the
     * decoder says which bound holds (ct_conv_decode). */
    CT_CONV_STEPS = 64,
    CT_CONV_STEPS_TERNARY = 128,
    /* Inputs per im2col chunk: a position's K inputs go through the tile in
     * chunks of at most this many (a multiple of 4 * CT_CONV_STEPS), so the
     * per-thread tile stays small for any K. */
    CT_CONV_KC = 4096,
    /* Target bytes of one im2col tile (rows of one chunk each): it stays in
     * L1 while every block of output channels passes over it. */
    CT_CONV_TILE_BYTES = 16384,
    /* Tile rows are a multiple of 12, so whole micro-kernel steps cover a
     * tile: AVX2 and NEON dotprod take 4 positions at a time, plain NEON 2. */
    CT_CONV_ROW_ALIGN = 12,
    CT_CONV_MAX_ROWS = 48,
    /* Depthwise: decoded weights are int16 [tap][c] (AVX2) or int8 (NEON),
     * channels padded to a multiple of 32. */
    CT_DW_CALIGN = 32,
    /* Depthwise int16 sums: a lane adds one product x * w per tap (|.| <=
     * 254), so taps are widened to int32 every 128 (<= 32512). */
    CT_DW_TAPS = 128
};

/* The scratch of one convolution layer, the same for every kernel of its
 * family (each uses what it needs), so it can be sized before a kernel is
 * chosen and stays valid when the choice changes. */
typedef struct ct_conv_plan {
    int64_t shared_bytes; /* decoded weights */
    int64_t slot_bytes;   /* one thread's im2col tile (0 for depthwise) */
    int32_t slots;        /* threads the work can use (1 .. CT_MAX_THREADS) */
    int32_t tile_rows;    /* positions per im2col tile */
    int32_t kc;           /* inputs per chunk: a multiple of CT_CONV_KALIGN */
    int64_t total;        /* shared + slots, each 64-aligned, + 64 to align the base */
} ct_conv_plan;

/* Inputs per output of a checked conv2d layer: kh * kw * G, G = in_c / groups. */
int32_t ct_conv_k(const ct_layer *layer);

/* Whether a checked conv2d layer is depthwise (groups == in_c > 1). */
int ct_conv_is_depthwise(const ct_layer *layer);

/* The scratch plan of a checked conv2d layer for a batch (docs/kernels.md). */

ct_conv_plan ct_conv_plan_of(const ct_layer *layer, int32_t batch);

/* Fills a->shared / slots from a 64-aligned scratch base laid out by plan. */
void ct_conv_bind_scratch(ct_conv_args *a, const ct_conv_plan *plan, uint8_t *base);

/* Output positions p in [p0, p1) of one thread, its own slot (tile). */
typedef void (*ct_conv_rows_fn)(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot);

/* Runs fn over all output positions on min(n_threads, a->n_slots) threads,
 * contiguous ranges, one slot each. Each output is formed by one thread in
 * one order, so the bits do not depend on the count. */
void ct_conv_parallel(const ct_conv_args *a, int32_t n_threads, ct_conv_rows_fn fn);

/* Bytes of the decoded conv2d weights: round_up(out_c, 16) x round_up(K, 16). */
int64_t ct_conv_decoded_bytes(const ct_layer *layer, int32_t k);

/* Decodes the T2 rows of a groups-1 conv2d layer into the blocked layout
 * above: weight (co, k) at dst[((co / 16) * kd + (k / 4) * 4) * 16 + (co % 16)
 * * 4 + k % 4] with kd = round_up(K, 16); w = code - 1 (code 3 gives 2, as in
 * the references), and 0 for co >= out_c or k >= K. Returns the groups of 4
 * inputs an int16 lane may sum: CT_CONV_STEPS_TERNARY when every weight is
 * in -1..1, CT_CONV_STEPS when a code 3 (w = 2) occurs. */
int32_t ct_conv_decode(const ct_layer *layer, int32_t k, int8_t *dst);

/* One T2 block as 128 int8 weights w = code - 1 (code 3 gives 2). */
void ct_t2_decode_block(const uint8_t *p, int8_t out[CT_BLOCK]);

/* Decodes a depthwise layer's weights into [tap][c] with channels padded to
 * cp = round_up(in_c, CT_DW_CALIGN): weight of channel c, tap t = ky * kw + kx
 * at dst[t * cp + c], int16 when `wide`, else int8; w = code - 1, 0 in the
 * padding. */
void ct_dw_decode(const ct_layer *layer, int32_t taps, void *dst, int wide);

/* The im2col rows of positions p0 .. p0 + rows - 1, inputs [k0, k0 + len)
 * (len a multiple of CT_CONV_KALIGN, inputs past K read 0), as unsigned
 * bytes into dst rows of dst_stride; padding reads 0. Portable C: memcpy of
 * each contiguous run of a row of the input. */
void ct_conv_im2col(const ct_conv_args *a, int64_t p0, int32_t rows, int32_t k0, int32_t len,
                    uint8_t *dst, int32_t dst_stride);

/* The family of a checked conv2d layer's kernels: DWCONV2D when groups ==
 * in_c > 1, CONV2D otherwise. */
int32_t ct_conv_family(const ct_layer *layer);

/* Runs conv kernel fn on a checked layer: scratch of ct_conv_plan_of(layer,
 * batch).total bytes (any alignment), n_threads >= 1. */
void ct_conv_run(ct_conv_fn fn, const ct_layer *layer, const int8_t *x, int64_t x_stride,
                 int32_t batch, int32_t *acc, void *scratch, int32_t n_threads);

/* The im2col rows of positions p0 .. p0 + rows - 1, inputs [k0, k0 + len)
 * (len a multiple of CT_CONV_KALIGN, inputs past K read 0), as unsigned
 * bytes into dst rows of dst_stride; padding reads 0. Portable C: memcpy of
 * each contiguous run of a row of the input. */
void ct_conv_im2col(const ct_conv_args *a, int64_t p0, int32_t rows, int32_t k0, int32_t len,
                    uint8_t *dst, int32_t dst_stride);

/* (b, oy, ox) of output position p. */
static inline void ct_conv_position(const ct_conv_args *a, int64_t p, int32_t *b, int32_t *oy,
                                    int32_t *ox) {
    const int64_t hw = (int64_t)a->out_h * a->out_w;
    *b = (int32_t)(p / hw);
    const int32_t r = (int32_t)(p % hw);
    *oy = r / a->out_w;
    *ox = r % a->out_w;
}

/* The position after (b, oy, ox). */
static inline void ct_conv_next(const ct_conv_args *a, int32_t *b, int32_t *oy, int32_t *ox) {
    if (++*ox < a->out_w) return;
    *ox = 0;
    if (++*oy < a->out_h) return;
    *oy = 0;
    ++*b;
}

/* The rows [*y0, *y1) of a window of `window` rows starting at input row
 * `start` (may be negative) that lie inside 0 .. n - 1, as window offsets. */
static inline void ct_conv_clip(int32_t start, int32_t window, int32_t n, int32_t *y0,
                                int32_t *y1) {
    *y0 = start < 0 ? -start : 0;
    *y1 = n - start < window ? n - start : window;
    if (*y1 < *y0) *y1 = *y0;
}

static inline int32_t ct_clamp32(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* ct_conv_im2col with its two byte moves given: copy(dst, src, n) copies n
 * bytes, zero(dst, n) clears n, neither touching a byte outside its range
 * (another thread's tile may follow). Inlined, so an ISA's kernel passes its
 * own vector moves. In kernel row ky, input offset o is (kx, g) = (o / C,
 * o % C), input column x0 + kx: the columns inside the image form one
 * contiguous run of bytes, zeros on either side. */
static inline void ct_conv_im2col_with(const ct_conv_args *a, int64_t p0, int32_t rows, int32_t k0,
                                       int32_t len, uint8_t *dst, int32_t dst_stride,
                                       void (*copy)(uint8_t *, const uint8_t *, int32_t),
                                       void (*zero)(uint8_t *, int32_t)) {
    const ct_layer *L = a->layer;
    const int32_t c = L->in_c, row_len = L->kw * c; /* inputs per kernel row ky */
    const int32_t k1 = k0 + len < a->k ? k0 + len : a->k;
    int32_t b, oy, ox; /* of row r: divided out once, then stepped */
    ct_conv_position(a, p0, &b, &oy, &ox);
    for (int32_t r = 0; r < rows; ++r, ct_conv_next(a, &b, &oy, &ox)) {
        uint8_t *d = dst + (int64_t)r * dst_stride;
        const uint8_t *xb = (const uint8_t *)(a->x + b * a->x_stride);
        const int32_t x0 = ox * L->stride_w - L->pad_left; /* input column of kx = 0 */
        const int32_t y0 = oy * L->stride_h - L->pad_top;  /* input row of ky = 0 */
        int32_t kx0, kx1;
        ct_conv_clip(x0, L->kw, L->in_w, &kx0, &kx1);
        if (k0 == 0 && k1 == a->k && kx0 == 0 && kx1 == L->kw && y0 >= 0 && y0 + L->kh <= L->in_h) {
            /* The whole window inside the image, all of K in this chunk (the
             * common case): one run per kernel row, no clipping. */
            const uint8_t *src = xb + ((int64_t)y0 * L->in_w + x0) * c;
            for (int32_t ky = 0; ky < L->kh; ++ky) {
                copy(d + ky * row_len, src + (int64_t)ky * L->in_w * c, row_len);
            }
            if (len > k1) zero(d + k1, len - k1);
            continue;
        }
        for (int32_t ky = k0 / row_len; ky < L->kh && ky * row_len < k1; ++ky) {
            const int32_t lo = (k0 > ky * row_len ? k0 : ky * row_len) - ky * row_len;
            const int32_t hi = (k1 < (ky + 1) * row_len ? k1 : (ky + 1) * row_len) - ky * row_len;
            uint8_t *out = d + (ky * row_len + lo - k0);
            const int32_t iy = y0 + ky;
            if (iy < 0 || iy >= L->in_h) {
                zero(out, hi - lo);
                continue;
            }
            const int32_t vlo = ct_clamp32(kx0 * c, lo, hi), vhi = ct_clamp32(kx1 * c, vlo, hi);
            const int64_t src = ((int64_t)iy * L->in_w + x0) * c; /* of o = 0; o >= kx0 * c */
            if (vlo > lo) zero(out, vlo - lo);
            if (vhi > vlo) copy(out + (vlo - lo), xb + (src + vlo), vhi - vlo);
            if (hi > vhi) zero(out + (vhi - lo), hi - vhi);
        }
        if (k0 + len > k1) zero(d + (k1 - k0), k0 + len - k1);
    }
}

#endif /* CT_CONV_H */
