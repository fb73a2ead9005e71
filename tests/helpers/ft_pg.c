/*
 * ft_pg.c - a throwaway PostgreSQL for tests.
 *
 * initdb into DIR/data (trust authentication, superuser "fedtrace", UTF8,
 * locale C.UTF-8 when the system has it, so that the key column does not
 * collate bytewise and the backend's "C" index path is what the tests
 * exercise), then the postmaster itself as our child (s->pid), listening
 * on 127.0.0.1:PORT and on a socket in DIR.  Its output goes to
 * DIR/postgres.log.
 *
 * PostgreSQL refuses to run as root: when we are root, initdb and the
 * server run as the "postgres" user if there is one, else "nobody", and DIR
 * is handed to that user.
 */
#include "ft_servers.h"

#include "ft_tmp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static const char *const pg_dirs[] = {"/usr/lib/postgresql/*/bin",
                                      "/usr/local/pgsql/bin",
                                      "/usr/pgsql-*/bin", NULL};

/* Who runs the server: uid/gid to switch to (root only), else -1. */
typedef struct runner {
    uid_t uid;
    gid_t gid;
    bool switch_user;
} runner;

static bool pick_runner(runner *r)
{
    r->switch_user = geteuid() == 0;
    if (!r->switch_user)
        return true;
    const char *names[] = {"postgres", "nobody"};
    for (size_t i = 0; i < 2; i++) {
        struct passwd *pw = getpwnam(names[i]);
        if (pw != NULL && pw->pw_uid != 0) {
            r->uid = pw->pw_uid;
            r->gid = pw->pw_gid;
            return true;
        }
    }
    return false;
}

/* Forks and execs argv (env: LC_ALL=C and a PATH), output appended to
 * log, as the runner's user; returns the child's pid or -1. */
static pid_t spawn(const runner *r, char *const argv[], const char *log,
                   const char *cwd)
{
    static char *const envp[] = {"LC_ALL=C", "LANG=C",
                                 "PATH=/usr/bin:/bin", NULL};
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0)
        _exit(126);
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (r->switch_user &&
        (setgroups(0, NULL) != 0 || setgid(r->gid) != 0 || setuid(r->uid) != 0))
        _exit(126);
#ifdef __linux__
    /* if the test dies without stopping us: immediate shutdown */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
#endif
    if (chdir(cwd) != 0)
        _exit(126);
    execve(argv[0], argv, envp);
    _exit(127);
}

static void print_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

static void conninfo(const ft_test_server *s, char *out, size_t cap)
{
    snprintf(out, cap,
             "host=127.0.0.1 port=%d user=fedtrace dbname=postgres "
             "connect_timeout=2",
             s->port);
}

/* Starts the postmaster on s->dir and s->port and waits until it accepts
 * connections.  A stale shared memory block of a killed predecessor makes
 * it exit at once; then it is tried again for a while. */
static int launch(ft_test_server *s)
{
    char postgres[512], data[600], log[600], port[16], sockdir[600];
    runner r;
    if (!ft_test_find_bin("postgres", pg_dirs, postgres, sizeof postgres) ||
        !pick_runner(&r))
        return -1;
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/postgres.log", s->dir);
    snprintf(port, sizeof port, "%d", s->port);
    /* a socket path is limited to 107 bytes: none when DIR is too long */
    snprintf(sockdir, sizeof sockdir, "%s",
             strlen(s->dir) + 20 < 107 ? s->dir : "");
    char *argv[] = {postgres, "-D", data, "-p", port, "-k", sockdir,
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=off",
                    "-c", "full_page_writes=off",
                    "-c", "shared_buffers=32MB",
                    "-c", "max_connections=200",
                    NULL};
    char ci[256];
    conninfo(s, ci, sizeof ci);
    for (int attempt = 0; attempt < 40; attempt++) {
        pid_t pid = spawn(&r, argv, log, s->dir);
        if (pid < 0)
            return -1;
        for (int waited = 0; waited < 30000; waited += 50) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = 0;
                break;
            }
            if (PQping(ci) == PQPING_OK) {
                s->pid = pid;
                return 0;
            }
            usleep(50000);
        }
        if (pid != 0) { /* alive but never ready */
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        usleep(250000);
    }
    fprintf(stderr, "PostgreSQL did not start; its log:\n");
    print_log(log);
    return -1;
}

static bool have_locale(const char *name)
{
    locale_t l = newlocale(LC_COLLATE_MASK | LC_CTYPE_MASK, name, (locale_t)0);
    if (l == (locale_t)0)
        return false;
    freelocale(l);
    return true;
}

int ft_test_pg_start(ft_test_server *s)
{
    char initdb[512], postgres[512];
    memset(s, 0, sizeof *s);
    if (!ft_test_find_bin("initdb", pg_dirs, initdb, sizeof initdb) ||
        !ft_test_find_bin("postgres", pg_dirs, postgres, sizeof postgres))
        return ft_test_server_unavailable(s, "PostgreSQL",
                                          "initdb/postgres not found");
    runner r;
    if (!pick_runner(&r))
        return ft_test_server_unavailable(
            s, "PostgreSQL", "running as root and no unprivileged user to run it as");
    char *dir = ft_test_tmpdir("pg");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    if (r.switch_user && (chown(s->dir, r.uid, r.gid) != 0 || chmod(s->dir, 0700) != 0)) {
        fprintf(stderr, "FAILED: cannot hand %s to uid %d: %s\n", s->dir,
                (int)r.uid, strerror(errno));
        s->failed = true;
        ft_test_server_stop(s);
        return -1;
    }
    char data[600], log[600], locale_arg[64];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/initdb.log", s->dir);
    snprintf(locale_arg, sizeof locale_arg, "--locale=%s",
             have_locale("C.UTF-8") ? "C.UTF-8" : "C");
    char *argv[] = {initdb, "-D", data, "-U", "fedtrace", "--auth=trust",
                    "-E", "UTF8", locale_arg, "--no-sync", "--no-instructions",
                    NULL};
    pid_t pid = spawn(&r, argv, log, s->dir);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        fprintf(stderr, "FAILED: initdb failed; its log:\n");
        print_log(log);
        s->failed = true;
        ft_test_server_stop(s);
        return -1;
    }
    s->port = ft_test_free_port();
    s->relaunch = launch;
    if (s->port <= 0 || launch(s) != 0) {
        s->failed = true;
        ft_test_server_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "postgres://fedtrace@127.0.0.1:%d/postgres",
             s->port);
    return 0;
}
