/*
 * unpack.c - bounded, streamed Content-Encoding decoding (zlib, zstd).
 */
#include "core/unpack.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#define ZSTD_WINDOW_LOG_MAX 24 /* 16 MiB window at most: bounds decoder memory */
#define CHUNK 16384

struct ft_unpacker {
    ft_encoding enc;
    size_t limit;
    uint8_t *out;
    size_t len, cap;
    ft_code failed; /* sticky error */
    ft_err failure;
    bool z_init, z_end;
    z_stream z;
    ZSTD_DStream *zs;
    bool zs_frame_open; /* inside a frame: finish must see it closed */
    uint8_t zs_magic[4];  /* the next frame's first bytes, checked first */
    size_t zs_magic_len;
};

bool ft_encoding_parse(const char *value, ft_encoding *out)
{
    static const struct {
        const char *name;
        ft_encoding enc;
    } names[] = {{"identity", FT_ENC_IDENTITY}, {"gzip", FT_ENC_GZIP},
                 {"x-gzip", FT_ENC_GZIP},       {"deflate", FT_ENC_DEFLATE},
                 {"zstd", FT_ENC_ZSTD}};
    if (value == NULL || *value == '\0') {
        *out = FT_ENC_IDENTITY;
        return true;
    }
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == n && strncasecmp(value, names[i].name, n) == 0) {
            *out = names[i].enc;
            return true;
        }
    }
    return false;
}

static ft_code fail(ft_unpacker *u, ft_err *err, ft_code code, const char *msg,
                    const char *detail)
{
    u->failed = ft_err_set(&u->failure, code, 0, "%s%s", msg, detail);
    if (err != NULL)
        *err = u->failure;
    return code;
}

static ft_code too_large(ft_unpacker *u, ft_err *err)
{
    char msg[128];
    snprintf(msg, sizeof msg,
             "request body is larger than the limit of %zu bytes after "
             "decompression",
             u->limit);
    return fail(u, err, FT_TOO_LARGE, msg, "");
}

/* Makes room for at least `want` more bytes, never past limit + 1 (one
 * byte over is how a decoder tells us the limit was passed). */
static bool reserve(ft_unpacker *u, size_t want)
{
    size_t need = u->len + want;
    if (need > u->limit + 1)
        need = u->limit + 1;
    if (need <= u->cap)
        return true;
    size_t cap = u->cap ? u->cap : CHUNK;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > u->limit + 1)
        cap = u->limit + 1;
    uint8_t *p = ft_realloc(u->out, cap);
    if (p == NULL)
        return false;
    u->out = p;
    u->cap = cap;
    return true;
}

ft_code ft_unpacker_create(ft_encoding enc, size_t limit, ft_unpacker **out,
                           ft_err *err)
{
    *out = NULL;
    ft_unpacker *u = ft_calloc(1, sizeof *u);
    if (u == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    u->enc = enc;
    u->limit = limit < SIZE_MAX ? limit : SIZE_MAX - 1; /* limit + 1 must fit */
    if (enc == FT_ENC_GZIP || enc == FT_ENC_DEFLATE) {
        /* gzip: 16 + MAX_WBITS; deflate as HTTP means zlib-wrapped, and
         * 32 + MAX_WBITS also accepts a gzip header */
        int wbits = enc == FT_ENC_GZIP ? 16 + MAX_WBITS : 32 + MAX_WBITS;
        if (inflateInit2(&u->z, wbits) != Z_OK) {
            ft_free(u);
            return ft_err_set(err, FT_NOMEM, 0, "zlib: cannot start inflate");
        }
        u->z_init = true;
    } else if (enc == FT_ENC_ZSTD) {
        u->zs = ZSTD_createDStream();
        if (u->zs == NULL ||
            ZSTD_isError(ZSTD_DCtx_setParameter(u->zs, ZSTD_d_windowLogMax,
                                                ZSTD_WINDOW_LOG_MAX))) {
            ZSTD_freeDStream(u->zs);
            ft_free(u);
            return ft_err_set(err, FT_NOMEM, 0, "zstd: cannot start decoder");
        }
    }
    *out = u;
    return FT_OK;
}

void ft_unpacker_destroy(ft_unpacker *u)
{
    if (u == NULL)
        return;
    if (u->z_init)
        inflateEnd(&u->z);
    ZSTD_freeDStream(u->zs);
    ft_free(u->out);
    ft_free(u);
}

static ft_code feed_zlib(ft_unpacker *u, const uint8_t *in, size_t n,
                         ft_err *err)
{
    while (n > 0) {
        if (u->z_end) {
            /* gzip allows several members one after another */
            if (u->enc != FT_ENC_GZIP)
                return fail(u, err, FT_DECODE, "deflate: data after the end of the stream", "");
            if (inflateReset(&u->z) != Z_OK)
                return fail(u, err, FT_DECODE, "gzip: cannot restart", "");
            u->z_end = false;
        }
        if (!reserve(u, CHUNK))
            return fail(u, err, FT_NOMEM, "out of memory", "");
        size_t room = u->cap - u->len;
        uInt in_now = n > UINT_MAX ? UINT_MAX : (uInt)n;
        u->z.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write it */
        u->z.avail_in = in_now;
        u->z.next_out = u->out + u->len;
        u->z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt out_before = u->z.avail_out;
        int zr = inflate(&u->z, Z_NO_FLUSH);
        u->len += out_before - u->z.avail_out;
        size_t used = in_now - u->z.avail_in;
        in += used;
        n -= used;
        if (u->len > u->limit)
            return too_large(u, err);
        if (zr == Z_STREAM_END) {
            u->z_end = true;
            continue;
        }
        if (zr == Z_BUF_ERROR && room > 0 && used == 0)
            return fail(u, err, FT_DECODE, "corrupt compressed body: no progress", "");
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return fail(u, err, FT_DECODE, "corrupt compressed body: ",
                        u->z.msg ? u->z.msg : "inflate failed");
    }
    return FT_OK;
}

/* Decodes ib until it is used up or a frame ends (ib->pos is then at the
 * next frame). */
static ft_code zstd_run(ft_unpacker *u, ZSTD_inBuffer *ib, ft_err *err)
{
    while (ib->pos < ib->size) {
        if (!reserve(u, CHUNK))
            return fail(u, err, FT_NOMEM, "out of memory", "");
        ZSTD_outBuffer ob = {u->out + u->len, u->cap - u->len, 0};
        size_t r = ZSTD_decompressStream(u->zs, &ob, ib);
        u->len += ob.pos;
        if (ZSTD_isError(r))
            return fail(u, err, FT_DECODE, "corrupt zstd body: ",
                        ZSTD_getErrorName(r));
        u->zs_frame_open = r != 0;
        if (u->len > u->limit)
            return too_large(u, err);
        if (r == 0)
            break;
    }
    return FT_OK;
}

/* A zstd frame or a skippable frame.  libzstd also decodes legacy (v0.x)
 * frames, but in streaming only when their first four bytes arrive in one
 * piece: the outcome would depend on how the body was split, so they are
 * refused (no client sends them). */
static bool zstd_magic_ok(const uint8_t m[4])
{
    uint32_t v = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                 (uint32_t)m[3] << 24;
    return v == ZSTD_MAGICNUMBER ||
           (v & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

static ft_code feed_zstd(ft_unpacker *u, const uint8_t *in, size_t n,
                         ft_err *err)
{
    ZSTD_inBuffer ib = {in, n, 0};
    while (ib.pos < ib.size) {
        ft_code rc;
        if (!u->zs_frame_open) {
            /* a frame starts: check its magic number first */
            while (u->zs_magic_len < 4 && ib.pos < ib.size)
                u->zs_magic[u->zs_magic_len++] = in[ib.pos++];
            if (u->zs_magic_len < 4)
                break;
            if (!zstd_magic_ok(u->zs_magic))
                return fail(u, err, FT_DECODE, "corrupt zstd body: ",
                            "not a zstd frame");
            ZSTD_inBuffer mb = {u->zs_magic, 4, 0};
            u->zs_magic_len = 0;
            rc = zstd_run(u, &mb, err);
        } else {
            rc = zstd_run(u, &ib, err);
        }
        if (rc != FT_OK)
            return rc;
    }
    return FT_OK;
}

ft_code ft_unpacker_feed(ft_unpacker *u, const uint8_t *in, size_t n,
                         ft_err *err)
{
    if (u->failed != FT_OK) {
        if (err != NULL)
            *err = u->failure;
        return u->failed;
    }
    if (n == 0)
        return FT_OK;
    switch (u->enc) {
    case FT_ENC_IDENTITY:
        if (n > u->limit - u->len || u->len > u->limit)
            return too_large(u, err);
        if (!reserve(u, n))
            return fail(u, err, FT_NOMEM, "out of memory", "");
        memcpy(u->out + u->len, in, n);
        u->len += n;
        return FT_OK;
    case FT_ENC_GZIP:
    case FT_ENC_DEFLATE:
        return feed_zlib(u, in, n, err);
    case FT_ENC_ZSTD:
        return feed_zstd(u, in, n, err);
    }
    return fail(u, err, FT_INVAL, "unknown encoding", "");
}

ft_code ft_unpacker_finish(ft_unpacker *u, ft_err *err)
{
    if (u->failed != FT_OK) {
        if (err != NULL)
            *err = u->failure;
        return u->failed;
    }
    /* an empty body is empty, whatever its encoding (as for zstd) */
    if (u->z_init && !u->z_end && u->z.total_in > 0)
        return fail(u, err, FT_DECODE, u->enc == FT_ENC_GZIP ? "gzip" : "deflate",
                    " body ends before its compressed stream does");
    if (u->zs != NULL && (u->zs_frame_open || u->zs_magic_len > 0))
        return fail(u, err, FT_DECODE, "zstd",
                    " body ends before its compressed stream does");
    return FT_OK;
}

const uint8_t *ft_unpacker_data(const ft_unpacker *u, size_t *len)
{
    *len = u->len;
    return u->out != NULL ? u->out : (const uint8_t *)"";
}
