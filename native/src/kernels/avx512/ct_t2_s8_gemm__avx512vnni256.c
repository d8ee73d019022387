/*
 * 256-bit AVX-512 VNNI GEMM kernel (family GEMM): ct_t2_s8_gemm__avx512vnni256.
 *
 * The 256-bit VNNI body of ct_avx512.h, token for token the code of
 * ct_t2_s8_gemm__avxvnni, with the EVEX dot product (_mm256_dpbusd_epi32,
 * AVX-512 VNNI + VL). It runs that code path on AVX-512 VNNI CPUs, which
 * mostly lack the VEX AVX-VNNI encoding (AMD Zen 4, Intel Ice Lake), so the
 * AVX-VNNI kernel's logic is executed and tested there.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx512/ct_avx512.h"

#define CT_DP_EVEX(a, u, x) _mm256_dpbusd_epi32(a, u, x)

CT_VNNI256_KERNELS(CT_AVX512VNNI256, CT_DP_EVEX, ct_avx512vnni256)

CT_AVX512VNNI256 void ct_t2_s8_gemm__avx512vnni256(const ct_layer *layer, const int8_t *x,
                                                   int32_t x_stride, int32_t batch, int32_t *acc,
                                                   int32_t acc_stride) {
    ct_avx512vnni256_gemm(layer, x, x_stride, batch, acc, acc_stride);
}

#endif /* __x86_64__ */
