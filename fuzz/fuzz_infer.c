/* fuzz_infer.c - what spans from anywhere say about the services they
 * call: the text as a database statement (normalized: never longer than
 * the buffer, NUL-terminated, idempotent), and as the URL, host and
 * statement attributes of client spans of each kind (an inferred name is
 * never empty and fits its field).
 *
 * Input: one selector byte (buffer size and span kind), then the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 8192)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t cap = (size_t)(data[0] % 64) + 1;
    char out[64], again[64];
    ft_sql_normalize(text, len, out, cap);
    if (strlen(out) >= cap)
        abort();
    ft_sql_normalize(out, strlen(out), again, sizeof again);
    if (strcmp(out, again) != 0 && strlen(out) + 1 < cap)
        abort(); /* normalizing a normalized statement changes nothing */
    ft_str v = {text, len};
    static const char *const keys[] = {"url.full", "http.url", "server.address",
                                       "db.statement", "messaging.destination.name"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        ft_attr attrs[3] = {
            {ft_str_c(keys[k]), {.type = FT_VAL_STRING, .u.s = v}},
            {FT_STR_LIT("http.method"), {.type = FT_VAL_STRING, .u.s = FT_STR_LIT("POST")}},
            {FT_STR_LIT(k == 3 ? "db.system" : k == 4 ? "messaging.system" : "x"),
             {.type = FT_VAL_STRING, .u.s = FT_STR_LIT("s")}},
        };
        ft_span sp = {.kind = (ft_span_kind)(data[0] % 6), .name = v, .attrs = {attrs, 3}};
        ft_infer_opts o = {data[0] & 0x80};
        ft_peer p;
        bool got = ft_infer_peer(&sp, &o, &p);
        if (got != (p.kind != FT_PEER_NONE) || (got && (p.name[0] == '\0' ||
                                                        strlen(p.name) >= sizeof p.name)))
            abort();
    }
    return 0;
}
