/*
 * aarch64 NEON GEMV and GEMM kernels without dotprod (families GEMV, GEMM):
 * ct_t2_s8_gemv__neon and ct_t2_s8_gemm__neon. Block products go through
 * vmull/vmlal into int16 and vpadal into int32 (ct_neon_block_dot, whose
 * bound is written in ct_neon.h). Runs on every AArch64 CPU (Cortex-A53 too).
 */
#include "core/ct_internal.h"

#if defined(__aarch64__)
#include "kernels/neon/ct_neon.h"

CT_NEON_DENSE_KERNELS(neon, , ct_neon_block_dot)

#endif /* __aarch64__ */
