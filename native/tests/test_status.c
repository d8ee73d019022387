/*
 * The status message table: every code has its own non-empty text, and any
 * other value gets the fixed "unknown status code" text (never NULL).
 */
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static const char unknown[] = "unknown status code";

CT_TEST(status_messages_distinct) {
    for (int32_t a = 0; a < CT_STATUS_COUNT; ++a) {
        const char *ma = ct_status_message(a);
        CT_CHECK(ma != NULL);
        if (!ma) continue;
        CT_CHECK(strlen(ma) > 0);
        CT_CHECK(strcmp(ma, unknown) != 0);
        for (int32_t b = 0; b < a; ++b) CT_CHECK(strcmp(ma, ct_status_message(b)) != 0);
    }
    CT_CHECK(strcmp(ct_status_message(CT_OK), "ok") == 0);
}

CT_TEST(status_message_out_of_range) {
    static const int32_t bad[] = {-1, CT_STATUS_COUNT, CT_STATUS_COUNT + 1, 1000, INT32_MIN,
                                  INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char *m = ct_status_message(bad[i]);
        CT_CHECK(m != NULL && strcmp(m, unknown) == 0);
    }
}

/* The codes are part of the ABI (Python maps them to exception classes). */
CT_TEST(status_code_values) {
    CT_CHECK_EQ_I64(CT_OK, 0);
    CT_CHECK_EQ_I64(CT_E_NULL, 1);
    CT_CHECK_EQ_I64(CT_E_SHAPE, 2);
    CT_CHECK_EQ_I64(CT_E_RANGE, 3);
    CT_CHECK_EQ_I64(CT_E_CODE, 4);
    CT_CHECK_EQ_I64(CT_E_SCRATCH, 5);
    CT_CHECK_EQ_I64(CT_E_CHAIN, 6);
    CT_CHECK_EQ_I64(CT_E_NOMEM, 7);
    CT_CHECK_EQ_I64(CT_E_STATE, 8);
    CT_CHECK_EQ_I64(CT_E_UNKNOWN, 9);
    CT_CHECK(CT_STATUS_COUNT >= 10);
}
