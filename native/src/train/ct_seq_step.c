/*
 * Checks and applications of candidates for chains of layer kinds: one
 * candidate at a time over the batch's samples, split between threads when
 * the work pays for them. Each sample's change goes into its own slot and
 * the slots are summed in sample order, so the result is the same bits for
 * every thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ct_threads.h"
#include "train/ct_seq_internal.h"

/* Samples x output positions of the changed layer below which a check runs
 * on the calling thread: starting threads costs tens of microseconds. */
enum { CT_SEQ_PAR_WORK = 1 << 16 };

typedef struct sample_job {
    ct_seq *s;
    const ct_candidate *c;
    int32_t b0, b1, parts;
    int commit;
} sample_job;

static void sample_part(void *ctx, int32_t begin, int32_t end) {
    const sample_job *j = (const sample_job *)ctx;
    const int32_t n = j->b1 - j->b0;
    for (int32_t t = begin; t < end; ++t) {
        const int32_t lo = j->b0 + (int32_t)((int64_t)n * t / j->parts);
        const int32_t hi = j->b0 + (int32_t)((int64_t)n * (t + 1) / j->parts);
        ct_seq_work *w = &j->s->work[t];
        for (int32_t b = lo; b < hi; ++b) {
            j->s->dsamp[b] = ct_seq_sample_delta(j->s, w, j->c, b, j->commit);
        }
    }
}

/* Runs every sample in [b0, b1) through ct_seq_sample_delta into dsamp. */
static void run_samples(ct_seq *s, const ct_candidate *c, int32_t b0, int32_t b1, int commit) {
    const ct_seq_stage *st = &s->st[s->pstage[c->layer]];
    const int64_t work = (int64_t)(b1 - b0) * st->out_h * st->out_w;
    int32_t parts = work >= CT_SEQ_PAR_WORK ? s->n_work : 1;
    parts = parts > b1 - b0 ? (b1 - b0 > 0 ? b1 - b0 : 1) : parts;
    sample_job job = {s, c, b0, b1, parts, commit};
    if (parts == 1) {
        sample_part(&job, 0, 1);
    } else {
        ct_parallel_for(parts, 1, parts, sample_part, &job);
    }
}

static double sum_range(const double *v, int32_t b0, int32_t b1) {
    double sum = 0.0;
    for (int32_t b = b0; b < b1; ++b) sum += v[b];
    return sum;
}

/* A shift candidate: the forward pass from its stage with the new shift into
 * buffers of its own. Returns the change; with keep, the buffers replace the
 * caches (the application). *ok = 0 if memory ran out (nothing changed). */
static double shift_delta(ct_seq *s, const ct_candidate *c, int keep, int *ok) {
    const int32_t l0 = s->pstage[c->layer];
    int32_t *acc[CT_MAX_LAYERS] = {0};
    int8_t *act[CT_MAX_LAYERS] = {0};
    const int32_t new_shift = s->st[l0].shift + c->value;
    int good = 1;
    for (int32_t l = l0; l < s->n_stages; ++l) {
        const ct_seq_stage *st = &s->st[l];
        const size_t n = (size_t)s->cap * (size_t)st->out_n;
        if (st->acc != NULL && l > l0) good &= (acc[l] = malloc(4 * n)) != NULL;
        if (st->act != NULL) good &= (act[l] = malloc(n)) != NULL;
    }
    double delta = 0.0;
    if (good) good = ct_seq_forward_into(s, l0, new_shift, acc, act) == CT_OK;
    if (good) {
        const int32_t *z = acc[s->n_stages - 1];
        for (int32_t b = 0; b < s->batch; ++b) {
            s->dsamp[b] =
                ct_seq_sample_loss(z + (int64_t)b * s->classes, s->classes, s->y[b], s->inv_t) -
                s->loss[b];
        }
        delta = sum_range(s->dsamp, 0, s->batch);
    }
    if (good && keep) {
        for (int32_t l = l0; l < s->n_stages; ++l) {
            ct_seq_stage *st = &s->st[l];
            if (acc[l] != NULL) {
                free(st->acc);
                st->acc = acc[l];
                acc[l] = NULL;
            }
            if (act[l] != NULL) {
                free(st->act);
                st->act = act[l];
                act[l] = NULL;
            }
        }
        s->st[l0].shift = new_shift;
        s->st[l0].packed_ok = 0;
        ct_seq_refresh_losses(s);
    }
    for (int32_t l = l0; l < s->n_stages; ++l) {
        free(acc[l]);
        free(act[l]);
    }
    *ok = good;
    return delta;
}

double ct_seq_candidate_delta(ct_seq *s, const ct_candidate *c, int32_t screen, int *rejected) {
    *rejected = 0;
    if (c->kind == CT_CAND_SHIFT) {
        int ok = 1;
        const double d = shift_delta(s, c, 0, &ok);
        *rejected = !ok;
        return d;
    }
    const int32_t n = s->batch;
    if (screen > 0 && screen < n) {
        run_samples(s, c, 0, screen, 0);
        const double part = sum_range(s->dsamp, 0, screen);
        if (!(part < 0.0)) {
            *rejected = 1;
            return part;
        }
        run_samples(s, c, screen, n, 0);
    } else {
        run_samples(s, c, 0, n, 0);
    }
    return sum_range(s->dsamp, 0, n);
}

void ct_seq_commit(ct_seq *s, const ct_candidate *c) {
    if (c->kind == CT_CAND_SHIFT) {
        int ok = 1;
        (void)shift_delta(s, c, 1, &ok);
        if (!ok) s->valid = 0; /* out of memory mid-way: the caches are stale */
        return;
    }
    run_samples(s, c, 0, s->batch, 1);
    ct_seq_stage *st = &s->st[s->pstage[c->layer]];
    if (c->kind == CT_CAND_BIAS) {
        st->bias[c->row] += c->value;
    } else {
        const int32_t col = st->perm != NULL ? st->perm[c->col] : c->col;
        st->w[(int64_t)c->row * st->k + col] = (int8_t)c->value;
        st->wt[(int64_t)col * st->out_c + c->row] = (int8_t)c->value;
    }
    st->packed_ok = 0;
    s->total = sum_range(s->loss, 0, s->batch);
}

static ct_status ready(const ct_seq *s) {
    if (s == NULL) return CT_E_NULL;
    return s->valid ? CT_OK : CT_E_STATE;
}

ct_status ct_seq_delta(ct_seq *s, const ct_candidate *c, double *delta) {
    ct_status st = ready(s);
    if (st != CT_OK) return st;
    if (c == NULL || delta == NULL) return CT_E_NULL;
    st = ct_seq_check_candidate(s, c);
    if (st != CT_OK) return st;
    int rejected = 0;
    *delta = ct_seq_candidate_delta(s, c, 0, &rejected);
    return rejected ? CT_E_NOMEM : CT_OK;
}

ct_status ct_seq_apply(ct_seq *s, const ct_candidate *c) {
    ct_status st = ready(s);
    if (st != CT_OK) return st;
    if (c == NULL) return CT_E_NULL;
    st = ct_seq_check_candidate(s, c);
    if (st != CT_OK) return st;
    ct_seq_commit(s, c);
    return s->valid ? CT_OK : CT_E_NOMEM;
}

ct_status ct_seq_step(ct_seq *s, const ct_candidate *cands, int32_t n, double min_gain,
                      int32_t screen, uint8_t *accepted, double *deltas, int32_t *n_accepted) {
    ct_status st = ready(s);
    if (st != CT_OK) return st;
    if ((cands == NULL && n > 0) || n_accepted == NULL) return CT_E_NULL;
    if (n < 0 || screen < 0) return CT_E_SHAPE;
    if (!(min_gain >= 0.0)) return CT_E_RANGE;
    for (int32_t i = 0; i < n; ++i) {
        st = ct_seq_check_candidate(s, &cands[i]);
        if (st != CT_OK) return st;
    }
    if (accepted != NULL) memset(accepted, 0, (size_t)n);
    if (deltas != NULL) {
        for (int32_t i = 0; i < n; ++i) deltas[i] = 0.0;
    }
    int32_t count = 0;
    for (int32_t i = 0; i < n; ++i) {
        /* a candidate made void by an earlier one (a bias pushed out of its
         * range) is skipped, as the dense trainer does */
        if (ct_seq_check_candidate(s, &cands[i]) != CT_OK) continue;
        int rejected = 0;
        const double delta = ct_seq_candidate_delta(s, &cands[i], screen, &rejected);
        if (deltas != NULL) deltas[i] = delta;
        const double total = s->total < 0.0 ? -s->total : s->total;
        if (rejected || !(delta < -(min_gain + CT_TRAIN_REL_EPS * (total + 1.0)))) continue;
        ct_seq_commit(s, &cands[i]);
        if (!s->valid) return CT_E_NOMEM;
        if (accepted != NULL) accepted[i] = 1;
        ++count;
    }
    *n_accepted = count;
    return CT_OK;
}

/* Adds v[b0..b1) rounded (half away from zero) to multiples of
 * 2^-CT_SEQ_SUM_BITS (conntra_train.h): 0 if a value or the sum leaves its
 * range. Plain arithmetic, no libm: the library links without it. */
static int fixed_sum(const double *v, int32_t b0, int32_t b1, int64_t *out) {
    const double unit = (double)((int64_t)1 << CT_SEQ_SUM_BITS);
    const double limit = (double)((int64_t)1 << 24);
    int64_t sum = 0;
    for (int32_t b = b0; b < b1; ++b) {
        if (!(v[b] < limit && v[b] > -limit)) return 0;
        const double x = v[b] * unit; /* exact: a power of two */
        int64_t q = (int64_t)x;       /* toward zero; |x| < 2^56 */
        const double frac = x - (double)q;
        q += (frac >= 0.5) - (frac <= -0.5);
        if ((q > 0 && sum > INT64_MAX - q) || (q < 0 && sum < INT64_MIN - q)) return 0;
        sum += q;
    }
    *out = sum;
    return 1;
}

static ct_status sample_range(const ct_seq *s, int32_t b0, int32_t b1) {
    return (b0 < 0 || b1 < b0 || b1 > s->batch) ? CT_E_SHAPE : CT_OK;
}

ct_status ct_seq_partials(ct_seq *s, const ct_candidate *cands, int32_t n, int32_t b0, int32_t b1,
                          int64_t *sums, uint8_t *ok) {
    ct_status st = ready(s);
    if (st != CT_OK) return st;
    if ((n > 0 && (cands == NULL || sums == NULL || ok == NULL))) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    st = sample_range(s, b0, b1);
    if (st != CT_OK) return st;
    for (int32_t i = 0; i < n; ++i) {
        sums[i] = 0;
        ok[i] = ct_seq_check_candidate(s, &cands[i]) == CT_OK;
        if (!ok[i]) continue;
        if (cands[i].kind == CT_CAND_SHIFT) {
            int good = 1;
            (void)shift_delta(s, &cands[i], 0, &good);
            if (!good) return CT_E_NOMEM;
        } else {
            run_samples(s, &cands[i], b0, b1, 0);
        }
        if (!fixed_sum(s->dsamp, b0, b1, &sums[i])) return CT_E_RANGE;
    }
    return CT_OK;
}

ct_status ct_seq_loss_sum(const ct_seq *s, int32_t b0, int32_t b1, int64_t *sum) {
    ct_status st = ready(s);
    if (st != CT_OK) return st;
    if (sum == NULL) return CT_E_NULL;
    st = sample_range(s, b0, b1);
    if (st != CT_OK) return st;
    return fixed_sum(s->loss, b0, b1, sum) ? CT_OK : CT_E_RANGE;
}
