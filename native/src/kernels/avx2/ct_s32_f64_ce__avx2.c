/*
 * AVX2 twins of the trainer's float kernels (families TRAIN_CE_OUT_DELTA and
 * TRAIN_CE_LAST_HIDDEN_DELTA): ct_s32_f64_ce_out_delta__avx2,
 * ct_s32_f64_ce_last_hidden_delta__avx2. Four samples per step, lane j holding
 * the reference's partial sum j (ct_sum4), the tail in the reference's scalar
 * code. log4 is ct_log lane by lane: the same IEEE add/mul/div in the same
 * order, so the bits match. target("avx2") only, no "fma": with FMA enabled
 * the compiler could fuse a multiply and an add that the reference rounds twice.
 */
#include "train/ct_train_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "kernels/avx2/ct_avx2.h"

/* {a[0], a[1], b[0], b[1]} */
CT_AVX2 static inline __m256d rows(const double *a, const double *b) {
    return _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(a)), _mm_loadu_pd(b), 1);
}

/* ct_log of four positive finite doubles. */
CT_AVX2 static inline __m256d log4(__m256d x) {
    const __m256i expo = _mm256_set1_epi64x(0x7ff0000000000000LL);
    const __m256i sub =
        _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_castpd_si256(x), expo), _mm256_setzero_si256());
    /* subnormal lanes: x * 2^54 first, 54 off the exponent */
    const __m256d xs = _mm256_blendv_pd(x, _mm256_mul_pd(x, _mm256_set1_pd(18014398509481984.0)),
                                        _mm256_castsi256_pd(sub));
    const __m256i u = _mm256_castpd_si256(xs);
    const __m256i lo32 = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m128i eb = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_srli_epi64(u, 52), lo32)); /* sign bit is 0 */
    const __m128i s54 = _mm_and_si128(
        _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(sub, lo32)), _mm_set1_epi32(54));
    const __m128i e32 = _mm_sub_epi32(_mm_sub_epi32(eb, _mm_set1_epi32(1023)), s54);
    const __m256d ed = _mm256_cvtepi32_pd(e32); /* exact, as (double)e */
    /* four 16-byte rows {log c_i, 1/c_i} by plain loads, then transposed:
     * cheaper than two gathers on CPUs where gathers are microcoded */
    int64_t i[4];
    _mm256_storeu_si256((__m256i *)(void *)i,
                        _mm256_and_si256(_mm256_srli_epi64(u, 45), _mm256_set1_epi64x(127)));
    const __m256d r02 = rows(ct_log_table[i[0]], ct_log_table[i[2]]);
    const __m256d r13 = rows(ct_log_table[i[1]], ct_log_table[i[3]]);
    const __m256d lg = _mm256_unpacklo_pd(r02, r13); /* lanes 0,1,2,3 */
    const __m256d inv = _mm256_unpackhi_pd(r02, r13);
    const __m256d m = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                        _mm256_set1_epi64x(0x3ff0000000000000LL)));
    const __m256d t = _mm256_sub_pd(_mm256_mul_pd(m, inv), _mm256_set1_pd(1.0));
    __m256d q = _mm256_add_pd(_mm256_set1_pd(-1.0 / 6.0), _mm256_div_pd(t, _mm256_set1_pd(7.0)));
    q = _mm256_add_pd(_mm256_set1_pd(0.2), _mm256_mul_pd(t, q));
    q = _mm256_add_pd(_mm256_set1_pd(-0.25), _mm256_mul_pd(t, q));
    q = _mm256_add_pd(_mm256_set1_pd(1.0 / 3.0), _mm256_mul_pd(t, q));
    q = _mm256_add_pd(_mm256_set1_pd(-0.5), _mm256_mul_pd(t, q));
    q = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(t, q));
    const __m256d p = _mm256_mul_pd(t, q);
    const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01);
    const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
    return _mm256_add_pd(_mm256_mul_pd(ed, ln2_hi),
                         _mm256_add_pd(lg, _mm256_add_pd(_mm256_mul_pd(ed, ln2_lo), p)));
}

CT_AVX2 static inline __m128i load4_s32(const int32_t *p) {
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

CT_AVX2 double ct_s32_f64_ce_out_delta__avx2(const int8_t *x, int32_t d, int32_t n,
                                             const int32_t *y, int32_t cls, const double *e,
                                             const double *sminus, const double *lns,
                                             const double *tab, double inv_t) {
    __m256d acc = _mm256_setzero_pd();
    const __m256d it = _mm256_set1_pd(inv_t);
    int32_t b = 0;
    for (; b + 4 <= n; b += 4) {
        int32_t x4;
        memcpy(&x4, x + b, sizeof x4);
        const __m128i xv = _mm_cvtepi8_epi32(_mm_cvtsi32_si128(x4));
        const __m128i dz = _mm_mullo_epi32(xv, _mm_set1_epi32(d));
        /* lanes with x == 0 compute a harmless term (dz = 0) and keep acc */
        const __m256d skip =
            _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(xv, _mm_setzero_si128())));
        const __m256d mine = _mm256_castsi256_pd(
            _mm256_cvtepi32_epi64(_mm_cmpeq_epi32(load4_s32(y + b), _mm_set1_epi32(cls))));
        const __m256d dy = _mm256_and_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(dz), it), mine);
        int32_t m[4];
        _mm_storeu_si128((__m128i *)(void *)m, dz);
        const __m256d tv = _mm256_setr_pd(tab[m[0]], tab[m[1]], tab[m[2]], tab[m[3]]);
        const __m256d sn =
            _mm256_add_pd(_mm256_loadu_pd(sminus + b), _mm256_mul_pd(_mm256_loadu_pd(e + b), tv));
        const __m256d term = _mm256_sub_pd(_mm256_sub_pd(log4(sn), _mm256_loadu_pd(lns + b)), dy);
        acc = _mm256_blendv_pd(_mm256_add_pd(acc, term), acc, skip);
    }
    double part[4];
    _mm256_storeu_pd(part, acc);
    for (; b < n; ++b) { /* b % 4 continues the lanes */
        if (x[b] == 0) continue;
        part[b & 3] += ct_ce_out_term(x, d, y, cls, e, sminus, lns, tab, inv_t, b);
    }
    return ct_sum4(part);
}

CT_AVX2 double ct_s32_f64_ce_last_hidden_delta__avx2(const int32_t *idx, const int32_t *da,
                                                     int32_t n, const int8_t *col, int32_t classes,
                                                     const double *e, const double *lns,
                                                     const int32_t *y, const double *tab,
                                                     double inv_t) {
    __m256d acc = _mm256_setzero_pd();
    const __m256d it = _mm256_set1_pd(inv_t);
    int32_t s = 0;
    for (; s + 4 <= n; s += 4) {
        const __m128i iv = load4_s32(idx + s);
        const __m128i dav = load4_s32(da + s);
        /* row offsets b * classes in 64 bits, as the reference indexes */
        const __m256i row =
            _mm256_mul_epi32(_mm256_cvtepi32_epi64(iv), _mm256_set1_epi64x((long long)classes));
        __m256d s0 = _mm256_setzero_pd(), sp = s0, sm = s0;
        for (int32_t k = 0; k < classes; ++k) {
            const __m256d v = _mm256_i64gather_pd(e + k, row, 8);
            if (col[k] == 0) {
                s0 = _mm256_add_pd(s0, v);
            } else if (col[k] > 0) {
                sp = _mm256_add_pd(sp, v);
            } else {
                sm = _mm256_add_pd(sm, v);
            }
        }
        const __m256d tp = _mm256_i32gather_pd(tab, dav, 8);
        const __m256d tm = _mm256_i32gather_pd(tab, _mm_sub_epi32(_mm_setzero_si128(), dav), 8);
        const __m256d sn =
            _mm256_add_pd(_mm256_add_pd(s0, _mm256_mul_pd(sp, tp)), _mm256_mul_pd(sm, tm));
        int32_t c[4];
        for (int j = 0; j < 4; ++j) c[j] = col[y[idx[s + j]]] * da[s + j];
        const __m256d corr = _mm256_mul_pd(_mm256_cvtepi32_pd(load4_s32(c)), it);
        const __m256d term =
            _mm256_sub_pd(_mm256_sub_pd(log4(sn), _mm256_i32gather_pd(lns, iv, 8)), corr);
        acc = _mm256_add_pd(acc, term);
    }
    double part[4];
    _mm256_storeu_pd(part, acc);
    for (; s < n; ++s) {
        part[s & 3] += ct_ce_lh_term(idx, da, col, classes, e, lns, y, tab, inv_t, s);
    }
    return ct_sum4(part);
}

#endif /* __x86_64__ */
