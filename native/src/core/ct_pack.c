/*
 * Packing of ternary weights.
 *
 * T2 (compute layout, 2 bits per weight): code u = w + 1, so -1 -> 0, 0 -> 1,
 * +1 -> 2; code 3 is invalid. Blocks of CT_BLOCK = 128 weights in 32 bytes,
 * each row padded to whole blocks with code 0 (zero bits). Code 0 decodes to
 * -1, which is harmless because every activation buffer is zero in its
 * padding; the reference kernels never read past k anyway.
 *
 * T3 (storage layout, 1.6 bits per weight): five codes per byte in base 3,
 * least significant digit first, over the whole row-major matrix.
 */
#include "core/ct_internal.h"

int32_t ct_t2_padded_k(int32_t k) {
    if (k <= 0 || k > CT_MAX_INPUTS) return 0; /* 0 marks a size outside the contract */
    return (int32_t)(((int64_t)k + CT_BLOCK - 1) / CT_BLOCK * CT_BLOCK);
}

int64_t ct_t2_packed_bytes(int32_t rows, int32_t k) {
    if (rows <= 0 || rows > CT_MAX_OUTPUTS || k <= 0 || k > CT_MAX_INPUTS) return 0;
    return (int64_t)rows * ct_t2_row_bytes(k);
}

static ct_status check_dims(int32_t rows, int32_t k) {
    if (rows <= 0 || rows > CT_MAX_OUTPUTS || k <= 0 || k > CT_MAX_INPUTS) return CT_E_SHAPE;
    return CT_OK;
}

/* Shared argument checks of ct_t2_pack and ct_t2_pack_with; the kernel
 * (ct_t2_s8_pack__ref.c and its SIMD twins) does the range check and the packing. */
ct_status ct_t2_pack_checked(ct_pack_fn fn, const int8_t *w, int32_t rows, int32_t k, uint8_t *out,
                             int64_t out_bytes) {
    if (!w || !out) return CT_E_NULL;
    ct_status st = check_dims(rows, k);
    if (st != CT_OK) return st;
    if (out_bytes < ct_t2_packed_bytes(rows, k)) return CT_E_SHAPE;
    return fn(w, rows, k, out);
}

ct_status ct_t2_pack(const int8_t *w, int32_t rows, int32_t k, uint8_t *out, int64_t out_bytes) {
    const ct_status st = ct_dispatch_status();
    if (st != CT_OK) return st;
    return ct_t2_pack_checked(ct_active_t2_pack(), w, rows, k, out, out_bytes);
}

ct_status ct_t2_unpack_checked(ct_unpack_fn fn, const uint8_t *packed, int32_t rows, int32_t k,
                               int8_t *w) {
    if (!packed || !w) return CT_E_NULL;
    ct_status st = check_dims(rows, k);
    if (st != CT_OK) return st;
    return fn(packed, rows, k, w);
}

ct_status ct_t2_unpack(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w) {
    const ct_status st = ct_dispatch_status();
    if (st != CT_OK) return st;
    return ct_t2_unpack_checked(ct_active_t2_unpack(), packed, rows, k, w);
}

int64_t ct_t3_packed_bytes(int64_t n) {
    if (n <= 0) return 0;
    return (n + 4) / 5;
}

ct_status ct_t3_pack(const int8_t *w, int64_t n, uint8_t *out, int64_t out_bytes) {
    if (!w || !out) return CT_E_NULL;
    if (n <= 0) return CT_E_SHAPE;
    if (out_bytes < ct_t3_packed_bytes(n)) return CT_E_SHAPE;
    for (int64_t i = 0; i < n; ++i) {
        if (w[i] < -1 || w[i] > 1) return CT_E_RANGE;
    }
    for (int64_t b = 0; b < ct_t3_packed_bytes(n); ++b) {
        unsigned v = 0;
        for (int d = 4; d >= 0; --d) {
            const int64_t i = 5 * b + d;
            v = v * 3u + (i < n ? (unsigned)(w[i] + 1) : 0u);
        }
        out[b] = (uint8_t)v;
    }
    return CT_OK;
}
