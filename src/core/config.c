/*
 * config.c - flags, environment and config file from one option table.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ENV_PREFIX "FEDTRACE_"

static void *field(void *settings, const ft_opt *o)
{
    return (char *)settings + o->offset;
}

bool ft_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* A non-negative decimal number with an optional fraction; *end after it. */
static bool parse_number(const char *s, double *out, const char **end)
{
    if (!isdigit((unsigned char)*s))
        return false;
    /* digits, then at most one '.' and more digits: strtod alone would also
     * take hex ("0x10") and exponents ("1e3") */
    size_t n = strspn(s, "0123456789");
    if (s[n] == '.')
        n += 1 + strspn(s + n + 1, "0123456789");
    errno = 0;
    char *e;
    double v = strtod(s, &e);
    if (errno != 0 || e != s + n || v < 0)
        return false;
    *out = v;
    *end = e;
    return true;
}

bool ft_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1},       {"s", 1000},        {"m", 60000},
                 {"h", 3600000},  {"d", 86400000},    {"", 1000}};
    int64_t total = 0;
    bool any = false;
    while (*s) {
        double v;
        const char *end;
        if (!parse_number(s, &v, &end))
            return false;
        size_t ul = 0;
        while (isalpha((unsigned char)end[ul]))
            ul++;
        bool found = false;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strlen(units[i].unit) == ul && strncasecmp(end, units[i].unit, ul) == 0) {
                double ms = v * units[i].ms;
                if (ms > 9.0e15 || (int64_t)ms > INT64_MAX - total)
                    return false;
                total += (int64_t)ms;
                found = true;
                break;
            }
        }
        if (!found || (ul == 0 && end[0] != '\0'))
            return false;
        any = true;
        s = end + ul;
    }
    if (!any)
        return false;
    *out = total;
    return true;
}

bool ft_parse_size(const char *s, uint64_t *out)
{
    double v;
    const char *end;
    if (!parse_number(s, &v, &end))
        return false;
    while (*end == ' ')
        end++;
    double mul = 1;
    static const char scale[] = "kmgt";
    const char *p = *end ? strchr(scale, tolower((unsigned char)*end)) : NULL;
    if (p != NULL) {
        for (const char *q = scale; q <= p; q++)
            mul *= 1024;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0')
        return false;
    double bytes = v * mul;
    if (bytes >= 1.8e19)
        return false;
    *out = (uint64_t)bytes;
    return true;
}

static ft_code set_value(const ft_opt *o, void *settings, const char *value,
                         const char *where, ft_err *err)
{
    void *f = field(settings, o);
    bool ok = true;
    switch (o->type) {
    case FT_OPT_STR: {
        char *copy = NULL;
        if (value != NULL && (copy = ft_strndup(value, strlen(value))) == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "out of memory");
        ft_free(*(char **)f);
        *(char **)f = copy;
        return FT_OK;
    }
    case FT_OPT_BOOL:
        ok = ft_parse_bool(value, (bool *)f);
        break;
    case FT_OPT_UINT: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        ok = isdigit((unsigned char)*value) && *end == '\0' && errno == 0;
        if (ok)
            *(uint64_t *)f = v;
        break;
    }
    case FT_OPT_DURATION:
        ok = ft_parse_duration_ms(value, (int64_t *)f);
        break;
    case FT_OPT_SIZE:
        ok = ft_parse_size(value, (uint64_t *)f);
        break;
    }
    if (ok)
        return FT_OK;
    static const char *const expect[] = {
        [FT_OPT_STR] = "text",
        [FT_OPT_BOOL] = "true or false",
        [FT_OPT_UINT] = "a whole number",
        [FT_OPT_DURATION] = "a duration such as 30s, 15m, 72h or 0",
        [FT_OPT_SIZE] = "a size such as 512KiB, 20MiB or 2GiB",
    };
    return ft_err_set(err, FT_INVAL, 0, "%s: \"%s\" is not %s", where, value,
                      expect[o->type]);
}

static const ft_opt *find(const ft_opt *opts, size_t n, const char *name,
                          size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static void env_name(const ft_opt *o, char *out, size_t cap)
{
    int n = snprintf(out, cap, ENV_PREFIX "%s", o->name);
    for (int i = 0; i < n && (size_t)i < cap; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') || (s[0] == '\'' && s[n - 1] == '\''))) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static ft_code load_file(const ft_opt *opts, size_t n_opts, void *settings,
                         const char *path, ft_err *err)
{
    char *text;
    size_t len;
    ft_code rc = ft_read_file(path, 1 << 20, &text, &len, err);
    if (rc != FT_OK) {
        ft_err_prefix(err, "config file");
        return rc;
    }
    unsigned line = 0;
    for (char *save = NULL, *l = text; rc == FT_OK && l != NULL; l = save) {
        save = strchr(l, '\n');
        if (save != NULL)
            *save++ = '\0';
        line++;
        char *s = trim(l);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        char where[300];
        snprintf(where, sizeof where, "%s:%u", path, line);
        if (eq == NULL) {
            rc = ft_err_set(err, FT_INVAL, 0, "%s: expected name = value", where);
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        const ft_opt *o = find(opts, n_opts, name, strlen(name));
        if (o == NULL || strcmp(o->name, "config") == 0)
            rc = ft_err_set(err, FT_INVAL, 0, "%s: unknown setting \"%s\"", where, name);
        else
            rc = set_value(o, settings, value, where, err);
    }
    ft_free(text);
    return rc;
}

/* A flag's value: "--name=value" or the next argument. */
static ft_code flag_value(const ft_opt *o, const char *eq, int argc,
                          char **argv, int *i, const char **out, ft_err *err)
{
    if (eq != NULL) {
        *out = eq + 1;
        return FT_OK;
    }
    if (o->type == FT_OPT_BOOL) {
        *out = "true";
        return FT_OK;
    }
    if (*i + 1 >= argc)
        return ft_err_set(err, FT_INVAL, 0, "--%s needs a value (%s)", o->name,
                          o->metavar ? o->metavar : "see --help");
    *out = argv[++*i];
    return FT_OK;
}

ft_code ft_config_load(const ft_opt *opts, size_t n_opts, void *settings,
                       int argc, char **argv, char **pos, int *n_pos,
                       bool *help, ft_err *err)
{
    *n_pos = 0;
    *help = false;
    ft_code rc = FT_OK;
    for (size_t i = 0; i < n_opts && rc == FT_OK; i++)
        if (opts[i].def != NULL)
            rc = set_value(&opts[i], settings, opts[i].def, opts[i].name, err);

    /* the config file first: flags and environment override it */
    const ft_opt *cfg = find(opts, n_opts, "config", 6);
    if (cfg != NULL && rc == FT_OK) {
        const char *path = getenv(ENV_PREFIX "CONFIG");
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0)
                break;
            if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                path = argv[i + 1];
            else if (strncmp(argv[i], "--config=", 9) == 0)
                path = argv[i] + 9;
        }
        if (path != NULL && *path) {
            rc = set_value(cfg, settings, path, "--config", err);
            if (rc == FT_OK)
                rc = load_file(opts, n_opts, settings, path, err);
        }
    }
    for (size_t i = 0; i < n_opts && rc == FT_OK; i++) {
        char name[128];
        env_name(&opts[i], name, sizeof name);
        const char *v = getenv(name);
        if (v != NULL && &opts[i] != cfg)
            rc = set_value(&opts[i], settings, v, name, err);
    }
    bool options_done = false;
    for (int i = 1; i < argc && rc == FT_OK; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            continue;
        }
        if (a[1] != '-') {
            rc = ft_err_set(err, FT_INVAL, 0, "unknown option %s", a);
            break;
        }
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        const ft_opt *o = find(opts, n_opts, a + 2, nl);
        if (o == NULL) {
            rc = ft_err_set(err, FT_INVAL, 0, "unknown option --%.*s", (int)nl, a + 2);
            break;
        }
        const char *value = NULL;
        rc = flag_value(o, eq, argc, argv, &i, &value, err);
        if (rc == FT_OK && o != cfg) {
            char where[140];
            snprintf(where, sizeof where, "--%s", o->name);
            rc = set_value(o, settings, value, where, err);
        }
    }
    return rc;
}

void ft_config_free(const ft_opt *opts, size_t n_opts, void *settings)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (opts[i].type == FT_OPT_STR) {
            char **f = field(settings, &opts[i]);
            ft_free(*f);
            *f = NULL;
        }
    }
}

void ft_config_help(FILE *f, const ft_opt *opts, size_t n_opts)
{
    for (size_t i = 0; i < n_opts; i++) {
        const ft_opt *o = &opts[i];
        char flag[160], env[128];
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        env_name(o, env, sizeof env);
        fprintf(f, "  %-28s %s\n", flag, o->help);
        fprintf(f, "  %-28s [env %s", "", env);
        if (o->def != NULL && *o->def)
            fprintf(f, "; default %s", o->def);
        fprintf(f, "]\n");
    }
}
