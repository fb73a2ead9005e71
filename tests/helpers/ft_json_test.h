/*
 * ft_json_test.h - JSON checks shared by the tests that talk to the daemon.
 */
#ifndef FT_JSON_TEST_H
#define FT_JSON_TEST_H

#include <jansson.h>
#include <stdbool.h>

/* GET path on 127.0.0.1:port; fails the test unless the status is
 * want_status and the body is JSON.  The caller json_decrefs. */
json_t *ft_test_get_json(int port, const char *path, int want_status);

/* Two JSON arrays hold the same values, in any order (as multisets). */
bool ft_test_json_same_elements(json_t *a, json_t *b);

/* Fedify's TraceSummary of each summary fedtrace lists: the same array
 * with only traceId, timestamp, activityCount and activityTypes kept (a
 * new reference; the argument is untouched). */
json_t *ft_test_fedify_summaries(json_t *ours);

#endif
