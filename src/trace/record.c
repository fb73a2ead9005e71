/*
 * record.c - TraceActivityRecords from span events, and span/log JSON.
 *
 * The record rules are Fedify 2.3.6's FedifySpanExporter, as observed on its
 * output (tests/data/fedify-2.3.6/reference.json):
 *
 * inbound ("activitypub.activity.received"): needs a string attribute
 *   activitypub.activity.json, else no record.  activityType, activityId and
 *   actorId come from that JSON (type ?? "Unknown"; id as is; actor when a
 *   string, or actor.id when that is a string).  verified from the boolean
 *   activitypub.activity.verified.  signatureDetails when
 *   http_signatures.verified or ld_signatures.verified is a boolean or
 *   http_signatures.failure_reason is a string: httpSignaturesVerified and
 *   ldSignaturesVerified (true only for a true boolean), and, when present
 *   and non-empty, httpSignaturesKeyId, httpSignaturesFailureReason,
 *   httpSignaturesKeyFetchStatus (a number), httpSignaturesKeyFetchError.
 *
 * outbound ("activitypub.activity.sent"): the JSON is optional.  The event
 *   attributes activitypub.activity.type and activitypub.actor.id win over
 *   the JSON when non-empty strings; the JSON's id wins over
 *   activitypub.activity.id; inboxUrl from activitypub.inbox.url;
 *   activityJson only when the attribute is there.
 *
 * timestamp: the event time truncated to the millisecond, ISO 8601 UTC.
 */
#include "trace/trace_int.h"
#include "core/json_scan.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const ft_value *attr_of(const ft_event *ev, const char *key,
                               ft_value_type type)
{
    const ft_value *v = ft_attrs_get(ev->attrs, key);
    return v != NULL && v->type == type ? v : NULL;
}

static const ft_value *nonempty_str(const ft_event *ev, const char *key)
{
    const ft_value *v = attr_of(ev, key, FT_VAL_STRING);
    return v != NULL && v->u.s.len > 0 ? v : NULL;
}

ft_direction ft__activity_event_kind(const ft_event *ev)
{
    if (ft_str_eq_c(ev->name, "activitypub.activity.received"))
        return FT_DIR_INBOUND;
    if (ft_str_eq_c(ev->name, "activitypub.activity.sent"))
        return FT_DIR_OUTBOUND;
    return FT_DIR_NONE;
}

/* Writes a JSON value of the activity as JSON.stringify would: a string
 * through our escaper; anything else (an array of types, a number) through
 * jansson, as compact text. */
static void put_json_value(ft_buf *b, ft_str v)
{
    if (ft_json_kind(v) == '"') {
        if (ft_json_plain(v)) { /* nothing to escape: the bytes as they are */
            ft_buf_put(b, v.ptr, v.len);
            return;
        }
        ft_buf s = {0};
        if (ft_json_unescape(v, &s) && ft_buf_ok(&s))
            ft_json_str(b, ft_buf_str(&s));
        else
            b->failed = true;
        ft_buf_free(&s);
        return;
    }
    json_t *j = json_loadb(v.ptr, v.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *t = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (t != NULL)
        ft_buf_puts(b, t);
    else
        ft_buf_put(b, v.ptr, v.len); /* valid JSON that jansson cannot hold */
    free(t);
    json_decref(j);
}

/* What the activity JSON says: slices of it, empty when absent. */
typedef struct parsed {
    ft_str type;  /* absent or null: empty */
    ft_str id;    /* may be null */
    ft_str actor; /* a string */
} parsed;

static bool is_null(ft_str v)
{
    return ft_json_kind(v) == 'n';
}

/* One pass over the activity's members (the last of a repeated name
 * wins, as with JSON.parse); nothing when the text is not a JSON object. */
static void parse_activity(const ft_value *json, parsed *p)
{
    memset(p, 0, sizeof *p);
    if (json == NULL)
        return;
    ft_json_iter it;
    ft_str k, v, type = {0}, id = {0}, actor = {0};
    if (!ft_json_members(json->u.s, &it))
        return;
    while (ft_json_next(&it, &k, &v))
        if (ft_json_key_is(k, "type"))
            type = v;
        else if (ft_json_key_is(k, "id"))
            id = v;
        else if (ft_json_key_is(k, "actor"))
            actor = v;
    if (it.failed)
        return;
    if (type.len && !is_null(type))
        p->type = type;
    p->id = id;
    ft_str aid;
    if (ft_json_kind(actor) == '"')
        p->actor = actor;
    else if (ft_json_kind(actor) == '{' && ft_json_member(actor, "id", &aid) &&
             ft_json_kind(aid) == '"')
        p->actor = aid;
}

static void put_ids(ft_buf *b, const ft_span *sp, ft_direction dir)
{
    char tid[33], sid[17], pid[17];
    ft_hex_encode(sp->trace_id, 16, tid);
    ft_hex_encode(sp->span_id, 8, sid);
    ft_buf_puts(b, "{\"traceId\":\"");
    ft_buf_puts(b, tid);
    ft_buf_puts(b, "\",\"spanId\":\"");
    ft_buf_puts(b, sid);
    ft_buf_putc(b, '"');
    if (sp->has_parent) {
        ft_hex_encode(sp->parent_span_id, 8, pid);
        ft_buf_puts(b, ",\"parentSpanId\":\"");
        ft_buf_puts(b, pid);
        ft_buf_putc(b, '"');
    }
    ft_buf_puts(b, dir == FT_DIR_INBOUND ? ",\"direction\":\"inbound\""
                                         : ",\"direction\":\"outbound\"");
}

static void put_timestamp(ft_buf *b, const ft_event *ev)
{
    char ts[25];
    ft_iso8601_ms(ev->time_ns, ts);
    ft_buf_puts(b, ",\"timestamp\":\"");
    ft_buf_puts(b, ts);
    ft_buf_putc(b, '"');
}

static void put_attr_str(ft_buf *b, const char *key, const ft_value *v)
{
    ft_buf_printf(b, ",\"%s\":", key);
    ft_json_str(b, v->u.s);
}

static void inbound(ft_buf *b, const ft_span *sp, const ft_event *ev,
                    const ft_value *json, const parsed *p)
{
    put_ids(b, sp, FT_DIR_INBOUND);
    ft_buf_puts(b, ",\"activityType\":");
    if (p->type.len)
        put_json_value(b, p->type);
    else
        ft_buf_puts(b, "\"Unknown\"");
    if (p->id.len) {
        ft_buf_puts(b, ",\"activityId\":");
        put_json_value(b, p->id);
    }
    if (p->actor.len) {
        ft_buf_puts(b, ",\"actorId\":");
        put_json_value(b, p->actor);
    }
    ft_buf_puts(b, ",\"activityJson\":");
    ft_json_str(b, json->u.s);
    const ft_value *verified = attr_of(ev, "activitypub.activity.verified", FT_VAL_BOOL);
    if (verified != NULL)
        ft_buf_puts(b, verified->u.b ? ",\"verified\":true" : ",\"verified\":false");
    const ft_value *http = attr_of(ev, "http_signatures.verified", FT_VAL_BOOL);
    const ft_value *ld = attr_of(ev, "ld_signatures.verified", FT_VAL_BOOL);
    const ft_value *reason_any = attr_of(ev, "http_signatures.failure_reason", FT_VAL_STRING);
    if (http != NULL || ld != NULL || reason_any != NULL) {
        ft_buf_puts(b, ",\"signatureDetails\":{\"httpSignaturesVerified\":");
        ft_buf_puts(b, http != NULL && http->u.b ? "true" : "false");
        const ft_value *v;
        if ((v = nonempty_str(ev, "http_signatures.key_id")) != NULL)
            put_attr_str(b, "httpSignaturesKeyId", v);
        if ((v = nonempty_str(ev, "http_signatures.failure_reason")) != NULL)
            put_attr_str(b, "httpSignaturesFailureReason", v);
        v = ft_attrs_get(ev->attrs, "http_signatures.key_fetch_status");
        if (v != NULL && v->type == FT_VAL_INT)
            ft_buf_printf(b, ",\"httpSignaturesKeyFetchStatus\":%lld", (long long)v->u.i);
        else if (v != NULL && v->type == FT_VAL_DOUBLE) {
            ft_buf_puts(b, ",\"httpSignaturesKeyFetchStatus\":");
            ft_json_double(b, v->u.d);
        }
        if ((v = nonempty_str(ev, "http_signatures.key_fetch_error")) != NULL)
            put_attr_str(b, "httpSignaturesKeyFetchError", v);
        ft_buf_puts(b, ld != NULL && ld->u.b ? ",\"ldSignaturesVerified\":true}"
                                             : ",\"ldSignaturesVerified\":false}");
    }
    put_timestamp(b, ev);
    ft_buf_putc(b, '}');
}

static void outbound(ft_buf *b, const ft_span *sp, const ft_event *ev,
                     const ft_value *json, const parsed *p)
{
    put_ids(b, sp, FT_DIR_OUTBOUND);
    const ft_value *v;
    ft_buf_puts(b, ",\"activityType\":");
    if ((v = nonempty_str(ev, "activitypub.activity.type")) != NULL)
        ft_json_str(b, v->u.s);
    else if (p->type.len)
        put_json_value(b, p->type);
    else
        ft_buf_puts(b, "\"Unknown\"");
    if (p->id.len && !is_null(p->id)) {
        ft_buf_puts(b, ",\"activityId\":");
        put_json_value(b, p->id);
    } else if ((v = nonempty_str(ev, "activitypub.activity.id")) != NULL) {
        put_attr_str(b, "activityId", v);
    }
    if ((v = nonempty_str(ev, "activitypub.actor.id")) != NULL)
        put_attr_str(b, "actorId", v);
    else if (p->actor.len) {
        ft_buf_puts(b, ",\"actorId\":");
        put_json_value(b, p->actor);
    }
    if (json != NULL) {
        ft_buf_puts(b, ",\"activityJson\":");
        ft_json_str(b, json->u.s);
    }
    put_timestamp(b, ev);
    if ((v = attr_of(ev, "activitypub.inbox.url", FT_VAL_STRING)) != NULL)
        put_attr_str(b, "inboxUrl", v);
    ft_buf_putc(b, '}');
}

bool ft__activity_record_json(const ft_span *sp, const ft_event *ev,
                              ft_buf *out)
{
    ft_direction dir = ft__activity_event_kind(ev);
    if (dir == FT_DIR_NONE)
        return false;
    const ft_value *json = attr_of(ev, "activitypub.activity.json", FT_VAL_STRING);
    if (dir == FT_DIR_INBOUND && json == NULL)
        return false;
    parsed p;
    parse_activity(json, &p);
    if (dir == FT_DIR_INBOUND)
        inbound(out, sp, ev, json, &p);
    else
        outbound(out, sp, ev, json, &p);
    return true;
}

static void put_id_field(ft_buf *b, const char *key, const uint8_t *id,
                         size_t n)
{
    char hex[35];
    ft_hex_encode(id, n, hex + 1);
    hex[0] = hex[2 * n + 1] = '"';
    ft_buf_puts(b, ",\"");
    ft_buf_puts(b, key);
    ft_buf_puts(b, "\":");
    ft_buf_put(b, hex, 2 * n + 2);
}

static void put_resource_scope(ft_buf *b, const ft_resource *r,
                               const ft_scope *s)
{
    if (r != NULL) {
        ft_buf_puts(b, ",\"resource\":{\"attributes\":");
        ft_json_attrs(b, r->attrs);
        if (r->dropped_attrs)
            ft_buf_printf(b, ",\"droppedAttributesCount\":%u", r->dropped_attrs);
        ft_buf_putc(b, '}');
    }
    if (s != NULL) {
        ft_buf_puts(b, ",\"scope\":{\"name\":");
        ft_json_str(b, s->name);
        if (s->version.len) {
            ft_buf_puts(b, ",\"version\":");
            ft_json_str(b, s->version);
        }
        if (s->attrs.n) {
            ft_buf_puts(b, ",\"attributes\":");
            ft_json_attrs(b, s->attrs);
        }
        ft_buf_putc(b, '}');
    }
}

void ft__span_json(ft_buf *b, const ft_span *sp, const ft_peer *peer)
{
    char tid[35];
    ft_hex_encode(sp->trace_id, 16, tid + 1);
    tid[0] = tid[33] = '"';
    ft_buf_puts(b, "{\"traceId\":");
    ft_buf_put(b, tid, 34);
    put_id_field(b, "spanId", sp->span_id, 8);
    if (sp->has_parent)
        put_id_field(b, "parentSpanId", sp->parent_span_id, 8);
    if (sp->trace_state.len) {
        ft_buf_puts(b, ",\"traceState\":");
        ft_json_str(b, sp->trace_state);
    }
    if (sp->flags)
        ft_buf_printf(b, ",\"flags\":%u", sp->flags);
    ft_buf_puts(b, ",\"name\":");
    ft_json_str(b, sp->name);
    ft_buf_puts(b, ",\"kind\":");
    ft_buf_put_i64(b, (int64_t)sp->kind);
    ft_buf_puts(b, ",\"startTimeUnixNano\":");
    ft_json_u64_str(b, sp->start_ns);
    ft_buf_puts(b, ",\"endTimeUnixNano\":");
    ft_json_u64_str(b, sp->end_ns);
    ft_buf_puts(b, ",\"attributes\":");
    ft_json_attrs(b, sp->attrs);
    if (sp->dropped_attrs)
        ft_buf_printf(b, ",\"droppedAttributesCount\":%u", sp->dropped_attrs);
    ft_buf_puts(b, ",\"events\":[");
    for (size_t i = 0; i < sp->n_events; i++) {
        const ft_event *ev = &sp->events[i];
        ft_buf_puts(b, i ? ",{\"timeUnixNano\":" : "{\"timeUnixNano\":");
        ft_json_u64_str(b, ev->time_ns);
        ft_buf_puts(b, ",\"name\":");
        ft_json_str(b, ev->name);
        ft_buf_puts(b, ",\"attributes\":");
        ft_json_attrs(b, ev->attrs);
        if (ev->dropped_attrs)
            ft_buf_printf(b, ",\"droppedAttributesCount\":%u", ev->dropped_attrs);
        ft_buf_putc(b, '}');
    }
    ft_buf_putc(b, ']');
    if (sp->dropped_events)
        ft_buf_printf(b, ",\"droppedEventsCount\":%u", sp->dropped_events);
    ft_buf_puts(b, ",\"links\":[");
    for (size_t i = 0; i < sp->n_links; i++) {
        const ft_link *l = &sp->links[i];
        ft_hex_encode(l->trace_id, 16, tid);
        ft_buf_printf(b, "%s{\"traceId\":\"%s\"", i ? "," : "", tid);
        put_id_field(b, "spanId", l->span_id, 8);
        if (l->trace_state.len) {
            ft_buf_puts(b, ",\"traceState\":");
            ft_json_str(b, l->trace_state);
        }
        ft_buf_puts(b, ",\"attributes\":");
        ft_json_attrs(b, l->attrs);
        if (l->flags)
            ft_buf_printf(b, ",\"flags\":%u", l->flags);
        ft_buf_putc(b, '}');
    }
    ft_buf_putc(b, ']');
    if (sp->dropped_links)
        ft_buf_printf(b, ",\"droppedLinksCount\":%u", sp->dropped_links);
    ft_buf_printf(b, ",\"status\":{\"code\":%d", (int)sp->status_code);
    if (sp->status_message.len) {
        ft_buf_puts(b, ",\"message\":");
        ft_json_str(b, sp->status_message);
    }
    ft_buf_putc(b, '}');
    if (peer != NULL && peer->kind != FT_PEER_NONE) {
        ft_buf_puts(b, ",\"peer\":{\"service\":");
        ft_json_cstr(b, peer->name);
        ft_buf_printf(b, ",\"kind\":\"%s\",\"system\":", ft_peer_kind_name(peer->kind));
        ft_json_cstr(b, peer->system);
        ft_buf_putc(b, '}');
    }
    put_resource_scope(b, sp->resource, sp->scope);
    ft_buf_putc(b, '}');
}

void ft__log_json(ft_buf *b, const ft_log *lg)
{
    ft_buf_puts(b, "{\"timeUnixNano\":");
    ft_json_u64_str(b, lg->time_ns);
    ft_buf_puts(b, ",\"observedTimeUnixNano\":");
    ft_json_u64_str(b, lg->observed_ns);
    ft_buf_printf(b, ",\"severityNumber\":%d", (int)lg->severity_number);
    if (lg->severity_text.len) {
        ft_buf_puts(b, ",\"severityText\":");
        ft_json_str(b, lg->severity_text);
    }
    ft_buf_puts(b, ",\"body\":");
    ft_json_anyvalue(b, &lg->body, 0);
    ft_buf_puts(b, ",\"attributes\":");
    ft_json_attrs(b, lg->attrs);
    if (lg->dropped_attrs)
        ft_buf_printf(b, ",\"droppedAttributesCount\":%u", lg->dropped_attrs);
    if (lg->flags)
        ft_buf_printf(b, ",\"flags\":%u", lg->flags);
    if (lg->has_trace_id)
        put_id_field(b, "traceId", lg->trace_id, 16);
    if (lg->has_span_id)
        put_id_field(b, "spanId", lg->span_id, 8);
    if (lg->event_name.len) {
        ft_buf_puts(b, ",\"eventName\":");
        ft_json_str(b, lg->event_name);
    }
    put_resource_scope(b, lg->resource, lg->scope);
    ft_buf_putc(b, '}');
}
