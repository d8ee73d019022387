#include "conntra.h"
#include "ct_test.h"

CT_TEST(status_messages_cover_every_code) {
    for (int32_t s = 0; s < CT_STATUS_COUNT; ++s) {
        CT_CHECK(ct_status_message(s)[0] != '\0');
    }
}
