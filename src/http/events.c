/* events.c - the live stream of new and changed traces; see events.h. */
#include "http/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 512        /* events kept for readers and reconnects */
#define POLL_LIMIT 50   /* newest traces looked at per poll */
#define SEEN 4096       /* traces remembered with their last summary */
#define KICK_DELAY_MS 50

typedef struct event {
    uint64_t seq;
    ft_arena *arena; /* owns summary's strings */
    ft_trace_summary summary;
    char *json; /* the summary object (malloc) */
} event;

typedef struct seen {
    char tid[33];
    uint64_t sig; /* hash of the summary's JSON */
} seen;

struct ft_events {
    ft_events_poll_fn poll;
    void *ctx;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the poller: kick, subscribe, stop */
    pthread_cond_t changed; /* readers: a new event, stop */
    bool stop, kicked;
    bool stale; /* nobody listened: the next subscriber takes a baseline */
    size_t subscribers;
    uint64_t next_seq; /* seq of the next event; events are 1.. */
    event ring[RING];
    seen *seen; /* open addressing by trace id; SEEN slots */
    size_t n_seen;
};

/* The slot of tid (found or free); the table is cleared when 3/4 full, so
 * a forgotten trace can at worst be announced once more. */
static seen *seen_slot(ft_events *h, const char *tid)
{
    if (h->n_seen >= SEEN / 4 * 3) {
        memset(h->seen, 0, SEEN * sizeof *h->seen);
        h->n_seen = 0;
    }
    size_t i = (size_t)ft_fnv1a(FT_FNV_INIT, tid, 32) % SEEN;
    while (h->seen[i].tid[0] && memcmp(h->seen[i].tid, tid, 32) != 0)
        i = (i + 1) % SEEN;
    return &h->seen[i];
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Turns one poll's summaries (newest first) into events, oldest first;
 * a baseline only learns what exists.  Called with the lock held. */
static void absorb(ft_events *h, const ft_trace_summary *s, size_t n,
                   bool baseline)
{
    ft_buf b = {0};
    bool emitted = false;
    for (size_t k = n; k-- > 0;) {
        ft_buf_reset(&b);
        ft_trace_summary_json(&b, &s[k]);
        if (!ft_buf_ok(&b))
            break;
        uint64_t sig = ft_fnv1a(FT_FNV_INIT, b.ptr, b.len);
        seen *sl = seen_slot(h, s[k].trace_id);
        if (sl->tid[0] && sl->sig == sig)
            continue;
        if (!sl->tid[0]) {
            memcpy(sl->tid, s[k].trace_id, 33);
            h->n_seen++;
        }
        sl->sig = sig;
        if (baseline)
            continue;
        event *e = &h->ring[h->next_seq % RING];
        ft_arena_reset(e->arena);
        char *json = strndup(b.ptr, b.len);
        if (json == NULL || !ft_trace_summary_copy(&e->summary, &s[k], e->arena)) {
            free(json);
            sl->sig = 0; /* try again next time */
            continue;
        }
        free(e->json);
        e->json = json;
        e->seq = h->next_seq++;
        emitted = true;
    }
    ft_buf_free(&b);
    if (emitted)
        pthread_cond_broadcast(&h->changed);
}

static void *poller(void *arg)
{
    ft_events *h = arg;
    ft_arena *a = ft_arena_create(0);
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        if (h->subscribers == 0) {
            pthread_cond_wait(&h->wake, &h->mu);
            continue;
        }
        struct timespec ts;
        deadline_after(&ts, h->interval_ms);
        while (!h->stop && !h->kicked && h->subscribers > 0 &&
               pthread_cond_timedwait(&h->wake, &h->mu, &ts) != ETIMEDOUT)
            ;
        if (h->stop || h->subscribers == 0)
            continue;
        if (h->kicked) { /* gather the rest of a burst */
            pthread_mutex_unlock(&h->mu);
            nanosleep(&(struct timespec){0, KICK_DELAY_MS * 1000000L}, NULL);
            pthread_mutex_lock(&h->mu);
        }
        h->kicked = false;
        pthread_mutex_unlock(&h->mu);
        ft_trace_summary *s = NULL;
        size_t n = 0;
        ft_err err = {0};
        ft_arena_reset(a);
        ft_code rc = a ? h->poll(h->ctx, POLL_LIMIT, a, &s, &n, &err) : FT_NOMEM;
        pthread_mutex_lock(&h->mu);
        if (rc == FT_OK)
            absorb(h, s, n, false);
    }
    pthread_mutex_unlock(&h->mu);
    ft_arena_destroy(a);
    return NULL;
}

ft_code ft_events_create(ft_events_poll_fn poll, void *ctx, int64_t interval_ms,
                         ft_events **out, ft_err *err)
{
    *out = NULL;
    ft_events *h = ft_calloc(1, sizeof *h);
    if (h == NULL || (h->seen = ft_calloc(SEEN, sizeof *h->seen)) == NULL) {
        ft_free(h);
        return ft_err_set(err, FT_NOMEM, 0, "events: out of memory");
    }
    h->poll = poll;
    h->ctx = ctx;
    h->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    h->next_seq = 1;
    h->stale = true;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->wake, NULL);
    pthread_cond_init(&h->changed, NULL);
    for (size_t i = 0; i < RING; i++)
        if ((h->ring[i].arena = ft_arena_create(0)) == NULL) {
            ft_events_destroy(h);
            return ft_err_set(err, FT_NOMEM, 0, "events: out of memory");
        }
    if (pthread_create(&h->thread, NULL, poller, h) != 0) {
        h->thread = 0;
        ft_events_destroy(h);
        return ft_err_set(err, FT_IO, 0, "events: cannot start a thread");
    }
    *out = h;
    return FT_OK;
}

void ft_events_close(ft_events *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->wake);
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
}

void ft_events_destroy(ft_events *h)
{
    if (h == NULL)
        return;
    ft_events_close(h);
    if (h->thread)
        pthread_join(h->thread, NULL);
    for (size_t i = 0; i < RING; i++) {
        ft_arena_destroy(h->ring[i].arena);
        free(h->ring[i].json);
    }
    pthread_cond_destroy(&h->wake);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->mu);
    ft_free(h->seen);
    ft_free(h);
}

void ft_events_kick(ft_events *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    if (h->subscribers > 0) {
        h->kicked = true;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->mu);
}

void ft_events_subscribe(ft_events *h, const char *last_id, uint64_t *seq)
{
    pthread_mutex_lock(&h->mu);
    if (h->subscribers == 0 && h->stale) {
        /* learn what exists before the reader starts waiting, so that
         * what is stored after this call is news to it */
        pthread_mutex_unlock(&h->mu);
        ft_arena *a = ft_arena_create(0);
        ft_trace_summary *s = NULL;
        size_t n = 0;
        ft_err err = {0};
        ft_code rc = a ? h->poll(h->ctx, POLL_LIMIT, a, &s, &n, &err) : FT_NOMEM;
        pthread_mutex_lock(&h->mu);
        if (rc == FT_OK) {
            absorb(h, s, n, true);
            h->stale = false;
        }
        ft_arena_destroy(a);
    }
    uint64_t newest = h->next_seq - 1;
    *seq = newest;
    if (last_id != NULL && *last_id) {
        char *end;
        unsigned long long id = strtoull(last_id, &end, 10);
        /* resume only from an event still kept */
        if (*end == '\0' && id <= newest && newest - id < RING)
            *seq = id;
    }
    if (h->subscribers++ == 0)
        pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

void ft_events_unsubscribe(ft_events *h)
{
    pthread_mutex_lock(&h->mu);
    if (--h->subscribers == 0)
        h->stale = true;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
}

ft_code ft_events_next(ft_events *h, uint64_t *seq, const ft_trace_filter *f,
                       int64_t timeout_ms, ft_buf *out)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&h->mu);
    ft_code rc = FT_AGAIN;
    for (;;) {
        if (h->stop) {
            rc = FT_CLOSED;
            break;
        }
        /* a reader that fell more than the ring behind skips what is gone */
        if (h->next_seq - 1 - *seq > RING)
            *seq = h->next_seq - 1 - RING;
        while (*seq + 1 < h->next_seq) {
            event *e = &h->ring[(*seq + 1) % RING];
            (*seq)++;
            if (!ft_trace_filter_match(f, &e->summary))
                continue;
            ft_buf_printf(out, "id: %llu\nevent: trace\ndata: %s\n\n",
                          (unsigned long long)e->seq, e->json);
            rc = FT_OK;
            break;
        }
        if (rc == FT_OK || pthread_cond_timedwait(&h->changed, &h->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

uint64_t ft_events_count(ft_events *h)
{
    pthread_mutex_lock(&h->mu);
    uint64_t n = h->next_seq - 1;
    pthread_mutex_unlock(&h->mu);
    return n;
}

size_t ft_events_subscribers(ft_events *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->subscribers;
    pthread_mutex_unlock(&h->mu);
    return n;
}
