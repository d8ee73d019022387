/*
 * A minimal C test harness for the conntra core.
 *
 *   CT_TEST(pack_round_trip) { CT_CHECK(x == y); CT_CHECK_EQ_I64(a, b); }
 *
 * Every CT_TEST registers itself through a constructor, so a test file needs
 * no list to maintain: the build compiles every C file of native/src and
 * native/tests and runs every registered test. Checks never abort; a failed check prints the
 * file, line and values, marks the test failed and the test carries on.
 * Randomised tests take their seed from ct_test_seed() and print it on failure.
 */
#ifndef CT_TEST_H
#define CT_TEST_H

#include <stdint.h>
#include <stdio.h>

typedef void (*ct_test_fn)(void);

void ct_test_register(const char *name, ct_test_fn fn);
void ct_test_fail(const char *file, int line, const char *expr);
void ct_test_fail_i64(const char *file, int line, const char *expr, long long a, long long b);
uint64_t ct_test_seed(void);
uint64_t ct_test_rand(uint64_t *state); /* splitmix64 */

#define CT_TEST(name)                                                        \
    static void ct_test_##name(void);                                        \
    __attribute__((constructor)) static void ct_test_register_##name(void) { \
        ct_test_register(#name, ct_test_##name);                             \
    }                                                                        \
    static void ct_test_##name(void)

#define CT_CHECK(expr)                                        \
    do {                                                      \
        if (!(expr)) ct_test_fail(__FILE__, __LINE__, #expr); \
    } while (0)

#define CT_CHECK_EQ_I64(a, b)                                                                 \
    do {                                                                                      \
        const long long ct_a_ = (long long)(a), ct_b_ = (long long)(b);                       \
        if (ct_a_ != ct_b_) ct_test_fail_i64(__FILE__, __LINE__, #a " == " #b, ct_a_, ct_b_); \
    } while (0)

#endif /* CT_TEST_H */
