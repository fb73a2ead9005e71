/* test_config.c - settings from one option table: defaults, config file,
 * environment, flags, their precedence, the value parsers and --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

extern char **environ;

/* ---- a settings struct and its table ------------------------------------ */

typedef struct settings {
    char *config;
    char *store;
    char *otlp_listen;
    bool verbose;
    bool color;
    uint64_t threads;
    int64_t retention_ms;
    uint64_t body_limit;
    int64_t sweep_ms;
} settings;

#define OPT(name, type, field, def, metavar, help) \
    {name, type, offsetof(settings, field), def, metavar, help}

static const ft_opt k_opts[] = {
    OPT("config", FT_OPT_STR, config, NULL, "FILE", "read settings from FILE"),
    OPT("store", FT_OPT_STR, store, NULL, "URL", "where traces are kept"),
    OPT("otlp-listen", FT_OPT_STR, otlp_listen, "127.0.0.1:4318", "HOST:PORT",
        "address of the OTLP/HTTP receiver"),
    OPT("verbose", FT_OPT_BOOL, verbose, "false", NULL, "log every request"),
    OPT("color", FT_OPT_BOOL, color, "yes", NULL, "colour the log"),
    OPT("threads", FT_OPT_UINT, threads, "4", "N", "worker threads"),
    OPT("retention", FT_OPT_DURATION, retention_ms, "72h", "DURATION",
        "how long traces are kept"),
    OPT("body-limit", FT_OPT_SIZE, body_limit, "20MiB", "SIZE",
        "largest decoded request body"),
    OPT("sweep-interval", FT_OPT_DURATION, sweep_ms, NULL, "DURATION",
        "how often expired entries are removed"),
};
#define N_OPTS (sizeof k_opts / sizeof k_opts[0])

/* Loads from argv (a NULL-terminated list, argv[0] included); the result
 * and its positionals stay in the fixture until the next load or free. */
typedef struct loaded {
    settings s;
    char *pos[32];
    int n_pos;
    bool help;
    ft_err err;
    ft_code rc;
} loaded;

static void unload(loaded *l)
{
    ft_config_free(k_opts, N_OPTS, &l->s);
    assert_null(l->s.store);
    assert_null(l->s.config);
    assert_null(l->s.otlp_listen);
}

static ft_code load_argv(loaded *l, char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    assert_true(argc <= 32);
    memset(l, 0, sizeof *l);
    l->n_pos = -1;
    l->rc = ft_config_load(k_opts, N_OPTS, &l->s, argc, argv, l->pos, &l->n_pos,
                           &l->help, &l->err);
    return l->rc;
}

#define LOAD(l, ...) load_argv((l), (char *[]){"fedtrace", __VA_ARGS__, NULL})
#define LOAD0(l) load_argv((l), (char *[]){"fedtrace", NULL})

/* The test's error text contains `part`. */
static void assert_err_has(const loaded *l, ft_code code, const char *part)
{
    assert_int_equal(l->rc, code);
    if (strstr(l->err.msg, part) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", l->err.msg, part);
}

static void clear_env(void)
{
    /* unsetenv changes environ: restart the scan after each removal */
    bool again = true;
    while (again) {
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "FEDTRACE_", 9) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name)
                    n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
}

static char *tmp_root;
static unsigned n_files;

/* Writes a config file in the temporary directory; returns a static path. */
static char *write_conf(const char *text)
{
    static char path[4][600];
    char *p = path[n_files % 4];
    snprintf(p, sizeof path[0], "%s/c%u.conf", tmp_root, ++n_files);
    assert_true(ft_test_write_file(p, text, strlen(text)));
    return p;
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* ---- the parsers -------------------------------------------------------- */

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "true", "TRUE", "True", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"0", "false", "False", "no", "NO", "off", "Off"};
    static const char *const bad[] = {"", "2", "y", "n", "t", "f", "truee", " true",
                                      "true ", "enabled", "-1", "01"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool b = false;
        assert_true(ft_parse_bool(yes[i], &b));
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool b = true;
        assert_true(ft_parse_bool(no[i], &b));
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool b = true;
        if (ft_parse_bool(bad[i], &b))
            fail_msg("\"%s\" parsed as a bool", bad[i]);
        assert_true(b); /* untouched */
    }
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"0s", 0},
        {"500ms", 500},
        {"1ms", 1},
        {"30s", 30000},
        {"15m", 900000},
        {"72h", 259200000},
        {"7d", 604800000},
        {"1h30m", 5400000},
        {"1d12h", 129600000},
        {"2m30s500ms", 150500},
        {"30", 30000},  /* bare: seconds */
        {"1.5", 1500},
        {"1.5h", 5400000},
        {"0.5s", 500},
        {"30S", 30000}, /* units are case-insensitive */
        {"5MS", 5},
        {"2H", 7200000},
        {"90000d", INT64_C(7776000000000)},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        if (!ft_parse_duration_ms(good[i].in, &ms))
            fail_msg("\"%s\" refused", good[i].in);
        if (ms != good[i].ms)
            fail_msg("\"%s\": %lld ms, expected %lld", good[i].in, (long long)ms,
                     (long long)good[i].ms);
    }
    static const char *const bad[] = {
        "", "s", "ms", "-5s", "+5s", "5x", "5 s", " 5s", "5s ", "5sec", "5mss",
        "1h 30m", "abc", "h1", ".5s", "5s-", "1e400s", "0x10", "0x10s", "1e3",
        "nan", "inf", "99999999999999999999d", "1..5s", "1.5.5s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (ft_parse_duration_ms(bad[i], &ms))
            fail_msg("\"%s\" accepted as %lld ms", bad[i], (long long)ms);
        assert_int_equal(ms, 42); /* untouched */
    }

    /* terms that are each in range but whose sum passes INT64_MAX */
    static const char term[] = "9000000000000s";
    size_t n_terms = 1100, tl = sizeof term - 1;
    char *sum = malloc(n_terms * tl + 1);
    assert_non_null(sum);
    for (size_t i = 0; i < n_terms; i++)
        memcpy(sum + i * tl, term, tl);
    sum[n_terms * tl] = '\0';
    int64_t ms = 42;
    assert_true(ft_parse_duration_ms(sum + (n_terms - 1000) * tl, &ms)); /* 1000 fit */
    assert_int_equal(ms, INT64_C(9000000000000000000));
    ms = 42;
    assert_false(ft_parse_duration_ms(sum, &ms));
    assert_int_equal(ms, 42);
    free(sum);
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"100", 100},
        {"100B", 100},
        {"100b", 100},
        {"512KiB", 512 * 1024},
        {"512K", 512 * 1024},
        {"512k", 512 * 1024},
        {"512KB", 512 * 1024}, /* k/m/g/t are powers of 1024 */
        {"512kib", 512 * 1024},
        {"1Ki", 1024},
        {"20MiB", 20u << 20},
        {"20M", 20u << 20},
        {"2GiB", UINT64_C(2) << 30},
        {"1.5G", UINT64_C(1610612736)},
        {"1.5GiB", UINT64_C(1610612736)},
        {"0.5KiB", 512},
        {"3TiB", UINT64_C(3) << 40},
        {"64 KiB", 64 * 1024}, /* a space before the unit */
        {"4096", 4096},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t b = 7;
        if (!ft_parse_size(good[i].in, &b))
            fail_msg("\"%s\" refused", good[i].in);
        if (b != good[i].bytes)
            fail_msg("\"%s\": %llu bytes, expected %llu", good[i].in,
                     (unsigned long long)b, (unsigned long long)good[i].bytes);
    }
    static const char *const bad[] = {
        "", "B", "KiB", "-1", "-1KiB", "+1", " 1", "1X", "1KiBs", "1iB", "1KiBB",
        "1 KiB B", "1PiB", "1EiB", "abc", "1,5G", ".5G", "0x10", "1e3", "1e3K",
        "99999999999999999999", "20000000T",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = 7;
        if (ft_parse_size(bad[i], &b))
            fail_msg("\"%s\" accepted as %llu bytes", bad[i], (unsigned long long)b);
        assert_int_equal(b, 7);
    }
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    loaded l;
    assert_int_equal(LOAD0(&l), FT_OK);
    assert_null(l.s.config);
    assert_null(l.s.store);
    assert_string_equal(l.s.otlp_listen, "127.0.0.1:4318");
    assert_false(l.s.verbose);
    assert_true(l.s.color);
    assert_int_equal(l.s.threads, 4);
    assert_int_equal(l.s.retention_ms, 72 * 3600 * 1000);
    assert_int_equal(l.s.body_limit, 20u << 20);
    assert_int_equal(l.s.sweep_ms, 0); /* NULL default: left alone */
    assert_int_equal(l.n_pos, 0);
    assert_false(l.help);
    unload(&l);
    unload(&l); /* freeing twice is harmless: fields are NULLed */
}

/* A default that does not parse is the table's bug, reported by name. */
static void test_bad_default(void **state)
{
    (void)state;
    static const ft_opt bad[] = {
        OPT("threads", FT_OPT_UINT, threads, "four", "N", "worker threads"),
    };
    settings s = {0};
    char *argv[] = {"fedtrace", NULL};
    char *pos[1];
    int n_pos;
    bool help;
    ft_err err = {0};
    assert_int_equal(ft_config_load(bad, 1, &s, 1, argv, pos, &n_pos, &help, &err),
                     FT_INVAL);
    assert_string_equal(err.msg, "threads: \"four\" is not a whole number");
}

/* ---- config file -------------------------------------------------------- */

static void test_file(void **state)
{
    (void)state;
    char *path = write_conf(
        "# fedtrace settings\n"
        "\n"
        "   # an indented comment\n"
        "store = lmdb:data/fedtrace\n"
        "otlp-listen=\"0.0.0.0:4318\"\n"
        "  verbose   =   yes  \n"
        "\t\n"
        "threads = '16'\r\n"
        "retention = 1h30m\n"
        "body-limit = 1.5G\n"
        "sweep-interval = \"500ms\"");  /* no newline at the end */
    loaded l;
    if (LOAD(&l, "--config", path) != FT_OK)
        fail_msg("%s", l.err.msg);
    assert_string_equal(l.s.config, path);
    assert_string_equal(l.s.store, "lmdb:data/fedtrace");
    assert_string_equal(l.s.otlp_listen, "0.0.0.0:4318");
    assert_true(l.s.verbose);
    assert_true(l.s.color); /* default kept */
    assert_int_equal(l.s.threads, 16);
    assert_int_equal(l.s.retention_ms, 5400000);
    assert_int_equal(l.s.body_limit, UINT64_C(1610612736));
    assert_int_equal(l.s.sweep_ms, 500);
    assert_int_equal(l.n_pos, 0);
    unload(&l);

    /* --config=FILE, quotes that keep spaces, an empty value, a repeat */
    path = write_conf("store = \" spaced out \"\n"
                      "otlp-listen = \"\"\n"
                      "threads = 1\n"
                      "threads = 2\n");
    char flag[700];
    snprintf(flag, sizeof flag, "--config=%s", path);
    if (LOAD(&l, flag) != FT_OK)
        fail_msg("%s", l.err.msg);
    assert_string_equal(l.s.config, path);
    assert_string_equal(l.s.store, " spaced out ");
    assert_string_equal(l.s.otlp_listen, "");
    assert_int_equal(l.s.threads, 2);
    unload(&l);

    /* an empty file and one with only comments change nothing */
    path = write_conf("");
    assert_int_equal(LOAD(&l, "--config", path), FT_OK);
    assert_string_equal(l.s.otlp_listen, "127.0.0.1:4318");
    unload(&l);
    path = write_conf("#store = x\n\n# threads = 9\n");
    assert_int_equal(LOAD(&l, "--config", path), FT_OK);
    assert_null(l.s.store);
    assert_int_equal(l.s.threads, 4);
    unload(&l);
}

static void test_file_errors(void **state)
{
    (void)state;
    char want[800];
    loaded l;

    /* an unknown key, named with file:line */
    char *path = write_conf("# comment\nstore = memory:\n\nnope = 1\nthreads = 2\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:4: unknown setting \"nope\"", path);
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, want);
    assert_int_equal(l.s.threads, 4); /* the line after it was not read */
    unload(&l); /* store was set before the error: freed, no leak */

    /* a line without '=' */
    path = write_conf("store = memory:\njust some words\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:2: expected name = value", path);
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    /* a value its type refuses */
    path = write_conf("\n\nretention = forever\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want,
             "%s:3: \"forever\" is not a duration such as 30s, 15m, 72h or 0", path);
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    path = write_conf("body-limit = lots\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want,
             "%s:1: \"lots\" is not a size such as 512KiB, 20MiB or 2GiB", path);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    path = write_conf("verbose = maybe\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:1: \"maybe\" is not true or false", path);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    path = write_conf("threads = -3\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:1: \"-3\" is not a whole number", path);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    /* an empty key; the key "config" (a file cannot name another file) */
    path = write_conf("= 5\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:1: unknown setting \"\"", path);
    assert_string_equal(l.err.msg, want);
    unload(&l);
    path = write_conf("config = other.conf\n");
    LOAD(&l, "--config", path);
    snprintf(want, sizeof want, "%s:1: unknown setting \"config\"", path);
    assert_string_equal(l.err.msg, want);
    unload(&l);

    /* keys are exact: no case folding, no '_' for '-' */
    path = write_conf("OTLP-LISTEN = x\n");
    LOAD(&l, "--config", path);
    assert_err_has(&l, FT_INVAL, "unknown setting \"OTLP-LISTEN\"");
    unload(&l);
    path = write_conf("otlp_listen = x\n");
    LOAD(&l, "--config", path);
    assert_err_has(&l, FT_INVAL, "unknown setting \"otlp_listen\"");
    unload(&l);

    /* a file that does not exist */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no-such.conf", tmp_root);
    LOAD(&l, "--config", missing);
    assert_int_not_equal(l.rc, FT_OK);
    assert_err_has(&l, l.rc, "config file");
    assert_err_has(&l, l.rc, missing);
    unload(&l);

    /* a file too large to be a config file (over 1 MiB) */
    size_t big = (1u << 20) + 10;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '#', big);
    text[big] = '\0';
    path = write_conf(text);
    free(text);
    LOAD(&l, "--config", path);
    assert_int_equal(l.rc, FT_TOO_LARGE);
    assert_err_has(&l, FT_TOO_LARGE, "config file");
    unload(&l);
}

/* ---- environment -------------------------------------------------------- */

static void test_env(void **state)
{
    (void)state;
    setenv("FEDTRACE_OTLP_LISTEN", "[::1]:4318", 1);
    setenv("FEDTRACE_STORE", "memory:", 1);
    setenv("FEDTRACE_VERBOSE", "on", 1);
    setenv("FEDTRACE_COLOR", "0", 1);
    setenv("FEDTRACE_THREADS", "8", 1);
    setenv("FEDTRACE_RETENTION", "7d", 1);
    setenv("FEDTRACE_BODY_LIMIT", "512KiB", 1);
    setenv("FEDTRACE_SWEEP_INTERVAL", "15m", 1);
    /* names that are not ours are ignored */
    setenv("FEDTRACE_NOPE", "1", 1);
    setenv("FEDTRACE_otlp_listen", "wrong", 1);
    setenv("FEDTRACE_OTLP-LISTEN", "wrong", 1);
    loaded l;
    if (LOAD0(&l) != FT_OK)
        fail_msg("%s", l.err.msg);
    assert_string_equal(l.s.otlp_listen, "[::1]:4318");
    assert_string_equal(l.s.store, "memory:");
    assert_true(l.s.verbose);
    assert_false(l.s.color);
    assert_int_equal(l.s.threads, 8);
    assert_int_equal(l.s.retention_ms, INT64_C(604800000));
    assert_int_equal(l.s.body_limit, 512 * 1024);
    assert_int_equal(l.s.sweep_ms, 900000);
    unload(&l);

    /* an empty variable is an empty value, not an unset one */
    clear_env();
    setenv("FEDTRACE_STORE", "", 1);
    assert_int_equal(LOAD0(&l), FT_OK);
    assert_non_null(l.s.store);
    assert_string_equal(l.s.store, "");
    unload(&l);
    setenv("FEDTRACE_THREADS", "", 1);
    LOAD0(&l);
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, "FEDTRACE_THREADS: \"\" is not a whole number");
    unload(&l);

    /* bad values name the variable */
    clear_env();
    setenv("FEDTRACE_RETENTION", "3 days", 1);
    LOAD0(&l);
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, "FEDTRACE_RETENTION: \"3 days\" is not a duration "
                                   "such as 30s, 15m, 72h or 0");
    unload(&l);
    clear_env();
    setenv("FEDTRACE_VERBOSE", "sure", 1);
    LOAD0(&l);
    assert_string_equal(l.err.msg, "FEDTRACE_VERBOSE: \"sure\" is not true or false");
    unload(&l);
    clear_env();
    setenv("FEDTRACE_BODY_LIMIT", "20 MB please", 1);
    LOAD0(&l);
    assert_string_equal(l.err.msg, "FEDTRACE_BODY_LIMIT: \"20 MB please\" is not a size "
                                   "such as 512KiB, 20MiB or 2GiB");
    unload(&l);
}

/* ---- flags -------------------------------------------------------------- */

static void test_flags(void **state)
{
    (void)state;
    loaded l;
    int rc = LOAD(&l, "serve", "--store", "lmdb:x", "--otlp-listen=:4318",
                  "--verbose", "--color=false", "--threads", "12",
                  "--retention=30s", "--body-limit", "100", "extra",
                  "--sweep-interval", "0");
    if (rc != FT_OK)
        fail_msg("%s", l.err.msg);
    assert_string_equal(l.s.store, "lmdb:x");
    assert_string_equal(l.s.otlp_listen, ":4318");
    assert_true(l.s.verbose);
    assert_false(l.s.color);
    assert_int_equal(l.s.threads, 12);
    assert_int_equal(l.s.retention_ms, 30000);
    assert_int_equal(l.s.body_limit, 100);
    assert_int_equal(l.s.sweep_ms, 0);
    assert_int_equal(l.n_pos, 2);
    assert_string_equal(l.pos[0], "serve");
    assert_string_equal(l.pos[1], "extra");
    assert_false(l.help);
    unload(&l);

    /* a bool flag alone is true and takes no value: what follows is a
     * positional; "--flag=" with an empty value; the last repeat wins */
    assert_int_equal(LOAD(&l, "--verbose", "false", "--store=", "--store", "a",
                          "--store", "b", "--threads=1", "--threads=2"),
                     FT_OK);
    assert_true(l.s.verbose);
    assert_int_equal(l.n_pos, 1);
    assert_string_equal(l.pos[0], "false");
    assert_string_equal(l.s.store, "b");
    assert_int_equal(l.s.threads, 2);
    unload(&l);

    /* a value may start with '-'; "-" alone is a positional */
    assert_int_equal(LOAD(&l, "--store", "-weird", "-", "--otlp-listen", "--"), FT_OK);
    assert_string_equal(l.s.store, "-weird");
    assert_string_equal(l.s.otlp_listen, "--");
    assert_int_equal(l.n_pos, 1);
    assert_string_equal(l.pos[0], "-");
    unload(&l);

    /* "--" ends the options: everything after it is positional, in order */
    assert_int_equal(LOAD(&l, "a", "--threads", "3", "--", "--store", "x", "-h",
                          "--", "b"),
                     FT_OK);
    assert_int_equal(l.s.threads, 3);
    assert_null(l.s.store);
    assert_false(l.help);
    assert_int_equal(l.n_pos, 6);
    const char *want[] = {"a", "--store", "x", "-h", "--", "b"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(l.pos[i], want[i]);
    unload(&l);

    /* help, short and long, anywhere among the options */
    assert_int_equal(LOAD(&l, "serve", "-h"), FT_OK);
    assert_true(l.help);
    assert_int_equal(l.n_pos, 1);
    unload(&l);
    assert_int_equal(LOAD(&l, "--help", "--threads", "2"), FT_OK);
    assert_true(l.help);
    assert_int_equal(l.s.threads, 2);
    unload(&l);
}

static void test_flag_errors(void **state)
{
    (void)state;
    loaded l;
    LOAD(&l, "--nope");
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, "unknown option --nope");
    unload(&l);

    LOAD(&l, "--nope=3");
    assert_string_equal(l.err.msg, "unknown option --nope");
    unload(&l);

    LOAD(&l, "-x");
    assert_string_equal(l.err.msg, "unknown option -x");
    unload(&l);

    LOAD(&l, "---store", "x");
    assert_int_equal(l.rc, FT_INVAL);
    unload(&l);

    /* option names are exact: no prefixes, no case folding */
    LOAD(&l, "--stor", "x");
    assert_string_equal(l.err.msg, "unknown option --stor");
    unload(&l);
    LOAD(&l, "--STORE", "x");
    assert_string_equal(l.err.msg, "unknown option --STORE");
    unload(&l);

    /* a missing value names the flag and its metavar */
    LOAD(&l, "--store=a", "--store");
    assert_int_equal(l.rc, FT_INVAL);
    assert_string_equal(l.err.msg, "--store needs a value (URL)");
    unload(&l);
    LOAD(&l, "--threads");
    assert_string_equal(l.err.msg, "--threads needs a value (N)");
    unload(&l);
    LOAD(&l, "--config");
    assert_string_equal(l.err.msg, "--config needs a value (FILE)");
    unload(&l);

    /* bad values name the flag */
    LOAD(&l, "--threads", "many");
    assert_string_equal(l.err.msg, "--threads: \"many\" is not a whole number");
    unload(&l);
    LOAD(&l, "--threads=99999999999999999999");
    assert_string_equal(l.err.msg,
                        "--threads: \"99999999999999999999\" is not a whole number");
    unload(&l);
    LOAD(&l, "--threads", "12x");
    assert_int_equal(l.rc, FT_INVAL);
    unload(&l);
    LOAD(&l, "--verbose=perhaps");
    assert_string_equal(l.err.msg, "--verbose: \"perhaps\" is not true or false");
    unload(&l);
    LOAD(&l, "--retention", "1y");
    assert_string_equal(l.err.msg,
                        "--retention: \"1y\" is not a duration such as 30s, 15m, 72h or 0");
    unload(&l);
    LOAD(&l, "--body-limit=1PB");
    assert_string_equal(l.err.msg,
                        "--body-limit: \"1PB\" is not a size such as 512KiB, 20MiB or 2GiB");
    unload(&l);
}

/* ---- precedence: defaults < file < environment < flags ------------------ */

static void test_precedence(void **state)
{
    (void)state;
    char *path = write_conf("threads = 10\n"
                                  "store = from-file\n"
                                  "retention = 1h\n"
                                  "verbose = true\n");
    loaded l;

    /* file over defaults */
    assert_int_equal(LOAD(&l, "--config", path), FT_OK);
    assert_int_equal(l.s.threads, 10);
    assert_string_equal(l.s.store, "from-file");
    assert_int_equal(l.s.retention_ms, 3600000);
    assert_true(l.s.verbose);
    assert_int_equal(l.s.body_limit, 20u << 20);
    unload(&l);

    /* environment over the file */
    setenv("FEDTRACE_THREADS", "20", 1);
    setenv("FEDTRACE_STORE", "from-env", 1);
    setenv("FEDTRACE_VERBOSE", "false", 1);
    assert_int_equal(LOAD(&l, "--config", path), FT_OK);
    assert_int_equal(l.s.threads, 20);
    assert_string_equal(l.s.store, "from-env");
    assert_false(l.s.verbose);
    assert_int_equal(l.s.retention_ms, 3600000);
    unload(&l);

    /* flags over the environment, wherever --config stands */
    assert_int_equal(LOAD(&l, "--threads=30", "--store", "from-flag", "--verbose",
                          "--config", path),
                     FT_OK);
    assert_int_equal(l.s.threads, 30);
    assert_string_equal(l.s.store, "from-flag");
    assert_true(l.s.verbose);
    assert_int_equal(l.s.retention_ms, 3600000);
    assert_int_equal(l.s.body_limit, 20u << 20);
    unload(&l);
}

static void test_config_from_env(void **state)
{
    (void)state;
    char *a = write_conf("store = from-a\nthreads = 1\n");
    char *b = write_conf("store = from-b\n");
    loaded l;

    setenv("FEDTRACE_CONFIG", a, 1);
    assert_int_equal(LOAD0(&l), FT_OK);
    assert_string_equal(l.s.config, a);
    assert_string_equal(l.s.store, "from-a");
    assert_int_equal(l.s.threads, 1);
    unload(&l);

    /* the flag names another file: only that one is read */
    assert_int_equal(LOAD(&l, "--config", b), FT_OK);
    assert_string_equal(l.s.config, b);
    assert_string_equal(l.s.store, "from-b");
    assert_int_equal(l.s.threads, 4);
    unload(&l);

    /* the last --config wins; one after "--" is a positional */
    char flag[700];
    snprintf(flag, sizeof flag, "--config=%s", a);
    unsetenv("FEDTRACE_CONFIG");
    assert_int_equal(LOAD(&l, "--config", b, flag, "--", "--config", b),
                     FT_OK);
    assert_string_equal(l.s.config, a);
    assert_string_equal(l.s.store, "from-a");
    assert_int_equal(l.n_pos, 2);
    unload(&l);

    /* an empty FEDTRACE_CONFIG means none */
    setenv("FEDTRACE_CONFIG", "", 1);
    assert_int_equal(LOAD0(&l), FT_OK);
    assert_null(l.s.config);
    assert_null(l.s.store);
    unload(&l);

    /* a missing file named by the environment is an error */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/absent.conf", tmp_root);
    setenv("FEDTRACE_CONFIG", missing, 1);
    LOAD0(&l);
    assert_int_not_equal(l.rc, FT_OK);
    assert_err_has(&l, l.rc, missing);
    unload(&l);
}

/* A table without a "config" option reads no file, and --config is an
 * unknown option there. */
static void test_no_config_option(void **state)
{
    (void)state;
    char *path = write_conf("nope = 1\n");
    setenv("FEDTRACE_CONFIG", path, 1);
    settings s = {0};
    char *argv[] = {"fedtrace", NULL};
    char *pos[4];
    int n_pos;
    bool help;
    ft_err err = {0};
    assert_int_equal(ft_config_load(k_opts + 1, N_OPTS - 1, &s, 1, argv, pos,
                                    &n_pos, &help, &err),
                     FT_OK);
    assert_null(s.config);
    char *argv2[] = {"fedtrace", "--config", path, NULL};
    assert_int_equal(ft_config_load(k_opts + 1, N_OPTS - 1, &s, 3, argv2, pos,
                                    &n_pos, &help, &err),
                     FT_INVAL);
    assert_string_equal(err.msg, "unknown option --config");
    ft_config_free(k_opts + 1, N_OPTS - 1, &s);
}

/* ---- --help ------------------------------------------------------------- */

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ft_config_help(f, k_opts, N_OPTS);
    assert_int_equal(fclose(f), 0);
    assert_non_null(text);

    static const char *const envs[] = {
        "FEDTRACE_CONFIG",    "FEDTRACE_STORE",     "FEDTRACE_OTLP_LISTEN",
        "FEDTRACE_VERBOSE",   "FEDTRACE_COLOR",     "FEDTRACE_THREADS",
        "FEDTRACE_RETENTION", "FEDTRACE_BODY_LIMIT", "FEDTRACE_SWEEP_INTERVAL",
    };
    /* every option, in table order: its flag (with metavar), its help, its
     * variable, and its default when it has one */
    const char *at = text;
    for (size_t i = 0; i < N_OPTS; i++) {
        const ft_opt *o = &k_opts[i];
        char flag[200];
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        const char *p = strstr(at, flag);
        if (p == NULL)
            fail_msg("help lacks \"%s\" (after offset %td):\n%s", flag, at - text, text);
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        const char *h = strstr(p, o->help);
        if (h == NULL || h > eol)
            fail_msg("help for %s lacks its text:\n%s", flag, text);
        const char *block_end = strchr(eol + 1, '\n');
        assert_non_null(block_end);
        char env[100];
        snprintf(env, sizeof env, "env %s", envs[i]);
        const char *e = strstr(eol, env);
        if (e == NULL || e > block_end)
            fail_msg("help for %s lacks \"%s\":\n%s", flag, env, text);
        /* the variable is the whole word */
        assert_true(e[strlen(env)] == ';' || e[strlen(env)] == ']');
        const char *d = strstr(eol, "default ");
        if (o->def != NULL && o->def[0] != '\0') {
            char def[100];
            snprintf(def, sizeof def, "default %s]", o->def);
            d = strstr(eol, def);
            if (d == NULL || d > block_end)
                fail_msg("help for %s lacks \"%s\":\n%s", flag, def, text);
        } else if (d != NULL && d < block_end) {
            fail_msg("help for %s shows a default it lacks:\n%s", flag, text);
        }
        at = block_end + 1;
    }
    assert_int_equal(*at, '\0'); /* nothing else */
    /* a bool flag shows no metavar */
    assert_non_null(strstr(text, "--verbose "));
    assert_null(strstr(text, "--verbose N"));
    free(text);

    /* an empty table prints nothing */
    f = open_memstream(&text, &len);
    ft_config_help(f, k_opts, 0);
    fclose(f);
    assert_int_equal(len, 0);
    free(text);
}

static int group_setup(void **state)
{
    (void)state;
    tmp_root = ft_test_tmpdir("config");
    clear_env();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ft_test_rmrf(tmp_root);
    free(tmp_root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_bool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_config_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
