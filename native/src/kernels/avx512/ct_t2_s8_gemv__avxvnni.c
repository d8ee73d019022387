/*
 * AVX-VNNI GEMV kernel (family GEMV): ct_t2_s8_gemv__avxvnni.
 *
 * The 256-bit VNNI body of ct_avx512.h with the VEX dot product
 * (_mm256_dpbusd_avx_epi32, for CPUs with AVX-VNNI but without AVX-512,
 * e.g. Intel Alder Lake). The identical code with the EVEX instruction is
 * ct_t2_s8_gemv__avx512vnni256, which is what runs and is tested on an
 * AVX-512 VNNI machine without AVX-VNNI.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx512/ct_avx512.h"

#define CT_DP_VEX(a, u, x) _mm256_dpbusd_avx_epi32(a, u, x)

CT_VNNI256_KERNELS(CT_AVXVNNI, CT_DP_VEX, ct_avxvnni)

CT_AVXVNNI void ct_t2_s8_gemv__avxvnni(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                                       int32_t batch, int32_t *acc, int32_t acc_stride) {
    ct_avxvnni_gemv(layer, x, x_stride, batch, acc, acc_stride);
}

#endif /* __x86_64__ */
