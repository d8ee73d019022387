/* Status messages. Designated initialisers tie each text to its code, so the
 * table cannot drift when codes are added; a test checks every entry. */
#include <stdio.h>

#include "core/ct_internal.h"

static const char *const messages[CT_STATUS_COUNT] = {
    [CT_OK] = "ok",
    [CT_E_NULL] = "a required pointer is NULL",
    [CT_E_SHAPE] = "a size is zero, negative or above its limit",
    [CT_E_RANGE] = "a value lies outside its allowed range",
    [CT_E_CODE] = "packed ternary data holds an invalid code",
    [CT_E_SCRATCH] = "the scratch buffer is too small",
    [CT_E_CHAIN] = "consecutive layers do not fit together",
    [CT_E_NOMEM] = "out of memory",
    [CT_E_STATE] = "the call is not valid in the current state",
    [CT_E_UNKNOWN] = "unknown name or index",
    [CT_E_ENV] = "an environment variable has a value that is not allowed",
};

const char *ct_status_message(int32_t status) {
    if (status < 0 || status >= CT_STATUS_COUNT || messages[status] == 0) {
        return "unknown status code";
    }
    return messages[status];
}

/* Written by the one-time setup (under pthread_once) or by the explicit
 * re-reads, which the API says not to run concurrently with other calls. */
static char env_message[256];

ct_status ct_env_error(const char *var, const char *value, const char *expected) {
    snprintf(env_message, sizeof env_message, "%s=%s: expected %s", var, value, expected);
    return CT_E_ENV;
}

const char *ct_env_message(void) {
    return env_message;
}

ct_status ct_init(void) {
    const ct_status st = ct_dispatch_status();
    if (st != CT_OK) return st;
    const ct_status streams = ct_streams_status();
    return streams != CT_OK ? streams : ct_threads_status();
}
