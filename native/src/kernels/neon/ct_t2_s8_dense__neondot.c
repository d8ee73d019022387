/*
 * aarch64 NEON dotprod GEMV and GEMM kernels (families GEMV, GEMM):
 * ct_t2_s8_gemv__neondot and ct_t2_s8_gemm__neondot, for CPUs with the
 * ARMv8.2 dot product (HWCAP_ASIMDDP; not Cortex-A53). vdotq_s32 adds four
 * int8 products straight into each int32 lane: no int16 stage, no bound to
 * watch beyond the contract's |sum| < 2^28. The per-function target
 * attribute keeps the rest of the build armv8-a.
 */
#include "core/ct_internal.h"

#if defined(__aarch64__)
#include "kernels/neon/ct_neon.h"

CT_NEON_DENSE_KERNELS(neondot, CT_NEON_DOT, ct_neon_block_dot4)

#endif /* __aarch64__ */
