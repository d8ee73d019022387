/*
 * Candidate ranking in C: the surrogate backward pass, block by block.
 *
 * The estimate of a weight step is its first-order change of the batch loss,
 * from the gradient dL/dw[j][i] = sum_b g[j][b] * src[i][b], where g is the
 * backpropagated error at the layer's pre-activations (softmax minus one-hot
 * over the temperature at the logits; back through each later ternary matrix
 * and straight-through the requantization: 2^-shift inside the clamp range,
 * leak * 2^-shift outside) and src the layer's int8 input. Neither the float
 * gradient matrix nor a float copy of the weights ever exists: the rows of a
 * layer are processed RANK_ROWS at a time and the batch RANK_CHUNK samples
 * at a time, the errors of later layers recomputed per chunk from the caches
 * (the trainer's exp cache gives the softmax without another exp). Only the
 * best candidates of the layer are kept, in a bounded heap.
 *
 * Determinism: every sum has a fixed order. The errors are float32, like the
 * BLAS products this replaced: computed in float64 at the logits and rounded
 * once; in hidden layers summed over the next layer's neurons in index order.
 * A gradient entry is, per chunk, eight float32 partial sums by sample mod 8
 * combined as ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)), the chunks
 * added in order; the builds use -ffp-contract=off, so no multiply-add is
 * fused. Candidates are ordered by (estimate, index), a total order, so the
 * kept set and its order do not depend on which thread saw which block:
 * threads take contiguous ranges of blocks into heaps of their own, merged
 * into the layer's heap afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ct_threads.h"
#include "train/ct_train_internal.h"

enum {
    RANK_ROWS = 8,   /* rows of a block: a block's gradient is RANK_ROWS x n_in floats */
    RANK_CHUNK = 64, /* samples per chunk: a multiple of 8, the lanes of the dot product */
    RANK_LANES = 8,
    /* an input nonzero in at most this many samples of a chunk takes the list
     * path (dot_rows_list). On MNIST's first layer (batch 4096, one thread,
     * AVX2) a ranking took 65 ms without lists, 49-51 ms with 8 to 32 here
     * and 56-58 ms with 44 and 64: dense chunks are cheaper by rows */
    RANK_LIST_MAX = 16
};
/* the chunks of the ranking are the words of the input lists */
typedef char rank_chunk_is_a_word[RANK_CHUNK == 64 ? 1 : -1];

/* One kept candidate: its estimate and code = index * 2 + direction, where
 * index is row * n_in + col for a weight and row for a bias, and direction 1
 * means a step up (+1 for a weight, +bias_step for a bias). */
typedef struct rank_entry {
    float est;
    uint32_t code;
} rank_entry;

typedef struct rank_heap {
    rank_entry *e;
    int32_t n, cap;
} rank_heap;

/* Per-thread scratch, sized once by ct_rank_new. */
typedef struct rank_scratch {
    float *up[2];   /* [up_width * RANK_CHUNK]: errors of later layers and of the block
                       rows for one chunk, ping-pong */
    float *xf;      /* [RANK_CHUNK]: one input row of the chunk as float */
    float *grad;    /* [RANK_ROWS * max_in]: the block's weight gradient */
    double *bgrad;  /* [RANK_ROWS]: the block's bias gradient */
    rank_heap w, b; /* heaps of threads after the first (the first fills the layer's) */
} rank_scratch;

struct ct_rank {
    int32_t n_layers, max_weights, max_bias, n_threads;
    int32_t up_width, max_in;
    int avx2;           /* the input loop's AVX2 build (same bits) */
    rank_heap *w, *b;   /* [n_layers]: each layer's kept weight and bias steps */
    int32_t *bias_step; /* [n_layers] */
    rank_scratch *s;    /* [n_threads] */
    int64_t bytes;
};

/* a ranks after b: a larger estimate, or an equal one with a larger index. */
static int worse(rank_entry a, rank_entry b) {
    return a.est > b.est || (a.est == b.est && a.code > b.code);
}

static void sift_down(rank_entry *e, int32_t n, int32_t i) {
    for (;;) {
        const int32_t l = 2 * i + 1, r = l + 1;
        int32_t m = i;
        if (l < n && worse(e[l], e[m])) m = l;
        if (r < n && worse(e[r], e[m])) m = r;
        if (m == i) return;
        const rank_entry tmp = e[i];
        e[i] = e[m];
        e[m] = tmp;
        i = m;
    }
}

/* Keeps the cap best entries seen: a max-heap with the worst kept on top. */
static void heap_push(rank_heap *h, rank_entry x) {
    if (h->cap == 0) return;
    if (h->n < h->cap) {
        int32_t i = h->n++;
        h->e[i] = x;
        while (i > 0) {
            const int32_t p = (i - 1) / 2;
            if (!worse(h->e[i], h->e[p])) break;
            const rank_entry tmp = h->e[i];
            h->e[i] = h->e[p];
            h->e[p] = tmp;
            i = p;
        }
        return;
    }
    if (!worse(h->e[0], x)) return;
    h->e[0] = x;
    sift_down(h->e, h->n, 0);
}

/* In place, best first (heap sort: no allocation, no qsort tie rules). */
static void heap_sort(rank_heap *h) {
    for (int32_t n = h->n - 1; n > 0; --n) {
        const rank_entry tmp = h->e[0];
        h->e[0] = h->e[n];
        h->e[n] = tmp;
        sift_down(h->e, n, 0);
    }
}

/* The straight-through derivative of the requantization at pre-activation a:
 * inside the range that rounds to 0..act_max (2^act_bits - 1) it is 2^-shift,
 * outside leak times that (the surrogate's window; ct_requant1 rounds half up). */
static double ste(int32_t a, int32_t shift, int32_t act_max, double scale, double leak_scale) {
    const int64_t half = (int64_t)1 << shift >> 1;
    const int64_t hi = ((int64_t)act_max << shift) + half;
    return ((int64_t)a >= -half && (int64_t)a < hi) ? scale : leak_scale;
}

static double pow2_neg(int32_t s) {
    return 1.0 / (double)((int64_t)1 << s);
}

/* Errors at the logits for samples b0 .. b0+n-1: (softmax - one-hot) / T,
 * feature-major into out[k * RANK_CHUNK + b]. The exp cache of the trainer
 * holds exp((z_k - zmax) / T); its sum in class order is the normaliser the
 * cached loss used. */
static void output_errors(const ct_trainer *t, int32_t b0, int32_t n, float *out) {
    const int32_t classes = t->sizes[t->n_layers];
    for (int32_t q = 0; q < n; ++q) {
        const int32_t b = b0 + q;
        const double *e = t->ecache_s + (int64_t)b * classes;
        double s = 0.0;
        for (int32_t k = 0; k < classes; ++k) s += e[k];
        for (int32_t k = 0; k < classes; ++k) {
            const double p = e[k] / s - (t->y[b] == k ? 1.0 : 0.0);
            out[k * RANK_CHUNK + q] = (float)(p * t->inv_t);
        }
    }
}

/* Errors of rows r0 .. r1-1 of hidden layer m from the errors `in` of layer
 * m + 1: sum over the neurons k of layer m + 1 in index order of
 * w[m+1][k][r] * in[k], times the straight-through derivative at acc[m]. */
static void back_rows(const ct_trainer *t, int32_t m, int32_t r0, int32_t r1, int32_t b0, int32_t n,
                      double leak, const float *in, float *out) {
    const int32_t n_next = t->sizes[m + 2];
    const int8_t *wt = t->wt[m + 1];
    const double scale = pow2_neg(t->shift[m]), leak_scale = leak * scale;
    const int32_t *acc = t->acc[m];
    for (int32_t r = r0; r < r1; ++r) {
        float *o = out + (r - r0) * RANK_CHUNK;
        for (int32_t q = 0; q < n; ++q) o[q] = 0.0f;
        const int8_t *col = wt + (int64_t)r * n_next;
        for (int32_t k = 0; k < n_next; ++k) {
            const float *ik = in + k * RANK_CHUNK;
            if (col[k] > 0) {
                for (int32_t q = 0; q < n; ++q) o[q] += ik[q];
            } else if (col[k] < 0) {
                for (int32_t q = 0; q < n; ++q) o[q] -= ik[q];
            }
        }
        const int32_t *a = acc + (int64_t)r * t->cap + b0;
        const int32_t act_max = t->act_max[m];
        for (int32_t q = 0; q < n; ++q)
            o[q] *= (float)ste(a[q], t->shift[m], act_max, scale, leak_scale);
    }
}

/* Adds, for each of the RANK_ROWS rows r, the fixed-order dot product of
 * g[r] with x (n <= RANK_CHUNK floats, xs the same as int8) to
 * grad[r * stride]: per row, eight float32 partial sums by sample mod 8, each
 * in sample order, combined as a fixed tree. All rows share each load of x;
 * rows past `rows` hold zeros and are not stored. A group of eight samples
 * whose inputs are all 0 is skipped: its products are +-0, and adding +-0 to
 * a partial sum, which starts at +0 and is never -0, leaves it as it is, so
 * the skip gives the dense sum's bits (MNIST pixels are mostly 0). */
static inline void dot_rows(const float *g, const float *x, const int8_t *xs, int32_t n,
                            int32_t rows, float *grad, int64_t stride) {
    float p[RANK_ROWS][RANK_LANES];
    memset(p, 0, sizeof p);
    int32_t q = 0;
    for (; q + RANK_LANES <= n; q += RANK_LANES) {
        uint64_t group;
        memcpy(&group, xs + q, sizeof group);
        if (group == 0) continue; /* eight zero inputs */
        for (int32_t r = 0; r < RANK_ROWS; ++r) {
            const float *gr = g + r * RANK_CHUNK + q;
            for (int32_t l = 0; l < RANK_LANES; ++l) p[r][l] += gr[l] * x[q + l];
        }
    }
    for (; q < n; ++q) {
        for (int32_t r = 0; r < RANK_ROWS; ++r)
            p[r][q % RANK_LANES] += g[r * RANK_CHUNK + q] * x[q];
    }
    for (int32_t r = 0; r < rows; ++r) {
        const float *v = p[r];
        grad[r * stride] += ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    }
}

/* dot_rows over the chunk's samples listed in `word` (bit q: sample q of
 * the chunk, where x is nonzero), with the errors sample-major (gt[q][r]):
 * the same products added to the same partial sums in the same order, the
 * zero inputs' +-0 products left out as dot_rows leaves out groups of them,
 * so the same bits. One 8-row step per listed sample, where dot_rows spends
 * eight per group of eight samples. */
static inline void dot_rows_list(const float *gt, const int8_t *xs, uint64_t word, int32_t rows,
                                 float *grad, int64_t stride) {
    float p[RANK_LANES][RANK_ROWS];
    memset(p, 0, sizeof p);
    for (; word != 0; word &= word - 1) {
        const int32_t q = ct_ctz64(word);
        const float v = (float)xs[q];
        const float *gq = gt + q * RANK_ROWS;
        float *pl = p[q % RANK_LANES];
        for (int32_t r = 0; r < RANK_ROWS; ++r) pl[r] += gq[r] * v;
    }
    for (int32_t r = 0; r < rows; ++r) {
        grad[r * stride] += ((p[0][r] + p[1][r]) + (p[2][r] + p[3][r])) +
                            ((p[4][r] + p[5][r]) + (p[6][r] + p[7][r]));
    }
}

/* Every input row i of the chunk (src: the layer's input at the chunk's first
 * sample, rows `cap` apart) against the block's errors g, into grad. With
 * lists (the first layer: bits at the chunk's word, rows `words` apart), an
 * input nonzero in at most RANK_LIST_MAX of the chunk's samples takes the
 * list path. */
static inline void inputs_body(const float *g, const float *gt, const int8_t *src, int64_t cap,
                               const uint64_t *bits, int32_t words, int32_t n_in, int32_t n,
                               int32_t rows, float *xf, float *grad) {
    const uint64_t mask = n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1u;
    for (int32_t i = 0; i < n_in; ++i) {
        const int8_t *xs = src + (int64_t)i * cap;
        if (bits != NULL) {
            const uint64_t word = bits[(int64_t)i * words] & mask;
            if (word == 0) continue;
            if (ct_popcount64(word) <= RANK_LIST_MAX) {
                dot_rows_list(gt, xs, word, rows, grad + i, n_in);
                continue;
            }
        } else {
            int32_t any = 0;
            for (int32_t q = 0; q < n; ++q) any |= xs[q];
            if (any == 0) continue; /* an input that is 0 on the whole chunk adds 0 */
        }
        for (int32_t q = 0; q < n; ++q) xf[q] = (float)xs[q];
        dot_rows(g, xf, xs, n, rows, grad + i, n_in);
    }
}

typedef void (*inputs_fn)(const float *, const float *, const int8_t *, int64_t, const uint64_t *,
                          int32_t, int32_t, int32_t, int32_t, float *, float *);

static void inputs_plain(const float *g, const float *gt, const int8_t *src, int64_t cap,
                         const uint64_t *bits, int32_t words, int32_t n_in, int32_t n, int32_t rows,
                         float *xf, float *grad) {
    inputs_body(g, gt, src, cap, bits, words, n_in, n, rows, xf, grad);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same C compiled for AVX2: one 8-float register per row's partial sums,
 * the same operations per lane (no FMA: target avx2 alone does not enable
 * it, and the builds use -ffp-contract=off), so the same bits. Used when the
 * trainer's own kernels are the AVX2 ones, so CONNTRA_KERNELS and
 * CONNTRA_FORCE_SCALAR choose here too. */
__attribute__((target("avx2"))) static void inputs_avx2(const float *g, const float *gt,
                                                        const int8_t *src, int64_t cap,
                                                        const uint64_t *bits, int32_t words,
                                                        int32_t n_in, int32_t n, int32_t rows,
                                                        float *xf, float *grad) {
    inputs_body(g, gt, src, cap, bits, words, n_in, n, rows, xf, grad);
}
static int use_avx2(void) {
    const ct_kernel_entry *e = ct_active_entry(CT_FAMILY_TRAIN_AXPY);
    return e != NULL && strcmp(e->isa, "avx2") == 0;
}
#else
#define inputs_avx2 inputs_plain
static int use_avx2(void) {
    return 0;
}
#endif

/* The gradient of rows r0 .. r1-1 of layer l into sc->grad and sc->bgrad. */
static void block_gradient(const ct_trainer *t, rank_scratch *sc, int32_t l, int32_t r0, int32_t r1,
                           double leak, int r_avx2) {
    const int32_t n_in = t->sizes[l], rows = r1 - r0, last = t->n_layers - 1;
    const int8_t *src = l == 0 ? t->x : t->act[l - 1];
    for (int32_t i = 0; i < rows * n_in; ++i) sc->grad[i] = 0.0f;
    for (int32_t r = 0; r < rows; ++r) sc->bgrad[r] = 0.0;
    for (int32_t b0 = 0; b0 < t->batch; b0 += RANK_CHUNK) {
        const int32_t n = t->batch - b0 < RANK_CHUNK ? t->batch - b0 : RANK_CHUNK;
        /* the block rows' errors for this chunk end up in g (one of up[0..1]),
         * zero past the layer's last row so that dot_rows may read every row */
        float *cur = sc->up[0], *g = sc->up[1];
        output_errors(t, b0, n, cur);
        if (l == last) {
            memcpy(g, cur + r0 * RANK_CHUNK, sizeof(float) * (size_t)(rows * RANK_CHUNK));
        } else {
            float *nxt = g;
            for (int32_t m = last - 1; m > l; --m) { /* full width above the block */
                back_rows(t, m, 0, t->sizes[m + 1], b0, n, leak, cur, nxt);
                float *tmp = cur;
                cur = nxt;
                nxt = tmp;
            }
            back_rows(t, l, r0, r1, b0, n, leak, cur, nxt);
            g = nxt;
        }
        memset(g + rows * RANK_CHUNK, 0, sizeof(float) * (size_t)((RANK_ROWS - rows) * RANK_CHUNK));
        for (int32_t r = 0; r < rows; ++r) {
            double bsum = 0.0;
            for (int32_t q = 0; q < n; ++q) bsum += (double)g[r * RANK_CHUNK + q];
            sc->bgrad[r] += bsum;
        }
        const uint64_t *bits = NULL;
        /* the block's errors sample-major for the lists, in the up buffer
         * that g is not (the errors above the block are used up) */
        float *gt = g == sc->up[0] ? sc->up[1] : sc->up[0];
        if (l == 0) { /* the network input has lists */
            bits = t->xbits + b0 / RANK_CHUNK;
            for (int32_t q = 0; q < RANK_CHUNK; ++q) {
                for (int32_t r = 0; r < RANK_ROWS; ++r) {
                    gt[q * RANK_ROWS + r] = q < n ? g[r * RANK_CHUNK + q] : 0.0f;
                }
            }
        }
        (r_avx2 ? inputs_avx2 : inputs_plain)(g, gt, src + b0, t->cap, bits, t->words, n_in, n,
                                              rows, sc->xf, sc->grad);
    }
}

/* Weight steps of the block into heap h: a step down changes the loss by
 * about -g, a step up by about +g; the better one that stays in -1..1. */
static void push_block(const ct_trainer *t, const rank_scratch *sc, int32_t l, int32_t r0,
                       int32_t r1, int32_t n_bias, int32_t bias_step, rank_heap *hw,
                       rank_heap *hb) {
    const int32_t n_in = t->sizes[l];
    for (int32_t r = r0; r < r1; ++r) {
        const int8_t *w = t->w[l] + (int64_t)r * n_in;
        const float *g = sc->grad + (int64_t)(r - r0) * n_in;
        for (int32_t i = 0; i < n_in; ++i) {
            const double gi = (double)g[i];
            double est;
            uint32_t up;
            if (w[i] == 1 || (w[i] == 0 && gi > 0.0)) {
                est = -gi;
                up = 0;
            } else {
                est = gi;
                up = 1;
            }
            const float e = (float)est;
            if (!(e < 0.0f)) continue;
            const rank_entry x = {e, ((uint32_t)r * (uint32_t)n_in + (uint32_t)i) * 2u + up};
            heap_push(hw, x);
        }
        if (n_bias > 0) {
            const double gb = sc->bgrad[r - r0];
            const uint32_t up = (uint32_t)(gb < 0.0);
            const int64_t nb = (int64_t)t->bias[l][r] + (up ? bias_step : -bias_step);
            const float e = (float)(-(gb < 0.0 ? -gb : gb) * (double)bias_step);
            if (!(e < 0.0f) || nb > CT_MAX_BIAS || nb < -CT_MAX_BIAS) continue;
            const rank_entry x = {e, (uint32_t)r * 2u + up};
            heap_push(hb, x);
        }
    }
}

typedef struct rank_job {
    ct_rank *r;
    const ct_trainer *t;
    int32_t layer, n_bias, bias_step, blocks_per_thread;
    double leak;
} rank_job;

static void rank_range(void *ctx, int32_t begin, int32_t end) {
    const rank_job *job = (const rank_job *)ctx;
    const int32_t slot = begin / job->blocks_per_thread;
    rank_scratch *sc = &job->r->s[slot];
    rank_heap *hw = slot == 0 ? &job->r->w[job->layer] : &sc->w;
    rank_heap *hb = slot == 0 ? &job->r->b[job->layer] : &sc->b;
    const int32_t n_out = job->t->sizes[job->layer + 1];
    for (int32_t blk = begin; blk < end; ++blk) {
        const int32_t r0 = blk * RANK_ROWS;
        const int32_t r1 = r0 + RANK_ROWS < n_out ? r0 + RANK_ROWS : n_out;
        block_gradient(job->t, sc, job->layer, r0, r1, job->leak, job->r->avx2);
        push_block(job->t, sc, job->layer, r0, r1, job->n_bias, job->bias_step, hw, hb);
    }
}

static void *rank_alloc(int64_t count, size_t size, int64_t *bytes, int *fail) {
    if (*fail) return NULL;
    const size_t n = (size_t)(count > 0 ? count : 1);
    void *p = malloc(n * size);
    if (p == NULL) *fail = 1;
    *bytes += (int64_t)(n * size);
    return p;
}

void ct_rank_free(ct_rank *r) {
    if (r == NULL) return;
    for (int32_t l = 0; l < r->n_layers && r->w != NULL && r->b != NULL; ++l) {
        free(r->w[l].e);
        free(r->b[l].e);
    }
    for (int32_t k = 0; k < r->n_threads && r->s != NULL; ++k) {
        free(r->s[k].up[0]);
        free(r->s[k].up[1]);
        free(r->s[k].xf);
        free(r->s[k].grad);
        free(r->s[k].bgrad);
        free(r->s[k].w.e);
        free(r->s[k].b.e);
    }
    free(r->w);
    free(r->b);
    free(r->bias_step);
    free(r->s);
    free(r);
}

ct_status ct_rank_new(const ct_trainer *t, int32_t max_weights, int32_t max_bias, int32_t n_threads,
                      ct_rank **out) {
    if (t == NULL || out == NULL) return CT_E_NULL;
    *out = NULL;
    if (max_weights < 0 || max_bias < 0) return CT_E_SHAPE;
    int32_t threads = n_threads > 0 ? n_threads : ct_num_threads();
    if (threads > CT_MAX_THREADS) threads = CT_MAX_THREADS;
    int32_t up_width = t->sizes[t->n_layers], max_in = 1;
    for (int32_t l = 0; l < t->n_layers; ++l) {
        if ((int64_t)t->sizes[l] * t->sizes[l + 1] >= ((int64_t)1 << 31)) return CT_E_SHAPE;
        if (t->sizes[l] > max_in) max_in = t->sizes[l];
        /* full-width errors are needed for every layer above the lowest
         * ranked one's next layer: all but the first hidden layer */
        if (l >= 1 && t->sizes[l + 1] > up_width) up_width = t->sizes[l + 1];
    }
    if (up_width < RANK_ROWS) up_width = RANK_ROWS; /* the block rows go there too */
    ct_rank *r = calloc(1, sizeof *r);
    if (r == NULL) return CT_E_NOMEM;
    r->n_layers = t->n_layers;
    r->max_weights = max_weights;
    r->max_bias = max_bias;
    r->n_threads = threads;
    r->up_width = up_width;
    r->max_in = max_in;
    r->avx2 = use_avx2();
    r->bytes = (int64_t)sizeof *r;
    int fail = 0;
    r->w = rank_alloc(t->n_layers, sizeof(rank_heap), &r->bytes, &fail);
    r->b = rank_alloc(t->n_layers, sizeof(rank_heap), &r->bytes, &fail);
    r->bias_step = rank_alloc(t->n_layers, sizeof(int32_t), &r->bytes, &fail);
    r->s = rank_alloc(threads, sizeof(rank_scratch), &r->bytes, &fail);
    if (fail) {
        r->n_layers = r->n_threads = 0;
        ct_rank_free(r);
        return CT_E_NOMEM;
    }
    memset(r->w, 0, sizeof(rank_heap) * (size_t)t->n_layers);
    memset(r->b, 0, sizeof(rank_heap) * (size_t)t->n_layers);
    memset(r->s, 0, sizeof(rank_scratch) * (size_t)threads);
    for (int32_t l = 0; l < t->n_layers; ++l) {
        r->w[l].e = rank_alloc(max_weights, sizeof(rank_entry), &r->bytes, &fail);
        r->b[l].e = rank_alloc(max_bias, sizeof(rank_entry), &r->bytes, &fail);
    }
    for (int32_t k = 0; k < threads; ++k) {
        rank_scratch *sc = &r->s[k];
        sc->up[0] = rank_alloc((int64_t)up_width * RANK_CHUNK, sizeof(float), &r->bytes, &fail);
        sc->up[1] = rank_alloc((int64_t)up_width * RANK_CHUNK, sizeof(float), &r->bytes, &fail);
        sc->xf = rank_alloc(RANK_CHUNK, sizeof(float), &r->bytes, &fail);
        sc->grad = rank_alloc((int64_t)RANK_ROWS * max_in, sizeof(float), &r->bytes, &fail);
        sc->bgrad = rank_alloc(RANK_ROWS, sizeof(double), &r->bytes, &fail);
        if (k > 0) { /* the first thread fills the layer's heaps directly */
            sc->w.e = rank_alloc(max_weights, sizeof(rank_entry), &r->bytes, &fail);
            sc->b.e = rank_alloc(max_bias, sizeof(rank_entry), &r->bytes, &fail);
        }
    }
    if (fail) {
        ct_rank_free(r);
        return CT_E_NOMEM;
    }
    *out = r;
    return CT_OK;
}

ct_status ct_rank_memory(const ct_rank *r, int64_t *bytes) {
    if (r == NULL || bytes == NULL) return CT_E_NULL;
    *bytes = r->bytes;
    return CT_OK;
}

ct_status ct_rank_clear(ct_rank *r) {
    if (r == NULL) return CT_E_NULL;
    for (int32_t l = 0; l < r->n_layers; ++l) r->w[l].n = r->b[l].n = 0;
    return CT_OK;
}

ct_status ct_rank_layer(ct_rank *r, ct_trainer *t, int32_t layer, int32_t n_weights, int32_t n_bias,
                        int32_t bias_step, double leak, int32_t samples) {
    if (r == NULL || t == NULL) return CT_E_NULL;
    if (t->n_layers != r->n_layers || layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    if (n_weights < 0 || n_weights > r->max_weights || n_bias < 0 || n_bias > r->max_bias) {
        return CT_E_SHAPE;
    }
    if (bias_step < 1 || bias_step > CT_MAX_BIAS || !(leak >= 0.0 && leak <= 1.0) || samples < 0) {
        return CT_E_RANGE;
    }
    if (!t->valid) return CT_E_STATE;
    /* on the batch's first `samples` only: the threads below read t->batch,
     * nobody writes it until they are done */
    const int32_t full = t->batch;
    if (samples > 0 && samples < full) t->batch = samples;
    const int32_t blocks = (t->sizes[layer + 1] + RANK_ROWS - 1) / RANK_ROWS;
    int32_t threads = ct_num_threads();
    if (threads > r->n_threads) threads = r->n_threads;
    if (threads > blocks) threads = blocks;
    if (threads < 1) threads = 1;
    rank_job job = {r, t, layer, n_bias, bias_step, (blocks + threads - 1) / threads, leak};
    threads = (blocks + job.blocks_per_thread - 1) / job.blocks_per_thread;
    r->w[layer].n = 0;
    r->w[layer].cap = n_weights;
    r->b[layer].n = 0;
    r->b[layer].cap = n_bias;
    r->bias_step[layer] = bias_step;
    for (int32_t k = 1; k < threads; ++k) {
        r->s[k].w.n = r->s[k].b.n = 0;
        r->s[k].w.cap = n_weights;
        r->s[k].b.cap = n_bias;
    }
    /* Ranges are multiples of blocks_per_thread, so a range's start names
     * its scratch; a thread that cannot start runs on the caller, same bits. */
    ct_parallel_for(blocks, job.blocks_per_thread, threads, rank_range, &job);
    t->batch = full;
    for (int32_t k = 1; k < threads; ++k) {
        for (int32_t i = 0; i < r->s[k].w.n; ++i) heap_push(&r->w[layer], r->s[k].w.e[i]);
        for (int32_t i = 0; i < r->s[k].b.n; ++i) heap_push(&r->b[layer], r->s[k].b.e[i]);
    }
    heap_sort(&r->w[layer]);
    heap_sort(&r->b[layer]);
    return CT_OK;
}

/* Entry i of layer l's list (weights, then biases) as a candidate. */
static ct_candidate decode(const ct_rank *r, const ct_trainer *t, int32_t l, int32_t i,
                           double *est) {
    const int32_t n_in = t->sizes[l];
    ct_candidate c;
    c.layer = l;
    if (i < r->w[l].n) {
        const rank_entry e = r->w[l].e[i];
        const uint32_t index = e.code >> 1;
        c.kind = CT_CAND_WEIGHT;
        c.row = (int32_t)(index / (uint32_t)n_in);
        c.col = (int32_t)(index % (uint32_t)n_in);
        c.value = t->w[l][index] + ((e.code & 1u) ? 1 : -1);
        *est = (double)e.est;
    } else {
        const rank_entry e = r->b[l].e[i - r->w[l].n];
        c.kind = CT_CAND_BIAS;
        c.row = (int32_t)(e.code >> 1);
        c.col = 0;
        c.value = (e.code & 1u) ? r->bias_step[l] : -r->bias_step[l];
        *est = (double)e.est;
    }
    return c;
}

ct_status ct_rank_candidates(const ct_rank *r, const ct_trainer *t, int32_t layer,
                             ct_candidate *out, double *est, int32_t cap, int32_t *n) {
    if (r == NULL || t == NULL || n == NULL || (cap > 0 && out == NULL)) return CT_E_NULL;
    if (t->n_layers != r->n_layers || layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    const int32_t total = r->w[layer].n + r->b[layer].n;
    *n = total;
    if (total > cap) return CT_E_SCRATCH;
    for (int32_t i = 0; i < total; ++i) {
        double e = 0.0;
        out[i] = decode(r, t, layer, i, &e);
        if (est) est[i] = e;
    }
    return CT_OK;
}

typedef struct rank_walk {
    const ct_rank *r;
    const ct_candidate *extra;
    int32_t *accepted;
} rank_walk;

/* Candidate i of the walk: the ranked lists layer by layer (weights, then
 * biases), then the extra candidates. Decoded from the current weights. */
static ct_candidate walk_get(void *ctx, const ct_trainer *t, int32_t i) {
    const rank_walk *w = (const rank_walk *)ctx;
    for (int32_t l = 0; l < t->n_layers; ++l) {
        const int32_t total = w->r->w[l].n + w->r->b[l].n;
        if (i < total) {
            double e = 0.0;
            return decode(w->r, t, l, i, &e);
        }
        i -= total;
    }
    return w->extra[i];
}

static void walk_accepted(void *ctx, const ct_candidate *c, int32_t i) {
    (void)i;
    ++((rank_walk *)ctx)->accepted[c->layer];
}

ct_status ct_rank_step(ct_rank *r, ct_trainer *t, const ct_candidate *extra, int32_t n_extra,
                       double min_gain, int32_t screen, int32_t *accepted) {
    if (r == NULL || t == NULL || accepted == NULL || (n_extra > 0 && extra == NULL)) {
        return CT_E_NULL;
    }
    if (t->n_layers != r->n_layers || n_extra < 0) return CT_E_SHAPE;
    if (!(min_gain >= 0.0) || screen < 0) return CT_E_RANGE;
    if (!t->valid) return CT_E_STATE;
    for (int32_t i = 0; i < n_extra; ++i) {
        const ct_status st = ct_train_check_candidate(t, &extra[i]);
        if (st != CT_OK) return st;
    }
    int32_t n = n_extra;
    for (int32_t l = 0; l < t->n_layers; ++l) {
        accepted[l] = 0;
        n += r->w[l].n + r->b[l].n;
    }
    rank_walk walk = {r, extra, accepted};
    const ct_status st = ct_train_accept_in_order(t, n, walk_get, walk_accepted, &walk, min_gain,
                                                  screen, ct_num_threads());
    if (st != CT_OK) return st;
    return ct_rank_clear(r);
}

ct_status ct_train_softmax_loss(const int32_t *logits, int32_t classes, int32_t batch,
                                int64_t stride, const int32_t *y, double temperature,
                                double *loss) {
    if (logits == NULL || y == NULL || loss == NULL) return CT_E_NULL;
    if (classes < 1 || batch < 0 || stride < batch) return CT_E_SHAPE;
    if (!(temperature > 0.0) || !(temperature < 1e300)) return CT_E_RANGE;
    for (int32_t b = 0; b < batch; ++b) {
        if (y[b] < 0 || y[b] >= classes) return CT_E_RANGE;
    }
    const double inv_t = 1.0 / temperature;
    double total = 0.0;
    for (int32_t b = 0; b < batch; ++b) {
        int32_t mx = logits[b];
        for (int32_t k = 1; k < classes; ++k) {
            const int32_t v = logits[k * stride + b];
            mx = v > mx ? v : mx;
        }
        double s = 0.0;
        for (int32_t k = 0; k < classes; ++k) {
            s += ct_exp((double)((int64_t)logits[k * stride + b] - mx) * inv_t);
        }
        total += ct_log(s) + (double)((int64_t)mx - logits[y[b] * stride + b]) * inv_t;
    }
    *loss = total;
    return CT_OK;
}

ct_status ct_train_memory(const ct_trainer *t, int64_t *parameters, int64_t *caches,
                          int64_t *data) {
    if (t == NULL) return CT_E_NULL;
    const int64_t cap = t->cap, classes = t->sizes[t->n_layers], width = t->max_width;
    const int64_t stage = t->stage_width;
    int64_t p = 0, c = 0;
    for (int32_t l = 0; l < t->n_layers; ++l) {
        const int64_t n_in = t->sizes[l], n_out = t->sizes[l + 1];
        p += n_in * n_out * (t->wt[l] != NULL ? 2 : 1) + 4 * n_out + 4;
        c += 2 * 4 * n_out * cap;                      /* acc, alt_acc */
        if (!ct_is_output(t, l)) c += 2 * n_out * cap; /* act, alt_act */
    }
    c += cap * (4 + 4 + 8 + 8);                                       /* zy, zmax, loss, lns */
    c += 3 * 8 * classes * cap;                                       /* sminus, ecache, ecache_s */
    c += 8 * (CT_TAB_LOW + CT_TAB + 1) + 8 * (2 * classes + 2) + cap; /* table, work, ones */
    const int64_t scratch = 2 * 4 * cap + 4 * width + 4 * classes     /* idx, da, dvec, znew */
                            + 2 * 4 * (cap + cap + 1 + 2 * cap * stage); /* the two stages */
    c += scratch;
    /* checks ahead on other threads: a view's scratch each, the caller's
     * own view included (ct_train_accept.c) */
    const int64_t threads = ct_num_threads();
    if (threads > 1) c += threads * (scratch + 8 * (2 * classes + 2));
    if (parameters) *parameters = p;
    if (caches) *caches = c;
    if (data) { /* x, y, the input lists and their counts */
        *data = (int64_t)t->sizes[0] * (cap + 8 * t->words + 4) + 4 * cap;
    }
    return CT_OK;
}

ct_status ct_train_shift(const ct_trainer *t, int32_t layer, int32_t *shift) {
    if (t == NULL || shift == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    *shift = t->shift[layer];
    return CT_OK;
}
