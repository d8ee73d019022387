/*
 * AVX-512 VNNI GEMV kernel (family GEMV): ct_t2_s8_gemv__avx512vnni.
 *
 * 512-bit vpdpbusd on the T2 codes u = w + 1 against the int8 activations,
 * straight into int32 (no int16 partial sums), minus sum(x) per column; R
 * rows at a time, R = ct_gemv_streams() read streams. The body and its
 * bounds are in ct_avx512.h.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx512/ct_avx512.h"

CT_VNNI_DENSE(CT_AVX512VNNI, ct_avx512, 4, 4)

CT_AVX512VNNI void ct_t2_s8_gemv__avx512vnni(const ct_layer *layer, const int8_t *x,
                                             int32_t x_stride, int32_t batch, int32_t *acc,
                                             int32_t acc_stride) {
    ct_avx512_gemv(layer, x, x_stride, batch, acc, acc_stride);
}

#endif /* __x86_64__ */
