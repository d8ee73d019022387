/*
 * Threaded candidate scoring for ct_train_step's "scored" mode.
 *
 * Scoring (commit = 0) reads the trainer's caches and writes only its
 * scratch (idx, da, the two sparse stages, dvec, znew, work). Each extra
 * thread therefore works on a shallow copy of the trainer whose scratch
 * pointers are its own; the caller's thread uses the trainer itself. Every
 * candidate's delta is computed by the same code on the same caches, in the
 * same order of additions, so the deltas (and the trained model) are the
 * same bits for every thread count. Shift candidates recompute whole layers
 * into the shared alternative buffers, so they are scored on the calling
 * thread after the others.
 */
#include <stdlib.h>

#include "core/ct_threads.h"
#include "train/ct_train_internal.h"

/* Candidates per thread below which starting threads does not pay. */
enum { MIN_CANDIDATES_PER_THREAD = 16 };

typedef struct score_job {
    ct_trainer *t;
    ct_trainer views[CT_MAX_THREADS]; /* views[0] unused: thread 0 is t */
    const ct_candidate *cands;
    double *out;
    int32_t chunk; /* candidates per thread, for mapping a range to its view */
} score_job;

void ct_train_view_free(ct_trainer *v) {
    free(v->idx);
    free(v->da);
    free(v->dvec);
    free(v->znew);
    free(v->work);
    for (int s = 0; s < 2; ++s) {
        free(v->st[s].sample);
        free(v->st[s].off);
        free(v->st[s].neuron);
        free(v->st[s].dact);
    }
}

int ct_train_view_new(const ct_trainer *t, ct_trainer *v) {
    const size_t cap = (size_t)t->cap, width = (size_t)t->max_width;
    const size_t stage = (size_t)t->stage_width;
    const size_t classes = (size_t)t->sizes[t->n_layers];
    *v = *t;
    v->pool = NULL;
    v->idx = malloc(sizeof(int32_t) * cap);
    v->da = malloc(sizeof(int32_t) * cap);
    v->dvec = malloc(sizeof(int32_t) * width);
    v->znew = malloc(sizeof(int32_t) * classes);
    v->work = malloc(sizeof(double) * (2 * classes + 2));
    for (int s = 0; s < 2; ++s) {
        v->st[s].sample = malloc(sizeof(int32_t) * cap);
        v->st[s].off = malloc(sizeof(int32_t) * (cap + 1));
        v->st[s].neuron = malloc(sizeof(int32_t) * cap * stage);
        v->st[s].dact = malloc(sizeof(int32_t) * cap * stage);
    }
    int ok = v->idx && v->da && v->dvec && v->znew && v->work;
    for (int s = 0; s < 2; ++s) {
        ok = ok && v->st[s].sample && v->st[s].off && v->st[s].neuron && v->st[s].dact;
    }
    if (!ok) ct_train_view_free(v);
    return ok;
}

void ct_train_view_sync(ct_trainer *v, const ct_trainer *t) {
    ct_trainer scratch = *v;
    *v = *t;
    v->idx = scratch.idx;
    v->da = scratch.da;
    v->dvec = scratch.dvec;
    v->znew = scratch.znew;
    v->work = scratch.work;
    for (int s = 0; s < 2; ++s) v->st[s] = scratch.st[s];
    v->pool = NULL; /* a view's work is never split further */
}

static void score_range(void *ctx, int32_t begin, int32_t end) {
    score_job *job = (score_job *)ctx;
    const int32_t thread = begin / job->chunk;
    ct_trainer *v = thread == 0 ? job->t : &job->views[thread];
    for (int32_t i = begin; i < end; ++i) {
        if (job->cands[i].kind == CT_CAND_SHIFT) continue;
        job->out[i] = ct_train_delta_unchecked(v, &job->cands[i], 0);
    }
}

ct_status ct_train_score(ct_trainer *t, const ct_candidate *cands, int32_t n, double *out,
                         int32_t n_threads) {
    int32_t threads = n_threads < 1 ? 1 : n_threads > CT_MAX_THREADS ? CT_MAX_THREADS : n_threads;
    if (threads > n / MIN_CANDIDATES_PER_THREAD) threads = n / MIN_CANDIDATES_PER_THREAD;
    if (threads < 1) threads = 1;
    score_job *job = calloc(1, sizeof *job);
    if (job == NULL) return CT_E_NOMEM;
    job->t = t;
    job->cands = cands;
    job->out = out;
    /* Equal chunks as multiples of `chunk`, so a range start names its thread. */
    job->chunk = (n + threads - 1) / (threads > 0 ? threads : 1);
    if (job->chunk < 1) job->chunk = 1;
    threads = (n + job->chunk - 1) / job->chunk;
    int32_t made = 1;
    for (; made < threads; ++made) {
        if (!ct_train_view_new(t, &job->views[made])) break;
    }
    if (made < threads) { /* out of memory: fall back to one thread */
        for (int32_t i = 1; i < made; ++i) ct_train_view_free(&job->views[i]);
        job->chunk = n > 0 ? n : 1;
        threads = made = 1;
    }
    ct_parallel_for(n, job->chunk, threads, score_range, job);
    for (int32_t i = 0; i < n; ++i) {
        if (cands[i].kind == CT_CAND_SHIFT) out[i] = ct_train_delta_unchecked(t, &cands[i], 0);
    }
    for (int32_t i = 1; i < made; ++i) ct_train_view_free(&job->views[i]);
    free(job);
    return CT_OK;
}
