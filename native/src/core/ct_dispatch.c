/*
 * The kernel registry and run-time dispatch.
 *
 * The registry is generated from the kernel list (ct_kernels.h): one row per
 * kernel compiled on this architecture, with its family and ISA. Dispatch,
 * the Python listing (conntra.engine.kernels()), the tests and the benchmarks
 * all read it. The choice is made once (pthread_once), on first use: the last
 * eligible kernel of a family in list order wins (lists go from most portable
 * to fastest). Eligible: the CPU supports it, and
 *   CONNTRA_FORCE_SCALAR=1   -> only ref kernels (0 or unset: no effect);
 *   CONNTRA_KERNELS=a,b,...  -> only ref kernels and kernels whose ISA or
 *                               full name is in the list.
 * Any other value of either variable is CT_E_ENV, reported by every call that
 * dispatches (ct_init says so up front). Hot loops never re-check: they call
 * through the chosen pointers.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ct_internal.h"
#include "core/ct_threads.h"

#define CT_REGISTRY_ROW(FAMILY, sig, name, isa, arch, ok) \
    CT_ARCH_##arch({#name, CT_FAMILY_##FAMILY, #isa, ok, {.sig = name}}, )

static const ct_kernel_entry registry[] = {CT_KERNELS(CT_REGISTRY_ROW)};

enum { N_KERNELS = (int)(sizeof registry / sizeof registry[0]) };

/* Every ISA and kernel name of the list, on every architecture: what
 * CONNTRA_KERNELS may name (a setting shared between an x86 and an arm
 * machine stays valid on both). */
#define CT_KNOWN_WORDS(FAMILY, sig, name, isa, arch, ok) #name, #isa,
static const char *const known_words[] = {CT_KERNELS(CT_KNOWN_WORDS)};

#define CT_FAMILY_NAME(FAMILY, short_name) [CT_FAMILY_##FAMILY] = #short_name,
static const char *const family_names[CT_FAMILY_COUNT] = {CT_FAMILIES(CT_FAMILY_NAME)};

#define CT_COUNT_ONE(FAMILY, short_name) +1
typedef char ct_families_match_the_enum[(0 CT_FAMILIES(CT_COUNT_ONE)) == CT_FAMILY_COUNT ? 1 : -1];

/* The eligibility settings, read from the environment. */
typedef struct policy {
    int scalar;        /* CONNTRA_FORCE_SCALAR=1 */
    const char *allow; /* CONNTRA_KERNELS, NULL when unset or empty */
} policy;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int32_t active[CT_FAMILY_COUNT];
static ct_status env_status = CT_OK;

/* Whether `word` (len bytes) is one of known_words. */
static int known(const char *word, size_t len) {
    for (size_t i = 0; i < sizeof known_words / sizeof known_words[0]; ++i) {
        if (strlen(known_words[i]) == len && strncmp(known_words[i], word, len) == 0) return 1;
    }
    return 0;
}

/* Whether `word` is one of the comma-separated items of `list`. */
static int listed(const char *list, const char *word) {
    const size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0) return 1;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* Reads and checks the environment into *pol; on CT_E_ENV *pol is the
 * default policy (so the registry still has a valid choice to report). */
static ct_status read_policy(policy *pol) {
    pol->scalar = 0;
    pol->allow = NULL;
    const char *scalar = getenv("CONNTRA_FORCE_SCALAR");
    if (scalar != NULL && *scalar != '\0' && strcmp(scalar, "0") != 0) {
        if (strcmp(scalar, "1") != 0) {
            return ct_env_error("CONNTRA_FORCE_SCALAR", scalar, "1 or 0");
        }
        pol->scalar = 1;
    }
    const char *allow = getenv("CONNTRA_KERNELS");
    if (allow == NULL || *allow == '\0') return CT_OK;
    for (const char *p = allow;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!known(p, len)) {
            pol->scalar = 0;
            return ct_env_error(
                "CONNTRA_KERNELS", allow,
                "comma-separated ISAs (ref, avx2, avx512vnni, avxvnni, avx512vnni256, "
                "avx512vpopcnt, neon, neondot) or kernel names");
        }
        if (!comma) break;
        p = comma + 1;
    }
    pol->allow = allow;
    return CT_OK;
}

static int32_t choose(int32_t family, const policy *pol) {
    int32_t pick = -1;
    for (int32_t i = 0; i < N_KERNELS; ++i) {
        const ct_kernel_entry *e = &registry[i];
        if (e->family != family || !e->supported()) continue;
        const int ref = strcmp(e->isa, "ref") == 0;
        if (pol->scalar && !ref) continue;
        if (pol->allow && !ref && !listed(pol->allow, e->isa) && !listed(pol->allow, e->name)) {
            continue;
        }
        pick = i;
    }
    return pick; /* every family lists its ref kernel first, so pick >= 0 */
}

static void init_registry(void) {
    policy pol;
    env_status = read_policy(&pol);
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) active[f] = choose(f, &pol);
}

ct_status ct_dispatch_status(void) {
    pthread_once(&init_once, init_registry);
    return env_status;
}

const ct_kernel_entry *ct_active_entry(int32_t family) {
    pthread_once(&init_once, init_registry);
    return &registry[active[family]];
}

static const ct_kernel_entry *active_entry(int32_t family) {
    return ct_active_entry(family);
}

int32_t ct_kernel_count(void) {
    return N_KERNELS;
}

const char *ct_family_name(int32_t family) {
    if (family < 0 || family >= CT_FAMILY_COUNT) return NULL;
    return family_names[family];
}

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
    const ct_status st = ct_dispatch_status();
    if (st != CT_OK) return st;
    *index = active[family];
    return CT_OK;
}

ct_status ct_kernel_select(int32_t family, int32_t index) {
    if (family < 0 || family >= CT_FAMILY_COUNT) return CT_E_UNKNOWN;
    pthread_once(&init_once, init_registry);
    if (index == -1) {
        policy pol;
        env_status = read_policy(&pol);
        if (env_status != CT_OK) return env_status;
        active[family] = choose(family, &pol);
        return CT_OK;
    }
    if (index < 0 || index >= N_KERNELS || registry[index].family != family) {
        return CT_E_UNKNOWN;
    }
    if (!registry[index].supported()) return CT_E_STATE;
    active[family] = index;
    return CT_OK;
}

/* ---- running kernels ------------------------------------------------------ */

/* A thread's share of a dense layer: rows [begin, end) as a sub-layer. */
typedef struct dense_job {
    ct_mm_fn fn;
    const ct_layer *layer;
    const int8_t *x;
    int32_t x_stride, batch;
    int32_t *acc;
} dense_job;

static void dense_rows(void *ctx, int32_t begin, int32_t end) {
    const dense_job *j = (const dense_job *)ctx;
    ct_layer sub = *j->layer;
    sub.n_out = end - begin;
    sub.w += (int64_t)begin * ct_t2_row_bytes(sub.n_in);
    sub.bias += begin;
    j->fn(&sub, j->x, j->x_stride, j->batch, j->acc + begin, j->layer->n_out);
}

/* Below this many multiply-adds per thread, starting a thread (tens of
 * microseconds) costs more than it saves. */
#define MIN_MACS_PER_THREAD (1LL << 21)

void ct_dense_run(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                  int32_t *acc, int32_t n_threads) {
    const int32_t family = batch < CT_GEMM_MIN_BATCH ? CT_FAMILY_GEMV : CT_FAMILY_GEMM;
    dense_job job = {active_entry(family)->fn.mm, layer, x, x_stride, batch, acc};
    const int64_t macs = (int64_t)layer->n_out * ct_t2_padded_k(layer->n_in) * batch;
    int64_t useful = macs / MIN_MACS_PER_THREAD;
    if (useful < 1) useful = 1;
    const int32_t t = n_threads < useful ? n_threads : (int32_t)useful;
    /* Grain 4: the SIMD kernels work on groups of 4 rows. */
    ct_parallel_for(layer->n_out, 4, t, dense_rows, &job);
}

static void dense_auto(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                       int32_t *acc) {
    ct_dense_run(layer, x, x_stride, batch, acc, ct_num_threads());
}

ct_dense_acc_fn ct_active_dense_acc(void) {
    return dense_auto;
}

ct_pack_fn ct_active_t2_pack(void) {
    return active_entry(CT_FAMILY_T2_PACK)->fn.pack;
}

ct_unpack_fn ct_active_t2_unpack(void) {
    return active_entry(CT_FAMILY_T2_UNPACK)->fn.unpack;
}

ct_status ct_dense_acc_mt(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                          int32_t *acc, int32_t n_threads) {
    if (n_threads < 0 || n_threads > CT_MAX_THREADS) return CT_E_RANGE;
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = ct_dense_args_check(layer, x, x_stride, batch, acc);
    if (st != CT_OK) return st;
    ct_dense_run(layer, x, x_stride, batch, acc, n_threads == 0 ? ct_num_threads() : n_threads);
    return CT_OK;
}

ct_status ct_kernel_lookup(int32_t kernel, int32_t fam_a, int32_t fam_b,
                           const ct_kernel_entry **e) {
    if (kernel < 0 || kernel >= N_KERNELS) return CT_E_UNKNOWN;
    if (registry[kernel].family != fam_a && registry[kernel].family != fam_b) {
        return CT_E_UNKNOWN;
    }
    if (!registry[kernel].supported()) return CT_E_STATE;
    *e = &registry[kernel];
    return CT_OK;
}

ct_status ct_dense_acc_with(int32_t kernel, const ct_layer *layer, const int8_t *x,
                            int32_t x_stride, int32_t batch, int32_t *acc) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_GEMM, CT_FAMILY_GEMV, &e);
    if (st != CT_OK) return st;
    st = ct_dense_args_check(layer, x, x_stride, batch, acc);
    if (st != CT_OK) return st;
    e->fn.mm(layer, x, x_stride, batch, acc, layer->n_out);
    return CT_OK;
}

ct_status ct_t2_pack_with(int32_t kernel, const int8_t *w, int32_t rows, int32_t k, uint8_t *out,
                          int64_t out_bytes) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_T2_PACK, CT_FAMILY_T2_PACK, &e);
    if (st != CT_OK) return st;
    return ct_t2_pack_checked(e->fn.pack, w, rows, k, out, out_bytes);
}

ct_status ct_t2_unpack_with(int32_t kernel, const uint8_t *packed, int32_t rows, int32_t k,
                            int8_t *w) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_T2_UNPACK, CT_FAMILY_T2_UNPACK, &e);
    if (st != CT_OK) return st;
    return ct_t2_unpack_checked(e->fn.unpack, packed, rows, k, w);
}

/* ---- trainer kernels by index (tests, benchmarks) ------------------------- */

ct_status ct_train_axpy_with(int32_t kernel, int32_t *acc, const int8_t *x, int32_t d, int32_t n) {
    const ct_kernel_entry *e = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_TRAIN_AXPY, CT_FAMILY_TRAIN_AXPY, &e);
    if (st != CT_OK) return st;
    if (!acc || !x) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    e->fn.train_axpy(acc, x, d, n);
    return CT_OK;
}

ct_status ct_train_requant_diff_with(int32_t kernel, const int32_t *acc, const int8_t *x, int32_t d,
                                     int32_t n, int32_t shift, int32_t act_bits, const int8_t *act,
                                     int32_t *idx, int32_t *da, int32_t *count) {
    const ct_kernel_entry *e = NULL;
    ct_status st =
        ct_kernel_lookup(kernel, CT_FAMILY_TRAIN_REQUANT_DIFF, CT_FAMILY_TRAIN_REQUANT_DIFF, &e);
    if (st != CT_OK) return st;
    if (!acc || !x || !act || !idx || !da || !count) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    if (shift < 0 || shift > CT_MAX_SHIFT || !ct_act_bits_ok(act_bits)) return CT_E_RANGE;
    *count = e->fn.train_requant_diff(acc, x, d, n, shift, ct_act_max_of(act_bits), act, idx, da);
    return CT_OK;
}

ct_status ct_train_ce_out_delta_with(int32_t kernel, const int8_t *x, int32_t d, int32_t n,
                                     const int32_t *y, int32_t cls, const double *e_row,
                                     const double *sminus, const double *lns, const double *tab,
                                     double inv_t, double *delta) {
    const ct_kernel_entry *e = NULL;
    ct_status st =
        ct_kernel_lookup(kernel, CT_FAMILY_TRAIN_CE_OUT_DELTA, CT_FAMILY_TRAIN_CE_OUT_DELTA, &e);
    if (st != CT_OK) return st;
    if (!x || !y || !e_row || !sminus || !lns || !tab || !delta) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    if (d < -2 || d > 2) return CT_E_RANGE; /* tab is indexed by d * x[b] */
    *delta = e->fn.train_ce_out_delta(x, d, n, y, cls, e_row, sminus, lns, tab, inv_t);
    return CT_OK;
}

ct_status ct_train_ce_last_hidden_delta_with(int32_t kernel, const int32_t *idx, const int32_t *da,
                                             int32_t n, const int8_t *col, int32_t classes,
                                             const double *e, const double *lns, const int32_t *y,
                                             const double *tab, double inv_t, double *delta) {
    const ct_kernel_entry *k = NULL;
    ct_status st = ct_kernel_lookup(kernel, CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA,
                                    CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA, &k);
    if (st != CT_OK) return st;
    if (!idx || !da || !col || !e || !lns || !y || !tab || !delta) return CT_E_NULL;
    if (n < 0 || classes < 1) return CT_E_SHAPE;
    for (int32_t c = 0; c < classes; ++c) {
        if (col[c] < -1 || col[c] > 1) return CT_E_RANGE;
    }
    for (int32_t s = 0; s < n; ++s) {
        if (idx[s] < 0 || da[s] < -CT_ACT_MAX || da[s] > CT_ACT_MAX) return CT_E_RANGE;
        if (y[idx[s]] < 0 || y[idx[s]] >= classes) return CT_E_RANGE;
    }
    *delta = k->fn.train_ce_last_hidden_delta(idx, da, n, col, classes, e, lns, y, tab, inv_t);
    return CT_OK;
}
