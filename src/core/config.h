/*
 * core/config.h - settings from one declarative table.
 *
 * A program describes its settings once, as an array of ft_opt, each
 * naming a field of its settings struct.  From that one table come the
 * command-line flags (--name VALUE, --name=VALUE; a bool flag alone means
 * true), the environment variables (FEDTRACE_NAME, upper case, '-' as
 * '_'), the keys of an optional config file (name = value lines, '#'
 * comments) and the --help text.  Later sources win: defaults, then the
 * config file, then the environment, then the flags.
 *
 * Not thread-safe; meant for start-up.
 */
#ifndef FT_CORE_CONFIG_H
#define FT_CORE_CONFIG_H

#include "fedtrace/common.h"

#include <stddef.h>
#include <stdio.h>

typedef enum ft_opt_type {
    FT_OPT_STR,      /* char * (owned by the settings; ft_config_free) */
    FT_OPT_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    FT_OPT_UINT,     /* uint64_t */
    FT_OPT_DURATION, /* int64_t milliseconds: 500ms, 30s, 15m, 72h, 7d; bare: seconds */
    FT_OPT_SIZE,     /* uint64_t bytes: 512KiB, 20MiB, 2GiB (k/m/g/t are powers of 1024) */
} ft_opt_type;

typedef struct ft_opt {
    const char *name;    /* flag without "--", env and file key derive from it */
    ft_opt_type type;
    size_t offset;       /* offsetof(settings, field) */
    const char *def;     /* default as text; NULL: unset (STR: NULL) */
    const char *metavar; /* for --help, e.g. "HOST:PORT" */
    const char *help;
} ft_opt;

/* The option named "config" (FT_OPT_STR), when present in the table, names
 * the config file; it is looked up in argv and the environment first. */

/*
 * Fills `settings` from defaults, the config file, the environment and
 * argv (argv[0] is not looked at).  Arguments that are not options are left
 * in argv order in pos[0..*n_pos) (pos must hold argc entries); "--" ends
 * the options.  "-h"/"--help" sets *help.  Errors name the flag, variable
 * or file line.
 */
ft_code ft_config_load(const ft_opt *opts, size_t n_opts, void *settings,
                       int argc, char **argv, char **pos, int *n_pos,
                       bool *help, ft_err *err);

/* Frees the FT_OPT_STR fields. */
void ft_config_free(const ft_opt *opts, size_t n_opts, void *settings);

/* Prints one block per option: flag, metavar, help, default and variable. */
void ft_config_help(FILE *f, const ft_opt *opts, size_t n_opts);

/* The parsers behind the types (exposed for tests and other callers). */
bool ft_parse_duration_ms(const char *s, int64_t *out);
bool ft_parse_size(const char *s, uint64_t *out);
bool ft_parse_bool(const char *s, bool *out);

#endif
