/*
 * summary.c - trace summaries as JSON, and the filters of trace lists.
 *
 * One parser (ft_trace_filter_set) serves the API's query string, the
 * event stream's and the CLI's flags, so that the same words mean the same
 * thing everywhere; one predicate (ft_trace_filter_match) serves the
 * stored list and the live stream.
 */
#include "fedtrace/exporter.h"

#include "core/buf.h"
#include "core/config.h"
#include "trace/trace_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *const ft_trace_filter_names[] = {
    "type", "direction", "actor", "host", "verification",
    "service", "error", "since", "until", NULL,
};

/* RFC 3339 ("2026-11-26T12:00:00Z", fraction and offset optional, a space
 * for the T allowed), ms since the epoch, or a duration back from now. */
static bool parse_time_ms(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n > 0 && n <= 16 && strspn(s, "0123456789") == n) {
        *out = strtoll(s, NULL, 10);
        return true;
    }
    int64_t d;
    if (isdigit((unsigned char)s[0]) && ft_parse_duration_ms(s, &d) && d > 0 &&
        strchr(s, '-') == NULL) {
        *out = ft_now_ms() - d;
        return true;
    }
    struct tm tm = {0};
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &used) != 5 || used == 0)
        return false;
    const char *p = s + used;
    int64_t ms = 0;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
            return false;
        tm.tm_sec = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
        if (*p == '.') {
            int scale = 100;
            for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
                ms += (*p - '0') * scale;
        }
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5)
            return false;
        offset_min = (hh * 60 + mm) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false; /* a time without a zone is ambiguous */
    }
    if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = ((int64_t)timegm(&tm) - offset_min * 60) * 1000 + ms;
    return true;
}

static bool parse_flag(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0 ||
        *v == '\0') {
        *out = false;
        return true;
    }
    return false;
}

ft_code ft_trace_filter_set(ft_trace_filter *f, const char *name,
                            const char *value, ft_err *err)
{
    const char *v = value ? value : "";
    /* an empty text field means "any", as an empty form field does */
    const char *text = *v ? v : NULL;
    if (strcmp(name, "type") == 0) {
        f->activity_type = text;
    } else if (strcmp(name, "actor") == 0) {
        f->actor = text;
    } else if (strcmp(name, "host") == 0) {
        f->host = text;
    } else if (strcmp(name, "service") == 0) {
        f->service = text;
    } else if (strcmp(name, "direction") == 0) {
        if (*v == '\0' || strcmp(v, "any") == 0)
            f->direction = 0;
        else if (strcmp(v, "inbound") == 0 || strcmp(v, "in") == 0)
            f->direction = FT_DIR_INBOUND;
        else if (strcmp(v, "outbound") == 0 || strcmp(v, "out") == 0)
            f->direction = FT_DIR_OUTBOUND;
        else
            return ft_err_set(err, FT_INVAL, 0,
                              "direction must be inbound or outbound, not \"%.64s\"", v);
    } else if (strcmp(name, "verification") == 0) {
        if (*v == '\0' || strcmp(v, "any") == 0)
            f->verification_failed = false;
        else if (strcmp(v, "failed") == 0)
            f->verification_failed = true;
        else
            return ft_err_set(err, FT_INVAL, 0,
                              "verification must be \"failed\", not \"%.64s\"", v);
    } else if (strcmp(name, "error") == 0) {
        if (!parse_flag(v, &f->has_error))
            return ft_err_set(err, FT_INVAL, 0,
                              "error must be true or false, not \"%.64s\"", v);
    } else if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        int64_t ms = 0;
        if (*v != '\0' && (!parse_time_ms(v, &ms) || ms < 0))
            return ft_err_set(err, FT_INVAL, 0,
                              "%s must be an RFC 3339 time (2026-11-26T12:00:00Z), "
                              "ms since the epoch or a duration back from now (2h), "
                              "not \"%.64s\"",
                              name, v);
        if (name[0] == 's')
            f->since_ms = ms;
        else
            f->until_ms = ms;
    } else {
        return ft_err_set(err, FT_NOTFOUND, 0, "unknown filter \"%.64s\"", name);
    }
    return FT_OK;
}

/* The text of a JSON string value (without escapes); NULL otherwise. */
static bool json_plain_string(ft_str j, ft_str *out)
{
    if (j.len < 2 || j.ptr[0] != '"' || j.ptr[j.len - 1] != '"' ||
        memchr(j.ptr, '\\', j.len) != NULL)
        return false;
    *out = (ft_str){j.ptr + 1, j.len - 2};
    return true;
}

static bool str_ieq(ft_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && strncasecmp(a.ptr, b, n) == 0;
}

#define AS_NS "https://www.w3.org/ns/activitystreams#"

/* A type as the ActivityStreams vocabulary's short name when it is one of
 * its IRIs ("...activitystreams#Follow" and "Follow" are the same type). */
static ft_str as_short(ft_str t)
{
    size_t n = sizeof AS_NS - 1;
    if (t.len > n && strncmp(t.ptr, AS_NS, n) == 0)
        return (ft_str){t.ptr + n, t.len - n};
    return t;
}

/* The filter's type equals the type, or names it by its short name (what
 * follows the last '#' or '/' of any IRI). */
static bool type_matches(ft_str json_type, const char *want)
{
    ft_str t, w = as_short(ft_str_c(want));
    if (!json_plain_string(json_type, &t))
        return false;
    t = as_short(t);
    if (t.len == w.len && strncasecmp(t.ptr, w.ptr, t.len) == 0)
        return true;
    if (memchr(w.ptr, '/', w.len) != NULL || memchr(w.ptr, '#', w.len) != NULL)
        return false;
    size_t i = t.len;
    while (i > 0 && t.ptr[i - 1] != '#' && t.ptr[i - 1] != '/')
        i--;
    ft_str tail = {t.ptr + i, t.len - i};
    return i > 0 && tail.len == w.len && strncasecmp(tail.ptr, w.ptr, w.len) == 0;
}

static bool contains_icase(ft_str hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= hay.len; i++)
        if (strncasecmp(hay.ptr + i, needle, n) == 0)
            return true;
    return false;
}

bool ft_trace_filter_match(const ft_trace_filter *f, const ft_trace_summary *s)
{
    if (f == NULL)
        return true;
    if (f->since_ms && s->first_ms < f->since_ms)
        return false;
    if (f->until_ms && s->first_ms >= f->until_ms)
        return false;
    if (f->direction && !(s->directions & f->direction))
        return false;
    if (f->verification_failed && !s->verification_failed)
        return false;
    if (f->has_error && !s->has_error)
        return false;
    if (f->activity_type != NULL) {
        bool any = false;
        for (size_t i = 0; i < s->n_activity_types && !any; i++)
            any = type_matches(s->activity_types[i], f->activity_type);
        if (!any)
            return false;
    }
    if (f->actor != NULL) {
        bool any = false;
        for (size_t i = 0; i < s->n_actors && !any; i++)
            any = contains_icase(s->actors[i], f->actor);
        if (!any)
            return false;
    }
    if (f->host != NULL) {
        bool any = false;
        for (size_t i = 0; i < s->n_hosts && !any; i++)
            any = str_ieq(s->hosts[i], f->host);
        if (!any)
            return false;
    }
    if (f->service != NULL) {
        bool any = false;
        for (size_t i = 0; i < s->n_services && !any; i++)
            any = ft_str_eq_c(s->services[i], f->service);
        if (!any)
            return false;
    }
    return true;
}

static bool copy_strs(ft_arena *a, ft_str **dst, const ft_str *src, size_t n)
{
    *dst = NULL;
    if (n == 0)
        return true;
    ft_str *v = ft_arena_alloc(a, n * sizeof *v);
    if (v == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        char *p = ft_arena_strndup(a, src[i].ptr, src[i].len);
        if (p == NULL)
            return false;
        v[i] = (ft_str){p, src[i].len};
    }
    *dst = v;
    return true;
}

bool ft_trace_summary_copy(ft_trace_summary *dst, const ft_trace_summary *s,
                           ft_arena *arena)
{
    *dst = *s;
    return copy_strs(arena, &dst->activity_types, s->activity_types, s->n_activity_types) &&
           copy_strs(arena, &dst->actors, s->actors, s->n_actors) &&
           copy_strs(arena, &dst->hosts, s->hosts, s->n_hosts) &&
           copy_strs(arena, &dst->services, s->services, s->n_services);
}

static void json_strs(ft_buf *b, const char *name, const ft_str *v, size_t n)
{
    ft_buf_printf(b, ",\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ft_buf_putc(b, ',');
        ft_json_str(b, v[i]);
    }
    ft_buf_putc(b, ']');
}

void ft__fedify_summary_fields(ft_buf *b, const ft_trace_summary *s)
{
    ft_buf_printf(b, "{\"traceId\":\"%s\",\"timestamp\":\"%s\","
                     "\"activityCount\":%zu,\"activityTypes\":[",
                  s->trace_id, s->timestamp, s->activity_count);
    for (size_t i = 0; i < s->n_activity_types; i++) {
        if (i)
            ft_buf_putc(b, ',');
        ft_buf_put(b, s->activity_types[i].ptr, s->activity_types[i].len);
    }
    ft_buf_putc(b, ']');
}

void ft_trace_summary_json(ft_buf *b, const ft_trace_summary *s)
{
    ft__fedify_summary_fields(b, s);
    ft_buf_puts(b, ",\"directions\":[");
    bool in = s->directions & FT_DIR_INBOUND, out = s->directions & FT_DIR_OUTBOUND;
    ft_buf_printf(b, "%s%s%s]", in ? "\"inbound\"" : "", in && out ? "," : "",
                  out ? "\"outbound\"" : "");
    json_strs(b, "actors", s->actors, s->n_actors);
    json_strs(b, "hosts", s->hosts, s->n_hosts);
    json_strs(b, "services", s->services, s->n_services);
    ft_buf_printf(b, ",\"hasError\":%s,\"verificationFailed\":%s}",
                  s->has_error ? "true" : "false",
                  s->verification_failed ? "true" : "false");
}

ft_code ft_trace_summaries_json(const ft_trace_summary *s, size_t n,
                                ft_arena *arena, ft_str *out, ft_err *err)
{
    ft_buf b = {0};
    ft_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ft_buf_putc(&b, ',');
        ft_trace_summary_json(&b, &s[i]);
    }
    ft_buf_putc(&b, ']');
    char *p = ft_buf_ok(&b) ? ft_arena_memdup(arena, b.ptr, b.len) : NULL;
    size_t len = b.len;
    ft_buf_free(&b);
    if (p == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    *out = (ft_str){p, len};
    return FT_OK;
}
