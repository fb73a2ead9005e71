/*
 * ft_http.c - HTTP/1.1 client and daemon launcher for tests and benches.
 */
#include "ft_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
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

/* A TCP socket connected to addr, with the client's options; -1 with errno
 * set and *failed naming the call that failed. */
static int open_socket(const struct sockaddr *addr, socklen_t addrlen,
                       const char **failed)
{
    *failed = "socket";
    int fd = socket(addr->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, addr, addrlen) != 0) {
        int e = errno;
        *failed = "connect";
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ft_http_connect(int port)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *failed;
    return open_socket((const struct sockaddr *)&sa, sizeof sa, &failed);
}

void ft_http_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

int ft_http_conn_open(ft_http_conn *c, const struct sockaddr *addr,
                      socklen_t addrlen)
{
    const char *failed;
    c->off = c->len = 0;
    c->err[0] = '\0';
    c->fd = open_socket(addr, addrlen, &failed);
    if (c->fd >= 0)
        return 0;
    int e = errno;
    char host[INET6_ADDRSTRLEN + 16], serv[8];
    if (strcmp(failed, "connect") != 0) {
        snprintf(c->err, sizeof c->err, "%s: %s", failed, strerror(e));
    } else {
        if (getnameinfo(addr, addrlen, host, sizeof host, serv, sizeof serv,
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
            snprintf(host, sizeof host, "?");
            snprintf(serv, sizeof serv, "?");
        }
        bool v6 = addr->sa_family == AF_INET6;
        snprintf(c->err, sizeof c->err, "connect to %s%s%s:%s: %s",
                 v6 ? "[" : "", host, v6 ? "]" : "", serv, strerror(e));
    }
    errno = e;
    return -1;
}

void ft_http_conn_close(ft_http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

/* Sends the buffers whole, in as few calls as the socket allows (iov is
 * used up on the way). */
static int send_iov(ft_http_conn *c, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(c->err, sizeof c->err, "send: %s",
                     errno == EAGAIN ? "timed out" : strerror(errno));
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Reads more bytes into the buffer (moving unread ones to the front). */
static int rd_more(ft_http_conn *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof c->buf) {
        snprintf(c->err, sizeof c->err, "response line longer than %d bytes",
                 FT_HTTP_RBUF);
        return -1;
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            return 0;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            snprintf(c->err, sizeof c->err,
                     "the server closed the connection");
        else
            snprintf(c->err, sizeof c->err, "recv: %s",
                     errno == EAGAIN ? "timed out" : strerror(errno));
        return -1;
    }
}

/* The next CRLF-terminated line (without the CRLF, NUL-terminated in place);
 * valid until the next read. */
static int rd_line(ft_http_conn *c, char **line)
{
    for (;;) {
        char *s = c->buf + c->off;
        size_t n = c->len - c->off;
        for (size_t i = 0; i + 1 < n; i++) {
            if (s[i] == '\r' && s[i + 1] == '\n') {
                s[i] = '\0';
                *line = s;
                c->off += i + 2;
                return 0;
            }
        }
        if (rd_more(c) != 0)
            return -1;
    }
}

/* Room in r->body for n more bytes and a NUL. */
static int body_reserve(ft_http_conn *c, ft_http_resp *r, size_t n)
{
    if (n > SIZE_MAX / 4 - r->len) {
        snprintf(c->err, sizeof c->err, "response body too large");
        return -1;
    }
    size_t need = r->len + n + 1;
    if (need <= r->body_cap)
        return 0;
    size_t cap = r->body_cap ? r->body_cap * 2 : 256;
    if (cap < need)
        cap = need;
    r->body = xrealloc(r->body, cap);
    r->body_cap = cap;
    return 0;
}

/* Appends n body bytes from the connection to r->body. */
static int rd_body(ft_http_conn *c, ft_http_resp *r, size_t n)
{
    if (body_reserve(c, r, n) != 0)
        return -1;
    while (n > 0) {
        if (c->off == c->len && rd_more(c) != 0)
            return -1;
        size_t k = c->len - c->off < n ? c->len - c->off : n;
        memcpy(r->body + r->len, c->buf + c->off, k);
        r->len += k;
        c->off += k;
        n -= k;
    }
    return 0;
}

/* Appends a header line (and '\n') to r->head, which holds *hn bytes. */
static void head_add(ft_http_resp *r, size_t *hn, const char *line)
{
    size_t ll = strlen(line);
    if (*hn + ll + 2 > r->head_cap) {
        size_t cap = r->head_cap ? r->head_cap * 2 : 256;
        while (cap < *hn + ll + 2)
            cap *= 2;
        r->head = xrealloc(r->head, cap);
        r->head_cap = cap;
    }
    memcpy(r->head + *hn, line, ll);
    *hn += ll;
    r->head[(*hn)++] = '\n';
    r->head[*hn] = '\0';
}

/* Whether the header line is `name: ...` (any case); *value is then what
 * follows the colon and blanks. */
static bool header_is(const char *line, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return false;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return true;
}

static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; *p; p++)
        if (strncasecmp(p, token, n) == 0)
            return true;
    return false;
}

/* A Content-Length or chunk size: digits in base `base`, then blanks and,
 * for chunk sizes, extensions after ';'. */
static int parse_size(const char *s, int base, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || end == s || v > SIZE_MAX)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' && *end != ';')
        return -1;
    *out = (size_t)v;
    return 0;
}

static int read_response(ft_http_conn *c, bool head_only, ft_http_resp *r)
{
    char *line;
    size_t hn = 0;
    r->status = 0;
    r->reason[0] = '\0';
    r->close = false;
    r->len = 0;
    if (r->head == NULL) {
        r->head = xrealloc(NULL, 256);
        r->head_cap = 256;
    }
    r->head[0] = '\0';
    if (body_reserve(c, r, 0) != 0)
        return -1;
    r->body[0] = '\0';

    if (rd_line(c, &line) != 0)
        return -1;
    int minor = 0, status = 0, used = 0;
    if (sscanf(line, "HTTP/1.%d %3d%n", &minor, &status, &used) < 2 ||
        status < 100) {
        snprintf(c->err, sizeof c->err, "bad status line: %.200s", line);
        return -1;
    }
    r->status = status;
    snprintf(r->reason, sizeof r->reason, "%s",
             line[used] == ' ' ? line + used + 1 : line + used);
    r->close = minor == 0;
    bool chunked = false, have_length = false;
    size_t length = 0;
    for (;;) {
        if (rd_line(c, &line) != 0)
            return -1;
        if (*line == '\0')
            break;
        head_add(r, &hn, line);
        const char *v;
        if (header_is(line, "content-length", &v)) {
            if (parse_size(v, 10, &length) != 0) {
                snprintf(c->err, sizeof c->err, "bad Content-Length: %.100s",
                         v);
                return -1;
            }
            have_length = true;
        } else if (header_is(line, "transfer-encoding", &v)) {
            chunked = has_token(v, "chunked");
        } else if (header_is(line, "connection", &v)) {
            if (has_token(v, "close"))
                r->close = true;
            else if (has_token(v, "keep-alive"))
                r->close = false;
        }
    }
    if (head_only || status == 204 || status == 304)
        return 0;
    if (chunked) {
        for (;;) {
            size_t n;
            if (rd_line(c, &line) != 0)
                return -1;
            if (parse_size(line, 16, &n) != 0) {
                snprintf(c->err, sizeof c->err, "bad chunk size: %.100s",
                         line);
                return -1;
            }
            if (n == 0)
                break;
            if (rd_body(c, r, n) != 0 || rd_line(c, &line) != 0)
                return -1;
        }
        do { /* trailers, up to the empty line */
            if (rd_line(c, &line) != 0)
                return -1;
        } while (*line != '\0');
    } else if (have_length) {
        if (rd_body(c, r, length) != 0)
            return -1;
    } else {
        snprintf(c->err, sizeof c->err,
                 "response %d has neither Content-Length nor chunked "
                 "Transfer-Encoding",
                 status);
        return -1;
    }
    r->body[r->len] = '\0';
    return 0;
}

/* Copies s to dst + at; returns the offset past it. */
static size_t put_str(char *dst, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(dst + at, s, n);
    return at + n;
}

int ft_http_conn_request(ft_http_conn *c, const char *method,
                         const char *path, const char *const *headers,
                         const void *body, size_t len, size_t chunk,
                         ft_http_resp *out)
{
    c->err[0] = '\0';
    if (c->fd < 0) {
        snprintf(c->err, sizeof c->err, "not connected");
        return -1;
    }
    /* the request head: on the stack unless it is long; built with memcpy,
     * which costs a load generator less than printf */
    bool host = false;
    size_t cap = strlen(method) + strlen(path) + 128;
    for (size_t i = 0; headers && headers[i]; i++) {
        cap += strlen(headers[i]) + 2;
        host = host || strncasecmp(headers[i], "Host:", 5) == 0;
    }
    char small[1024];
    char *req = cap <= sizeof small ? small : xrealloc(NULL, cap);
    size_t hl = put_str(req, 0, method);
    hl = put_str(req, hl, " ");
    hl = put_str(req, hl, path);
    hl = put_str(req, hl, host ? " HTTP/1.1\r\n" : " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (size_t i = 0; headers && headers[i]; i++) {
        hl = put_str(req, hl, headers[i]);
        hl = put_str(req, hl, "\r\n");
    }
    if (chunk > 0) {
        hl = put_str(req, hl, "Transfer-Encoding: chunked\r\n\r\n");
    } else if (body != NULL || strcmp(method, "POST") == 0) {
        char digits[24];
        size_t d = sizeof digits - 1;
        digits[d] = '\0';
        size_t v = len;
        do
            digits[--d] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        hl = put_str(req, hl, "Content-Length: ");
        hl = put_str(req, hl, digits + d);
        hl = put_str(req, hl, "\r\n\r\n");
    } else {
        hl = put_str(req, hl, "\r\n");
    }

    /* head and body in one go, or the head and then the chunks */
    struct iovec iov[3] = {{req, hl},
                           {(void *)(uintptr_t)body, len}};
    int rc = send_iov(c, iov, chunk == 0 && len > 0 ? 2 : 1);
    if (req != small)
        free(req);
    for (size_t off = 0; rc == 0 && chunk > 0; off += chunk) {
        size_t n = off >= len ? 0 : len - off < chunk ? len - off : chunk;
        char sz[32];
        int sl = snprintf(sz, sizeof sz, "%zx\r\n", n);
        int k = 0;
        iov[k++] = (struct iovec){sz, (size_t)sl};
        if (n > 0)
            iov[k++] = (struct iovec){(void *)(uintptr_t)((const char *)body + off), n};
        iov[k++] = (struct iovec){(void *)(uintptr_t) "\r\n", 2};
        rc = send_iov(c, iov, k);
        if (n == 0)
            break;
    }
    if (rc != 0)
        return -1;
    return read_response(c, strcmp(method, "HEAD") == 0, out);
}

int ft_http_request(int fd, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t len,
                    size_t chunk, ft_http_resp *out)
{
    memset(out, 0, sizeof *out);
    ft_http_conn *c = xrealloc(NULL, sizeof *c);
    c->fd = fd;
    c->off = c->len = 0;
    int rc = ft_http_conn_request(c, method, path, headers, body, len, chunk,
                                  out);
    free(c);
    if (rc != 0)
        ft_http_resp_free(out); /* nothing for a failed call to free */
    return rc;
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
    char prefix[64], tls[64];
    snprintf(prefix, sizeof prefix, "fedtrace: %s listening on http://", what);
    snprintf(tls, sizeof tls, "fedtrace: %s listening on https://", what);
    if (strncmp(line, prefix, strlen(prefix)) != 0 && strncmp(line, tls, strlen(tls)) != 0)
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
        /* a test that fails halfway must not leave its daemons running */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
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
