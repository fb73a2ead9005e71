/*
 * ft_servers.c - what the test servers share: ports, waiting, stopping.
 */
#include "ft_servers.h"

#include "ft_tmp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool ft_test_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && strcmp(ci, "true") == 0;
}

int ft_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

bool ft_test_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return true;
        usleep(50000);
    }
    return false;
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool ft_test_find_bin(const char *name, const char *const *dirs, char *out,
                      size_t cap)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        found = executable(out);
    }
    free(copy);
    for (size_t i = 0; dirs && dirs[i] && !found; i++) {
        glob_t g;
        if (glob(dirs[i], 0, NULL, &g) != 0)
            continue;
        /* the newest version sorts last */
        for (size_t j = g.gl_pathc; j-- > 0 && !found;) {
            snprintf(out, cap, "%s/%s", g.gl_pathv[j], name);
            found = executable(out);
        }
        globfree(&g);
    }
    return found;
}

int ft_test_server_unavailable(ft_test_server *s, const char *what,
                               const char *why)
{
    if (ft_test_ci()) {
        fprintf(stderr, "FAILED: %s is required (CI=true) but %s\n", what, why);
        s->failed = true;
        return -1;
    }
    fprintf(stderr,
            "\n*** SKIPPED: %s tests: %s (run scripts/deps.sh to install it) ***\n\n",
            what, why);
    return 1;
}

static void stop_process(ft_test_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno == ECHILD)) {
            s->pid = 0;
            return;
        }
        usleep(50000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

void ft_test_server_stop(ft_test_server *s)
{
    stop_process(s);
    if (s->dir[0]) {
        ft_test_rmrf(s->dir);
        s->dir[0] = '\0';
    }
}

void ft_test_server_kill(ft_test_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int ft_test_server_restart(ft_test_server *s)
{
    if (s->relaunch == NULL || s->dir[0] == '\0')
        return -1;
    return s->relaunch(s);
}
