/*
 * main.c - the fedtrace command.
 *
 *   fedtrace import FILE...      store OTLP/protobuf trace requests
 *   fedtrace traces              recent traces with activities, filtered
 *   fedtrace show TRACE_ID       one trace: activities, span waterfall (with the
 *                                services spans call), linked traces, logs
 *   fedtrace tail                new activities as they arrive
 *   fedtrace services            RED metrics of every service (inferred too)
 *   fedtrace service NAME        one service: operations, callers, callees
 *   fedtrace map                 the calls between services
 *   fedtrace slow-queries        the slowest database statements
 *   fedtrace sweep               remove expired data now
 *
 * Every subcommand takes --store URL (default: $FEDTRACE_STORE, else
 * lmdb:$XDG_DATA_HOME/fedtrace, else lmdb:~/.local/share/fedtrace).
 * The reading commands also read a running server's API instead: --store
 * http://HOST:PORT/BASE/ (cli_api.c), with --api-token or
 * $FEDTRACE_API_TOKEN.  Both give the same JSON (--json), byte for byte
 * where the API's answers are passed on (services, service, map and
 * slow-queries: the text of ft_services_json, which the API serves).
 *
 * Text output fits the terminal ($COLUMNS, else the tty's width, else 100
 * columns); everything that came from a store or a server is printed
 * through put_text, which replaces control characters (C0, C1, bidi
 * overrides) and cuts long values with an ellipsis.  Colours only on a
 * tty, and never when NO_COLOR is set.
 */
#include "app/app.h"
#include "app/cli_api.h"
#include "core/buf.h"
#include "core/config.h"
#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"
#include "fedtrace/services.h"

#include <errno.h>
#include <jansson.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

enum {
    C_IMPORT = 1,
    C_TRACES = 2,
    C_SHOW = 4,
    C_TAIL = 8,
    C_SWEEP = 16,
    C_SERVICES = 32,
    C_SERVICE = 64,
    C_MAP = 128,
    C_SLOW = 256,
    C_ALL = 511,
    C_WINDOW = C_SERVICES | C_SERVICE | C_MAP | C_SLOW, /* --since, --until */
    C_READ = C_TRACES | C_SHOW | C_TAIL | C_WINDOW,
    C_FILTER = C_TRACES | C_TAIL,
    MAX_FILTERS = 16,
    MAX_SEEN = 64,
};

typedef struct cli {
    const char *store;
    const char *api_token;
    const char *ca_cert;
    bool json, help;
    size_t limit;
    const char *cursor;
    int64_t ttl_ms;
    bool show_ip_peers; /* import: as serve --show-ip-peers */
    int64_t interval_ms; /* tail: how often a store is polled */
    int64_t timeout_ms;  /* tail: stop after this long; 0: never */
    size_t count;        /* tail: stop after this many activities; 0: never */
    bool since;          /* --since given (tail starts from there, not now) */
    /* the filter, and the same as API query parameters */
    ft_trace_filter filter;
    const char *fname[MAX_FILTERS], *fval[MAX_FILTERS];
    size_t nf;
    /* options given, with the commands that take them */
    const char *seen[MAX_SEEN];
    unsigned seen_cmds[MAX_SEEN];
    size_t nseen;
    int argc; /* positional arguments */
    char **argv;
} cli;

/* ---- terminal output ---- */

static int term_width = 100;
static bool color;    /* ANSI colours on */
static bool utf8_out; /* the locale's charset is UTF-8 */

#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define BOLD "\033[1m"
#define DIM "\033[2m"
#define RESET "\033[0m"

static const char *ansi(const char *code)
{
    return color ? code : "";
}

static void setup_output(void)
{
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    utf8_out = cs != NULL && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    color = isatty(STDOUT_FILENO) && (no_color == NULL || *no_color == '\0') &&
            !(term != NULL && strcmp(term, "dumb") == 0);
    const char *cols = getenv("COLUMNS");
    char *end;
    long n = cols != NULL ? strtol(cols, &end, 10) : 0;
    struct winsize ws;
    if (cols != NULL && *cols && *end == '\0' && n > 0)
        term_width = (int)(n > 1000 ? 1000 : n);
    else if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        term_width = ws.ws_col;
    if (term_width < 40)
        term_width = 40;
}

/* One code point of UTF-8 from s[0, n): its value and length, or -1 (and
 * length 1) for a byte that does not start a valid sequence. */
static long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    *len = 1;
    if (s[0] < 0x80)
        return s[0];
    size_t need = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (need == 0 || need > n)
        return -1;
    long cp = s[0] & (0x3f >> (need - 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = need;
    return cp;
}

/* The next character of remote text as it may go to a terminal: out/olen
 * the bytes to write, the return value its columns.  Control characters
 * (C0, DEL, C1), bidirectional overrides and invalid UTF-8 become '?' (and
 * everything beyond ASCII does when the terminal is not UTF-8); tab,
 * newline and carriage return become a space. */
static int glyph(const char *s, size_t n, size_t *used, const char **out, size_t *olen)
{
    long cp = utf8_next((const unsigned char *)s, n, used);
    *out = s;
    *olen = *used;
    if (cp == '\t' || cp == '\n' || cp == '\r') {
        *out = " ";
        *olen = 1;
        return 1;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
        (cp >= 0x80 && !utf8_out)) {
        *out = "?";
        *olen = 1;
        return 1;
    }
    if (cp < 0x80)
        return 1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

/* Columns that put_text would take for s[0, n) without a limit. */
static int text_width(const char *s, size_t n)
{
    int cols = 0;
    for (size_t i = 0, used; i < n; i += used) {
        const char *o;
        size_t ol;
        cols += glyph(s + i, n - i, &used, &o, &ol);
    }
    return cols;
}

/*
 * Writes remote text s[0, n) terminal-safe (see glyph) in at most width
 * columns (< 0: no limit), cut with an ellipsis when longer.  Returns the
 * columns written.
 */
static int put_text(const char *s, size_t n, int width)
{
    if (s == NULL)
        return 0;
    bool cut = width >= 0 && text_width(s, n) > width;
    int limit = cut ? width - 1 : width;
    int cols = 0;
    for (size_t i = 0, used; i < n; i += used) {
        const char *o;
        size_t ol;
        int w = glyph(s + i, n - i, &used, &o, &ol);
        if (limit >= 0 && cols + w > limit)
            break;
        fwrite(o, 1, ol, stdout);
        cols += w;
    }
    if (cut && width > 0) {
        fputs(utf8_out ? "\xe2\x80\xa6" : "~", stdout);
        cols++;
    }
    return cols;
}

/* The existing name for it: a whole C string, no limit. */
static void safe_print(const char *s)
{
    put_text(s, s ? strlen(s) : 0, -1);
}

static void pad(int n)
{
    for (; n > 0; n--)
        putchar(' ');
}

/* put_text in a column of exactly width columns. */
static void put_cell(const char *s, int width)
{
    pad(width - put_text(s, s ? strlen(s) : 0, width));
}

/* An argument as the shell reads it back (for the "more:" line). */
static void put_shell_word(const char *s)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,/:=@%+";
    if (*s && strspn(s, ok) == strlen(s)) {
        safe_print(s);
        return;
    }
    putchar('\'');
    for (const char *q; (q = strchr(s, '\'')) != NULL; s = q + 1) {
        put_text(s, (size_t)(q - s), -1);
        fputs("'\\''", stdout);
    }
    safe_print(s);
    putchar('\'');
}

/* Text that may come from a server, to stderr: what glyph replaces
 * (control characters, bidi overrides, invalid UTF-8) as '?'. */
static void err_text(const char *msg)
{
    size_t n = msg != NULL ? strlen(msg) : 0;
    for (size_t i = 0, used; i < n; i += used) {
        const char *o;
        size_t ol;
        glyph(msg + i, n - i, &used, &o, &ol);
        fwrite(o, 1, ol, stderr);
    }
}

/* "fedtrace<prefix>: msg" on stderr, terminal-safe. */
static void print_err(const char *prefix, const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "fedtrace%s: ", prefix);
    err_text(msg);
    fputc('\n', stderr);
}

/* ---- time ---- */

/* ms since the epoch from ISO 8601 ("2026-11-21T23:16:20.631Z", an offset
 * instead of Z allowed); -1 when it is not that. */
static int64_t iso_ms(const char *s)
{
    int Y, M, D, h, m, sec, n = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6)
        return -1;
    s += n;
    int ms = 0, digits = 0;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*s - '0');
    for (; digits > 0 && digits < 3; digits++)
        ms *= 10;
    long off = 0;
    if ((*s == '+' || *s == '-') && strlen(s) >= 6)
        off = (*s == '-' ? -1 : 1) * (atol(s + 1) * 3600 + atol(s + 4) * 60);
    struct tm tm = {.tm_sec = sec, .tm_min = m, .tm_hour = h, .tm_mday = D,
                    .tm_mon = M - 1, .tm_year = Y - 1900};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return ((int64_t)t - off) * 1000 + ms;
}

/* Local time in 12 columns: "23:16:20.631" today, "Nov 21 23:16" this
 * year, "2025-11-21" before. */
static void fmt_time(int64_t ms, char out[32])
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (ms < 0) {
        snprintf(out, 32, "?");
        return;
    }
    time_t t = (time_t)(ms / 1000), now = time(NULL);
    struct tm tm, tn;
    if (localtime_r(&t, &tm) == NULL || localtime_r(&now, &tn) == NULL) {
        snprintf(out, 32, "?");
        return;
    }
    if (tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday)
        snprintf(out, 32, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
    else if (tm.tm_year == tn.tm_year)
        snprintf(out, 32, "%s %2d %02d:%02d", mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
                 tm.tm_min);
    else
        snprintf(out, 32, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* A duration in 10 columns or fewer: "830 us", "12.34 ms", "3.21 s". */
static void fmt_dur(double ns, char out[32])
{
    if (ns < 1e6)
        snprintf(out, 32, "%.0f us", ns / 1e3);
    else if (ns < 1e10)
        snprintf(out, 32, "%.2f ms", ns / 1e6);
    else
        snprintf(out, 32, "%.2f s", ns / 1e9);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- help ---- */

static const char k_common_help[] =
    "  --store URL            where to read: a store (lmdb:DIR, memory:, redis://...,\n"
    "                         postgres://...; default $FEDTRACE_STORE or\n"
    "                         lmdb:$XDG_DATA_HOME/fedtrace) or a running server's\n"
    "                         API, http://HOST:PORT/ or https://HOST/BASE/ (the\n"
    "                         address of fedtrace serve --ui-listen)\n"
    "  --api-token TOKEN      with an API URL: send \"Authorization: Bearer TOKEN\"\n"
    "                         (default $FEDTRACE_API_TOKEN)\n"
    "  --ca-cert FILE         with an https:// API URL: trust the certificates in\n"
    "                         this PEM file (default $FEDTRACE_CA_CERT, else the\n"
    "                         system's)\n";

static const char k_filter_help[] =
    "filters (all given must match; the API's query parameters of the same names):\n"
    "  --type TYPE            an activity type, short (Follow) or its full IRI\n"
    "  --direction DIR        inbound or outbound\n"
    "  --actor TEXT           part of an actor id (case-insensitive)\n"
    "  --host HOST            a host in an actor, activity or inbox URL\n"
    "  --service NAME         a span's service.name\n"
    "  --verification-failed  only traces where an inbound signature did not verify\n"
    "                         (= --verification failed)\n"
    "  --error                only traces with an error span (= --error=true)\n"
    "  --since TIME           first activity at or after TIME: RFC 3339\n"
    "                         (2026-11-26T12:00:00Z), ms since the epoch, or a\n"
    "                         duration back from now (15m, 2h, 7d)\n"
    "  --until TIME           first activity before TIME\n";

static const char k_window_help[] =
    "time window of services, service, map and slow-queries (the API's since and\n"
    "until; minute resolution):\n"
    "  --since TIME           from TIME (default an hour before --until): RFC 3339\n"
    "                         (2026-11-26T12:00:00Z), ms since the epoch, or a\n"
    "                         duration back from now (15m, 2h, 7d)\n"
    "  --until TIME           to TIME (default now)\n";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fedtrace COMMAND [OPTIONS] [ARGS]\n"
            "\n"
            "commands:\n"
            "  serve              receive OTLP/HTTP and serve the API (see\n"
            "                     fedtrace serve --help)\n"
            "  import FILE...     store OTLP/HTTP protobuf trace requests (the\n"
            "                     bodies of POST /v1/traces) from files\n"
            "  traces             list recent traces that carry activities\n"
            "  show TRACE_ID      a trace's activities, span waterfall, linked\n"
            "                     traces and logs\n"
            "  tail               print new activities as they arrive\n"
            "  services           RED metrics (requests, errors, latency) of every\n"
            "                     service, the inferred ones (databases, caches,\n"
            "                     remote instances) too\n"
            "  service NAME       one service: its operations, callers, callees and\n"
            "                     slow queries\n"
            "  map                the calls between services, grouped by caller\n"
            "  slow-queries       the slowest database statements (literals as ?)\n"
            "  sweep              remove expired data from the store now\n"
            "  help COMMAND       the options of one command\n"
            "\n"
            "options:\n"
            "%s"
            "  --json                 machine-readable output\n"
            "  --limit N              traces, slow-queries: how many (default 20); tail:\n"
            "                         how many of the newest traces each look covers\n"
            "                         (default 100)\n"
            "  --cursor C             traces: continue after a previous page\n"
            "  --ttl SECONDS          import: expire the stored data after this long\n"
            "  --show-ip-peers        import: IP-literal hosts keep their names\n"
            "  --interval DURATION    tail: how often a store is read (default 1s)\n"
            "  --count N              tail: stop after N activities\n"
            "  --timeout DURATION     tail: stop after this long\n"
            "  -h, --help             this text (fedtrace COMMAND --help: one command's)\n"
            "  --version              print the version\n"
            "\n"
            "%s"
            "\n"
            "%s"
            "  --service NAME         slow-queries: only this database's statements, or\n"
            "                         its caller's\n"
            "\n"
            "traces, show, tail, services, service, map and slow-queries read a store\n"
            "or a server's API alike; import and sweep need a store.\n",
            k_common_help, k_filter_help, k_window_help);
}

static int command_help(const char *cmd)
{
    if (strcmp(cmd, "traces") == 0) {
        printf("usage: fedtrace traces [FILTERS] [--limit N] [--cursor C] [--json] [--store URL]\n"
               "\n"
               "Recent traces that carry ActivityPub activities, newest first (by their\n"
               "first activity): the full trace id (for fedtrace show), the local time of\n"
               "the first activity, the number of activities, marks (! an error span,\n"
               "X a signature that failed verification), the activity types and the\n"
               "services.  --json prints the JSON array the API's GET api/traces gives.\n"
               "When older traces match, the last line is the command for the next page.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --limit N              how many (default 20, at most 1000 from an API)\n"
               "  --cursor C             continue after a previous page\n"
               "  --json                 the JSON array instead of the table\n"
               "%s",
               k_filter_help, k_common_help);
    } else if (strcmp(cmd, "show") == 0) {
        printf("usage: fedtrace show TRACE_ID [--json] [--store URL]\n"
               "\n"
               "One trace: its activities (type, direction, ids, actor, inbox, signature\n"
               "verification), a waterfall of its spans with their services (and, on a\n"
               "client or producer span, the service it calls as inferred from its\n"
               "attributes: -> postgresql mastodon_production), the linked traces, and\n"
               "its log records.  Linked traces are spans linked rather than parented\n"
               "(a Sidekiq job's trace links to the request that enqueued it): outgoing,\n"
               "a span here links to another trace; incoming, another trace links here.\n"
               "Each names the other trace's id, to follow with fedtrace show.  Incoming\n"
               "links are found only in a store that can list keys (not caps=cas).\n"
               "\n"
               "--json prints {\"traceId\": ..., \"activities\": [...], \"spans\": [...],\n"
               "\"logs\": [...], \"linked\": {...}}, as the API's api/traces/ID,\n"
               "api/traces/ID/spans, api/logs/ID and api/traces/ID/linked give them;\n"
               "\"linked\" is {\"incoming\": [...], \"outgoing\": [...]}, or null when the\n"
               "server does not answer api/traces/ID/linked.\n"
               "\n"
               "options:\n"
               "  --json                 the JSON object instead of text\n"
               "%s",
               k_common_help);
    } else if (strcmp(cmd, "tail") == 0) {
        printf("usage: fedtrace tail [FILTERS] [--since TIME] [--json] [--count N]\n"
               "                     [--timeout DURATION] [--interval DURATION] [--store URL]\n"
               "\n"
               "Prints activities as they arrive, one line each: local time, in or out,\n"
               "the activity type, the trace id and the actor.  It starts from now:\n"
               "activities of traces that change after it started, unless --since is\n"
               "given (then first everything since that time, oldest first).  From an\n"
               "API it follows the event stream (api/events, reconnecting with\n"
               "Last-Event-ID); from a store it reads the newest --limit traces every\n"
               "--interval.  --json prints each activity record (as in api/traces/ID) as\n"
               "one JSON object per line.  Runs until interrupted (exit 0), N activities\n"
               "were printed (--count, exit 0) or --timeout passed: exit 0, or 1 when\n"
               "--count was given and not reached.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --json                 one activity record (JSON) per line\n"
               "  --count N              stop after N activities\n"
               "  --timeout DURATION     stop after this long (500ms, 30s, 5m)\n"
               "  --interval DURATION    how often a store is read (default 1s)\n"
               "  --limit N              how many of the newest traces each look covers\n"
               "                         (default 100)\n"
               "%s",
               k_filter_help, k_common_help);
    } else if (strcmp(cmd, "services") == 0) {
        printf("usage: fedtrace services [--since TIME] [--until TIME] [--json] [--store URL]\n"
               "\n"
               "Every service that sent spans in the window, and every service its spans\n"
               "call without being instrumented (inferred: a database by its name, a\n"
               "cache, a queue, a host called over HTTP, a remote ActivityPub instance),\n"
               "most requests first: NAME, KIND (instrumented, database, cache, queue,\n"
               "rpc, http, instance, service), REQ (requests: the server and consumer\n"
               "spans of an instrumented service, the client spans that called an\n"
               "inferred one), RATE/s, ERR%% (of the requests), P50, P95, P99 (ms).\n"
               "--json prints the document of the API's GET api/services.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --json                 the JSON document instead of the table\n"
               "%s",
               k_window_help, k_common_help);
    } else if (strcmp(cmd, "service") == 0) {
        printf("usage: fedtrace service NAME [--since TIME] [--until TIME] [--json]\n"
               "                        [--store URL]\n"
               "\n"
               "One service (a name as fedtrace services lists it, inferred ones too):\n"
               "requests, rate, errors and latency (p50, p95, p99, average) in the\n"
               "window, the requests per minute, its operations, the services that call\n"
               "it and those it calls, and the slowest statements when it is a database\n"
               "or calls one.  Exit 1 when the service has no spans in the window.\n"
               "--json prints the document of the API's GET api/services/NAME.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --json                 the JSON document instead of text\n"
               "%s",
               k_window_help, k_common_help);
    } else if (strcmp(cmd, "map") == 0) {
        printf("usage: fedtrace map [--since TIME] [--until TIME] [--json] [--store URL]\n"
               "\n"
               "The service map as lines \"FROM -> TO (kind)\", grouped by the calling\n"
               "service, with the calls, the calls that failed, and the p50 and p99 of\n"
               "the calling spans (ms).  --json prints the document of the API's\n"
               "GET api/map: {\"nodes\": [...], \"edges\": [...]}.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --json                 the JSON document instead of text\n"
               "%s",
               k_window_help, k_common_help);
    } else if (strcmp(cmd, "slow-queries") == 0) {
        printf("usage: fedtrace slow-queries [--service NAME] [--limit N] [--since TIME]\n"
               "                             [--until TIME] [--json] [--store URL]\n"
               "\n"
               "The slowest database statements, normalized (literals replaced by ?),\n"
               "highest p99 first: how often each ran, its p50, p99 and longest time\n"
               "(ms), the database and its caller, the trace of the slowest run (for\n"
               "fedtrace show), and the statement, wrapped to the terminal.  --json\n"
               "prints the document of the API's GET api/slow-queries.\n"
               "\n"
               "%s\n"
               "options:\n"
               "  --service NAME         only the statements run on this database, or by\n"
               "                         this calling service\n"
               "  --limit N              how many statements (default 20)\n"
               "  --json                 the JSON document instead of the table\n"
               "%s",
               k_window_help, k_common_help);
    } else if (strcmp(cmd, "import") == 0) {
        printf("usage: fedtrace import FILE... [--ttl SECONDS] [--show-ip-peers] [--json]\n"
               "                       [--store URL]\n"
               "\n"
               "Stores OTLP/HTTP protobuf trace requests (bodies of POST /v1/traces).\n"
               "Needs a store URL, not a server's API.\n"
               "\n"
               "options:\n"
               "  --ttl SECONDS          expire the stored data after this long\n"
               "  --show-ip-peers        name inferred services by IP-literal hosts (as\n"
               "                         serve --show-ip-peers), not \"ip-address\"\n"
               "  --json                 {\"spans\": N, \"activities\": N, \"rejected\": N}\n"
               "  --store URL            lmdb:DIR, memory:, redis://..., postgres://...\n");
    } else if (strcmp(cmd, "sweep") == 0) {
        printf("usage: fedtrace sweep [--store URL]\n"
               "\n"
               "Removes expired entries from the store now.  Needs a store URL.\n");
    } else {
        usage(stdout);
    }
    return 0;
}

/* ---- arguments ---- */

char *ft_default_store(void)
{
    const char *env = getenv("FEDTRACE_STORE");
    if (env != NULL && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char buf[4096];
    if (xdg != NULL && *xdg)
        snprintf(buf, sizeof buf, "lmdb:%s/fedtrace", xdg);
    else
        snprintf(buf, sizeof buf, "lmdb:%s/.local/share/fedtrace",
                 home && *home ? home : ".");
    return strdup(buf);
}

static bool is_filter_name(const char *name)
{
    for (const char *const *n = ft_trace_filter_names; *n != NULL; n++)
        if (strcmp(*n, name) == 0)
            return true;
    return false;
}

/* Sets one filter parameter (API name) from flag; 0 or 2. */
static int add_filter(cli *c, const char *flag, const char *name, const char *value)
{
    ft_err err = {0};
    ft_code rc = ft_trace_filter_set(&c->filter, name, value, &err);
    if (rc != FT_OK) {
        fprintf(stderr, "fedtrace: --%s: ", flag);
        err_text(rc == FT_NOTFOUND ? "not a filter" : err.msg);
        fputc('\n', stderr);
        return 2;
    }
    size_t i = 0;
    while (i < c->nf && strcmp(c->fname[i], name) != 0)
        i++;
    if (i == MAX_FILTERS)
        return 2;
    c->fname[i] = name;
    c->fval[i] = value;
    if (i == c->nf)
        c->nf++;
    if (strcmp(name, "since") == 0)
        c->since = true;
    return 0;
}

static int parse_number(const char *flag, const char *val, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(val, &end, 10);
    if (errno || end == val || *end || n < 0) {
        fprintf(stderr, "fedtrace: --%s %s: not a number\n", flag, val);
        return 2;
    }
    *out = n;
    return 0;
}

static int parse_args(int argc, char **argv, cli *c)
{
    c->argv = calloc((size_t)argc + 1, sizeof *c->argv);
    if (c->argv == NULL)
        return 1;
    c->interval_ms = 1000;
    static const struct {
        const char *name;
        bool value;
        unsigned cmds;
    } k_flags[] = {
        {"store", true, C_ALL},           {"api-token", true, C_READ},
        {"ca-cert", true, C_READ},
        {"json", false, C_ALL & ~C_SWEEP}, {"limit", true, C_FILTER | C_SLOW},
        {"cursor", true, C_TRACES},       {"ttl", true, C_IMPORT},
        {"show-ip-peers", false, C_IMPORT},
        {"interval", true, C_TAIL},       {"timeout", true, C_TAIL},
        {"count", true, C_TAIL},          {"verification-failed", false, C_FILTER},
        {"error", false, C_FILTER},
    };
    bool opts_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            c->argv[c->argc++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            c->help = true;
            continue;
        }
        /* --name VALUE or --name=VALUE */
        char name[48];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (a[1] != '-' || nl - 2 >= sizeof name) {
            fprintf(stderr, "fedtrace: unknown option %s (see fedtrace --help)\n", a);
            return 2;
        }
        memcpy(name, a + 2, nl - 2);
        name[nl - 2] = '\0';
        bool takes_value = false, known = false;
        unsigned cmds = 0;
        for (size_t k = 0; k < sizeof k_flags / sizeof k_flags[0]; k++)
            if (strcmp(k_flags[k].name, name) == 0) {
                known = true;
                takes_value = k_flags[k].value;
                cmds = k_flags[k].cmds;
            }
        if (!known && is_filter_name(name)) {
            known = takes_value = true;
            cmds = C_FILTER;
            if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0)
                cmds |= C_WINDOW;
            else if (strcmp(name, "service") == 0)
                cmds |= C_SLOW;
        }
        if (!known) {
            fprintf(stderr, "fedtrace: unknown option --%s (see fedtrace --help)\n", name);
            return 2;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (takes_value && val == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "fedtrace: --%s needs a value\n", name);
                return 2;
            }
            val = argv[++i];
        }
        if (c->nseen < MAX_SEEN) {
            c->seen[c->nseen] = a;
            c->seen_cmds[c->nseen++] = cmds;
        }
        int rc = 0;
        long long n = 0;
        if (strcmp(name, "json") == 0) {
            c->json = true;
            if (val != NULL && !ft_parse_bool(val, &c->json)) {
                fprintf(stderr, "fedtrace: --json=%s: not true or false\n", val);
                return 2;
            }
        } else if (strcmp(name, "show-ip-peers") == 0) {
            c->show_ip_peers = true;
            if (val != NULL && !ft_parse_bool(val, &c->show_ip_peers)) {
                fprintf(stderr, "fedtrace: --show-ip-peers=%s: not true or false\n", val);
                return 2;
            }
        } else if (strcmp(name, "store") == 0) {
            c->store = val;
        } else if (strcmp(name, "api-token") == 0) {
            c->api_token = val;
        } else if (strcmp(name, "ca-cert") == 0) {
            c->ca_cert = val;
        } else if (strcmp(name, "cursor") == 0) {
            c->cursor = val;
        } else if (strcmp(name, "limit") == 0) {
            if ((rc = parse_number(name, val, &n)) == 0)
                c->limit = (size_t)n;
        } else if (strcmp(name, "count") == 0) {
            if ((rc = parse_number(name, val, &n)) == 0)
                c->count = (size_t)n;
        } else if (strcmp(name, "ttl") == 0) {
            if ((rc = parse_number(name, val, &n)) == 0)
                c->ttl_ms = n * 1000;
        } else if (strcmp(name, "interval") == 0 || strcmp(name, "timeout") == 0) {
            int64_t ms;
            if (!ft_parse_duration_ms(val, &ms) || ms < 0) {
                fprintf(stderr, "fedtrace: --%s %s: not a duration (500ms, 30s, 5m, 2h)\n",
                        name, val);
                return 2;
            }
            if (strcmp(name, "interval") == 0)
                c->interval_ms = ms < 10 ? 10 : ms;
            else
                c->timeout_ms = ms;
        } else if (strcmp(name, "verification-failed") == 0) {
            rc = add_filter(c, name, "verification", val ? val : "failed");
        } else if (strcmp(name, "error") == 0) {
            rc = add_filter(c, name, "error", val ? val : "true");
        } else {
            /* a filter under its API name */
            for (const char *const *f = ft_trace_filter_names; *f != NULL; f++)
                if (strcmp(*f, name) == 0)
                    rc = add_filter(c, name, *f, val);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* 0, or 2 after saying which option the command does not take. */
static int check_options(const cli *c, const char *cmd, unsigned bit)
{
    for (size_t i = 0; i < c->nseen; i++) {
        if (!(c->seen_cmds[i] & bit)) {
            size_t nl = strcspn(c->seen[i], "=");
            fprintf(stderr, "fedtrace %s: %.*s is not an option of %s (see fedtrace %s --help)\n",
                    cmd, (int)nl, c->seen[i], cmd, cmd);
            return 2;
        }
    }
    return 0;
}

/* ---- where traces come from: a store or a server's API ---- */

typedef struct source {
    char *shown; /* the URL for messages, without a password */
    ft_api *api;
    ft_kv *kv;
    ft_exporter *ex;
    ft_metrics *metrics; /* import: counts what it stores (fedtrace services) */
    ft_arena *arena;
} source;

static void source_close(source *s)
{
    ft_api_close(s->api);
    ft_exporter_destroy(s->ex);
    ft_metrics_destroy(s->metrics);
    ft_kv_close(s->kv);
    ft_arena_destroy(s->arena);
    free(s->shown);
    memset(s, 0, sizeof *s);
}

/* A URL without the password of a user:password@ part (malloc'd). */
static char *redact_url(const char *url)
{
    const char *host = strstr(url, "://");
    size_t auth = host ? strcspn(host + 3, "/?#") : 0;
    const char *at = host ? memchr(host + 3, '@', auth) : NULL;
    const char *colon = at ? memchr(host + 3, ':', (size_t)(at - host - 3)) : NULL;
    if (colon == NULL)
        return strdup(url);
    size_t n = strlen(url) + 4;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
    return out;
}

/* 0, 1 (could not open: said why) or 2 (an API URL where a store is needed). */
static int source_open(const cli *c, const char *cmd, bool api_ok, source *s)
{
    ft_err err = {0};
    memset(s, 0, sizeof *s);
    if (ft_api_is_url(c->store)) {
        if (!api_ok) {
            fprintf(stderr,
                    "fedtrace %s: needs a store (lmdb:DIR, memory:, redis://..., "
                    "postgres://...), not a server's API URL",
                    cmd);
            fprintf(stderr, strcmp(cmd, "import") == 0
                                ? "; a running server takes traces on its OTLP receiver "
                                  "(POST /v1/traces)\n"
                                : "\n");
            return 2;
        }
        const char *token = c->api_token;
        if (token == NULL && getenv("FEDTRACE_API_TOKEN") && *getenv("FEDTRACE_API_TOKEN"))
            token = getenv("FEDTRACE_API_TOKEN");
        const char *ca = c->ca_cert;
        if (ca == NULL && getenv("FEDTRACE_CA_CERT") && *getenv("FEDTRACE_CA_CERT"))
            ca = getenv("FEDTRACE_CA_CERT");
        if (ft_api_open(c->store, token, ca, &s->api, &err) != FT_OK) {
            print_err("", err.msg);
            return 1;
        }
        s->shown = strdup(ft_api_shown(s->api));
        if (s->shown == NULL) {
            source_close(s);
            return 1;
        }
        return 0;
    }
    s->shown = redact_url(c->store);
    if (s->shown == NULL)
        return 1;
    /* import counts RED metrics, map edges and statements as serve does */
    bool count = strcmp(cmd, "import") == 0;
    if (ft_kv_open(c->store, &s->kv, &err) != FT_OK ||
        (count && ft_metrics_create(&(ft_infer_opts){c->show_ip_peers}, c->ttl_ms, &s->metrics,
                                    &err) != FT_OK) ||
        /* serve may count into the same LMDB: match retries through it */
        ft_exporter_create(s->kv,
                           &(ft_exporter_opts){.ttl_ms = c->ttl_ms, .metrics = s->metrics,
                                               .shared_counting = true},
                           &s->ex, &err) != FT_OK) {
        print_err("", err.msg);
        source_close(s);
        return 1;
    }
    s->arena = ft_arena_create(0);
    if (s->arena == NULL) {
        source_close(s);
        return 1;
    }
    return 0;
}

/* The filter as API query parameters, appended to q. */
static void filter_query(const cli *c, ft_buf *q)
{
    for (size_t i = 0; i < c->nf; i++)
        ft_api_query_add(q, c->fname[i], c->fval[i]);
}

/*
 * One page of trace summaries matching the filter, as the JSON array the
 * API gives (into json), and the cursor of the next page (*next, malloc'd,
 * or NULL).
 */
/* GET path (built with query q) from the API into json, without the
 * trailing newline, so that --json prints the document as the API gives
 * it; frees path and q. */
static ft_code api_get_doc(source *s, ft_buf *path, ft_buf *q, ft_buf *json, char **next,
                           ft_err *err)
{
    ft_code rc = ft_buf_ok(path) && ft_buf_ok(q)
                     ? ft_api_get(s->api, ft_buf_cstr(path), json, next, err)
                     : ft_err_set(err, FT_NOMEM, 0, "out of memory");
    while (rc == FT_OK && json->len > 0 && strchr(" \t\r\n", json->ptr[json->len - 1]))
        json->len--;
    ft_buf_free(path);
    ft_buf_free(q);
    return rc;
}

static ft_code source_list(source *s, const cli *c, size_t limit, const char *cursor,
                           ft_buf *json, char **next, ft_err *err)
{
    *next = NULL;
    ft_buf_reset(json);
    if (s->api != NULL) {
        ft_buf path = {0}, q = {0};
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", limit);
        ft_api_query_add(&q, "limit", lim);
        if (cursor != NULL)
            ft_api_query_add(&q, "cursor", cursor);
        filter_query(c, &q);
        ft_buf_printf(&path, "api/traces?%.*s", (int)q.len, q.ptr ? q.ptr : "");
        return api_get_doc(s, &path, &q, json, next, err);
    }
    ft_arena_reset(s->arena);
    ft_recent_opts o = {limit, cursor, c->nf ? &c->filter : NULL, 0};
    ft_trace_summary *sum;
    size_t n;
    char *nx;
    ft_str js;
    ft_code rc = ft_exporter_recent_traces(s->ex, &o, s->arena, &sum, &n, &nx, err);
    if (rc == FT_OK)
        rc = ft_trace_summaries_json(sum, n, s->arena, &js, err);
    if (rc != FT_OK)
        return rc;
    ft_buf_put(json, js.ptr, js.len);
    if (nx != NULL && (*next = strdup(nx)) == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    return ft_buf_ok(json) ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
}

enum part { P_ACTIVITIES, P_SPANS, P_LOGS };

/* A trace's activity records, spans or log records as the JSON array the
 * API gives (api/traces/ID, api/traces/ID/spans, api/logs/ID). */
static ft_code source_part(source *s, const char *id, enum part part, ft_buf *json,
                           ft_err *err)
{
    ft_buf_reset(json);
    if (s->api != NULL) {
        char path[128];
        snprintf(path, sizeof path,
                 part == P_ACTIVITIES ? "api/traces/%s" : part == P_SPANS ? "api/traces/%s/spans"
                                                                          : "api/logs/%s",
                 id);
        ft_code rc = ft_api_get(s->api, path, json, NULL, err);
        while (rc == FT_OK && json->len > 0 && strchr(" \t\r\n", json->ptr[json->len - 1]))
            json->len--;
        return rc;
    }
    ft_arena_reset(s->arena);
    ft_str *v;
    size_t n;
    ft_code rc = part == P_ACTIVITIES ? ft_exporter_activities(s->ex, id, s->arena, &v, &n, err)
                 : part == P_SPANS    ? ft_exporter_spans(s->ex, id, s->arena, &v, &n, err)
                                      : ft_exporter_logs(s->ex, id, s->arena, &v, &n, err);
    if (rc != FT_OK)
        return rc;
    ft_buf_putc(json, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ft_buf_putc(json, ',');
        ft_buf_put(json, v[i].ptr, v[i].len);
    }
    ft_buf_putc(json, ']');
    return ft_buf_ok(json) ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
}

/* What a source knows of the links between traces. */
enum links_known {
    LINKS_ALL,         /* outgoing and incoming */
    LINKS_OUTGOING,    /* incoming not searched: the store cannot list (CAS-only) */
    LINKS_UNSUPPORTED, /* the server has no api/traces/ID/linked (json empty) */
};

/*
 * The traces linked with this one as api/traces/ID/linked gives them
 * ({"incoming": [...], "outgoing": [...]}, see ft_exporter_linked_json)
 * into json, and how much of them the source can know.
 */
static ft_code source_linked(source *s, const char *id, ft_buf *json, enum links_known *known,
                             ft_err *err)
{
    ft_buf_reset(json);
    *known = LINKS_ALL;
    if (s->api != NULL) {
        char path[128];
        snprintf(path, sizeof path, "api/traces/%s/linked", id);
        ft_code rc = ft_api_get(s->api, path, json, NULL, err);
        if (rc == FT_BACKEND && err->native == 404) { /* a server older than links */
            ft_buf_reset(json);
            *err = (ft_err){0};
            *known = LINKS_UNSUPPORTED;
            return FT_OK;
        }
        while (rc == FT_OK && json->len > 0 && strchr(" \t\r\n", json->ptr[json->len - 1]))
            json->len--;
        if (rc == FT_OK && json->len > 0 &&
            ft_memfind(json->ptr, json->len, "\"incomingKnown\":false", 21) != NULL)
            *known = LINKS_OUTGOING; /* the server's store is CAS-only */
        return rc;
    }
    if (ft_exporter_strategy(s->ex) != FT_STRATEGY_LIST)
        *known = LINKS_OUTGOING;
    ft_arena_reset(s->arena);
    ft_str js;
    ft_code rc = ft_exporter_linked_json(s->ex, id, s->arena, &js, err);
    if (rc != FT_OK)
        return rc;
    ft_buf_put(json, js.ptr, js.len);
    return ft_buf_ok(json) ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
}

/* Parses a JSON array (json_decref it); NULL with err set when it is not. */
static json_t *parse_array(const ft_buf *b, const char *what, size_t flags, ft_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(b->ptr ? b->ptr : "", b->len, JSON_ALLOW_NUL | flags, &je);
    if (!json_is_array(j)) {
        json_decref(j);
        ft_err_set(err, FT_DECODE, 0, "%s is not a JSON array%s%s", what, j ? "" : ": ",
                   j ? "" : je.text);
        return NULL;
    }
    return j;
}

/* A hint for an error from the API. */
static void print_source_err(const source *s, const ft_err *err)
{
    print_err("", err->msg);
    if (s->api != NULL && err->code == FT_BACKEND && err->native == 401)
        fprintf(stderr, "fedtrace: pass the server's API token with --api-token TOKEN or "
                        "FEDTRACE_API_TOKEN\n");
    else if (s->api != NULL && err->code == FT_BACKEND && err->native == 404)
        fprintf(stderr, "fedtrace: is %s the address of fedtrace serve's --ui-listen, with "
                        "its --base-path?\n", s->shown);
}

/* ---- JSON field access ---- */

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* The value of attribute key in an OTLP/JSON attribute list, as text
 * (string values only); "" when absent. */
static const char *attr_str(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv) {
        if (strcmp(jstr(kv, "key"), key) == 0)
            return jstr(json_object_get(kv, "value"), "stringValue");
    }
    return "";
}

static const char *short_type(const char *t)
{
    const char *hash = strrchr(t, '#');
    return hash ? hash + 1 : t;
}

/* Nanoseconds from an OTLP/JSON time: a decimal string or a number. */
static uint64_t jns(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
    return strtoull(jstr(o, k), NULL, 10);
}

/* ---- import, sweep ---- */

static int cmd_import(const cli *c)
{
    if (c->argc < 2) {
        fprintf(stderr, "fedtrace import: name one or more OTLP protobuf files\n");
        return 2;
    }
    source s;
    int rc = source_open(c, "import", false, &s);
    if (rc != 0)
        return rc;
    ft_export_stats total = {0};
    size_t rejected = 0;
    for (int i = 1; i < c->argc; i++) {
        size_t len;
        char *body;
        ft_err err = {0};
        if (ft_read_file(c->argv[i], 0, &body, &len, &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s\n", err.msg);
            rc = 1;
            continue;
        }
        ft_arena_reset(s.arena);
        ft_span_batch batch;
        if (ft_otlp_decode_traces_pb((const uint8_t *)body, len, s.arena, &batch, &err) != FT_OK ||
            ft_exporter_export_spans(s.ex, &batch, &total, &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s: %s\n", c->argv[i], err.msg);
            rc = 1;
        } else if (batch.rejected) {
            fprintf(stderr, "fedtrace: %s: %zu spans rejected (%.*s)\n", c->argv[i],
                    batch.rejected, (int)batch.reject_reason.len, batch.reject_reason.ptr);
        }
        if (ft_metrics_flush(s.metrics, s.kv, NULL, 0, ft_now_ms(), &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s: the metrics: %s\n", c->argv[i], err.msg);
            rc = 1;
        }
        rejected += batch.rejected;
        ft_free(body);
    }
    if (c->json)
        printf("{\"spans\":%zu,\"activities\":%zu,\"rejected\":%zu}\n", total.spans,
               total.activities, rejected);
    else
        printf("stored %zu spans, %zu activities (%zu rejected) in %s\n", total.spans,
               total.activities, rejected, s.shown);
    source_close(&s);
    return rc;
}

static int cmd_sweep(const cli *c)
{
    source s;
    int rc = source_open(c, "sweep", false, &s);
    if (rc != 0)
        return rc;
    size_t removed;
    ft_err err = {0};
    if (ft_kv_sweep(s.kv, 0, &removed, &err) != FT_OK) {
        fprintf(stderr, "fedtrace: %s\n", err.msg);
        rc = 1;
    } else {
        printf("removed %zu expired entries\n", removed);
    }
    source_close(&s);
    return rc;
}

/* ---- traces ---- */

/* The short names of a JSON array of strings, joined by ", " (malloc'd). */
static char *join_names(json_t *arr, bool shorten)
{
    ft_buf b = {0};
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *t = json_string_value(v);
        if (i)
            ft_buf_puts(&b, ", ");
        ft_buf_puts(&b, t == NULL ? "?" : shorten ? short_type(t) : t);
    }
    ft_buf_putc(&b, '\0');
    if (!ft_buf_ok(&b)) {
        ft_buf_free(&b);
        return strdup("");
    }
    return b.ptr;
}

/* The table of trace summaries (a JSON array as api/traces gives). */
static void print_traces(json_t *arr)
{
    size_t n = json_array_size(arr);
    char **types = calloc(n + 1, sizeof *types), **svcs = calloc(n + 1, sizeof *svcs);
    if (types == NULL || svcs == NULL) {
        free(types);
        free(svcs);
        return;
    }
    int need_t = 5, need_s = 0;
    bool any_error = false, any_failed = false;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        types[i] = join_names(json_object_get(s, "activityTypes"), true);
        svcs[i] = join_names(json_object_get(s, "services"), false);
        int tw = text_width(types[i], strlen(types[i]));
        int sw = text_width(svcs[i], strlen(svcs[i]));
        need_t = tw > need_t ? tw : need_t;
        need_s = sw > need_s ? sw : need_s;
        any_error |= json_is_true(json_object_get(s, "hasError"));
        any_failed |= json_is_true(json_object_get(s, "verificationFailed"));
    }
    if (need_s > 0 && need_s < 8)
        need_s = 8; /* the heading */
    /* TRACE(32) TIME(12) N(4) MARKS(2), then types and services share the rest */
    int rest = term_width - (32 + 2 + 12 + 2 + 4 + 2 + 2 + 2);
    if (rest < 10)
        rest = 10;
    int tw = need_t, sw = need_s;
    if (need_s == 0) {
        tw = rest;
    } else if (need_t + 2 + need_s > rest) {
        sw = rest / 3 > rest - need_t - 2 ? rest / 3 : rest - need_t - 2;
        sw = sw > need_s ? need_s : sw < 8 ? 8 : sw;
        tw = rest - 2 - sw;
    }
    printf("%s%-32s  %-12s  %4s  %-2s  ", ansi(BOLD), "TRACE", "TIME", "N", "");
    if (need_s > 0) {
        put_cell("TYPES", tw);
        printf("  SERVICES");
    } else {
        printf("TYPES");
    }
    printf("%s\n", ansi(RESET));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        char when[32];
        fmt_time(iso_ms(jstr(s, "timestamp")), when);
        put_cell(jstr(s, "traceId"), 32);
        printf("  %-12s  ", when);
        json_t *cnt = json_object_get(s, "activityCount");
        printf("%4lld  ", json_is_integer(cnt) ? (long long)json_integer_value(cnt) : 0LL);
        bool err = json_is_true(json_object_get(s, "hasError"));
        bool failed = json_is_true(json_object_get(s, "verificationFailed"));
        printf("%s%c%c%s  ", ansi(err || failed ? RED : ""), err ? '!' : ' ', failed ? 'X' : ' ',
               ansi(err || failed ? RESET : ""));
        if (need_s > 0) {
            put_cell(types[i], tw);
            printf("  ");
            put_text(svcs[i], strlen(svcs[i]), sw);
        } else {
            put_text(types[i], strlen(types[i]), tw);
        }
        printf("\n");
        free(types[i]);
        free(svcs[i]);
    }
    if (any_error || any_failed)
        printf("%s%s\n", any_error ? "! an error span  " : "",
               any_failed ? "X a signature failed verification" : "");
    free(types);
    free(svcs);
}

static int cmd_traces(const cli *c)
{
    source s;
    int rc = source_open(c, "traces", true, &s);
    if (rc != 0)
        return rc;
    ft_buf json = {0};
    char *next = NULL;
    ft_err err = {0};
    json_t *arr = NULL;
    if (source_list(&s, c, c->limit ? c->limit : 20, c->cursor, &json, &next, &err) != FT_OK ||
        (arr = parse_array(&json, "the answer", JSON_DECODE_ANY, &err)) == NULL) {
        print_source_err(&s, &err);
        rc = 1;
    } else if (c->json) {
        fwrite(json.ptr, 1, json.len, stdout);
        printf("\n");
    } else if (json_array_size(arr) == 0) {
        printf("no traces with activities%s in %s\n", c->nf ? " match the filter" : "", s.shown);
        if (s.api == NULL && c->nf == 0 && c->cursor == NULL)
            printf("(store captured OTLP/protobuf requests with: fedtrace import FILE.pb)\n");
    } else {
        print_traces(arr);
    }
    if (rc == 0 && !c->json && next != NULL) {
        printf("more: fedtrace traces");
        for (size_t i = 0; i < c->nf; i++) {
            if (strcmp(c->fname[i], "verification") == 0 && strcmp(c->fval[i], "failed") == 0) {
                printf(" --verification-failed");
            } else if (strcmp(c->fname[i], "error") == 0 && strcmp(c->fval[i], "true") == 0) {
                printf(" --error");
            } else {
                printf(" --%s ", c->fname[i]);
                put_shell_word(c->fval[i]);
            }
        }
        if (c->limit)
            printf(" --limit %zu", c->limit);
        printf(" --cursor ");
        put_shell_word(next);
        printf("\n");
    }
    json_decref(arr);
    free(next);
    ft_buf_free(&json);
    source_close(&s);
    return rc;
}

/* ---- show ---- */

static void print_activity(json_t *r)
{
    bool in = strcmp(jstr(r, "direction"), "inbound") == 0;
    const char *type = json_string_value(json_object_get(r, "activityType"));
    printf("\n  %s%s%s %s", ansi(in ? CYAN : GREEN), in ? "<-" : "->", ansi(RESET), ansi(BOLD));
    safe_print(type ? short_type(type) : "?");
    printf("%s  ", ansi(RESET));
    safe_print(jstr(r, "timestamp"));
    printf("\n     id     ");
    safe_print(jstr(r, "activityId"));
    printf("\n     actor  ");
    safe_print(jstr(r, "actorId"));
    if (!in) {
        printf("\n     inbox  ");
        safe_print(jstr(r, "inboxUrl"));
    }
    json_t *v = json_object_get(r, "verified");
    if (json_is_boolean(v))
        printf("\n     verified %s%s%s", ansi(json_is_true(v) ? "" : RED),
               json_is_true(v) ? "yes" : "NO", ansi(RESET));
    json_t *sd = json_object_get(r, "signatureDetails");
    if (json_is_object(sd)) {
        printf(" (http signatures %s, ld signatures %s",
               json_is_true(json_object_get(sd, "httpSignaturesVerified")) ? "ok" : "no",
               json_is_true(json_object_get(sd, "ldSignaturesVerified")) ? "ok" : "no");
        if (*jstr(sd, "httpSignaturesFailureReason")) {
            printf("; failure ");
            safe_print(jstr(sd, "httpSignaturesFailureReason"));
        }
        json_t *st = json_object_get(sd, "httpSignaturesKeyFetchStatus");
        if (json_is_integer(st))
            printf(", key fetch HTTP %lld", (long long)json_integer_value(st));
        printf(")");
        /* every other detail, whatever its name */
        static const char *const shown[] = {"httpSignaturesVerified", "ldSignaturesVerified",
                                            "httpSignaturesFailureReason",
                                            "httpSignaturesKeyFetchStatus"};
        const char *key;
        json_t *val;
        json_object_foreach(sd, key, val) {
            bool done = false;
            for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
                done |= strcmp(key, shown[i]) == 0;
            if (done)
                continue;
            printf("\n     ");
            safe_print(key);
            printf(" ");
            if (json_is_string(val)) {
                safe_print(json_string_value(val));
            } else {
                char *t = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
                safe_print(t);
                free(t);
            }
        }
    }
    printf("\n     span   ");
    safe_print(jstr(r, "spanId"));
    printf("\n");
}

typedef struct span_ix {
    const char *id;
    size_t i;
} span_ix;

static int span_ix_cmp(const void *a, const void *b)
{
    return strcmp(((const span_ix *)a)->id, ((const span_ix *)b)->id);
}

/* The service a client or producer span calls, as the server inferred it
 * (the span's "peer": {service, kind, system}): "-> postgresql
 * mastodon_production", "-> instance remote.example", or without the
 * system or kind when brief ("-> remote.example"); the arrow is U+2192 on
 * a UTF-8 terminal.  "" when the span has none. */
static void peer_label(json_t *peer, bool brief, char *out, size_t cap)
{
    const char *svc = jstr(peer, "service"), *sys = jstr(peer, "system"),
               *kind = jstr(peer, "kind");
    const char *what = brief ? "" : *sys && strcmp(sys, svc) != 0 ? sys : kind;
    if (*svc == '\0')
        *out = '\0';
    else
        snprintf(out, cap, "%s %s%s%s", utf8_out ? "\xe2\x86\x92" : "->", what, *what ? " " : "",
                 svc);
}

/* A span's name and, when it calls an inferred service, that service's
 * label (dimmed) after it, in exactly width columns: the label brief if
 * the name does not fit beside the whole one, then the name cut, but
 * each keeps at least half. */
static void put_name_peer(const char *name, json_t *peer, int width)
{
    char label[400];
    peer_label(peer, false, label, sizeof label);
    if (*label == '\0' || width < 8) {
        put_cell(name, width);
        return;
    }
    int nw = text_width(name, strlen(name)), lw = text_width(label, strlen(label));
    int cell = nw;
    if (nw + 1 + lw > width) {
        peer_label(peer, true, label, sizeof label);
        lw = text_width(label, strlen(label));
    }
    if (nw + 1 + lw > width) {
        cell = width - 1 - lw;
        if (cell < width / 2)
            cell = nw < width / 2 ? nw : width / 2;
    }
    int used = put_text(name, strlen(name), cell);
    printf(" %s", ansi(DIM));
    used += 1 + put_text(label, strlen(label), width - used - 1);
    printf("%s", ansi(RESET));
    pad(width - used);
}

/* The spans as a waterfall: parents before their children (in start
 * order), service, name indented by depth (with the service a client or
 * producer span calls), duration, a bar placed by start and end within
 * the trace; as wide as the terminal. */
static void print_waterfall(json_t *spans)
{
    size_t n = json_array_size(spans);
    if (n == 0)
        return;
    uint64_t t0 = UINT64_MAX, t1 = 0;
    uint64_t *start = calloc(n, sizeof *start), *end = calloc(n, sizeof *end);
    span_ix *ix = calloc(n, sizeof *ix);
    size_t *first_child = calloc(n, sizeof *first_child), *next_sib = calloc(n, sizeof *next_sib),
           *last_child = calloc(n, sizeof *last_child), *order = calloc(n, sizeof *order),
           *stack = calloc(n, sizeof *stack);
    int *depth = calloc(n, sizeof *depth);
    bool *seen = calloc(n, sizeof *seen);
    if (!start || !end || !ix || !first_child || !next_sib || !last_child || !order || !stack ||
        !depth || !seen)
        goto done;
    int need_svc = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_array_get(spans, i);
        start[i] = jns(sp, "startTimeUnixNano");
        end[i] = jns(sp, "endTimeUnixNano");
        if (end[i] < start[i])
            end[i] = start[i];
        if (start[i] < t0)
            t0 = start[i];
        if (end[i] > t1)
            t1 = end[i];
        ix[i] = (span_ix){jstr(sp, "spanId"), i};
        const char *svc = attr_str(json_object_get(json_object_get(sp, "resource"), "attributes"),
                                   "service.name");
        int w = text_width(svc, strlen(svc));
        need_svc = w > need_svc ? w : need_svc;
    }
    /* children lists (SIZE_MAX: none), in start order like the input */
    qsort(ix, n, sizeof *ix, span_ix_cmp);
    for (size_t i = 0; i < n; i++)
        first_child[i] = next_sib[i] = last_child[i] = SIZE_MAX;
    size_t n_roots = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_array_get(spans, i);
        span_ix key = {jstr(sp, "parentSpanId"), 0};
        span_ix *p = *key.id ? bsearch(&key, ix, n, sizeof *ix, span_ix_cmp) : NULL;
        if (p == NULL || p->i == i) {
            order[n_roots++] = i; /* roots, for now in order[] */
            continue;
        }
        if (last_child[p->i] == SIZE_MAX)
            first_child[p->i] = i;
        else
            next_sib[last_child[p->i]] = i;
        last_child[p->i] = i;
    }
    /* depth-first from each root; what no root reaches (a cycle) goes last */
    size_t *roots = malloc((n_roots ? n_roots : 1) * sizeof *roots);
    if (roots == NULL)
        goto done;
    memcpy(roots, order, n_roots * sizeof *roots);
    size_t k = 0;
    for (size_t r = 0; r <= n_roots; r++) {
        size_t top = 0;
        if (r < n_roots) {
            stack[top++] = roots[r];
        } else {
            for (size_t i = 0; i < n; i++)
                if (!seen[i]) {
                    seen[i] = true;
                    order[k++] = i;
                }
            break;
        }
        while (top > 0) {
            size_t i = stack[--top];
            if (seen[i])
                continue;
            seen[i] = true;
            order[k++] = i;
            /* push children in reverse so that the first comes out first */
            size_t m = 0;
            for (size_t ch = first_child[i]; ch != SIZE_MAX; ch = next_sib[ch])
                m++;
            size_t at = top + m;
            for (size_t ch = first_child[i]; ch != SIZE_MAX && at > top; ch = next_sib[ch]) {
                stack[--at] = ch;
                depth[ch] = depth[i] + 1;
            }
            top += m;
        }
    }
    free(roots);

    char total[32];
    fmt_dur((double)(t1 - t0), total);
    printf("\n  %sspans%s: %zu in %s\n", ansi(BOLD), ansi(RESET), n, total);
    int svc_w = need_svc > 18 ? 18 : need_svc;
    int dur_w = 10;
    /* a narrower bar when rows also name the services spans call */
    bool peers = false;
    for (size_t i = 0; i < n && !peers; i++)
        peers = *jstr(json_object_get(json_array_get(spans, i), "peer"), "service") != '\0';
    int bar_w = term_width / (peers ? 5 : 4);
    bar_w = bar_w < 10 ? 10 : bar_w;
    int name_w = term_width - 2 - (svc_w ? svc_w + 2 : 0) - 2 - dur_w - 2 - (bar_w + 2);
    if (name_w < 16) {
        bar_w -= 16 - name_w;
        bar_w = bar_w < 10 ? 10 : bar_w;
        name_w = 16;
    }
    double range = t1 > t0 ? (double)(t1 - t0) : 1.0;
    for (size_t r = 0; r < n; r++) {
        size_t i = order[r];
        json_t *sp = json_array_get(spans, i);
        bool error = json_integer_value(json_object_get(json_object_get(sp, "status"), "code")) == 2;
        printf("  ");
        if (svc_w) {
            put_cell(attr_str(json_object_get(json_object_get(sp, "resource"), "attributes"),
                              "service.name"),
                     svc_w);
            printf("  ");
        }
        int ind = depth[i] > name_w / 3 ? name_w / 3 : depth[i];
        pad(ind);
        printf("%s%c%s", ansi(error ? RED : ""), error ? '!' : ' ', ansi(error ? RESET : ""));
        put_name_peer(jstr(sp, "name"), json_object_get(sp, "peer"), name_w - ind - 1);
        char dur[32];
        fmt_dur((double)(end[i] - start[i]), dur);
        printf("  %*s  |", dur_w, dur);
        int from = (int)((double)(start[i] - t0) / range * bar_w);
        int to = (int)((double)(end[i] - t0) / range * bar_w + 0.5);
        if (to <= from)
            to = from + 1;
        if (to > bar_w)
            to = bar_w;
        if (from >= bar_w)
            from = bar_w - 1;
        pad(from);
        printf("%s", ansi(error ? RED : CYAN));
        for (int x = from; x < to; x++)
            putchar('=');
        printf("%s", ansi(RESET));
        pad(bar_w - to);
        printf("|\n");
    }
done:
    free(start);
    free(end);
    free(ix);
    free(first_child);
    free(next_sib);
    free(last_child);
    free(order);
    free(stack);
    free(depth);
    free(seen);
}

static void put_wrapped(const char *s, size_t n, int indent, int width, int max_lines);

/* The span of spans whose spanId is id, or NULL. */
static json_t *span_by_id(json_t *spans, const char *id)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) {
        if (*id && strcmp(jstr(sp, "spanId"), id) == 0)
            return sp;
    }
    return NULL;
}

/* A linked span as 'SERVICE "NAME"' (either may be missing: "a span"). */
static void linked_who(ft_buf *b, const char *service, const char *name)
{
    if (*service)
        ft_buf_printf(b, "%s ", service);
    if (*name)
        ft_buf_printf(b, "\"%s\"", name);
    else
        ft_buf_puts(b, "a span");
}

/* Our own note under the links, dimmed and wrapped at indent. */
static void linked_note(const char *text)
{
    printf("%s", ansi(DIM));
    put_wrapped(text, strlen(text), 4, term_width - 4, 4);
    printf("%s", ansi(RESET));
}

/*
 * The traces linked with this one (api/traces/ID/linked): outgoing, a
 * span here links to a span of another trace (a Sidekiq job to the request
 * that enqueued it); incoming, a span of another trace links to one here.
 * Each: the direction, the other trace's id (to follow with fedtrace
 * show) and its span; under it who links to what, wrapped.  Links within the
 * trace are left out.  Nothing when there are none and nothing is unknown.
 */
static void print_linked(json_t *linked, json_t *spans, const char *tid, enum links_known known)
{
    json_t *in = json_object_get(linked, "incoming"), *out = json_object_get(linked, "outgoing");
    size_t n_in = 0, n_out = 0, i;
    json_t *l;
    json_array_foreach(out, i, l) n_out += strcmp(jstr(l, "traceId"), tid) != 0;
    json_array_foreach(in, i, l) n_in += strcmp(jstr(l, "fromTraceId"), tid) != 0;
    if (known == LINKS_UNSUPPORTED) {
        printf("\n  %slinked traces%s: not known\n", ansi(BOLD), ansi(RESET));
        linked_note("this server does not answer api/traces/ID/linked (a version "
                    "older than span links)");
        return;
    }
    if (n_in == 0 && n_out == 0 && known == LINKS_ALL)
        return;
    printf("\n  %slinked traces%s: %zu outgoing, ", ansi(BOLD), ansi(RESET), n_out);
    if (known == LINKS_ALL)
        printf("%zu incoming\n", n_in);
    else
        printf("incoming not known\n");
    const char *arrow_out = utf8_out ? "\xe2\x86\x92" : "->";
    const char *arrow_in = utf8_out ? "\xe2\x86\x90" : "<-";
    ft_buf b = {0};
    for (int dir = 0; dir < 2; dir++) {
        json_array_foreach(dir == 0 ? out : in, i, l) {
            const char *other = jstr(l, dir == 0 ? "traceId" : "fromTraceId");
            const char *other_span = jstr(l, dir == 0 ? "spanId" : "fromSpanId");
            if (strcmp(other, tid) == 0)
                continue;
            printf("    %s%s%s ", ansi(dir == 0 ? GREEN : CYAN), dir == 0 ? arrow_out : arrow_in,
                   ansi(RESET));
            /* the id whole, for copying; the span when it fits */
            put_text(other, strlen(other), -1);
            if (*other_span && 7 + text_width(other, strlen(other)) + 6 +
                                       text_width(other_span, strlen(other_span)) <= term_width) {
                printf(" span ");
                safe_print(other_span);
            }
            printf("\n");
            ft_buf_reset(&b);
            if (dir == 0) {
                ft_buf_puts(&b, "from ");
                linked_who(&b, jstr(l, "fromService"), jstr(l, "fromName"));
                ft_buf_puts(&b, " here");
            } else {
                linked_who(&b, jstr(l, "fromService"), jstr(l, "fromName"));
                json_t *to = span_by_id(spans, jstr(l, "spanId"));
                ft_buf_puts(&b, " links to ");
                if (to != NULL)
                    linked_who(&b, "", jstr(to, "name"));
                else if (*jstr(l, "spanId"))
                    ft_buf_printf(&b, "span %s", jstr(l, "spanId"));
                else
                    ft_buf_puts(&b, "this trace");
                ft_buf_puts(&b, to != NULL ? " here" : "");
            }
            put_wrapped(b.ptr, ft_buf_ok(&b) ? b.len : 0, 7, term_width - 7, 3);
        }
    }
    ft_buf_free(&b);
    if (known == LINKS_OUTGOING)
        linked_note("incoming links need a store that can list keys: this one is CAS-only "
                    "(caps=cas), so the traces that link here cannot be found");
    if (n_in + n_out > 0)
        linked_note("follow one with: fedtrace show TRACE_ID");
}

static const char *severity(json_t *rec)
{
    const char *t = jstr(rec, "severityText");
    if (*t)
        return t;
    json_int_t n = json_integer_value(json_object_get(rec, "severityNumber"));
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return n >= 1 && n <= 24 ? names[(n - 1) / 4] : "-";
}

/* The log records, one line each: time, severity, service, body. */
static void print_logs(json_t *logs)
{
    size_t n = json_array_size(logs);
    if (n == 0)
        return;
    printf("\n  %slogs%s: %zu\n", ansi(BOLD), ansi(RESET), n);
    int svc_w = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(logs, i, rec) {
        const char *svc = attr_str(json_object_get(json_object_get(rec, "resource"), "attributes"),
                                   "service.name");
        int w = text_width(svc, strlen(svc));
        svc_w = w > svc_w ? w : svc_w;
    }
    svc_w = svc_w > 18 ? 18 : svc_w;
    json_array_foreach(logs, i, rec) {
        uint64_t ns = jns(rec, "timeUnixNano");
        if (ns == 0)
            ns = jns(rec, "observedTimeUnixNano");
        char when[32];
        fmt_time(ns ? (int64_t)(ns / 1000000) : -1, when);
        const char *sev = severity(rec);
        bool bad = strncasecmp(sev, "ERR", 3) == 0 || strncasecmp(sev, "FATAL", 5) == 0 ||
                   strncasecmp(sev, "WARN", 4) == 0;
        printf("  %-12s  %s", when, ansi(bad ? RED : ""));
        put_cell(sev, 5);
        printf("%s  ", ansi(bad ? RESET : ""));
        if (svc_w) {
            put_cell(attr_str(json_object_get(json_object_get(rec, "resource"), "attributes"),
                              "service.name"),
                     svc_w);
            printf("  ");
        }
        int rest = term_width - 2 - 12 - 2 - 5 - 2 - (svc_w ? svc_w + 2 : 0);
        json_t *body = json_object_get(rec, "body");
        json_t *sv = json_object_get(body, "stringValue");
        if (json_is_string(sv)) {
            put_text(json_string_value(sv), json_string_length(sv), rest < 10 ? 10 : rest);
        } else {
            char *t = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            put_text(t, t ? strlen(t) : 0, rest < 10 ? 10 : rest);
            free(t);
        }
        printf("\n");
    }
}

static int cmd_show(const cli *c)
{
    if (c->argc != 2) {
        fprintf(stderr, "fedtrace show: name one trace id (32 hex digits)\n");
        return 2;
    }
    char tid[33];
    const char *arg = c->argv[1];
    if (strlen(arg) != 32 || strspn(arg, "0123456789abcdefABCDEF") != 32) {
        fprintf(stderr, "fedtrace show: '");
        fflush(stderr);
        for (const char *p = arg; *p; p++)
            fputc((unsigned char)*p < 0x20 ? '?' : *p, stderr);
        fprintf(stderr, "' is not a trace id (32 hexadecimal digits)\n");
        return 2;
    }
    for (int i = 0; i < 33; i++)
        tid[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] - 'A' + 'a' : arg[i]);
    source s;
    int rc = source_open(c, "show", true, &s);
    if (rc != 0)
        return rc;
    static const char *const names[] = {"activities", "spans", "logs"};
    ft_buf text[3] = {{0}};
    json_t *doc[3] = {NULL};
    ft_err err = {0};
    for (int p = 0; p < 3 && rc == 0; p++) {
        char what[64];
        snprintf(what, sizeof what, "the trace's %s", names[p]);
        if (source_part(&s, tid, (enum part)p, &text[p], &err) != FT_OK ||
            (doc[p] = parse_array(&text[p], what, 0, &err)) == NULL) {
            print_source_err(&s, &err);
            rc = 1;
        }
    }
    size_t na = json_array_size(doc[0]), ns = json_array_size(doc[1]),
           nl = json_array_size(doc[2]);
    if (rc == 0 && na == 0 && ns == 0 && nl == 0) {
        fprintf(stderr, "fedtrace: no trace %s in %s\n", tid, s.shown);
        rc = 1;
    }
    /* the traces linked with this one */
    ft_buf ltext = {0};
    json_t *linked = NULL;
    enum links_known known = LINKS_ALL;
    if (rc == 0 && source_linked(&s, tid, &ltext, &known, &err) != FT_OK) {
        print_source_err(&s, &err);
        rc = 1;
    } else if (rc == 0 && known != LINKS_UNSUPPORTED) {
        json_error_t je;
        linked = json_loadb(ltext.ptr ? ltext.ptr : "", ltext.len, 0, &je);
        if (!json_is_object(linked) || !json_is_array(json_object_get(linked, "incoming")) ||
            !json_is_array(json_object_get(linked, "outgoing"))) {
            ft_err_set(&err, FT_DECODE, 0, "the trace's links are not {\"incoming\": [...], "
                       "\"outgoing\": [...]}%s%s", linked ? "" : ": ", linked ? "" : je.text);
            print_source_err(&s, &err);
            rc = 1;
        }
    }
    if (rc == 0 && c->json) {
        printf("{\"traceId\":\"%s\"", tid);
        for (int p = 0; p < 3; p++) {
            printf(",\"%s\":", names[p]);
            fwrite(text[p].ptr, 1, text[p].len, stdout);
        }
        /* as api/traces/ID/linked answers it; null when not known */
        printf(",\"linked\":");
        if (known == LINKS_UNSUPPORTED || ltext.len == 0)
            printf("null");
        else
            fwrite(ltext.ptr, 1, ltext.len, stdout);
        printf("}\n");
        fflush(stdout);
        if (known == LINKS_OUTGOING)
            fprintf(stderr, "fedtrace show: incoming links not known: this store has no list "
                            "capability (CAS-only); finding the traces that link here needs "
                            "one that can list keys\n");
        else if (known == LINKS_UNSUPPORTED)
            fprintf(stderr, "fedtrace show: linked traces not known: the server does not "
                            "answer api/traces/ID/linked\n");
    } else if (rc == 0) {
        printf("%strace %s%s: %zu activit%s, %zu span%s, %zu log record%s\n", ansi(BOLD), tid,
               ansi(RESET), na, na == 1 ? "y" : "ies", ns, ns == 1 ? "" : "s", nl,
               nl == 1 ? "" : "s");
        size_t i;
        json_t *r;
        json_array_foreach(doc[0], i, r)
            print_activity(r);
        print_waterfall(doc[1]);
        print_linked(linked, doc[1], tid, known);
        print_logs(doc[2]);
    }
    json_decref(linked);
    ft_buf_free(&ltext);
    for (int p = 0; p < 3; p++) {
        json_decref(doc[p]);
        ft_buf_free(&text[p]);
    }
    source_close(&s);
    return rc;
}

/* ---- services, service, map, slow-queries ---- */

/* The value of a filter flag (its API name) as given, or NULL. */
static const char *flag_value(const cli *c, const char *name)
{
    for (size_t i = 0; i < c->nf; i++)
        if (strcmp(c->fname[i], name) == 0)
            return c->fval[i];
    return NULL;
}

/*
 * One of the documents of api/services, api/services/NAME, api/map and
 * api/slow-queries for the window of --since/--until: from an API as it
 * answers (trailing white space cut), from a store as ft_services_json
 * writes it.  FT_NOTFOUND (a store) or FT_BACKEND with native 404 (an API)
 * for a service without spans in the window.
 */
static ft_code source_services(source *s, const cli *c, ft_services_what what, const char *name,
                               ft_buf *json, ft_err *err)
{
    ft_buf_reset(json);
    const char *svc = what == FT_Q_SERVICE         ? name
                      : what == FT_Q_SLOW_QUERIES ? flag_value(c, "service")
                                                  : NULL;
    if (s->api != NULL) {
        ft_buf path = {0}, q = {0};
        static const char *const window[] = {"since", "until"};
        for (size_t i = 0; i < 2; i++)
            if (flag_value(c, window[i]) != NULL)
                ft_api_query_add(&q, window[i], flag_value(c, window[i]));
        if (what == FT_Q_SLOW_QUERIES && svc != NULL)
            ft_api_query_add(&q, "service", svc);
        if (what == FT_Q_SLOW_QUERIES && c->limit) {
            char lim[32];
            snprintf(lim, sizeof lim, "%zu", c->limit);
            ft_api_query_add(&q, "limit", lim);
        }
        ft_buf_puts(&path, what == FT_Q_SERVICES  ? "api/services"
                           : what == FT_Q_SERVICE ? "api/services/"
                           : what == FT_Q_MAP     ? "api/map"
                                                  : "api/slow-queries");
        if (what == FT_Q_SERVICE)
            ft_api_path_add(&path, name);
        if (q.len)
            ft_buf_printf(&path, "?%.*s", (int)q.len, q.ptr);
        return api_get_doc(s, &path, &q, json, NULL, err);
    }
    ft_arena_reset(s->arena);
    ft_services_query q = {.since_ms = c->filter.since_ms,
                           .until_ms = c->filter.until_ms,
                           .service = svc,
                           .limit = what == FT_Q_SLOW_QUERIES ? c->limit : 0};
    ft_str out = {0};
    ft_code rc = ft_services_json(s->kv, what, &q, s->arena, &out, err);
    if (rc != FT_OK)
        return rc;
    ft_buf_put(json, out.ptr, out.len);
    return ft_buf_ok(json) ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
}

/* Parses a JSON object (json_decref it); NULL with err set when it is not. */
static json_t *parse_object(const ft_buf *b, const char *what, ft_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(b->ptr ? b->ptr : "", b->len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        ft_err_set(err, FT_DECODE, 0, "%s is not a JSON object%s%s", what, j ? "" : ": ",
                   j ? "" : je.text);
        return NULL;
    }
    return j;
}

/* A number of a document; NAN when it is missing or not a number. */
static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A count in at most 7 columns: "1234567", "12.3M". */
static void fmt_count(double n, char out[32])
{
    if (isnan(n) || n < 0)
        snprintf(out, 32, "-");
    else if (n < 1e7)
        snprintf(out, 32, "%.0f", n);
    else if (n < 1e9)
        snprintf(out, 32, "%.1fM", n / 1e6);
    else
        snprintf(out, 32, "%.1fG", n / 1e9);
}

/* Milliseconds in at most 7 columns: "0.83", "12.5", "1234", "98765s". */
static void fmt_ms(double ms, char out[32])
{
    if (isnan(ms) || ms < 0)
        snprintf(out, 32, "-");
    else if (ms < 10)
        snprintf(out, 32, "%.2f", ms);
    else if (ms < 1000)
        snprintf(out, 32, "%.1f", ms);
    else if (ms < 1e6)
        snprintf(out, 32, "%.0f", ms);
    else if (ms < 1e9)
        snprintf(out, 32, "%.0fs", ms / 1e3);
    else
        snprintf(out, 32, "%.1e", ms);
}

/* Requests per second: "0.0022", "2.00", "123.4", "98765". */
static void fmt_rate(double r, char out[32])
{
    if (isnan(r) || r < 0)
        snprintf(out, 32, "-");
    else if (r == 0)
        snprintf(out, 32, "0");
    else if (r < 0.0001)
        snprintf(out, 32, "<.0001");
    else if (r < 0.01)
        snprintf(out, 32, "%.4f", r);
    else if (r < 100)
        snprintf(out, 32, "%.2f", r);
    else if (r < 1000)
        snprintf(out, 32, "%.1f", r);
    else
        snprintf(out, 32, "%.0f", r);
}

/* A fraction as a percentage: "2.5", "100". */
static void fmt_pct(double f, char out[32])
{
    if (isnan(f) || f < 0)
        snprintf(out, 32, "-");
    else
        snprintf(out, 32, f >= 1 ? "%.0f" : "%.1f", f * 100);
}

/* Local time to the minute: "2026-11-26 12:05", or "12:05" when on the
 * day of `day` (ms; < 0: no day given). */
static void fmt_minute(int64_t ms, int64_t day, char out[32])
{
    time_t t = (time_t)(ms / 1000), d = (time_t)(day / 1000);
    struct tm tm, td;
    if (localtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "?");
        return;
    }
    if (day >= 0 && localtime_r(&d, &td) != NULL && td.tm_year == tm.tm_year &&
        td.tm_yday == tm.tm_yday)
        snprintf(out, 32, "%02d:%02d", tm.tm_hour % 24, tm.tm_min % 60);
    else
        snprintf(out, 32, "%04d-%02d-%02d %02d:%02d", (tm.tm_year + 1900) % 10000,
                 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 24, tm.tm_min % 60);
}

/* "from 2026-11-26 12:05 to 13:05": the window of doc ("since" and
 * "until" when it has them), else the one asked for. */
static void fmt_window(const cli *c, json_t *doc, char out[80])
{
    json_t *js = json_object_get(doc, "since"), *ju = json_object_get(doc, "until");
    int64_t until = json_is_integer(ju) ? (int64_t)json_integer_value(ju)
                    : c->filter.until_ms   ? c->filter.until_ms
                                           : ft_now_ms();
    int64_t since = json_is_integer(js) ? (int64_t)json_integer_value(js)
                    : c->filter.since_ms   ? c->filter.since_ms
                                           : until - 3600 * 1000;
    char a[32], b[32];
    fmt_minute(since, -1, a);
    fmt_minute(until, since, b);
    snprintf(out, 80, "from %s to %s", a, b);
}

/* ---- a table that fits the terminal ---- */

enum { T_MAXCOL = 10 };

typedef struct tcol {
    const char *head;
    bool right;      /* right-aligned (numbers) */
    bool flex;       /* takes the columns left over (one per table) */
    int cap;         /* a text column that is not flex: at most this wide (0: no cap) */
    int drop;        /* 0: always shown; else dropped when narrow, 1 first */
    const char *sep; /* in front of it (not the first): default two spaces */
    int w;           /* set by table_print */
    bool off;        /* dropped */
} tcol;

typedef struct tcell {
    const char *s;     /* remote text or a formatted number */
    const char *color; /* an ANSI code, or NULL */
} tcell;

typedef void (*trow_fn)(void *ud, size_t row, int indent);

/*
 * Prints nr rows of nc cells (cells[r * nc + c]) under their headings,
 * indented, as wide as the terminal: every column as wide as its widest
 * cell, the flex column taking what is left (cut with an ellipsis), and
 * when that is too little the droppable columns left out.  after (may be
 * NULL) is called after each row, for lines of its own.
 */
static void table_print(tcol *cols, size_t nc, const tcell *cells, size_t nr, int indent,
                        trow_fn after, void *ud)
{
    int need[T_MAXCOL];
    int flex = -1;
    for (size_t k = 0; k < nc && k < T_MAXCOL; k++) {
        need[k] = text_width(cols[k].head, strlen(cols[k].head));
        for (size_t r = 0; r < nr; r++) {
            const char *t = cells[r * nc + k].s ? cells[r * nc + k].s : "";
            int w = text_width(t, strlen(t));
            need[k] = w > need[k] ? w : need[k];
        }
        cols[k].off = false;
        cols[k].w = cols[k].cap && need[k] > cols[k].cap ? cols[k].cap : need[k];
        if (cols[k].flex)
            flex = (int)k;
    }
    for (;;) {
        int used = indent;
        for (size_t k = 0; k < nc; k++)
            if (!cols[k].off && (int)k != flex)
                used += cols[k].w + (k ? (int)strlen(cols[k].sep ? cols[k].sep : "  ") : 0);
        if (flex < 0)
            break;
        const char *fsep = cols[flex].sep ? cols[flex].sep : "  ";
        int room = term_width - used - (flex ? (int)strlen(fsep) : 0);
        int want = need[flex] < 24 ? need[flex] : 24;
        int victim = -1;
        for (size_t k = 0; k < nc; k++)
            if (!cols[k].off && cols[k].drop > 0 &&
                (victim < 0 || cols[k].drop < cols[victim].drop))
                victim = (int)k;
        if (room >= want || victim < 0) {
            int hw = text_width(cols[flex].head, strlen(cols[flex].head));
            cols[flex].w = room < need[flex] ? room : need[flex];
            if (cols[flex].w < (hw > 6 ? hw : 6))
                cols[flex].w = hw > 6 ? hw : 6;
            break;
        }
        cols[victim].off = true;
    }
    /* the last column shown is not padded */
    size_t last = 0;
    for (size_t k = 0; k < nc; k++)
        if (!cols[k].off)
            last = k;
    for (size_t r = 0; r <= nr; r++) {
        pad(indent);
        printf("%s", r == 0 ? ansi(BOLD) : "");
        bool first = true;
        for (size_t k = 0; k < nc; k++) {
            if (cols[k].off)
                continue;
            const char *sep = cols[k].sep ? cols[k].sep : "  ";
            if (!first) {
                if (r == 0)
                    pad((int)strlen(sep));
                else
                    fputs(sep, stdout);
            }
            first = false;
            const tcell *cell = r == 0 ? &(tcell){cols[k].head, NULL} : &cells[(r - 1) * nc + k];
            const char *t = cell->s ? cell->s : "";
            int tw = text_width(t, strlen(t));
            if (cols[k].right)
                pad(cols[k].w - tw);
            if (cell->color && *ansi(cell->color))
                printf("%s", ansi(cell->color));
            int wrote = put_text(t, strlen(t), cols[k].w);
            if (cell->color && *ansi(cell->color))
                printf("%s", ansi(RESET));
            if (!cols[k].right && k != last)
                pad(cols[k].w - wrote);
        }
        printf("%s\n", r == 0 ? ansi(RESET) : "");
        if (r > 0 && after != NULL)
            after(ud, r - 1, indent);
    }
}

/* Cells of a table with their numbers' text, freed together. */
typedef struct tcells {
    tcell *cells;
    char (*text)[32]; /* one buffer per cell, for numbers */
    size_t nc;
} tcells;

static bool tcells_init(tcells *t, size_t nr, size_t nc)
{
    t->nc = nc;
    t->cells = calloc(nr * nc + 1, sizeof *t->cells);
    t->text = calloc(nr * nc + 1, sizeof *t->text);
    return t->cells != NULL && t->text != NULL;
}

static void tcells_free(tcells *t)
{
    free(t->cells);
    free(t->text);
}

/* Cell (r, k): text s (borrowed). */
static void cell_str(tcells *t, size_t r, size_t k, const char *s, const char *code)
{
    t->cells[r * t->nc + k] = (tcell){s, code};
}

/* Cell (r, k): a number of o formatted by fmt. */
static void cell_num(tcells *t, size_t r, size_t k, json_t *o, const char *key,
                     void (*fmt)(double, char[32]), const char *code)
{
    fmt(jnum(o, key), t->text[r * t->nc + k]);
    t->cells[r * t->nc + k] = (tcell){t->text[r * t->nc + k], code};
}

/* Red when n > 0. */
static const char *err_color(double n)
{
    return !isnan(n) && n > 0 ? RED : NULL;
}

/* Remote text s[0, n) in lines of at most width columns (broken at a
 * space where one is near), each after indent spaces; at most max_lines
 * lines, the last cut with an ellipsis when there is more. */
static void put_wrapped(const char *s, size_t n, int indent, int width, int max_lines)
{
    if (width < 10)
        width = 10;
    size_t i = 0;
    for (int line = 0; line < max_lines; line++) {
        while (i < n && strchr(" \t\r\n", s[i]) != NULL && s[i] != '\0')
            i++;
        if (i >= n)
            break;
        pad(indent);
        if (line == max_lines - 1 || text_width(s + i, n - i) <= width) {
            put_text(s + i, n - i, width);
            putchar('\n');
            break;
        }
        size_t j = i, space = SIZE_MAX;
        int cols = 0, at_space = 0;
        while (j < n) {
            const char *o;
            size_t used, ol;
            int w = glyph(s + j, n - j, &used, &o, &ol);
            if (cols + w > width)
                break;
            if (strchr(" \t\r\n", s[j]) != NULL && s[j] != '\0') {
                space = j;
                at_space = cols;
            }
            cols += w;
            j += used;
        }
        size_t end = space != SIZE_MAX && space > i && at_space >= width / 2 ? space : j;
        if (end == i) /* not even one character fits */
            end = i + 1;
        put_text(s + i, end - i, -1);
        putchar('\n');
        i = end;
    }
}

/* A closing line of our own (ASCII), dimmed, wrapped to the terminal. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("%s", ansi(DIM));
    fflush(stdout);
    put_wrapped(buf, strlen(buf), 0, term_width, 4);
    printf("%s", ansi(RESET));
}

/* ---- services ---- */

static int source_window_err(source *s, const cli *c, const char *cmd, const char *name,
                             ft_err *err);

/* A command's document: fetched and parsed (0), or said why not (1). */
static int load_doc(source *s, const cli *c, const char *cmd, ft_services_what what,
                    const char *name, ft_buf *text, json_t **doc)
{
    ft_err err = {0};
    *doc = NULL;
    if (source_services(s, c, what, name, text, &err) != FT_OK)
        return source_window_err(s, c, cmd, name, &err);
    if ((*doc = parse_object(text, "the answer", &err)) == NULL) {
        print_source_err(s, &err);
        return 1;
    }
    return 0;
}

/* Why source_services failed: a service without spans in the window, or
 * what the store or the API said. */
static int source_window_err(source *s, const cli *c, const char *cmd, const char *name,
                             ft_err *err)
{
    bool unknown = name != NULL &&
                   (err->code == FT_NOTFOUND ||
                    (s->api != NULL && err->code == FT_BACKEND && err->native == 404));
    if (unknown && s->api != NULL) {
        /* a 404 is also what a wrong base path gets: unknown only when the
         * list of services is there */
        ft_buf b = {0};
        ft_err e2 = {0};
        unknown = source_services(s, c, FT_Q_SERVICES, NULL, &b, &e2) == FT_OK;
        ft_buf_free(&b);
    }
    if (unknown) {
        char win[80];
        fmt_window(c, NULL, win);
        fflush(stdout);
        fprintf(stderr, "fedtrace %s: no service '", cmd);
        err_text(name);
        fprintf(stderr, "' with spans %s in ", win);
        err_text(s->shown);
        fprintf(stderr, " (fedtrace services lists them; --since widens the window)\n");
        return 1;
    }
    print_source_err(s, err);
    return 1;
}

/* Opens the source for a window command; 0, or the exit status. */
static int window_open(const cli *c, const char *cmd, int want_args, source *s)
{
    if (want_args == 1 && c->argc != 1) {
        fprintf(stderr, "fedtrace %s: takes no arguments (see fedtrace %s --help)\n", cmd, cmd);
        return 2;
    }
    if (want_args == 2 && (c->argc != 2 || !*c->argv[1])) {
        fprintf(stderr, "fedtrace %s: name one service (see fedtrace services)\n", cmd);
        return 2;
    }
    int64_t until = c->filter.until_ms ? c->filter.until_ms : ft_now_ms();
    if (c->filter.since_ms && c->filter.since_ms >= until) {
        fprintf(stderr, "fedtrace %s: --since must be before --until%s\n", cmd,
                c->filter.until_ms ? "" : " (now)");
        return 2;
    }
    return source_open(c, cmd, true, s);
}

/* The document as it came, for --json. */
static void print_json_text(const ft_buf *text)
{
    fwrite(text->ptr ? text->ptr : "", 1, text->len, stdout);
    printf("\n");
}

static void print_services(const cli *c, const source *s, json_t *doc)
{
    json_t *arr = json_object_get(doc, "services");
    size_t n = json_array_size(arr);
    char win[80];
    fmt_window(c, doc, win);
    if (n == 0) {
        printf("no services with spans %s in %s\n", win, s->shown);
        return;
    }
    tcol cols[] = {
        {.head = "NAME", .flex = true},
        {.head = "KIND", .cap = 12},
        {.head = "REQ", .right = true},
        {.head = "RATE/s", .right = true, .drop = 2},
        {.head = "ERR%", .right = true},
        {.head = "P50", .right = true, .drop = 3},
        {.head = "P95", .right = true, .drop = 1},
        {.head = "P99", .right = true},
    };
    tcells t;
    if (tcells_init(&t, n, 8)) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            bool inferred = strcmp(jstr(v, "kind"), "instrumented") != 0;
            double errors = jnum(v, "errors");
            cell_str(&t, i, 0, jstr(v, "name"), NULL);
            cell_str(&t, i, 1, jstr(v, "kind"), inferred ? CYAN : NULL);
            cell_num(&t, i, 2, v, "requests", fmt_count, NULL);
            cell_num(&t, i, 3, v, "rate", fmt_rate, NULL);
            cell_num(&t, i, 4, v, "errorRate", fmt_pct, err_color(errors));
            cell_num(&t, i, 5, v, "p50", fmt_ms, NULL);
            cell_num(&t, i, 6, v, "p95", fmt_ms, NULL);
            cell_num(&t, i, 7, v, "p99", fmt_ms, NULL);
        }
        table_print(cols, 8, t.cells, n, 0, NULL, NULL);
    }
    tcells_free(&t);
    note("%zu service%s %s; latencies in ms", n, n == 1 ? "" : "s", win);
}

/* A services document: from the store (ft_services_json) or the API,
 * printed as JSON (--json, exactly as the API gives it) or by print. */
typedef void (*doc_printer)(const cli *c, const source *s, json_t *doc);

static int run_doc(const cli *c, const char *cmd, int args, ft_services_what what,
                   const char *name, doc_printer print)
{
    source s;
    int rc = window_open(c, cmd, args, &s);
    if (rc != 0)
        return rc;
    ft_buf text = {0};
    json_t *doc = NULL;
    rc = load_doc(&s, c, cmd, what, name, &text, &doc);
    if (rc == 0 && c->json)
        print_json_text(&text);
    else if (rc == 0)
        print(c, &s, doc);
    json_decref(doc);
    ft_buf_free(&text);
    source_close(&s);
    return rc;
}

static int cmd_services(const cli *c)
{
    return run_doc(c, "services", 1, FT_Q_SERVICES, NULL, print_services);
}

/* ---- slow queries (also part of service) ---- */

typedef struct slow_ctx {
    json_t *queries;
    const tcol *trace; /* the column of the example trace */
} slow_ctx;

/* After a statement's row: the statement, and the example trace when
 * its column did not fit. */
static void slow_statement(void *ud, size_t row, int indent)
{
    slow_ctx *sc = ud;
    json_t *q = json_array_get(sc->queries, row);
    json_t *st = json_object_get(q, "statement");
    const char *text = json_string_value(st);
    put_wrapped(text ? text : "", text ? json_string_length(st) : 0, indent + 2,
                term_width - indent - 2, 3);
    if (sc->trace->off) {
        pad(indent + 2);
        printf("%sexample trace%s ", ansi(DIM), ansi(RESET));
        safe_print(jstr(q, "exampleTraceId"));
        printf("\n");
    }
}

static void print_slow_queries(json_t *queries, int indent)
{
    size_t n = json_array_size(queries);
    tcol cols[] = {
        {.head = "COUNT", .right = true},
        {.head = "P50", .right = true, .drop = 1},
        {.head = "P99", .right = true},
        {.head = "MAX", .right = true},
        {.head = "EXAMPLE TRACE", .drop = 2}, /* then under the statement */
        {.head = "DATABASE <- CALLER", .flex = true},
    };
    tcells t;
    ft_buf *db = calloc(n + 1, sizeof *db);
    if (db != NULL && tcells_init(&t, n, 6)) {
        size_t i;
        json_t *v;
        json_array_foreach(queries, i, v) {
            /* "mastodon_production <- mastodon/web" (the system is in --json) */
            ft_buf_puts(&db[i], jstr(v, "service"));
            if (*jstr(v, "caller"))
                ft_buf_printf(&db[i], " <- %s", jstr(v, "caller"));
            cell_num(&t, i, 0, v, "count", fmt_count, NULL);
            cell_num(&t, i, 1, v, "p50", fmt_ms, NULL);
            cell_num(&t, i, 2, v, "p99", fmt_ms, NULL);
            cell_num(&t, i, 3, v, "max", fmt_ms, NULL);
            cell_str(&t, i, 4, jstr(v, "exampleTraceId"), NULL);
            cell_str(&t, i, 5, ft_buf_ok(&db[i]) ? ft_buf_cstr(&db[i]) : "?", NULL);
        }
        slow_ctx sc = {queries, &cols[4]};
        table_print(cols, 6, t.cells, n, indent, slow_statement, &sc);
        tcells_free(&t);
    }
    for (size_t i = 0; db != NULL && i < n; i++)
        ft_buf_free(&db[i]);
    free(db);
}

static void print_slow_doc(const cli *c, const source *s, json_t *doc)
{
    json_t *qs = json_object_get(doc, "queries");
    char win[80];
    fmt_window(c, doc, win);
    const char *svc = flag_value(c, "service");
    if (json_array_size(qs) == 0) {
        printf("no database statements");
        if (svc != NULL) {
            printf(" of or by '");
            safe_print(svc);
            printf("'");
        }
        printf(" %s in %s\n", win, s->shown);
    } else {
        print_slow_queries(qs, 0);
        note("%zu statement%s %s, slowest first (p99); times in ms", json_array_size(qs),
             json_array_size(qs) == 1 ? "" : "s", win);
    }
}

static int cmd_slow_queries(const cli *c)
{
    return run_doc(c, "slow-queries", 1, FT_Q_SLOW_QUERIES, NULL, print_slow_doc);
}

/* ---- service ---- */

/* Items separated by two spaces, wrapped to the terminal after indent. */
typedef struct items {
    int indent, col;
} items;

static void item(items *it, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void item(items *it, const char *code, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int w = (int)strlen(buf);
    if (it->col > it->indent && it->col + 2 + w > term_width) {
        printf("\n");
        it->col = 0;
    }
    if (it->col == 0) {
        pad(it->indent);
        it->col = it->indent;
    } else {
        printf("  ");
        it->col += 2;
    }
    printf("%s%s%s", code ? ansi(code) : "", buf, code ? ansi(RESET) : "");
    it->col += w;
}

/* The requests per minute of a service's document over its window, as a
 * bar of block characters (minutes with errors in red), at most as wide as
 * the terminal: minutes merged when there are more. */
static void print_buckets(json_t *doc, int indent)
{
    json_t *buckets = json_object_get(doc, "buckets");
    size_t n = json_array_size(buckets);
    if (n == 0)
        return;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b) {
        json_t *t = json_object_get(b, "t");
        if (!json_is_integer(t))
            return;
        int64_t v = (int64_t)json_integer_value(t);
        t0 = v < t0 ? v : t0;
        t1 = v > t1 ? v : t1;
    }
    /* the whole window when the document says which */
    json_t *js = json_object_get(doc, "since"), *ju = json_object_get(doc, "until");
    if (json_is_integer(js) && json_is_integer(ju) &&
        json_integer_value(js) < json_integer_value(ju)) {
        int64_t ws = (int64_t)json_integer_value(js) / 60000 * 60000;
        int64_t wu = ((int64_t)json_integer_value(ju) - 1) / 60000 * 60000;
        t0 = ws < t0 ? ws : t0;
        t1 = wu > t1 ? wu : t1;
    }
    int64_t minutes = (t1 - t0) / 60000 + 1;
    /* "per minute  |...|  peak 12/min, 3 errors" */
    int width = term_width - indent - 12 - 2 - 2 - 30;
    if (width < 10 || minutes < 2 || minutes > 10000000)
        return;
    int64_t per = (minutes + width - 1) / width;
    char label[32];
    if (per == 1)
        snprintf(label, sizeof label, "per minute");
    else
        snprintf(label, sizeof label, "per %lld min", (long long)per);
    int cells = (int)((minutes + per - 1) / per);
    double *req = calloc((size_t)cells, sizeof *req), *errs = calloc((size_t)cells, sizeof *errs);
    if (req == NULL || errs == NULL) {
        free(req);
        free(errs);
        return;
    }
    double max = 0, total_err = 0;
    json_array_foreach(buckets, i, b) {
        int64_t k = ((int64_t)json_integer_value(json_object_get(b, "t")) - t0) / 60000 / per;
        double r = jnum(b, "requests"), e = jnum(b, "errors");
        if (k < 0 || k >= cells)
            continue;
        req[k] += isnan(r) ? 0 : r;
        errs[k] += isnan(e) ? 0 : e;
        total_err += isnan(e) ? 0 : e;
    }
    for (int k = 0; k < cells; k++)
        max = req[k] > max ? req[k] : max;
    static const char *const blocks[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
                                         "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
                                         "\xe2\x96\x87", "\xe2\x96\x88"};
    static const char ascii[] = ".:-=+*#@";
    pad(indent);
    printf("%s  |", label);
    for (int k = 0; k < cells; k++) {
        if (req[k] <= 0) {
            putchar(' ');
            continue;
        }
        int lvl = max > 0 ? (int)(req[k] / max * 7.999) : 0;
        lvl = lvl < 0 ? 0 : lvl > 7 ? 7 : lvl;
        printf("%s", ansi(errs[k] > 0 ? RED : CYAN));
        if (utf8_out)
            fputs(blocks[lvl], stdout);
        else
            putchar(ascii[lvl]);
        printf("%s", ansi(RESET));
    }
    char mx[32];
    if (per == 1)
        fmt_count(max, mx);
    else
        snprintf(mx, sizeof mx, "%.1f", max / (double)per);
    printf("|  peak %s/min", mx);
    if (total_err > 0)
        printf(", %s%.0f error%s%s", ansi(RED), total_err, total_err == 1 ? "" : "s",
               ansi(RESET));
    printf("\n");
    free(req);
    free(errs);
}

static void print_service(const cli *c, json_t *doc)
{
    char win[80], num[32];
    fmt_window(c, doc, win);
    bool inferred = strcmp(jstr(doc, "kind"), "instrumented") != 0;
    const char *name = jstr(doc, "name");
    printf("%s", ansi(BOLD));
    items it = {0, put_text(name, strlen(name), term_width)};
    printf("%s", ansi(RESET));
    char own_kind[32];
    snprintf(own_kind, sizeof own_kind, "%.30s", jstr(doc, "kind"));
    for (char *p = own_kind; *p; p++) /* remote text: only printable ASCII in an item */
        *p = *p < 0x20 || *p > 0x7e ? '?' : *p;
    item(&it, inferred ? CYAN : NULL, "%s", own_kind);
    item(&it, NULL, "%s", win);
    printf("\n");
    it = (items){2, 0};
    fmt_count(jnum(doc, "requests"), num);
    item(&it, NULL, "requests %s", num);
    fmt_rate(jnum(doc, "rate"), num);
    item(&it, NULL, "rate %s/s", num);
    double errors = jnum(doc, "errors");
    char pct[32];
    fmt_count(errors, num);
    fmt_pct(jnum(doc, "errorRate"), pct);
    item(&it, err_color(errors), "errors %s (%s%%)", num, pct);
    static const char *const lat[] = {"p50", "p95", "p99", "avg"};
    for (size_t k = 0; k < 4; k++) {
        fmt_ms(jnum(doc, lat[k]), num);
        item(&it, NULL, "%s %s ms", lat[k], num);
    }
    printf("\n");
    print_buckets(doc, 2);

    json_t *ops = json_object_get(doc, "operations");
    size_t n = json_array_size(ops);
    printf("\n  %soperations%s%s\n", ansi(BOLD), ansi(RESET), n ? "" : ": none");
    tcells t;
    if (n > 0 && tcells_init(&t, n, 7)) {
        tcol cols[] = {
            {.head = "NAME", .flex = true},
            {.head = "KIND", .cap = 10},
            {.head = "REQ", .right = true},
            {.head = "ERR%", .right = true},
            {.head = "P50", .right = true, .drop = 2},
            {.head = "P95", .right = true, .drop = 1},
            {.head = "P99", .right = true},
        };
        size_t i;
        json_t *v;
        json_array_foreach(ops, i, v) {
            cell_str(&t, i, 0, jstr(v, "name"), NULL);
            cell_str(&t, i, 1, jstr(v, "spanKind"), NULL);
            cell_num(&t, i, 2, v, "requests", fmt_count, NULL);
            cell_num(&t, i, 3, v, "errorRate", fmt_pct, err_color(jnum(v, "errors")));
            cell_num(&t, i, 4, v, "p50", fmt_ms, NULL);
            cell_num(&t, i, 5, v, "p95", fmt_ms, NULL);
            cell_num(&t, i, 6, v, "p99", fmt_ms, NULL);
        }
        table_print(cols, 7, t.cells, n, 2, NULL, NULL);
    }
    if (n > 0)
        tcells_free(&t);

    static const char *const sides[] = {"callers", "callees"};
    for (size_t side = 0; side < 2; side++) {
        json_t *arr = json_object_get(doc, sides[side]);
        n = json_array_size(arr);
        printf("\n  %s%s%s%s\n", ansi(BOLD), side ? "calls (callees)" : "called by (callers)",
               ansi(RESET), n ? "" : ": none");
        /* callers carry no kind */
        size_t nc = side ? 4 : 3, k = 0;
        tcol cols[4] = {{.head = "SERVICE", .flex = true}};
        if (side)
            cols[++k] = (tcol){.head = "KIND", .cap = 12};
        cols[++k] = (tcol){.head = "CALLS", .right = true};
        cols[++k] = (tcol){.head = "ERR", .right = true};
        if (n == 0 || !tcells_init(&t, n, nc))
            continue;
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            /* {"service", "kind"}, or an edge of api/map: {"from", "to", "toKind"} */
            const char *other = jstr(v, "service"), *kind = jstr(v, "kind");
            if (!*other)
                other = jstr(v, side ? "to" : "from");
            if (!*kind)
                kind = jstr(v, "toKind");
            k = 0;
            cell_str(&t, i, k++, other, NULL);
            if (side)
                cell_str(&t, i, k++, kind, NULL);
            cell_num(&t, i, k++, v, "calls", fmt_count, NULL);
            cell_num(&t, i, k, v, "errors", fmt_count, err_color(jnum(v, "errors")));
        }
        table_print(cols, nc, t.cells, n, 2, NULL, NULL);
        tcells_free(&t);
    }

    json_t *slow = json_object_get(doc, "slowQueries");
    if (json_array_size(slow) > 0) {
        printf("\n  %sslow queries%s (times in ms)\n", ansi(BOLD), ansi(RESET));
        print_slow_queries(slow, 2);
    }
}

static void print_service_doc(const cli *c, const source *s, json_t *doc)
{
    (void)s;
    print_service(c, doc);
}

static int cmd_service(const cli *c)
{
    return run_doc(c, "service", 2, FT_Q_SERVICE, c->argv[1], print_service_doc);
}

/* ---- map ---- */

static void print_map(const cli *c, const source *s, json_t *doc)
{
    json_t *edges = json_object_get(doc, "edges");
    size_t n = json_array_size(edges);
    char win[80];
    fmt_window(c, doc, win);
    if (n == 0) {
        printf("no calls between services %s in %s\n", win, s->shown);
        return;
    }
    /* grouped by caller, the callers in the order they first appear */
    size_t *order = calloc(n, sizeof *order);
    bool *done = calloc(n, sizeof *done);
    ft_buf *to = calloc(n, sizeof *to);
    tcells t;
    if (order == NULL || done == NULL || to == NULL || !tcells_init(&t, n, 6)) {
        free(order);
        free(done);
        free(to);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *from = jstr(json_array_get(edges, i), "from");
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(jstr(json_array_get(edges, j), "from"), from) == 0) {
                done[j] = true;
                order[k++] = j;
            }
    }
    for (size_t r = 0; r < n; r++) {
        json_t *e = json_array_get(edges, order[r]);
        ft_buf_puts(&to[r], jstr(e, "to"));
        if (*jstr(e, "toKind"))
            ft_buf_printf(&to[r], " (%s)", jstr(e, "toKind"));
        cell_str(&t, r, 0, jstr(e, "from"), NULL);
        cell_str(&t, r, 1, ft_buf_ok(&to[r]) ? ft_buf_cstr(&to[r]) : "?", NULL);
        cell_num(&t, r, 2, e, "calls", fmt_count, NULL);
        cell_num(&t, r, 3, e, "errors", fmt_count, err_color(jnum(e, "errors")));
        cell_num(&t, r, 4, e, "p50", fmt_ms, NULL);
        cell_num(&t, r, 5, e, "p99", fmt_ms, NULL);
    }
    tcol cols[] = {
        {.head = "FROM", .cap = 28},
        {.head = "TO", .flex = true, .sep = " -> "},
        {.head = "CALLS", .right = true},
        {.head = "ERR", .right = true},
        {.head = "P50", .right = true, .drop = 1},
        {.head = "P99", .right = true},
    };
    table_print(cols, 6, t.cells, n, 0, NULL, NULL);
    size_t nodes = json_array_size(json_object_get(doc, "nodes"));
    note("%zu edge%s between %zu service%s %s; times of the calling spans in ms", n,
         n == 1 ? "" : "s", nodes, nodes == 1 ? "" : "s", win);
    tcells_free(&t);
    for (size_t r = 0; r < n; r++)
        ft_buf_free(&to[r]);
    free(to);
    free(order);
    free(done);
}

static int cmd_map(const cli *c)
{
    return run_doc(c, "map", 1, FT_Q_MAP, NULL, print_map);
}

/* ---- tail ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

typedef struct seen_trace {
    char id[33];
    size_t count; /* activities known */
    size_t old;   /* of those, how many were there before tail started */
} seen_trace;

typedef struct tail {
    const cli *c;
    source *src;
    seen_trace *traces; /* open addressing by hash of the id */
    size_t tcap, tn;
    uint64_t *printed; /* hashes of the records printed (or skipped as old) */
    size_t pcap, pn;
    size_t shown;  /* activities printed */
    bool baseline; /* remember what is there, print nothing */
    int64_t deadline; /* monotonic ms, or 0 */
    json_t *pending;  /* records to print (tail_flush) */
    ft_buf buf;
} tail;

/* Continues h over a string and a separator after it. */
static uint64_t fnv(uint64_t h, const char *s)
{
    return ft_fnv1a(ft_fnv1a(h, s, strlen(s)), "\x1f", 1);
}

static bool tail_stopping(const tail *t)
{
    return stop_signal || (t->c->count && t->shown >= t->c->count) ||
           (t->deadline && now_ms() >= t->deadline);
}

/* The entry of trace id (added when missing); NULL when out of memory. */
static seen_trace *tail_trace_entry(tail *t, const char *id)
{
    if (2 * (t->tn + 1) > t->tcap) {
        size_t cap = t->tcap ? 2 * t->tcap : 1024;
        seen_trace *nt = calloc(cap, sizeof *nt);
        if (nt == NULL)
            return NULL;
        for (size_t i = 0; i < t->tcap; i++) {
            if (!t->traces[i].id[0])
                continue;
            size_t j = fnv(FT_FNV_INIT, t->traces[i].id) & (cap - 1);
            while (nt[j].id[0])
                j = (j + 1) & (cap - 1);
            nt[j] = t->traces[i];
        }
        free(t->traces);
        t->traces = nt;
        t->tcap = cap;
    }
    size_t j = fnv(FT_FNV_INIT, id) & (t->tcap - 1);
    while (t->traces[j].id[0] && strcmp(t->traces[j].id, id) != 0)
        j = (j + 1) & (t->tcap - 1);
    if (!t->traces[j].id[0]) {
        snprintf(t->traces[j].id, sizeof t->traces[j].id, "%s", id);
        t->tn++;
    }
    return &t->traces[j];
}

/* Adds h to the printed set; false when it was there already. */
static bool tail_mark(tail *t, uint64_t h)
{
    h = h ? h : 1;
    if (2 * (t->pn + 1) > t->pcap) {
        size_t cap = t->pcap ? 2 * t->pcap : 4096;
        uint64_t *np = calloc(cap, sizeof *np);
        if (np == NULL)
            return true;
        for (size_t i = 0; i < t->pcap; i++) {
            if (!t->printed[i])
                continue;
            size_t j = t->printed[i] & (cap - 1);
            while (np[j])
                j = (j + 1) & (cap - 1);
            np[j] = t->printed[i];
        }
        free(t->printed);
        t->printed = np;
        t->pcap = cap;
    }
    size_t j = h & (t->pcap - 1);
    while (t->printed[j] && t->printed[j] != h)
        j = (j + 1) & (t->pcap - 1);
    if (t->printed[j])
        return false;
    t->printed[j] = h;
    t->pn++;
    return true;
}

static int record_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(jstr(x, "timestamp"), jstr(y, "timestamp"));
    return c ? c : strcmp(jstr(x, "spanId"), jstr(y, "spanId"));
}

static void tail_print(tail *t, json_t *r)
{
    if (t->c->json) {
        char *line = json_dumps(r, JSON_COMPACT);
        if (line != NULL)
            printf("%s\n", line);
        free(line);
    } else {
        char when[32];
        fmt_time(iso_ms(jstr(r, "timestamp")), when);
        bool in = strcmp(jstr(r, "direction"), "inbound") == 0;
        const char *type = json_string_value(json_object_get(r, "activityType"));
        printf("%-12s  %s%-3s%s  ", when, ansi(in ? CYAN : GREEN), in ? "in" : "out",
               ansi(RESET));
        bool failed = json_is_false(json_object_get(r, "verified"));
        printf("%s", ansi(failed ? RED : BOLD));
        put_cell(type ? short_type(type) : "?", 12);
        printf("%s  ", ansi(RESET));
        put_cell(jstr(r, "traceId"), 32);
        printf("  ");
        int rest = term_width - (12 + 2 + 3 + 2 + 12 + 2 + 32 + 2);
        const char *actor = jstr(r, "actorId");
        put_text(actor, strlen(actor), rest < 8 ? 8 : rest);
        printf("\n");
    }
    fflush(stdout);
    t->shown++;
}

/* Prints the pending records in time order. */
static void tail_flush(tail *t)
{
    size_t n = json_array_size(t->pending);
    json_t **recs = calloc(n ? n : 1, sizeof *recs);
    for (size_t i = 0; recs != NULL && i < n; i++)
        recs[i] = json_array_get(t->pending, i);
    if (recs != NULL)
        qsort(recs, n, sizeof *recs, record_cmp);
    for (size_t i = 0; recs != NULL && i < n && !tail_stopping(t); i++)
        tail_print(t, recs[i]);
    free(recs);
    json_array_clear(t->pending);
}

/*
 * A trace that is new or has count activities: in the baseline, remember
 * it; else queue its records not printed before for tail_flush, the first
 * `old` of them (in time order) excepted when it was there before tail
 * started.
 */
static ft_code tail_trace(tail *t, const char *id, size_t count, ft_err *err)
{
    if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
        return FT_OK;
    seen_trace *e = tail_trace_entry(t, id);
    if (e == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    if (t->baseline) {
        e->count = e->old = count;
        return FT_OK;
    }
    if (count <= e->count)
        return FT_OK;
    ft_code rc = source_part(t->src, id, P_ACTIVITIES, &t->buf, err);
    json_t *arr = rc == FT_OK ? parse_array(&t->buf, "the trace's activities", 0, err) : NULL;
    if (arr == NULL)
        return rc == FT_OK ? FT_DECODE : rc;
    size_t n = json_array_size(arr);
    json_t **recs = calloc(n ? n : 1, sizeof *recs);
    if (recs == NULL) {
        json_decref(arr);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        recs[i] = json_array_get(arr, i);
    qsort(recs, n, sizeof *recs, record_cmp);
    e = tail_trace_entry(t, id); /* (the table may have moved) */
    size_t skip = e->old;
    e->old = 0;
    e->count = count > n ? count : n;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 0xcbf29ce484222325ull;
        static const char *const keys[] = {"traceId", "spanId", "timestamp", "direction",
                                           "activityId", "activityType"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            h = fnv(h, jstr(recs[i], keys[k]));
        if (!tail_mark(t, h))
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        json_array_append(t->pending, recs[i]);
    }
    free(recs);
    json_decref(arr);
    return FT_OK;
}

/* Reads the newest traces (all pages since --since when all_pages) and
 * passes them to tail_trace, oldest first; prints what is new page by
 * page. */
static ft_code tail_list(tail *t, size_t limit, bool all_pages, ft_err *err)
{
    enum { MAX_PAGES = 100 };
    json_t *pages[MAX_PAGES];
    size_t np = 0;
    char *cursor = NULL;
    ft_code rc = FT_OK;
    do {
        char *next = NULL;
        rc = source_list(t->src, t->c, limit, cursor, &t->buf, &next, err);
        free(cursor);
        cursor = next;
        if (rc == FT_OK &&
            (pages[np] = parse_array(&t->buf, "the list of traces", JSON_DECODE_ANY, err)) == NULL)
            rc = FT_DECODE;
        if (rc == FT_OK)
            np++;
    } while (rc == FT_OK && all_pages && cursor != NULL && np < MAX_PAGES && !stop_signal);
    free(cursor);
    for (size_t p = np; p-- > 0;) {
        for (size_t i = json_array_size(pages[p]); rc == FT_OK && i-- > 0;) {
            json_t *s = json_array_get(pages[p], i);
            json_t *cnt = json_object_get(s, "activityCount");
            if (tail_stopping(t))
                break;
            rc = tail_trace(t, jstr(s, "traceId"),
                            json_is_integer(cnt) && json_integer_value(cnt) > 0
                                ? (size_t)json_integer_value(cnt)
                                : 1,
                            err);
        }
        json_decref(pages[p]);
        tail_flush(t);
    }
    return rc;
}

/* Sleeps ms, or less when tail should stop; false then. */
static bool tail_nap(const tail *t, int64_t ms)
{
    int64_t until = now_ms() + ms;
    while (!tail_stopping(t)) {
        int64_t left = until - now_ms();
        if (left <= 0)
            return true;
        struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Tests wait for this line before they send. */
static void tail_ready(const tail *t, const char *how)
{
    fprintf(stderr, "fedtrace tail: waiting for new activities %s ", how);
    err_text(t->src->shown);
    fprintf(stderr, " (Ctrl-C stops)\n");
}

static int tail_store(tail *t)
{
    ft_err err = {0};
    size_t window = t->c->limit ? t->c->limit : 100;
    t->baseline = !t->c->since;
    if (tail_list(t, t->baseline ? (window > 1000 ? window : 1000) : window, t->c->since,
                  &err) != FT_OK) {
        print_err("", err.msg);
        return 1;
    }
    t->baseline = false;
    char how[64];
    snprintf(how, sizeof how, "(every %lld ms) in", (long long)t->c->interval_ms);
    if (!tail_stopping(t))
        tail_ready(t, how);
    char last_err[FT_ERR_MSG_MAX] = "";
    while (tail_nap(t, t->c->interval_ms)) {
        ft_err e = {0};
        if (tail_list(t, window, false, &e) != FT_OK) {
            if (strcmp(e.msg, last_err) != 0)
                print_err(" tail", e.msg);
            snprintf(last_err, sizeof last_err, "%s", e.msg);
        } else {
            last_err[0] = '\0';
        }
    }
    return 0;
}

static int tail_api(tail *t)
{
    ft_err err = {0};
    size_t window = t->c->limit ? t->c->limit : 100;
    t->baseline = !t->c->since;
    if (tail_list(t, t->baseline ? 1000 : window, t->c->since, &err) != FT_OK) {
        print_source_err(t->src, &err);
        return 1;
    }
    t->baseline = false;
    ft_buf path = {0}, q = {0};
    filter_query(t->c, &q);
    ft_buf_printf(&path, "api/events%s%.*s", q.len ? "?" : "", (int)q.len, q.ptr ? q.ptr : "");
    ft_buf_free(&q);
    if (!ft_buf_ok(&path))
        return 1;
    char *last_id = NULL;
    bool ever = false;
    int64_t base = 1000, backoff = base;
    int rc = 0;
    while (!tail_stopping(t)) {
        ft_api_stream *st;
        if (ft_api_stream_open(t->src->api, path.ptr, last_id, &st, &err) != FT_OK) {
            print_err("", err.msg);
            rc = 1;
            break;
        }
        bool synced = false;
        ft_code sc;
        ft_sse_event ev;
        while (!tail_stopping(t)) {
            sc = ft_api_stream_next(st, 200, &ev, &err);
            if (!synced && ft_api_stream_connected(st)) {
                /* what arrived while not connected */
                synced = true;
                backoff = base;
                ft_err e = {0};
                if (tail_list(t, window, false, &e) != FT_OK)
                    print_err(" tail", e.msg);
                if (!ever)
                    tail_ready(t, "from");
                else
                    fprintf(stderr, "fedtrace tail: reconnected\n");
                ever = true;
            }
            if (sc == FT_AGAIN)
                continue;
            if (sc != FT_OK)
                break;
            if (*ev.id) {
                free(last_id);
                last_id = strdup(ev.id);
            }
            if (strcmp(ev.type, "trace") != 0)
                continue;
            json_t *sum = json_loadb(ev.data, ev.data_len, 0, NULL);
            json_t *cnt = json_object_get(sum, "activityCount");
            ft_err e = {0};
            if (json_is_object(sum) &&
                tail_trace(t, jstr(sum, "traceId"),
                           json_is_integer(cnt) && json_integer_value(cnt) > 0
                               ? (size_t)json_integer_value(cnt)
                               : 1,
                           &e) != FT_OK)
                print_err(" tail", e.msg);
            tail_flush(t);
            json_decref(sum);
        }
        if (ft_api_stream_retry_ms(st) >= 0) /* the server's "retry:" */
            base = ft_api_stream_retry_ms(st) > 60000 ? 60000 : ft_api_stream_retry_ms(st);
        ft_api_stream_close(st);
        if (tail_stopping(t))
            break;
        /* refused (4xx): give up; otherwise try again, a little later each time */
        if (err.code == FT_BACKEND || err.code == FT_NOMEM) {
            print_source_err(t->src, &err);
            rc = 1;
            break;
        }
        backoff = backoff < base ? base : backoff;
        fprintf(stderr, "fedtrace tail: ");
        err_text(err.msg);
        fprintf(stderr, "; reconnecting in %.1f s\n", (double)backoff / 1000);
        tail_nap(t, backoff);
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
    free(last_id);
    ft_buf_free(&path);
    return rc;
}

static int cmd_tail(const cli *c)
{
    if (c->argc != 1) {
        fprintf(stderr, "fedtrace tail: takes no arguments (see fedtrace tail --help)\n");
        return 2;
    }
    source s;
    int rc = source_open(c, "tail", true, &s);
    if (rc != 0)
        return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    tail t = {.c = c, .src = &s, .deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0,
              .pending = json_array()};
    rc = t.pending == NULL ? 1 : s.api != NULL ? tail_api(&t) : tail_store(&t);
    if (rc == 0 && !stop_signal && c->count && t.shown < c->count) {
        fprintf(stderr, "fedtrace tail: timed out with %zu of %zu activities\n", t.shown,
                c->count);
        rc = 1;
    }
    free(t.traces);
    free(t.printed);
    json_decref(t.pending);
    ft_buf_free(&t.buf);
    source_close(&s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "help") == 0)
        return argc > 2 ? command_help(argv[2]) : (usage(stdout), 0);
    if (strcmp(argv[1], "--version") == 0) {
        printf("fedtrace %s\n", FEDTRACE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return ft_serve_main(argc - 1, argv + 1);
    setup_output();
    cli c = {0};
    int rc = parse_args(argc - 1, argv + 1, &c);
    char *store = NULL;
    if (rc == 0 && c.store == NULL)
        c.store = store = ft_default_store();
    const char *cmd = c.argc > 0 ? c.argv[0] : "";
    static const struct {
        const char *name;
        unsigned bit;
        int (*fn)(const cli *);
    } k_cmds[] = {
        {"import", C_IMPORT, cmd_import}, {"traces", C_TRACES, cmd_traces},
        {"show", C_SHOW, cmd_show},       {"tail", C_TAIL, cmd_tail},
        {"sweep", C_SWEEP, cmd_sweep},    {"services", C_SERVICES, cmd_services},
        {"service", C_SERVICE, cmd_service}, {"map", C_MAP, cmd_map},
        {"slow-queries", C_SLOW, cmd_slow_queries},
    };
    size_t k = 0;
    while (k < sizeof k_cmds / sizeof k_cmds[0] && strcmp(k_cmds[k].name, cmd) != 0)
        k++;
    if (rc != 0) {
        ;
    } else if (k == sizeof k_cmds / sizeof k_cmds[0]) {
        if (c.help && !*cmd) {
            usage(stdout);
        } else {
            fprintf(stderr, "fedtrace: unknown command '%s' (see fedtrace --help)\n", cmd);
            rc = 2;
        }
    } else if (c.help) {
        rc = command_help(cmd);
    } else if ((rc = check_options(&c, cmd, k_cmds[k].bit)) == 0) {
        rc = k_cmds[k].fn(&c);
    }
    free(store);
    free(c.argv);
    return rc;
}
