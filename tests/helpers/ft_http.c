/*
 * ft_http.c - HTTP/1.1 client and daemon launcher for tests and benches.
 */
#include "ft_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FT_BIN
#define FT_BIN "fedtrace"
#endif

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        abort();
    return q;
}

int ft_http_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void ft_http_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A buffered reader over the socket. */
typedef struct rd {
    int fd;
    char buf[65536];
    size_t pos, len;
} rd;

static int rd_fill(rd *r)
{
    if (r->pos < r->len)
        return 0;
    for (;;) {
        ssize_t n = recv(r->fd, r->buf, sizeof r->buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        r->pos = 0;
        r->len = (size_t)n;
        return 0;
    }
}

/* One line without CRLF into a malloc'd string. */
static char *rd_line(rd *r)
{
    char *line = NULL;
    size_t n = 0;
    for (;;) {
        if (rd_fill(r) != 0) {
            free(line);
            return NULL;
        }
        char c = r->buf[r->pos++];
        if (c == '\n')
            break;
        line = xrealloc(line, n + 2);
        line[n++] = c;
    }
    if (line == NULL)
        line = xrealloc(NULL, 1);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return line;
}

static int rd_bytes(rd *r, uint8_t *out, size_t n)
{
    while (n > 0) {
        if (rd_fill(r) != 0)
            return -1;
        size_t k = r->len - r->pos < n ? r->len - r->pos : n;
        memcpy(out, r->buf + r->pos, k);
        r->pos += k;
        out += k;
        n -= k;
    }
    return 0;
}

char *ft_http_header(const ft_http_resp *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - p);
            char *out = xrealloc(NULL, vl + 1);
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = e ? e + 1 : p + ll;
    }
    return NULL;
}

void ft_http_resp_free(ft_http_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int ft_http_request(int fd, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t len,
                    size_t chunk, ft_http_resp *out)
{
    memset(out, 0, sizeof *out);
    size_t hcap = 1024 + strlen(path);
    for (size_t i = 0; headers && headers[i]; i++)
        hcap += strlen(headers[i]) + 2;
    char *req = xrealloc(NULL, hcap);
    int hl = snprintf(req, hcap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, path);
    for (size_t i = 0; headers && headers[i]; i++)
        hl += snprintf(req + hl, hcap - (size_t)hl, "%s\r\n", headers[i]);
    if (chunk > 0)
        hl += snprintf(req + hl, hcap - (size_t)hl, "Transfer-Encoding: chunked\r\n\r\n");
    else if (body != NULL || strcmp(method, "POST") == 0)
        hl += snprintf(req + hl, hcap - (size_t)hl, "Content-Length: %zu\r\n\r\n", len);
    else
        hl += snprintf(req + hl, hcap - (size_t)hl, "\r\n");
    int rc = send_all(fd, req, (size_t)hl);
    free(req);
    if (rc == 0 && chunk == 0 && len > 0)
        rc = send_all(fd, body, len);
    for (size_t off = 0; rc == 0 && chunk > 0; off += chunk) {
        size_t n = off >= len ? 0 : len - off < chunk ? len - off : chunk;
        char sz[32];
        int sl = snprintf(sz, sizeof sz, "%zx\r\n", n);
        rc = send_all(fd, sz, (size_t)sl);
        if (rc == 0 && n > 0)
            rc = send_all(fd, (const char *)body + off, n);
        if (rc == 0)
            rc = send_all(fd, "\r\n", 2);
        if (n == 0)
            break;
    }
    if (rc != 0)
        return -1;

    rd *r = xrealloc(NULL, sizeof *r);
    r->fd = fd;
    r->pos = r->len = 0;
    char *status = rd_line(r);
    if (status == NULL || sscanf(status, "HTTP/1.%*d %d", &out->status) != 1) {
        free(status);
        free(r);
        return -1;
    }
    free(status);
    size_t hn = 0;
    long long clen = -1;
    bool chunked = false;
    out->head = xrealloc(NULL, 1);
    out->head[0] = '\0';
    for (;;) {
        char *line = rd_line(r);
        if (line == NULL) {
            free(r);
            return -1;
        }
        if (*line == '\0') {
            free(line);
            break;
        }
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = atoll(line + 15);
        if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
            chunked = true;
        size_t ll = strlen(line);
        out->head = xrealloc(out->head, hn + ll + 2);
        memcpy(out->head + hn, line, ll);
        hn += ll;
        out->head[hn++] = '\n';
        out->head[hn] = '\0';
        free(line);
    }
    out->body = xrealloc(NULL, 1);
    out->len = 0;
    int res = 0;
    if (chunked) {
        for (;;) {
            char *line = rd_line(r);
            if (line == NULL) {
                res = -1;
                break;
            }
            size_t n = strtoul(line, NULL, 16);
            free(line);
            if (n == 0) {
                free(rd_line(r)); /* the empty line after the last chunk */
                break;
            }
            out->body = xrealloc(out->body, out->len + n + 1);
            if (rd_bytes(r, out->body + out->len, n) != 0) {
                res = -1;
                break;
            }
            out->len += n;
            free(rd_line(r));
        }
    } else if (clen > 0) {
        out->body = xrealloc(out->body, (size_t)clen + 1);
        res = rd_bytes(r, out->body, (size_t)clen);
        out->len = (size_t)clen;
    }
    out->body[out->len] = '\0';
    free(r);
    return res;
}

int ft_http_once(int port, const char *method, const char *path,
                 const char *const *headers, const void *body, size_t len,
                 ft_http_resp *out)
{
    int fd = ft_http_connect(port);
    if (fd < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = ft_http_request(fd, method, path, headers, body, len, 0, out);
    ft_http_close(fd);
    return rc;
}

/* ---- the daemon ---- */

static int port_of(const char *line, const char *what)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "fedtrace: %s listening on http://", what);
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        return -1;
    const char *colon = strrchr(line, ':');
    return colon ? atoi(colon + 1) : -1;
}

int ft_daemon_start(ft_daemon *d, const char *store, const char *log_path,
                    const char *const *extra)
{
    memset(d, 0, sizeof *d);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    const char *argv[64];
    size_t n = 0;
    argv[n++] = FT_BIN;
    argv[n++] = "serve";
    argv[n++] = "--store";
    argv[n++] = store;
    bool otlp_set = false, ui_set = false;
    for (size_t i = 0; extra && extra[i] && n < 58; i++) {
        if (strcmp(extra[i], "--otlp-listen") == 0)
            otlp_set = true;
        if (strcmp(extra[i], "--ui-listen") == 0)
            ui_set = true;
        argv[n++] = extra[i];
    }
    if (!otlp_set) {
        argv[n++] = "--otlp-listen";
        argv[n++] = "127.0.0.1:0";
    }
    if (!ui_set) {
        argv[n++] = "--ui-listen";
        argv[n++] = "127.0.0.1:0";
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        int lf = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lf >= 0) {
            dup2(lf, 2);
            close(lf);
        }
        execv(FT_BIN, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(pfd[1]);
    d->pid = pid;
    d->log = strdup(log_path);
    bool want_otlp = !otlp_set, want_ui = !ui_set;
    for (size_t i = 0; extra && extra[i]; i++) {
        if (strcmp(extra[i], "--otlp-listen") == 0 && extra[i + 1])
            want_otlp = strcmp(extra[i + 1], "off") != 0;
        if (strcmp(extra[i], "--ui-listen") == 0 && extra[i + 1])
            want_ui = strcmp(extra[i + 1], "off") != 0;
    }
    char line[512];
    size_t ll = 0;
    time_t deadline = time(NULL) + 20;
    bool none = !want_otlp && !want_ui; /* then it can only fail: read to EOF */
    while (none || (want_otlp && d->otlp_port <= 0) || (want_ui && d->ui_port <= 0)) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        int left = (int)(deadline - time(NULL));
        if (left <= 0 || poll(&p, 1, left * 1000) <= 0)
            break;
        char c;
        if (read(pfd[0], &c, 1) != 1)
            break;
        if (c != '\n') {
            if (ll < sizeof line - 1)
                line[ll++] = c;
            continue;
        }
        line[ll] = '\0';
        ll = 0;
        int p1 = port_of(line, "otlp"), p2 = port_of(line, "ui");
        if (p1 > 0)
            d->otlp_port = p1;
        if (p2 > 0)
            d->ui_port = p2;
    }
    close(pfd[0]); /* later stdout lines go nowhere: the daemon ignores SIGPIPE */
    if (none || (want_otlp && d->otlp_port <= 0) || (want_ui && d->ui_port <= 0)) {
        ft_daemon_stop(d, SIGKILL);
        return -1;
    }
    return 0;
}

int ft_daemon_stop(ft_daemon *d, int sig)
{
    int status = -1;
    if (d->pid > 0) {
        kill(d->pid, sig);
        while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
            ;
        d->pid = 0;
    }
    free(d->log);
    d->log = NULL;
    return status;
}
