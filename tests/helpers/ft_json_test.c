/*
 * ft_json_test.c - JSON checks shared by the tests that talk to the daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ft_json_test.h"

#include "ft_http.h"

#include <stdlib.h>
#include <string.h>

json_t *ft_test_get_json(int port, const char *path, int want_status)
{
    ft_http_resp r;
    assert_int_equal(ft_http_once(port, "GET", path, NULL, NULL, 0, &r), 0);
    if (r.status != want_status)
        fail_msg("GET %s: status %d, want %d: %s", path, r.status, want_status,
                 r.body ? (char *)r.body : "");
    json_error_t je;
    json_t *j = json_loadb((const char *)r.body, r.len, 0, &je);
    if (j == NULL)
        fail_msg("GET %s: not JSON (%s): %s", path, je.text, r.body);
    ft_http_resp_free(&r);
    return j;
}

static int canon_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool ft_test_json_same_elements(json_t *a, json_t *b)
{
    size_t n = json_array_size(a);
    if (n != json_array_size(b))
        return false;
    char **x = calloc(n + 1, sizeof *x), **y = calloc(n + 1, sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = json_dumps(json_array_get(a, i), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        y[i] = json_dumps(json_array_get(b, i), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    }
    qsort(x, n, sizeof *x, canon_cmp);
    qsort(y, n, sizeof *y, canon_cmp);
    bool same = true;
    for (size_t i = 0; i < n; i++) {
        same = same && strcmp(x[i], y[i]) == 0;
        free(x[i]);
        free(y[i]);
    }
    free(x);
    free(y);
    return same;
}

json_t *ft_test_fedify_summaries(json_t *ours)
{
    static const char *const keep[] = {"traceId", "timestamp", "activityCount",
                                       "activityTypes"};
    json_t *out = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(ours, i, o)
    {
        json_t *f = json_object();
        for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
            json_t *v = json_object_get(o, keep[k]);
            if (v != NULL)
                json_object_set(f, keep[k], v);
        }
        json_array_append_new(out, f);
    }
    return out;
}
