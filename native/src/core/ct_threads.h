/*
 * A small parallel-for over index ranges (output rows), on pthreads.
 *
 * Work is split into contiguous chunks, one per thread, each a multiple of
 * `grain` except the last; the calling thread runs the first chunk. Every
 * index is handled by exactly one thread, so integer kernels that split by
 * output row give the same bits for every thread count.
 */
#ifndef CT_THREADS_H
#define CT_THREADS_H

#include <stdint.h>

/* fn(ctx, begin, end) handles indices [begin, end). */
typedef void (*ct_range_fn)(void *ctx, int32_t begin, int32_t end);

/* Runs fn over [0, n) on up to n_threads threads (1 .. CT_MAX_THREADS).
 * Threads are started per call (tens of microseconds), so callers only ask
 * for more than one when the work is much larger than that. If a thread
 * cannot be started, its chunk runs on the calling thread: the result is the
 * same, only slower. */
void ct_parallel_for(int32_t n, int32_t grain, int32_t n_threads, ct_range_fn fn, void *ctx);

#endif /* CT_THREADS_H */
