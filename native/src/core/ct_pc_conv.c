/*
 * conv2d layers (groups 1) through the popcount kernels: a conv2d is a GEMM
 * of the im2col rows (one per output position, K inputs) with the out_c
 * filter rows, and the TM_BP_MM kernels already write acc[p * out_c + co]
 * for samples p, which is the NHWC output. So positions go in tiles through
 * the portable im2col (ct_conv.h), each row into bit planes, then the mask
 * rows of the filters (ct_tm_pack of the T2 rows: out_c x K) over the tile.
 * On the calling thread.
 */
#include "core/ct_conv.h"
#include "core/ct_internal.h"

static int64_t align64(int64_t v) {
    return (v + 63) / 64 * 64;
}

/* Positions per tile: about 64 KiB of im2col bytes, at least 1, at most 256. */
static int32_t tile_rows(int32_t k) {
    const int64_t kp = (int64_t)(k + CT_CONV_KALIGN - 1) / CT_CONV_KALIGN * CT_CONV_KALIGN;
    const int64_t r = 65536 / kp;
    return r < 1 ? 1 : r > 256 ? 256 : (int32_t)r;
}

int64_t ct_pc_conv_scratch_bytes(const ct_layer *layer, int32_t bits) {
    const int32_t k = ct_conv_k(layer), rows = tile_rows(k);
    const int64_t kp = (int64_t)(k + CT_CONV_KALIGN - 1) / CT_CONV_KALIGN * CT_CONV_KALIGN;
    const int64_t planes = (int64_t)rows * bits * CT_PC_CHUNK_WORDS * ct_pc_chunks(k) * 8;
    return align64(rows * kp) + align64(planes);
}

void ct_pc_conv_run(const ct_layer *layer, const int8_t *x, int64_t x_stride, int32_t batch,
                    int32_t bits, int32_t *acc, uint8_t *scratch) {
    const ct_shape out = ct_layer_out_shape(layer);
    ct_conv_args a = {0};
    a.layer = layer;
    a.x = x;
    a.x_stride = x_stride;
    a.batch = batch;
    a.out_h = out.h;
    a.out_w = out.w;
    a.g = layer->in_c;
    a.k = ct_conv_k(layer);
    const int32_t k = a.k, rows = tile_rows(k), chunks = ct_pc_chunks(k);
    const int32_t kp = (k + CT_CONV_KALIGN - 1) / CT_CONV_KALIGN * CT_CONV_KALIGN;
    const int64_t sample_words = (int64_t)bits * CT_PC_CHUNK_WORDS * chunks;
    uint8_t *tile = scratch;
    uint64_t *planes = (uint64_t *)(void *)(scratch + align64((int64_t)rows * kp));
    const ct_bp_pack_fn pack = ct_active_entry(CT_FAMILY_BP_PACK)->fn.bp_pack;
    const ct_pc_mm_fn mm = ct_active_entry(CT_FAMILY_TM_BP_MM)->fn.pc_mm;
    const int64_t positions = (int64_t)batch * out.h * out.w;
    for (int64_t p0 = 0; p0 < positions; p0 += rows) {
        const int32_t r = positions - p0 < rows ? (int32_t)(positions - p0) : rows;
        ct_conv_im2col(&a, p0, r, 0, kp, tile, kp);
        for (int32_t i = 0; i < r; ++i) {
            pack((const int8_t *)(tile + (int64_t)i * kp), k, bits, planes + i * sample_words);
        }
        mm(layer->pc_w, layer->bias, layer->out_c, chunks, planes, bits, r, acc + p0 * layer->out_c,
           layer->out_c);
    }
}
