/*
 * driver.c - starts a throwaway Redis and PostgreSQL for the fedify-kv
 * end-to-end test, runs its script against them, and stops them.
 *
 *   e2e_fedify_kv_driver RUN_SH
 *
 * runs `sh RUN_SH FT_BIN REDIS_URL POSTGRES_URL FT_TEST_DATA`, with an empty
 * URL for a server whose binaries are missing, and exits with the script's
 * status.  Neither server available: 77 (skipped) without running it;
 * under CI=true a missing server is a failure (the start functions say so).
 * The script runs in its own process group; SIGINT, SIGTERM and SIGHUP are
 * passed on to that group (the script, node, the daemons), and the servers
 * are stopped whatever happens to it.
 */
#include "ft_servers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SKIPPED 77

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
    if (child_pid > 0)
        kill(-(pid_t)child_pid, SIGTERM);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int run_script(const char *script, const char *redis_url,
                      const char *pg_url)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("e2e_fedify_kv: fork");
        return 1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execlp("sh", "sh", script, FT_BIN, redis_url, pg_url, FT_TEST_DATA,
               (char *)NULL);
        perror("e2e_fedify_kv: exec sh");
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no signal may find it in ours */
    child_pid = pid;
    if (stop_signal != 0)
        kill(-pid, SIGTERM);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("e2e_fedify_kv: waitpid");
            return 1;
        }
    }
    child_pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    fprintf(stderr, "e2e_fedify_kv: %s ended by signal %d\n", script,
            WTERMSIG(status));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RUN_SH\n", argv[0]);
        return 2;
    }
    catch_signals();

    ft_test_server redis, pg;
    memset(&redis, 0, sizeof redis);
    memset(&pg, 0, sizeof pg);
    int rs = ft_test_redis_start(&redis);
    int ps = stop_signal == 0 ? ft_test_pg_start(&pg) : -1;

    int rc;
    if (rs < 0 || ps < 0) {
        fprintf(stderr, "e2e_fedify_kv: FAILED: could not start %s\n",
                rs < 0 ? "Redis" : "PostgreSQL");
        rc = 1;
    } else if (rs > 0 && ps > 0) {
        fprintf(stderr,
                "e2e_fedify_kv: SKIPPED: neither Redis nor PostgreSQL is available\n");
        rc = SKIPPED;
    } else {
        if (rs == 0)
            fprintf(stderr, "e2e_fedify_kv: Redis at %s\n", redis.url);
        if (ps == 0)
            fprintf(stderr, "e2e_fedify_kv: PostgreSQL at %s\n", pg.url);
        rc = run_script(argv[1], rs == 0 ? redis.url : "",
                        ps == 0 ? pg.url : "");
    }

    ft_test_server_stop(&pg);
    ft_test_server_stop(&redis);
    if (stop_signal != 0 && rc == 0)
        rc = 1;
    return rc;
}
