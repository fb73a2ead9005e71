/*
 * app/app.h - what the subcommands of the fedtrace binary share.
 */
#ifndef FT_APP_APP_H
#define FT_APP_APP_H

#define FEDTRACE_VERSION "0.1.0"

/* $FEDTRACE_STORE, else lmdb:$XDG_DATA_HOME/fedtrace, else
 * lmdb:$HOME/.local/share/fedtrace (malloc'd). */
char *ft_default_store(void);

/* `fedtrace serve ...`; argv[0] is "serve". */
int ft_serve_main(int argc, char **argv);

#endif
