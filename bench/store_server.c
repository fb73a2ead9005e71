/*
 * store_server.c - ft_store_server, a throwaway Redis or PostgreSQL for
 * `make bench`.
 *
 *   ft_store_server redis|postgres
 *
 * Starts the server with the tests' launcher (tests/helpers/ft_servers.h:
 * a fresh temporary directory, a free loopback port, PostgreSQL's refusal
 * to run as root taken care of), prints one line
 *
 *   url: <fedtrace store URL>
 *
 * on stdout, flushed, and then waits until it receives SIGTERM, SIGINT or
 * SIGHUP, or reads end-of-file on stdin when stdin is a pipe, a FIFO or a
 * terminal (stdin redirected from /dev/null or a file is ignored, so the
 * program can run in the background of a script).  Then it stops the server
 * and removes its directory.
 *
 * Exit status: 0 after a clean stop; 1 when the server cannot be started
 * (the reason is on stderr), when stdout cannot be written, or when the
 * server dies on its own while we wait; 2 on bad usage.
 */
#include "ft_servers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The signal handler writes the signal number into this pipe; the main loop
 * polls its read end together with stdin. */
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(wake_pipe[1], &b, 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved;
}

static int install_handlers(void)
{
    if (pipe(wake_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(wake_pipe[i], F_GETFL);
        if (fl < 0 || fcntl(wake_pipe[i], F_SETFL, fl | O_NONBLOCK) != 0)
            return -1;
        if (fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
            return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    return 0;
}

/* Whether end-of-file on stdin means "stop": only for pipes, FIFOs and
 * terminals.  /dev/null (what a non-interactive shell gives a background
 * job) or a regular file would end the wait at once. */
static bool watch_stdin(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) != 0)
        return false;
    return S_ISFIFO(st.st_mode) || isatty(STDIN_FILENO);
}

/* True when the server process has exited (and reaps it). */
static bool server_gone(ft_test_server *s)
{
    if (s->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == s->pid || (r < 0 && errno == ECHILD)) {
        if (r == s->pid && WIFEXITED(st))
            fprintf(stderr, "ft_store_server: the server exited with status %d\n",
                    WEXITSTATUS(st));
        else if (r == s->pid && WIFSIGNALED(st))
            fprintf(stderr, "ft_store_server: the server was killed by signal %d\n",
                    WTERMSIG(st));
        else
            fprintf(stderr, "ft_store_server: the server is gone\n");
        s->pid = 0;
        return true;
    }
    return false;
}

/* Waits for a signal or EOF on stdin (0), or for the server to die (-1). */
static int wait_for_stop(ft_test_server *s)
{
    bool use_stdin = watch_stdin();
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = wake_pipe[0], .events = POLLIN},
            {.fd = use_stdin ? STDIN_FILENO : -1, .events = POLLIN},
        };
        int n = poll(fds, 2, 500);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "ft_store_server: poll: %s\n", strerror(errno));
            return 0;
        }
        if (n > 0 && fds[0].revents != 0)
            return 0;
        if (n > 0 && fds[1].revents != 0) {
            char buf[256];
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                return 0; /* EOF (or stdin broke): stop */
            /* anything typed is ignored */
        }
        if (server_gone(s))
            return -1;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: ft_store_server redis|postgres\n"
                    "  starts a throwaway server, prints \"url: STORE-URL\", and\n"
                    "  stops it on SIGTERM, SIGINT, SIGHUP or end of stdin\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return usage();
    const char *kind = argv[1];
    int (*start)(ft_test_server *);
    const char *name;
    if (strcmp(kind, "redis") == 0) {
        start = ft_test_redis_start;
        name = "Redis";
    } else if (strcmp(kind, "postgres") == 0 || strcmp(kind, "postgresql") == 0) {
        start = ft_test_pg_start;
        name = "PostgreSQL";
    } else {
        return usage();
    }

    /* handlers first: a SIGTERM during start-up must still stop the server
     * (it is acted on once start returns) */
    if (install_handlers() != 0) {
        fprintf(stderr, "ft_store_server: cannot install signal handlers: %s\n",
                strerror(errno));
        return 1;
    }

    ft_test_server s;
    memset(&s, 0, sizeof s);
    int rc = start(&s);
    if (rc != 0) {
        ft_test_server_stop(&s);
        fprintf(stderr, "ft_store_server: could not start %s (%s)\n", name,
                rc > 0 ? "not installed or not usable here" : "start-up failed");
        return 1;
    }

    /* a reader of our stdout that went away must not kill us before the
     * server is stopped (set only now: the server must not inherit it) */
    signal(SIGPIPE, SIG_IGN);
    if (printf("url: %s\n", s.url) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "ft_store_server: cannot write to stdout: %s\n",
                strerror(errno));
        ft_test_server_stop(&s);
        return 1;
    }

    int st = wait_for_stop(&s);
    ft_test_server_stop(&s);
    return st == 0 ? 0 : 1;
}
