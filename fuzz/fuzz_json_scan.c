/* fuzz_json_scan.c - the tree-less JSON scanner against jansson.
 *
 * Input: any bytes, taken as JSON text.  The scanner must never read past
 * the input, and must agree with jansson (JSON_DECODE_ANY |
 * JSON_ALLOW_NUL) on which texts are JSON, except where jansson refuses a
 * number it cannot hold (a 30-digit integer, 1e999: JSON all the same, as
 * JSON.parse has it) or a key holding \u0000; on an object, the members the
 * iterator gives must be jansson's (same count, each name found, the last
 * of a repeated name winning), and every string value must decode to
 * jansson's bytes.  jansson stops reading at a raw NUL byte (the end of
 * its text); the scanner, which takes it as the malformed byte it is, is
 * compared on the text before it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jansson refuses numbers it cannot hold and NUL in keys; the scanner
 * takes both, so a refusal for those reasons is no disagreement. */
static bool jansson_limit(const json_error_t *e)
{
    return strstr(e->text, "too big") != NULL || strstr(e->text, "overflow") != NULL ||
           strstr(e->text, "NUL byte in object key") != NULL;
}

static void check_string(ft_str v, json_t *j)
{
    ft_buf b = {0};
    bool ok = ft_json_unescape(v, &b);
    if (!ok || !ft_buf_ok(&b) || !json_is_string(j) || b.len != json_string_length(j) ||
        (b.len && memcmp(b.ptr, json_string_value(j), b.len) != 0))
        abort();
    ft_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly the input: ASan sees overreads */
    if (text == NULL)
        return 0;
    if (size)
        memcpy(text, data, size);
    const char *nul = size ? memchr(text, '\0', size) : NULL;
    if (nul != NULL)
        size = (size_t)(nul - text); /* what jansson reads */
    ft_str t = {text, size};
    json_error_t e;
    json_t *j = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    bool valid = ft_json_valid(t);
    if (j != NULL && !valid)
        abort(); /* jansson read it: it is JSON */
    if (j == NULL && valid && !jansson_limit(&e))
        abort();
    if (j != NULL) {
        ft_str v;
        const char *end = ft_json_skip(text, text + size, &v);
        if (end != text + size)
            abort();
        if (json_is_string(j))
            check_string(v, j);
        ft_json_iter it;
        if (ft_json_members(t, &it) != json_is_object(j))
            abort();
        if (json_is_object(j)) {
            ft_str k, mv;
            size_t n = 0;
            ft_buf name = {0};
            while (ft_json_next(&it, &k, &mv)) {
                n++;
                ft_buf_reset(&name);
                if (!ft_json_unescape(k, &name) || !ft_buf_ok(&name))
                    abort();
                ft_buf_putc(&name, '\0');
                json_t *jm = json_object_get(j, name.ptr);
                if (jm == NULL)
                    abort();
                ft_str last;
                if (!ft_json_member(t, name.ptr, &last))
                    abort();
                if (last.ptr == mv.ptr && json_is_string(jm))
                    check_string(mv, jm); /* the value jansson kept */
            }
            if (it.failed || n < json_object_size(j))
                abort();
            ft_buf_free(&name);
        }
        json_decref(j);
    } else {
        ft_json_iter it;
        ft_str k, mv;
        if (ft_json_members(t, &it)) {
            while (ft_json_next(&it, &k, &mv))
                ;
            if (!it.failed && !jansson_limit(&e))
                abort(); /* an object jansson refused must fail somewhere */
        }
    }
    free(text);
    return 0;
}
