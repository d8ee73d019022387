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
    static const int32_t bad[] = {-1,   CT_STATUS_COUNT, CT_STATUS_COUNT + 1,
                                  1000, INT32_MIN,       INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char *m = ct_status_message(bad[i]);
        CT_CHECK(m != NULL && strcmp(m, unknown) == 0);
    }
}

/* The codes are part of the ABI (Python maps them to exception classes):
 * listed in their order, each equals its position, none is missing. */
CT_TEST(status_code_values) {
    static const int32_t in_order[] = {CT_OK,      CT_E_NULL,    CT_E_SHAPE, CT_E_RANGE,
                                       CT_E_CODE,  CT_E_SCRATCH, CT_E_CHAIN, CT_E_NOMEM,
                                       CT_E_STATE, CT_E_UNKNOWN, CT_E_ENV};
    const int32_t n = (int32_t)(sizeof in_order / sizeof in_order[0]);
    CT_CHECK_EQ_I64(n, CT_STATUS_COUNT);
    for (int32_t i = 0; i < n; ++i) CT_CHECK_EQ_I64(in_order[i], i);
}
