/*
 * How many rows the VNNI GEMV kernels walk at once: R concurrent read
 * streams through the weight matrix (docs/kernels.md, "AVX-512 VNNI and
 * AVX-VNNI"). The best R is a property of the memory system, so it is
 * measured, not assumed: CONNTRA_GEMV_STREAMS=auto runs the read ceiling
 * (ct_read_ceiling: 1, 2, 4 and 8 streams on one thread) once per process,
 * on first use, and keeps its best count; 1, 2, 4 or 8 set R directly; unset
 * or empty means CT_GEMV_STREAMS_DEFAULT, the count that measured best on
 * the machines this was tuned on (one stream; see the docs for the numbers).
 * ct_set_gemv_streams overrides both (benchmarks apply their own
 * measurement). Every R gives the same bits: the sums are exact in int32.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ct_internal.h"

enum {
    CT_GEMV_STREAMS_DEFAULT = 1,
    CALIBRATION_BYTES = 64 << 20, /* twice the largest L3 slice seen so far */
    CALIBRATION_ROUNDS = 3
};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static ct_status env_status = CT_OK;
static int32_t streams = CT_GEMV_STREAMS_DEFAULT;

static int allowed(int32_t r) {
    return r == 1 || r == 2 || r == 4 || r == 8;
}

static void read_env_once(void) {
    const char *v = getenv("CONNTRA_GEMV_STREAMS");
    if (v == NULL || *v == '\0') return;
    if (strcmp(v, "auto") == 0) {
        double gbs[4];
        int32_t best = CT_GEMV_STREAMS_DEFAULT;
        if (ct_read_ceiling(CALIBRATION_BYTES, CALIBRATION_ROUNDS, gbs, &best) == CT_OK) {
            streams = best;
        }
        return;
    }
    if (strlen(v) == 1 && allowed(v[0] - '0')) {
        streams = v[0] - '0';
        return;
    }
    env_status = ct_env_error("CONNTRA_GEMV_STREAMS", v, "1, 2, 4, 8 or auto");
}

ct_status ct_streams_status(void) {
    pthread_once(&env_once, read_env_once);
    return env_status;
}

int32_t ct_gemv_streams(void) {
    pthread_once(&env_once, read_env_once);
    return streams;
}

ct_status ct_set_gemv_streams(int32_t r) {
    pthread_once(&env_once, read_env_once);
    if (!allowed(r)) return CT_E_RANGE;
    streams = r;
    return CT_OK;
}

int32_t ct_get_gemv_streams(void) {
    return ct_gemv_streams();
}
