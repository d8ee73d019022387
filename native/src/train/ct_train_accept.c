/*
 * The sequential acceptance of ranked candidates, with optional screening on
 * a sub-batch and checks run ahead on other threads.
 *
 * Sequential acceptance is a chain: whether candidate i + 1 gains depends on
 * whether candidate i was applied. Most checks are rejections (about 7 in 8
 * in the first layer of MNIST, 30 in 31 in the output layer), and a
 * rejection leaves the state as it was, so the candidates after the current
 * one can be checked at the same time on the same state. A run of checks
 * starts at candidate i: every thread claims the next unchecked candidate in
 * order (one shared counter), checks it on a view of the trainer with scratch
 * of its own and records the result; the calling thread walks the results in
 * order. At the first candidate that gains the run halts, the threads finish
 * the check in hand, the change is applied on the calling thread, results
 * after it (made on the state before it) are thrown away, and the next run
 * starts after it. The applied changes are therefore exactly those of one
 * thread, in the same order, and so is the model, for every thread count.
 * Claiming one candidate at a time keeps every thread busy although checks
 * differ by 10x in cost (a screened-out candidate against a full check).
 *
 * The threads live for one call (one round), and hand work over through a
 * generation counter that they spin on briefly and then yield: a check takes
 * microseconds, far less than waking a sleeping thread.
 *
 * Shift candidates recompute whole layers into the trainer's shared spare
 * buffers, so they are checked alone, on the calling thread.
 *
 * While the calling thread applies an accepted change, the same threads
 * refresh the loss caches of the samples it moves (ct_train_par_for): each
 * sample is refreshed on its own, from its own logits, so the caches do not
 * depend on how the samples were split.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "train/ct_train_internal.h"

enum {
    SPIN_BEFORE_YIELD = 2048,
    MIN_PER_THREAD = 64 /* samples per thread below which a range is not split */
};

enum { JOB_CHECKS, JOB_RANGE };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void backoff(int32_t spins) {
    if (spins < SPIN_BEFORE_YIELD) {
        cpu_relax();
    } else {
        sched_yield();
    }
}

/* The loss change that decides candidate c on view v: its exact change, or
 * +HUGE_VAL for a candidate out of range or screened out. */
static double verdict(ct_trainer *v, const ct_candidate *c, int32_t screen) {
    if (ct_train_check_candidate(v, c) != CT_OK) return HUGE_VAL;
    if (screen > 0 && screen < v->batch && c->kind != CT_CAND_SHIFT) {
        /* The batch is a random sample in random order, so its first samples
         * are a random sub-batch: a change that does not gain there rarely
         * gains on the whole, and most candidates are rejected. */
        const int32_t full = v->batch;
        v->batch = screen;
        const double part = ct_train_delta_unchecked(v, c, 0);
        v->batch = full;
        if (!(part < 0.0)) return HUGE_VAL;
    }
    return ct_train_delta_unchecked(v, c, 0);
}

typedef struct ct_train_pool {
    ct_trainer *t;
    int32_t screen;
    int32_t n_workers;
    ct_trainer views[CT_MAX_THREADS]; /* views[0]: the calling thread's, when others run */
    ct_cand_get_fn get;
    void *get_ctx;
    /* the current run of checks: candidates [.., end) claimed through next */
    double *delta;   /* [n]: each candidate's verdict */
    uint32_t *ready; /* [n]: the run whose verdict delta[i] holds */
    uint32_t run;
    int32_t end;
    int32_t next;
    int32_t halt;
    /* a split range (ct_train_par_for) */
    ct_train_range_fn range_fn;
    void *range_ctx;
    int32_t range_n;
    /* hand-over */
    int32_t job;
    uint32_t generation;
    uint32_t pending; /* workers yet to finish the current job */
    int32_t stop;
} ct_train_pool;

typedef struct worker_arg {
    ct_train_pool *a;
    int32_t slot;
} worker_arg;

/* Claims and checks candidates of the current run until it halts or ends. */
static void check_claims(ct_train_pool *a, ct_trainer *v) {
    const uint32_t run = a->run;
    while (!__atomic_load_n(&a->halt, __ATOMIC_ACQUIRE)) {
        const int32_t i = __atomic_fetch_add(&a->next, 1, __ATOMIC_ACQ_REL);
        if (i >= a->end) return;
        const ct_candidate c = a->get(a->get_ctx, v, i);
        a->delta[i] = verdict(v, &c, a->screen);
        __atomic_store_n(&a->ready[i], run, __ATOMIC_RELEASE);
    }
}

static void *worker(void *arg) {
    const worker_arg *w = (const worker_arg *)arg;
    ct_train_pool *a = w->a;
    ct_trainer *v = &a->views[w->slot];
    uint32_t seen = 0;
    for (;;) {
        for (int32_t spins = 0; __atomic_load_n(&a->generation, __ATOMIC_ACQUIRE) == seen;
             ++spins) {
            backoff(spins);
        }
        seen = __atomic_load_n(&a->generation, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) return NULL;
        ct_train_view_sync(v, a->t);
        if (a->job == JOB_RANGE) {
            const int64_t n = a->range_n, threads = a->n_workers + 1;
            a->range_fn(a->range_ctx, v, (int32_t)(n * w->slot / threads),
                        (int32_t)(n * (w->slot + 1) / threads));
        } else {
            check_claims(a, v);
        }
        __atomic_fetch_sub(&a->pending, 1u, __ATOMIC_ACQ_REL);
    }
}

static void start_job(ct_train_pool *a, int32_t job) {
    a->job = job;
    __atomic_store_n(&a->pending, (uint32_t)a->n_workers, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->generation, 1u, __ATOMIC_ACQ_REL);
}

static void wait_pending(ct_train_pool *a) {
    for (int32_t spins = 0; __atomic_load_n(&a->pending, __ATOMIC_ACQUIRE) != 0; ++spins) {
        backoff(spins);
    }
}

void ct_train_par_for(ct_trainer *t, int32_t n, ct_train_range_fn fn, void *ctx) {
    ct_train_pool *a = t->pool;
    if (a == NULL || a->n_workers == 0 || n < MIN_PER_THREAD * (a->n_workers + 1)) {
        fn(ctx, t, 0, n);
        return;
    }
    a->range_fn = fn;
    a->range_ctx = ctx;
    a->range_n = n;
    start_job(a, JOB_RANGE);
    fn(ctx, t, 0, (int32_t)((int64_t)n / (a->n_workers + 1)));
    wait_pending(a);
}

/* One run of checks from candidate `from` to the first that gains (below
 * `limit`) or to `end`, on every thread. Returns the index of the first that
 * gains, or `end`. Nobody writes the trainer during a run: this thread checks
 * on a view too. */
static int32_t check_run(ct_train_pool *a, int32_t from, int32_t end, double limit) {
    ct_trainer *mine = &a->views[0];
    ct_train_view_sync(mine, a->t);
    a->run += 1;
    a->end = end;
    __atomic_store_n(&a->next, from, __ATOMIC_RELAXED);
    __atomic_store_n(&a->halt, 0, __ATOMIC_RELAXED);
    start_job(a, JOB_CHECKS);
    int32_t k = from;
    for (int32_t spins = 0; k < end;) {
        if (__atomic_load_n(&a->ready[k], __ATOMIC_ACQUIRE) == a->run) {
            if (a->delta[k] < limit) break;
            ++k;
            spins = 0;
            continue;
        }
        /* not checked yet: check the next unclaimed one here meanwhile */
        const int32_t i = __atomic_fetch_add(&a->next, 1, __ATOMIC_ACQ_REL);
        if (i < end) {
            const ct_candidate c = a->get(a->get_ctx, mine, i);
            a->delta[i] = verdict(mine, &c, a->screen);
            __atomic_store_n(&a->ready[i], a->run, __ATOMIC_RELEASE);
        } else {
            backoff(spins++);
        }
    }
    __atomic_store_n(&a->halt, 1, __ATOMIC_RELEASE);
    wait_pending(a);
    return k;
}

static void stop_workers(ct_train_pool *a, pthread_t *ids, int32_t started) {
    __atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&a->generation, 1u, __ATOMIC_ACQ_REL);
    for (int32_t i = 0; i < started; ++i) pthread_join(ids[i], NULL);
    for (int32_t k = 1; k <= started; ++k) ct_train_view_free(&a->views[k]);
}

/* Starts up to n_threads - 1 workers with a view each (and the caller's
 * view); returns how many started. */
static int32_t start_workers(ct_train_pool *a, int32_t n_threads, pthread_t *ids,
                             worker_arg *args) {
    if (n_threads < 2 || !ct_train_view_new(a->t, &a->views[0])) return 0;
    int32_t started = 0;
    for (int32_t k = 1; k < n_threads; ++k) { /* fewer threads if any cannot start */
        if (!ct_train_view_new(a->t, &a->views[k])) break;
        args[k].a = a;
        args[k].slot = k;
        if (pthread_create(&ids[k - 1], NULL, worker, &args[k]) != 0) {
            ct_train_view_free(&a->views[k]);
            break;
        }
        ++started;
    }
    if (started == 0) ct_train_view_free(&a->views[0]);
    return started;
}

ct_status ct_train_accept_in_order(ct_trainer *t, int32_t n, ct_cand_get_fn get,
                                   ct_cand_accepted_fn accepted, void *ctx, double min_gain,
                                   int32_t screen, int32_t n_threads) {
    ct_train_pool *a = calloc(1, sizeof *a);
    if (a == NULL) return CT_E_NOMEM;
    a->t = t;
    a->screen = screen;
    a->get = get;
    a->get_ctx = ctx;
    int32_t threads = n_threads < 1 ? 1 : n_threads > CT_MAX_THREADS ? CT_MAX_THREADS : n_threads;
    int32_t *shift_at = NULL; /* [n]: the first shift candidate at or after i, or n */
    if (threads > 1 && n > 1) {
        a->delta = malloc(sizeof(double) * (size_t)n);
        a->ready = calloc((size_t)n, sizeof(uint32_t));
        shift_at = malloc(sizeof(int32_t) * (size_t)n);
        if (a->delta == NULL || a->ready == NULL || shift_at == NULL) threads = 1; /* alone */
    } else {
        threads = 1;
    }
    if (threads > 1) { /* a kind does not depend on the state: one pass finds the shifts */
        for (int32_t j = n - 1, at = n; j >= 0; --j) {
            if (get(ctx, t, j).kind == CT_CAND_SHIFT) at = j;
            shift_at[j] = at;
        }
    }
    pthread_t ids[CT_MAX_THREADS];
    worker_arg args[CT_MAX_THREADS];
    const int32_t started = start_workers(a, threads, ids, args);
    a->n_workers = started;
    t->pool = started > 0 ? a : NULL; /* commits refresh their samples on every thread */
    int32_t i = 0;
    while (i < n) {
        const double limit = ct_train_threshold(t, min_gain);
        ct_candidate c = get(ctx, t, i);
        int32_t k = i;
        if (started > 0 && c.kind != CT_CAND_SHIFT) {
            const int32_t end = shift_at[i]; /* a run stops before the next shift */
            k = check_run(a, i, end, limit);
            if (k == end) {
                i = end;
                continue;
            }
            c = get(ctx, t, k);
        } else if (!(verdict(t, &c, screen) < limit)) {
            i += 1;
            continue;
        }
        (void)ct_train_delta_unchecked(t, &c, 1);
        if (accepted) accepted(ctx, &c, k);
        i = k + 1;
    }
    t->pool = NULL;
    stop_workers(a, ids, started);
    if (started > 0) ct_train_view_free(&a->views[0]);
    free(shift_at);
    free(a->delta);
    free(a->ready);
    free(a);
    return CT_OK;
}
