/*
 * aarch64 NEON twins of the trainer's float kernels (families
 * TRAIN_CE_OUT_DELTA and TRAIN_CE_LAST_HIDDEN_DELTA):
 * ct_s32_f64_ce_out_delta__neon, ct_s32_f64_ce_last_hidden_delta__neon.
 * Four samples per step in two float64x2 halves, lane j of the pair holding
 * the reference's partial sum j (ct_sum4); the tail in the reference's scalar
 * code. log2v is ct_log lane by lane (same IEEE operations, same order). The
 * build turns off fp contraction (native/build_ffi.py: -ffp-contract=off; the
 * C tests use -std=c99, where GCC's default is off too), so neither this code
 * nor the reference is fused into fmla/fmadd and the bits match.
 */
#include "train/ct_train_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* ct_log of two positive finite doubles. */
static inline float64x2_t log2v(float64x2_t x) {
    const uint64x2_t expo = vdupq_n_u64(0x7ff0000000000000ULL);
    const uint64x2_t sub = vceqq_u64(vandq_u64(vreinterpretq_u64_f64(x), expo), vdupq_n_u64(0));
    /* subnormal lanes: x * 2^54 first, 54 off the exponent */
    const float64x2_t xs = vbslq_f64(sub, vmulq_f64(x, vdupq_n_f64(18014398509481984.0)), x);
    const uint64x2_t u = vreinterpretq_u64_f64(xs);
    int64x2_t ei = vsubq_s64(vreinterpretq_s64_u64(vshrq_n_u64(u, 52)), vdupq_n_s64(1023));
    ei = vsubq_s64(ei, vreinterpretq_s64_u64(vandq_u64(sub, vdupq_n_u64(54))));
    const float64x2_t ed = vcvtq_f64_s64(ei); /* exact, as (double)e */
    const uint64x2_t i = vandq_u64(vshrq_n_u64(u, 45), vdupq_n_u64(127));
    const double *r0 = ct_log_table[vgetq_lane_u64(i, 0)];
    const double *r1 = ct_log_table[vgetq_lane_u64(i, 1)];
    const float64x2_t lg = vcombine_f64(vld1_f64(r0), vld1_f64(r1));
    const float64x2_t inv = vcombine_f64(vld1_f64(r0 + 1), vld1_f64(r1 + 1));
    const float64x2_t m = vreinterpretq_f64_u64(vorrq_u64(
        vandq_u64(u, vdupq_n_u64(0x000fffffffffffffULL)), vdupq_n_u64(0x3ff0000000000000ULL)));
    const float64x2_t t = vsubq_f64(vmulq_f64(m, inv), vdupq_n_f64(1.0));
    float64x2_t q = vaddq_f64(vdupq_n_f64(-1.0 / 6.0), vdivq_f64(t, vdupq_n_f64(7.0)));
    q = vaddq_f64(vdupq_n_f64(0.2), vmulq_f64(t, q));
    q = vaddq_f64(vdupq_n_f64(-0.25), vmulq_f64(t, q));
    q = vaddq_f64(vdupq_n_f64(1.0 / 3.0), vmulq_f64(t, q));
    q = vaddq_f64(vdupq_n_f64(-0.5), vmulq_f64(t, q));
    q = vaddq_f64(vdupq_n_f64(1.0), vmulq_f64(t, q));
    const float64x2_t p = vmulq_f64(t, q);
    const float64x2_t ln2_hi = vdupq_n_f64(6.93147180369123816490e-01);
    const float64x2_t ln2_lo = vdupq_n_f64(1.90821492927058770002e-10);
    return vaddq_f64(vmulq_f64(ed, ln2_hi), vaddq_f64(lg, vaddq_f64(vmulq_f64(ed, ln2_lo), p)));
}

/* Two samples of ce_out_delta from b: the new acc (lanes with x == 0 keep it). */
static inline float64x2_t out_pair(float64x2_t acc, const int8_t *x, int32_t d, const int32_t *y,
                                   int32_t cls, const double *e, const double *sminus,
                                   const double *lns, const double *tab, double inv_t, int32_t b) {
    const int32_t dz0 = d * (int32_t)x[b], dz1 = d * (int32_t)x[b + 1];
    const double tv[2] = {tab[dz0], tab[dz1]};
    const double dy[2] = {y[b] == cls ? (double)dz0 * inv_t : 0.0,
                          y[b + 1] == cls ? (double)dz1 * inv_t : 0.0};
    const uint64_t keep[2] = {x[b] == 0 ? ~0ULL : 0, x[b + 1] == 0 ? ~0ULL : 0};
    const float64x2_t sn =
        vaddq_f64(vld1q_f64(sminus + b), vmulq_f64(vld1q_f64(e + b), vld1q_f64(tv)));
    const float64x2_t term = vsubq_f64(vsubq_f64(log2v(sn), vld1q_f64(lns + b)), vld1q_f64(dy));
    return vbslq_f64(vld1q_u64(keep), acc, vaddq_f64(acc, term));
}

double ct_s32_f64_ce_out_delta__neon(const int8_t *x, int32_t d, int32_t n, const int32_t *y,
                                     int32_t cls, const double *e, const double *sminus,
                                     const double *lns, const double *tab, double inv_t) {
    float64x2_t a01 = vdupq_n_f64(0.0), a23 = a01;
    int32_t b = 0;
    for (; b + 4 <= n; b += 4) {
        a01 = out_pair(a01, x, d, y, cls, e, sminus, lns, tab, inv_t, b);
        a23 = out_pair(a23, x, d, y, cls, e, sminus, lns, tab, inv_t, b + 2);
    }
    double part[4];
    vst1q_f64(part, a01);
    vst1q_f64(part + 2, a23);
    for (; b < n; ++b) { /* b % 4 continues the lanes */
        if (x[b] == 0) continue;
        part[b & 3] += ct_ce_out_term(x, d, y, cls, e, sminus, lns, tab, inv_t, b);
    }
    return ct_sum4(part);
}

/* Two listed samples s, s + 1 of ce_last_hidden_delta: acc + their terms. */
static inline float64x2_t hidden_pair(float64x2_t acc, const int32_t *idx, const int32_t *da,
                                      const int8_t *col, int32_t classes, const double *e,
                                      const double *lns, const int32_t *y, const double *tab,
                                      double inv_t, int32_t s) {
    const int32_t b0 = idx[s], b1 = idx[s + 1];
    const double *e0 = e + (int64_t)b0 * classes, *e1 = e + (int64_t)b1 * classes;
    float64x2_t s0 = vdupq_n_f64(0.0), sp = s0, sm = s0;
    for (int32_t k = 0; k < classes; ++k) { /* skipping +0.0 adds: see ct_ce_lh_term */
        const float64x2_t v = vcombine_f64(vld1_f64(e0 + k), vld1_f64(e1 + k));
        if (col[k] == 0) {
            s0 = vaddq_f64(s0, v);
        } else if (col[k] > 0) {
            sp = vaddq_f64(sp, v);
        } else {
            sm = vaddq_f64(sm, v);
        }
    }
    const double tp[2] = {tab[da[s]], tab[da[s + 1]]};
    const double tm[2] = {tab[-da[s]], tab[-da[s + 1]]};
    const double ln[2] = {lns[b0], lns[b1]};
    const double corr[2] = {(double)(col[y[b0]] * da[s]) * inv_t,
                            (double)(col[y[b1]] * da[s + 1]) * inv_t};
    const float64x2_t sn =
        vaddq_f64(vaddq_f64(s0, vmulq_f64(sp, vld1q_f64(tp))), vmulq_f64(sm, vld1q_f64(tm)));
    const float64x2_t term = vsubq_f64(vsubq_f64(log2v(sn), vld1q_f64(ln)), vld1q_f64(corr));
    return vaddq_f64(acc, term);
}

double ct_s32_f64_ce_last_hidden_delta__neon(const int32_t *idx, const int32_t *da, int32_t n,
                                             const int8_t *col, int32_t classes, const double *e,
                                             const double *lns, const int32_t *y, const double *tab,
                                             double inv_t) {
    float64x2_t a01 = vdupq_n_f64(0.0), a23 = a01;
    int32_t s = 0;
    for (; s + 4 <= n; s += 4) {
        a01 = hidden_pair(a01, idx, da, col, classes, e, lns, y, tab, inv_t, s);
        a23 = hidden_pair(a23, idx, da, col, classes, e, lns, y, tab, inv_t, s + 2);
    }
    double part[4];
    vst1q_f64(part, a01);
    vst1q_f64(part + 2, a23);
    for (; s < n; ++s) {
        part[s & 3] += ct_ce_lh_term(idx, da, col, classes, e, lns, y, tab, inv_t, s);
    }
    return ct_sum4(part);
}

#endif /* __aarch64__ */
