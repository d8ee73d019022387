/*
 * The kernel list: every kernel of every family, declared once.
 *
 * Each family has one X-macro list of rows
 *     X(FAMILY, sig, name, isa, arch, supported)
 *   FAMILY:    the ct_family constant without its CT_FAMILY_ prefix;
 *   sig:       the function type, ct_<sig>_kernel (ct_internal.h), which is
 *              also the member of ct_kernel_entry.fn that holds it;
 *   name:      the function, ct_<weights>_<acts>_<op>__<isa> (docs/kernels.md);
 *   isa:       ref, avx2, avx512vpopcnt, neon or neondot; for GEMM/GEMV also
 *              avx512vnni, avxvnni and avx512vnni256 (docs/kernels.md);
 *   arch:      any, x86_64 or aarch64: where the kernel is compiled;
 *   supported: the CPU probe (ct_cpu.c) that says whether this CPU runs it.
 * Rows are ordered from the most portable (the ref kernel, first) to the
 * fastest: dispatch picks the last eligible row of a family.
 *
 * From these lists come the prototypes (ct_internal.h), the registry rows
 * and the list of known ISA and kernel names that CONNTRA_KERNELS is checked
 * against (ct_dispatch.c), and the C test that compares the registry with the
 * list (native/tests/test_kernels.c). Adding a kernel is one row here plus its
 * source file.
 */
#ifndef CT_KERNELS_H
#define CT_KERNELS_H

/* CT_ARCH_<arch>(...) keeps its arguments only where that arch is compiled. */
#define CT_ARCH_any(...) __VA_ARGS__
#if defined(__x86_64__)
#define CT_ARCH_x86_64(...) __VA_ARGS__
#else
#define CT_ARCH_x86_64(...)
#endif
#if defined(__aarch64__)
#define CT_ARCH_aarch64(...) __VA_ARGS__
#else
#define CT_ARCH_aarch64(...)
#endif

#define CT_KERNELS_GEMM(X)                                                                 \
    X(GEMM, mm, ct_t2_s8_gemm__ref, ref, any, ct_cpu_any)                                  \
    X(GEMM, mm, ct_t2_s8_gemm__avx2, avx2, x86_64, ct_cpu_avx2)                            \
    X(GEMM, mm, ct_t2_s8_gemm__neon, neon, aarch64, ct_cpu_neon)                           \
    X(GEMM, mm, ct_t2_s8_gemm__neondot, neondot, aarch64, ct_cpu_neon_dot)                 \
    X(GEMM, mm, ct_t2_s8_gemm__avx512vnni256, avx512vnni256, x86_64, ct_cpu_avx512vnni256) \
    X(GEMM, mm, ct_t2_s8_gemm__avxvnni, avxvnni, x86_64, ct_cpu_avxvnni)                   \
    X(GEMM, mm, ct_t2_s8_gemm__avx512vnni, avx512vnni, x86_64, ct_cpu_avx512vnni)

#define CT_KERNELS_GEMV(X)                                                                 \
    X(GEMV, mm, ct_t2_s8_gemv__ref, ref, any, ct_cpu_any)                                  \
    X(GEMV, mm, ct_t2_s8_gemv__avx2, avx2, x86_64, ct_cpu_avx2)                            \
    X(GEMV, mm, ct_t2_s8_gemv__neon, neon, aarch64, ct_cpu_neon)                           \
    X(GEMV, mm, ct_t2_s8_gemv__neondot, neondot, aarch64, ct_cpu_neon_dot)                 \
    X(GEMV, mm, ct_t2_s8_gemv__avx512vnni256, avx512vnni256, x86_64, ct_cpu_avx512vnni256) \
    X(GEMV, mm, ct_t2_s8_gemv__avxvnni, avxvnni, x86_64, ct_cpu_avxvnni)                   \
    X(GEMV, mm, ct_t2_s8_gemv__avx512vnni, avx512vnni, x86_64, ct_cpu_avx512vnni)

#define CT_KERNELS_T2_PACK(X)                                        \
    X(T2_PACK, pack, ct_t2_s8_pack__ref, ref, any, ct_cpu_any)       \
    X(T2_PACK, pack, ct_t2_s8_pack__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(T2_PACK, pack, ct_t2_s8_pack__neon, neon, aarch64, ct_cpu_neon)

#define CT_KERNELS_T2_UNPACK(X)                                            \
    X(T2_UNPACK, unpack, ct_t2_s8_unpack__ref, ref, any, ct_cpu_any)       \
    X(T2_UNPACK, unpack, ct_t2_s8_unpack__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(T2_UNPACK, unpack, ct_t2_s8_unpack__neon, neon, aarch64, ct_cpu_neon)

#define CT_KERNELS_TRAIN_AXPY(X)                                               \
    X(TRAIN_AXPY, train_axpy, ct_s8_s32_axpy__ref, ref, any, ct_cpu_any)       \
    X(TRAIN_AXPY, train_axpy, ct_s8_s32_axpy__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(TRAIN_AXPY, train_axpy, ct_s8_s32_axpy__neon, neon, aarch64, ct_cpu_neon)

#define CT_KERNELS_TRAIN_REQUANT_DIFF(X)                                                         \
    X(TRAIN_REQUANT_DIFF, train_requant_diff, ct_s32_s8_requant_diff__ref, ref, any, ct_cpu_any) \
    X(TRAIN_REQUANT_DIFF, train_requant_diff, ct_s32_s8_requant_diff__avx2, avx2, x86_64,        \
      ct_cpu_avx2)                                                                               \
    X(TRAIN_REQUANT_DIFF, train_requant_diff, ct_s32_s8_requant_diff__neon, neon, aarch64,       \
      ct_cpu_neon)

#define CT_KERNELS_TRAIN_CE_OUT_DELTA(X)                                                          \
    X(TRAIN_CE_OUT_DELTA, train_ce_out_delta, ct_s32_f64_ce_out_delta__ref, ref, any, ct_cpu_any) \
    X(TRAIN_CE_OUT_DELTA, train_ce_out_delta, ct_s32_f64_ce_out_delta__avx2, avx2, x86_64,        \
      ct_cpu_avx2)                                                                                \
    X(TRAIN_CE_OUT_DELTA, train_ce_out_delta, ct_s32_f64_ce_out_delta__neon, neon, aarch64,       \
      ct_cpu_neon)

#define CT_KERNELS_TRAIN_CE_LAST_HIDDEN_DELTA(X)                        \
    X(TRAIN_CE_LAST_HIDDEN_DELTA, train_ce_last_hidden_delta,           \
      ct_s32_f64_ce_last_hidden_delta__ref, ref, any, ct_cpu_any)       \
    X(TRAIN_CE_LAST_HIDDEN_DELTA, train_ce_last_hidden_delta,           \
      ct_s32_f64_ce_last_hidden_delta__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(TRAIN_CE_LAST_HIDDEN_DELTA, train_ce_last_hidden_delta,           \
      ct_s32_f64_ce_last_hidden_delta__neon, neon, aarch64, ct_cpu_neon)

#define CT_KERNELS_CONV2D(X)                                           \
    X(CONV2D, conv, ct_t2_s8_conv2d__ref, ref, any, ct_cpu_any)        \
    X(CONV2D, conv, ct_t2_s8_conv2d__avx2, avx2, x86_64, ct_cpu_avx2)  \
    X(CONV2D, conv, ct_t2_s8_conv2d__neon, neon, aarch64, ct_cpu_neon) \
    X(CONV2D, conv, ct_t2_s8_conv2d__neondot, neondot, aarch64, ct_cpu_neon_dot)

#define CT_KERNELS_DWCONV2D(X)                                            \
    X(DWCONV2D, conv, ct_t2_s8_dwconv2d__ref, ref, any, ct_cpu_any)       \
    X(DWCONV2D, conv, ct_t2_s8_dwconv2d__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(DWCONV2D, conv, ct_t2_s8_dwconv2d__neon, neon, aarch64, ct_cpu_neon)

/* Popcount kernels for low-bit activations (docs/kernels.md, "Popcount
 * kernels"): int8 -> bit planes, dense sums from ternary masks and bit
 * planes, and T2 weights -> masks (once, at load time). */
#define CT_KERNELS_BP_PACK(X)                                           \
    X(BP_PACK, bp_pack, ct_bp_s8_pack__ref, ref, any, ct_cpu_any)       \
    X(BP_PACK, bp_pack, ct_bp_s8_pack__avx2, avx2, x86_64, ct_cpu_avx2) \
    X(BP_PACK, bp_pack, ct_bp_s8_pack__neon, neon, aarch64, ct_cpu_neon)

#define CT_KERNELS_TM_PACK(X)                                     \
    X(TM_PACK, tm_pack, ct_tm_t2_pack__ref, ref, any, ct_cpu_any) \
    X(TM_PACK, tm_pack, ct_tm_t2_pack__avx2, avx2, x86_64, ct_cpu_avx2)

#define CT_KERNELS_TM_BP_MM(X)                                                                   \
    X(TM_BP_MM, pc_mm, ct_tm_bp_mm__ref, ref, any, ct_cpu_any)                                   \
    X(TM_BP_MM, pc_mm, ct_tm_bp_mm__avx2, avx2, x86_64, ct_cpu_avx2)                             \
    X(TM_BP_MM, pc_mm, ct_tm_bp_mm__avx512vpopcnt, avx512vpopcnt, x86_64, ct_cpu_avx512_vpopcnt) \
    X(TM_BP_MM, pc_mm, ct_tm_bp_mm__neon, neon, aarch64, ct_cpu_neon)

/* The families: F(FAMILY, short name), in ct_family order. */
#define CT_FAMILIES(F)                                        \
    F(GEMM, gemm)                                             \
    F(GEMV, gemv)                                             \
    F(T2_PACK, t2_pack)                                       \
    F(T2_UNPACK, t2_unpack)                                   \
    F(TRAIN_AXPY, train_axpy)                                 \
    F(TRAIN_REQUANT_DIFF, train_requant_diff)                 \
    F(TRAIN_CE_OUT_DELTA, train_ce_out_delta)                 \
    F(TRAIN_CE_LAST_HIDDEN_DELTA, train_ce_last_hidden_delta) \
    F(CONV2D, conv2d)                                         \
    F(DWCONV2D, dwconv2d)                                     \
    F(BP_PACK, bp_pack)                                       \
    F(TM_BP_MM, tm_bp_mm)                                     \
    F(TM_PACK, tm_pack)

/* Every kernel: the family lists one after the other. */
#define CT_KERNELS(X)                        \
    CT_KERNELS_GEMM(X)                       \
    CT_KERNELS_GEMV(X)                       \
    CT_KERNELS_T2_PACK(X)                    \
    CT_KERNELS_T2_UNPACK(X)                  \
    CT_KERNELS_TRAIN_AXPY(X)                 \
    CT_KERNELS_TRAIN_REQUANT_DIFF(X)         \
    CT_KERNELS_TRAIN_CE_OUT_DELTA(X)         \
    CT_KERNELS_TRAIN_CE_LAST_HIDDEN_DELTA(X) \
    CT_KERNELS_CONV2D(X)                     \
    CT_KERNELS_DWCONV2D(X)                   \
    CT_KERNELS_BP_PACK(X)                    \
    CT_KERNELS_TM_BP_MM(X)                   \
    CT_KERNELS_TM_PACK(X)

#endif /* CT_KERNELS_H */
