/*
 * AVX-512 VNNI GEMM kernel (family GEMM): ct_t2_s8_gemm__avx512vnni.
 *
 * The arithmetic of the VNNI GEMV (ct_avx512.h) on tiles of 4 rows x 4
 * columns: each block's codes are decoded once for 4 columns and each
 * activation load serves 4 rows, 16 int32 accumulators in zmm registers.
 * Leftover columns (batch % 4) go through the GEMV driver.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx512/ct_avx512.h"

CT_VNNI_DENSE(CT_AVX512VNNI, ct_avx512, 4, 4)

CT_AVX512VNNI void ct_t2_s8_gemm__avx512vnni(const ct_layer *layer, const int8_t *x,
                                             int32_t x_stride, int32_t batch, int32_t *acc,
                                             int32_t acc_stride) {
    ct_avx512_gemm(layer, x, x_stride, batch, acc, acc_stride);
}

#endif /* __x86_64__ */
