/* Status messages. Designated initialisers tie each text to its code, so the
 * table cannot drift when codes are added; a test checks every entry. */
#include "conntra.h"

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
};

const char *ct_status_message(int32_t status) {
    if (status < 0 || status >= CT_STATUS_COUNT || messages[status] == 0) {
        return "unknown status code";
    }
    return messages[status];
}
