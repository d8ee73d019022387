/*
 * The kernel registry and run-time dispatch.
 *
 * One table lists every kernel with its family and ISA; dispatch, the Python
 * listing, tests and benchmarks all read it, so adding a kernel is one line
 * here. The choice is made once, on first use: the last supported kernel of
 * a family in table order wins (list variants from most portable to fastest),
 * unless CONNTRA_FORCE_SCALAR=1 pins every family to its reference kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_internal.h"

static int always(void) { return 1; }

static const ct_kernel_entry registry[] = {
    {"ct_t2_s8_dense_acc__ref", CT_FAMILY_DENSE_ACC, "ref", always,
     {.dense_acc = ct_t2_s8_dense_acc__ref}},
    {"ct_s8_s32_axpy__ref", CT_FAMILY_TRAIN_AXPY, "ref", always,
     {.train_axpy = ct_s8_s32_axpy__ref}},
    {"ct_s32_s8_requant_diff__ref", CT_FAMILY_TRAIN_REQUANT_DIFF, "ref", always,
     {.train_requant_diff = ct_s32_s8_requant_diff__ref}},
    {"ct_s32_f64_ce_out_delta__ref", CT_FAMILY_TRAIN_CE_OUT_DELTA, "ref", always,
     {.train_ce_out_delta = ct_s32_f64_ce_out_delta__ref}},
    {"ct_s32_f64_ce_last_hidden_delta__ref", CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA, "ref", always,
     {.train_ce_last_hidden_delta = ct_s32_f64_ce_last_hidden_delta__ref}},
};

enum { N_KERNELS = (int)(sizeof registry / sizeof registry[0]) };

static int32_t active[CT_FAMILY_COUNT];
static int initialised;

static int force_scalar(void) {
    const char *v = getenv("CONNTRA_FORCE_SCALAR");
    return v != NULL && strcmp(v, "1") == 0;
}

static int32_t choose(int32_t family) {
    int32_t pick = -1;
    const int scalar = force_scalar();
    for (int32_t i = 0; i < N_KERNELS; ++i) {
        if (registry[i].family != family || !registry[i].supported()) continue;
        if (scalar && strcmp(registry[i].isa, "ref") != 0) continue;
        pick = i;
    }
    return pick; /* every family registers a ref kernel, so pick >= 0 */
}

static void init_once(void) {
    if (initialised) return;
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) active[f] = choose(f);
    initialised = 1;
}

ct_dense_acc_fn ct_active_dense_acc(void) {
    init_once();
    return registry[active[CT_FAMILY_DENSE_ACC]].fn.dense_acc;
}

const ct_kernel_entry *ct_active_entry(int32_t family) {
    init_once();
    return &registry[active[family]];
}

int32_t ct_kernel_count(void) { return N_KERNELS; }

ct_status ct_kernel_info(int32_t i, const char **name, int32_t *family, const char **isa,
                         int32_t *supported) {
    if (!name || !family || !isa || !supported) return CT_E_NULL;
    if (i < 0 || i >= N_KERNELS) return CT_E_UNKNOWN;
    *name = registry[i].name;
    *family = registry[i].family;
    *isa = registry[i].isa;
    *supported = registry[i].supported() ? 1 : 0;
    return CT_OK;
}

ct_status ct_kernel_active(int32_t family, int32_t *index) {
    if (!index) return CT_E_NULL;
    if (family < 0 || family >= CT_FAMILY_COUNT) return CT_E_UNKNOWN;
    init_once();
    *index = active[family];
    return CT_OK;
}

ct_status ct_kernel_select(int32_t family, int32_t index) {
    if (family < 0 || family >= CT_FAMILY_COUNT) return CT_E_UNKNOWN;
    init_once();
    if (index == -1) {
        active[family] = choose(family);
        return CT_OK;
    }
    if (index < 0 || index >= N_KERNELS || registry[index].family != family) {
        return CT_E_UNKNOWN;
    }
    if (!registry[index].supported()) return CT_E_STATE;
    active[family] = index;
    return CT_OK;
}

ct_status ct_dense_acc_with(int32_t kernel, const ct_layer *layer, const int8_t *x,
                            int32_t x_stride, int32_t batch, int32_t *acc) {
    if (kernel < 0 || kernel >= N_KERNELS || registry[kernel].family != CT_FAMILY_DENSE_ACC) {
        return CT_E_UNKNOWN;
    }
    if (!registry[kernel].supported()) return CT_E_STATE;
    ct_status st = ct_dense_args_check(layer, x, x_stride, batch, acc);
    if (st != CT_OK) return st;
    registry[kernel].fn.dense_acc(layer, x, x_stride, batch, acc);
    return CT_OK;
}
