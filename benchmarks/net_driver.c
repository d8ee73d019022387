/*
 * Runs ct_net_forward on a network and inputs read from a file and writes
 * the int32 logits: how benchmarks/conv_logits_everywhere.py runs the C core
 * built for aarch64 under qemu (both NEON paths) on the same data as on the
 * host. File layout, all little-endian int32 unless said:
 *   n_layers; per layer: kind n_in n_out shift act_bits in_h in_w in_c out_c
 *   kh kw stride_h stride_w pad_top pad_bottom pad_left pad_right groups
 *   w_bytes n_bias, then w_bytes bytes of T2 weights and n_bias int32;
 *   then batch, then batch * n_in(layer 0) int8 inputs.
 * Usage: net_driver IN OUT. Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conntra.h"

enum { FIELDS = 18, CHUNK = 256 };

static int read_i32(FILE *f, int32_t *v) {
    return fread(v, sizeof *v, 1, f) == 1;
}

static int fail(const char *what) {
    fprintf(stderr, "net_driver: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return fail("usage: net_driver IN OUT");
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) return fail("cannot open the input file");
    int32_t n_layers = 0;
    if (!read_i32(f, &n_layers) || n_layers < 1 || n_layers > CT_MAX_LAYERS) {
        return fail("bad layer count");
    }
    ct_layer layers[CT_MAX_LAYERS];
    memset(layers, 0, sizeof layers);
    for (int32_t l = 0; l < n_layers; ++l) {
        int32_t v[FIELDS + 2];
        for (int i = 0; i < FIELDS + 2; ++i) {
            if (!read_i32(f, &v[i])) return fail("truncated layer");
        }
        ct_layer *L = &layers[l];
        L->kind = v[0];
        L->n_in = v[1];
        L->n_out = v[2];
        L->shift = v[3];
        L->act_bits = v[4];
        L->in_h = v[5];
        L->in_w = v[6];
        L->in_c = v[7];
        L->out_c = v[8];
        L->kh = v[9];
        L->kw = v[10];
        L->stride_h = v[11];
        L->stride_w = v[12];
        L->pad_top = v[13];
        L->pad_bottom = v[14];
        L->pad_left = v[15];
        L->pad_right = v[16];
        L->groups = v[17];
        if (v[18] > 0) {
            uint8_t *w = malloc((size_t)v[18]);
            int32_t *bias = malloc(sizeof(int32_t) * (size_t)v[19]);
            if (w == NULL || bias == NULL) return fail("out of memory");
            if (fread(w, 1, (size_t)v[18], f) != (size_t)v[18]) return fail("truncated weights");
            if (fread(bias, sizeof(int32_t), (size_t)v[19], f) != (size_t)v[19]) {
                return fail("truncated biases");
            }
            L->w = w;
            L->bias = bias;
        }
    }
    int32_t batch = 0;
    if (!read_i32(f, &batch) || batch < 1) return fail("bad batch");
    const int32_t n_in = layers[0].n_in, n_out = layers[n_layers - 1].n_out;
    int8_t *x = malloc((size_t)batch * (size_t)n_in);
    int32_t *logits = malloc(sizeof(int32_t) * (size_t)batch * (size_t)n_out);
    if (x == NULL || logits == NULL) return fail("out of memory");
    if (fread(x, 1, (size_t)batch * (size_t)n_in, f) != (size_t)batch * (size_t)n_in) {
        return fail("truncated inputs");
    }
    fclose(f);
    int64_t need = 0;
    if (ct_net_scratch_bytes(layers, n_layers, CHUNK, &need) != CT_OK) return fail("bad network");
    void *scratch = malloc((size_t)need);
    if (scratch == NULL) return fail("out of memory");
    for (int32_t b = 0; b < batch; b += CHUNK) {
        const int32_t n = batch - b < CHUNK ? batch - b : CHUNK;
        const ct_status st = ct_net_forward(layers, n_layers, x + (int64_t)b * n_in, n,
                                            logits + (int64_t)b * n_out, scratch, need);
        if (st != CT_OK) return fail(ct_status_message(st));
    }
    FILE *o = fopen(argv[2], "wb");
    if (o == NULL) return fail("cannot open the output file");
    fwrite(logits, sizeof(int32_t), (size_t)batch * (size_t)n_out, o);
    fclose(o);
    return 0;
}
