/*
 * The sequential acceptance of ranked candidates, with optional screening on
 * a sub-batch and checks run ahead on other threads.
 *
 * Sequential acceptance is a chain: whether candidate i + 1 gains depends on
 * whether candidate i was applied. Most checks are rejections (about 7 in 8
 * in the first layer of MNIST, 30 in 31 in the output layer), and a
 * rejection leaves the state as it was, so the next candidates can be checked
 * at the same time as the current one: with T threads, candidates i .. i+T-1
 * are checked together on the same state (each by one thread, on a view with
 * its own scratch), then walked in order; the first that gains is applied on
 * the calling thread and the checks after it, made on the state before it,
 * are thrown away. The applied changes are therefore exactly those of one
 * thread, in the same order, and so is the model, for every thread count.
 *
 * The threads live for one call (one round), and hand work over through a
 * generation counter that they spin on briefly and then yield: a check takes
 * microseconds, far less than waking a sleeping thread.
 *
 * Shift candidates recompute whole layers into the trainer's shared spare
 * buffers, so they are checked alone, on the calling thread.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "train/ct_train_internal.h"

enum { SPIN_BEFORE_YIELD = 2048 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void wait_while(const uint32_t *word, uint32_t value) {
    for (int32_t spins = 0; __atomic_load_n(word, __ATOMIC_ACQUIRE) == value; ++spins) {
        if (spins < SPIN_BEFORE_YIELD) {
            cpu_relax();
        } else {
            sched_yield();
        }
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

typedef struct ahead {
    ct_trainer *t;
    int32_t screen;
    int32_t n_workers;
    ct_trainer views[CT_MAX_THREADS]; /* views[0]: the calling thread's, when others run */
    ct_candidate cand[CT_MAX_THREADS];
    double delta[CT_MAX_THREADS];
    int32_t n_slots; /* candidates of the current window */
    uint32_t generation;
    uint32_t pending; /* workers yet to finish the current window */
    int32_t stop;
} ahead;

typedef struct worker_arg {
    ahead *a;
    int32_t slot;
} worker_arg;

static void *worker(void *arg) {
    const worker_arg *w = (const worker_arg *)arg;
    ahead *a = w->a;
    ct_trainer *v = &a->views[w->slot];
    uint32_t seen = 0;
    for (;;) {
        wait_while(&a->generation, seen);
        seen = __atomic_load_n(&a->generation, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) return NULL;
        if (w->slot < a->n_slots) {
            ct_train_view_sync(v, a->t);
            a->delta[w->slot] = verdict(v, &a->cand[w->slot], a->screen);
        }
        __atomic_fetch_sub(&a->pending, 1u, __ATOMIC_ACQ_REL);
    }
}

/* Checks a->cand[0 .. n_slots) on the current state, slot 0 here. While
 * other threads read the trainer nobody writes it: this thread's check runs
 * on a view too (screening narrows the view's batch). Alone, it checks on
 * the trainer itself. */
static void check_window(ahead *a, int32_t n_slots) {
    a->n_slots = n_slots;
    ct_trainer *mine = a->n_workers > 0 ? &a->views[0] : a->t;
    if (a->n_workers > 0) ct_train_view_sync(mine, a->t);
    if (n_slots > 1) {
        __atomic_store_n(&a->pending, (uint32_t)a->n_workers, __ATOMIC_RELAXED);
        __atomic_add_fetch(&a->generation, 1u, __ATOMIC_ACQ_REL);
    }
    a->delta[0] = verdict(mine, &a->cand[0], a->screen);
    if (n_slots > 1) {
        for (int32_t spins = 0; __atomic_load_n(&a->pending, __ATOMIC_ACQUIRE) != 0; ++spins) {
            if (spins < SPIN_BEFORE_YIELD) {
                cpu_relax();
            } else {
                sched_yield();
            }
        }
    }
}

static void stop_workers(ahead *a, pthread_t *ids, int32_t started) {
    __atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&a->generation, 1u, __ATOMIC_ACQ_REL);
    for (int32_t i = 0; i < started; ++i) pthread_join(ids[i], NULL);
    for (int32_t k = 1; k <= started; ++k) ct_train_view_free(&a->views[k]);
}

ct_status ct_train_accept_in_order(ct_trainer *t, int32_t n, ct_cand_get_fn get,
                                   ct_cand_accepted_fn accepted, void *ctx, double min_gain,
                                   int32_t screen, int32_t n_threads) {
    ahead *a = calloc(1, sizeof *a);
    if (a == NULL) return CT_E_NOMEM;
    a->t = t;
    a->screen = screen;
    int32_t threads = n_threads < 1 ? 1 : n_threads > CT_MAX_THREADS ? CT_MAX_THREADS : n_threads;
    if (threads > n) threads = n > 0 ? n : 1;
    if (threads > 1 && !ct_train_view_new(t, &a->views[0])) threads = 1;
    pthread_t ids[CT_MAX_THREADS];
    worker_arg args[CT_MAX_THREADS];
    int32_t started = 0;
    for (int32_t k = 1; k < threads; ++k) { /* fewer threads if any cannot start */
        if (!ct_train_view_new(t, &a->views[k])) break;
        args[k].a = a;
        args[k].slot = k;
        if (pthread_create(&ids[k - 1], NULL, worker, &args[k]) != 0) {
            ct_train_view_free(&a->views[k]);
            break;
        }
        ++started;
    }
    a->n_workers = started;
    if (threads > 1 && started == 0) ct_train_view_free(&a->views[0]); /* alone after all */
    const int32_t width = started + 1;
    int32_t i = 0;
    while (i < n) {
        /* The window: up to `width` candidates, a shift only alone. */
        int32_t slots = 0;
        while (slots < width && i + slots < n) {
            const ct_candidate c = get(ctx, t, i + slots);
            if (c.kind == CT_CAND_SHIFT && slots > 0) break;
            a->cand[slots++] = c;
            if (c.kind == CT_CAND_SHIFT) break;
        }
        check_window(a, slots);
        const double limit = ct_train_threshold(t, min_gain);
        int32_t k = 0;
        while (k < slots && !(a->delta[k] < limit)) ++k;
        if (k < slots) {
            (void)ct_train_delta_unchecked(t, &a->cand[k], 1);
            if (accepted) accepted(ctx, &a->cand[k], i + k);
            i += k + 1;
        } else {
            i += slots;
        }
    }
    stop_workers(a, ids, started);
    if (started > 0) ct_train_view_free(&a->views[0]);
    free(a);
    return CT_OK;
}
