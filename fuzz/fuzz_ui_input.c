/* fuzz_ui_input.c - what a browser or script sends the UI listener: filter
 * parameters, session cookies and login forms.
 *
 * Input: one selector byte, then the text (NUL-terminated here).  Every
 * filter name is set from the text; each must succeed or fail with
 * FT_INVAL and a message, and a filter that parsed is matched against a
 * summary.  The text as a cookie must not verify (it was not issued), and
 * a cookie issued for the same time must.  The text as a form body gives
 * values no longer than the buffer and without '+' or %XX left when they
 * decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/exporter.h"
#include "http/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_auth *g_auth;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (g_auth == NULL) {
        ft_auth_opts o = {.user = "alice", .password = "pw", .secret = "fuzz"};
        if (ft_auth_create(&o, &g_auth, NULL) != FT_OK)
            abort();
    }
    for (size_t i = 0; ft_trace_filter_names[i] != NULL; i++) {
        ft_trace_filter f = {0};
        ft_err err = {0};
        ft_code rc = ft_trace_filter_set(&f, ft_trace_filter_names[i], text, &err);
        if (rc != FT_OK && (rc != FT_INVAL || err.msg[0] == '\0'))
            abort();
        ft_str types[] = {{text, strlen(text)}};
        ft_trace_summary s = {.activity_types = types, .n_activity_types = 1,
                              .actors = types, .n_actors = 1, .hosts = types, .n_hosts = 1,
                              .services = types, .n_services = 1, .first_ms = data[0]};
        (void)ft_trace_filter_match(&f, &s);
    }
    int64_t now = 1795700000000;
    if (ft_auth_verify(g_auth, text, now))
        abort(); /* forged */
    char c[FT_AUTH_COOKIE_MAX];
    if (!ft_auth_issue(g_auth, now, c) || !ft_auth_verify(g_auth, c, now))
        abort();
    char out[64];
    const char *names[] = {"user", "password", "next", ""};
    for (size_t i = 0; i < 4; i++) {
        bool found = ft_form_value(text, names[i], out, (size_t)(data[0] % 64) + 1);
        if (strlen(out) > (size_t)(data[0] % 64) || (!found && out[0] != '\0'))
            abort();
    }
    free(text);
    return 0;
}
