/* Runner of the C tests: runs every registered test, prints one line per
 * test and a closing "N passed, N failed" line; exit status 1 on failure.
 * Usage: ct_tests [name-substring]   CT_TEST_SEED=n overrides the seed. */
#include <stdlib.h>
#include <string.h>

#include "ct_test.h"

enum { MAX_TESTS = 512 };

static struct {
    const char *name;
    ct_test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int current_failed;
static uint64_t seed;

void ct_test_register(const char *name, ct_test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        ++n_tests;
    }
}

void ct_test_fail(const char *file, int line, const char *expr) {
    printf("  %s:%d: check failed: %s (seed %llu)\n", file, line, expr, (unsigned long long)seed);
    current_failed = 1;
}

void ct_test_fail_i64(const char *file, int line, const char *expr, long long a, long long b) {
    printf("  %s:%d: check failed: %s (%lld != %lld, seed %llu)\n", file, line, expr, a, b,
           (unsigned long long)seed);
    current_failed = 1;
}

uint64_t ct_test_seed(void) {
    return seed;
}

uint64_t ct_test_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *s = getenv("CT_TEST_SEED");
    seed = s ? strtoull(s, NULL, 10) : 20261128ull;
    if (n_tests >= MAX_TESTS) {
        printf("too many tests: raise MAX_TESTS\n");
        return 1;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; ++i) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failed = 0;
        tests[i].fn();
        printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
        if (current_failed)
            ++failed;
        else
            ++passed;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
