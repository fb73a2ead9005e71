/*
 * ft_redis.c - a throwaway redis-server for tests.
 *
 * Runs `redis-server` in the foreground as a child process, bound to
 * 127.0.0.1 on a free port, with a fresh temporary directory as its working
 * directory, no snapshots; an append-only file synced on every write; its output goes to
 * DIR/redis.log.  The child dies with the test process (PR_SET_PDEATHSIG),
 * so a crashed test leaves no server behind.
 */
#include "ft_servers.h"

#include "ft_tmp.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000

static char redis_bin[512];

/* Prints the end of the server's log (why it did not come up). */
static void print_log_tail(const ft_test_server *s)
{
    char path[600];
    snprintf(path, sizeof path, "%s/redis.log", s->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char buf[2048];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "--- %s ---\n%s\n---\n", path, buf);
}

/* Starts redis-server on s->port in s->dir; waits until it accepts. */
static int launch(ft_test_server *s)
{
    char port[16], log[600];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        char *const argv[] = {
            redis_bin,    "--port",       port,  "--bind",  "127.0.0.1",
            /* an append-only file synced on every write: a server killed
             * and started again (outage tests) keeps what it acknowledged */
            "--dir",      s->dir,         "--save", "",     "--appendonly",
            "yes",        "--appendfsync", "always", "--daemonize", "no", NULL,
        };
        execv(redis_bin, argv);
        _exit(127);
    }
    s->pid = pid;
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fprintf(stderr, "redis-server exited at start (status %d)\n", st);
            print_log_tail(s);
            return -1;
        }
        if (ft_test_wait_port(s->port, 100))
            return 0;
    }
    fprintf(stderr, "redis-server did not listen on port %d within %d ms\n",
            s->port, START_TIMEOUT_MS);
    print_log_tail(s);
    ft_test_server_kill(s);
    return -1;
}

static int relaunch(ft_test_server *s)
{
    if (s->pid > 0)
        return 0;
    return launch(s);
}

int ft_test_redis_start(ft_test_server *s)
{
    memset(s, 0, sizeof *s);
    if (!ft_test_find_bin("redis-server", NULL, redis_bin, sizeof redis_bin))
        return ft_test_server_unavailable(s, "Redis", "redis-server is not installed");
    s->port = ft_test_free_port();
    if (s->port <= 0) {
        fprintf(stderr, "FAILED: no free port for redis-server\n");
        s->failed = true;
        return -1;
    }
    char *dir = ft_test_tmpdir("redis");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    s->relaunch = relaunch;
    if (launch(s) != 0) {
        ft_test_server_stop(s);
        s->failed = true;
        return -1;
    }
    snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
    return 0;
}
