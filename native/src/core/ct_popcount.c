/*
 * Popcount kernels for low-bit activations: the mask and bit-plane formats,
 * their checked entry points and the threaded run of the TM_BP_MM family
 * (docs/kernels.md, "Popcount kernels"). The masks are derived once from the
 * stored T2 weights when a network is loaded; nothing here touches the file
 * format.
 */
#include "core/ct_internal.h"
#include "core/ct_threads.h"

static int bp_bits_ok(int32_t bits) {
    return bits == 1 || bits == 2 || bits == 4;
}

ct_status ct_tm_words(int32_t rows, int32_t k, int64_t *words) {
    if (!words) return CT_E_NULL;
    if (rows < 1 || rows > CT_MAX_OUTPUTS || k < 1 || k > CT_MAX_INPUTS) return CT_E_SHAPE;
    *words = (int64_t)rows * 2 * CT_PC_CHUNK_WORDS * ct_pc_chunks(k);
    return CT_OK;
}

static ct_status tm_pack_checked(ct_tm_pack_fn fn, const uint8_t *t2, int32_t rows, int32_t k,
                                 uint64_t *masks, int64_t n_words) {
    if (!t2 || !masks) return CT_E_NULL;
    int64_t need = 0;
    const ct_status st = ct_tm_words(rows, k, &need);
    if (st != CT_OK) return st;
    if (n_words < need) return CT_E_SCRATCH;
    return fn(t2, rows, k, masks);
}

ct_status ct_tm_pack(const uint8_t *t2, int32_t rows, int32_t k, uint64_t *masks, int64_t n_words) {
    const ct_status st = ct_init();
    if (st != CT_OK) return st;
    return tm_pack_checked(ct_active_entry(CT_FAMILY_TM_PACK)->fn.tm_pack, t2, rows, k, masks,
                           n_words);
}

ct_status ct_tm_pack_with(int32_t kernel, const uint8_t *t2, int32_t rows, int32_t k,
                          uint64_t *masks, int64_t n_words) {
    const ct_kernel_entry *e = NULL;
    const ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_TM_PACK, CT_FAMILY_TM_PACK, &e);
    if (st != CT_OK) return st;
    return tm_pack_checked(e->fn.tm_pack, t2, rows, k, masks, n_words);
}

ct_status ct_bp_words(int32_t batch, int32_t k, int32_t bits, int64_t *words) {
    if (!words) return CT_E_NULL;
    if (batch < 1 || k < 1 || k > CT_MAX_INPUTS) return CT_E_SHAPE;
    if (!bp_bits_ok(bits)) return CT_E_RANGE;
    *words = (int64_t)batch * bits * CT_PC_CHUNK_WORDS * ct_pc_chunks(k);
    return CT_OK;
}

static ct_status bp_pack_checked(ct_bp_pack_fn fn, const int8_t *x, int32_t x_stride, int32_t batch,
                                 int32_t k, int32_t bits, uint64_t *planes, int64_t n_words) {
    if (!x || !planes) return CT_E_NULL;
    int64_t need = 0;
    ct_status st = ct_bp_words(batch, k, bits, &need);
    if (st != CT_OK) return st;
    if (x_stride < k) return CT_E_SHAPE;
    if (n_words < need) return CT_E_SCRATCH;
    /* The kernels take the values as given: a bit above `bits` would be
     * dropped silently, so the range is checked here, before any plane. */
    const uint8_t top = (uint8_t)ct_act_max_of(bits);
    for (int32_t b = 0; b < batch; ++b) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        uint8_t high = 0;
        for (int32_t i = 0; i < k; ++i) high |= (uint8_t)((uint8_t)xb[i] & (uint8_t)~top);
        if (high) return CT_E_RANGE; /* above the top, or negative (bit 7) */
    }
    const int64_t sample_words = need / batch;
    for (int32_t b = 0; b < batch; ++b) {
        fn(x + (int64_t)b * x_stride, k, bits, planes + b * sample_words);
    }
    return CT_OK;
}

ct_status ct_bp_pack(const int8_t *x, int32_t x_stride, int32_t batch, int32_t k, int32_t bits,
                     uint64_t *planes, int64_t n_words) {
    const ct_status st = ct_init();
    if (st != CT_OK) return st;
    return bp_pack_checked(ct_active_entry(CT_FAMILY_BP_PACK)->fn.bp_pack, x, x_stride, batch, k,
                           bits, planes, n_words);
}

ct_status ct_bp_pack_with(int32_t kernel, const int8_t *x, int32_t x_stride, int32_t batch,
                          int32_t k, int32_t bits, uint64_t *planes, int64_t n_words) {
    const ct_kernel_entry *e = NULL;
    const ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_BP_PACK, CT_FAMILY_BP_PACK, &e);
    if (st != CT_OK) return st;
    return bp_pack_checked(e->fn.bp_pack, x, x_stride, batch, k, bits, planes, n_words);
}

/* ---- dense sums ----------------------------------------------------------- */

static ct_status pc_args_check(const ct_layer *layer, const uint64_t *planes, int32_t bits,
                               int32_t batch, const int32_t *acc) {
    if (!layer) return CT_E_NULL;
    const ct_status st = ct_layer_check(layer);
    if (st != CT_OK) return st;
    if (layer->kind != CT_LAYER_DENSE || !bp_bits_ok(bits)) return CT_E_RANGE;
    if (!layer->pc_w || !planes || !acc) return CT_E_NULL;
    if (batch < 1) return CT_E_SHAPE;
    return CT_OK;
}

/* A thread's share: rows [begin, end). */
typedef struct pc_job {
    ct_pc_mm_fn fn;
    const ct_layer *layer;
    const uint64_t *planes;
    int32_t bits, batch;
    int32_t *acc;
} pc_job;

static void pc_rows(void *ctx, int32_t begin, int32_t end) {
    const pc_job *j = (const pc_job *)ctx;
    const int32_t chunks = ct_pc_chunks(j->layer->n_in);
    const int64_t row_words = 2 * (int64_t)CT_PC_CHUNK_WORDS * chunks;
    j->fn(j->layer->pc_w + begin * row_words, j->layer->bias + begin, end - begin, chunks,
          j->planes, j->bits, j->batch, j->acc + begin, j->layer->n_out);
}

/* As for the int8 kernels: below this much work per thread, starting one
 * costs more than it saves (counted in weights x samples, like theirs). */
#define MIN_WORK_PER_THREAD (1LL << 21)

void ct_pc_run(const ct_layer *layer, const uint64_t *planes, int32_t bits, int32_t batch,
               int32_t *acc, int32_t n_threads) {
    pc_job job = {ct_active_entry(CT_FAMILY_TM_BP_MM)->fn.pc_mm, layer, planes, bits, batch, acc};
    const int64_t work =
        (int64_t)layer->n_out * ct_pc_chunks(layer->n_in) * CT_PC_CHUNK_BITS * batch;
    int64_t useful = work / MIN_WORK_PER_THREAD;
    if (useful < 1) useful = 1;
    const int32_t t = n_threads < useful ? n_threads : (int32_t)useful;
    ct_parallel_for(layer->n_out, 4, t, pc_rows, &job);
}

ct_status ct_pc_dense_acc_with(int32_t kernel, const ct_layer *layer, const uint64_t *planes,
                               int32_t bits, int32_t batch, int32_t *acc) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_TM_BP_MM, CT_FAMILY_TM_BP_MM, &e);
    if (st != CT_OK) return st;
    st = pc_args_check(layer, planes, bits, batch, acc);
    if (st != CT_OK) return st;
    e->fn.pc_mm(layer->pc_w, layer->bias, layer->n_out, ct_pc_chunks(layer->n_in), planes, bits,
                batch, acc, layer->n_out);
    return CT_OK;
}

ct_status ct_pc_dense_acc_mt(const ct_layer *layer, const uint64_t *planes, int32_t bits,
                             int32_t batch, int32_t *acc, int32_t n_threads) {
    if (n_threads < 0 || n_threads > CT_MAX_THREADS) return CT_E_RANGE;
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = pc_args_check(layer, planes, bits, batch, acc);
    if (st != CT_OK) return st;
    ct_pc_run(layer, planes, bits, batch, acc, n_threads == 0 ? ct_num_threads() : n_threads);
    return CT_OK;
}

int32_t ct_net_in_bits(const ct_layer *layers, int32_t l) {
    for (int32_t i = l - 1; i >= 0; --i) {
        if (layers[i].kind == CT_LAYER_DENSE || layers[i].kind == CT_LAYER_CONV2D) {
            return layers[i].act_bits;
        }
    }
    return CT_ACT_BITS_MAX;
}
