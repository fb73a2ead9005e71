/*
 * kv_zstd.c - zstd frames for stored values, shared by the stores that
 * compress (LMDB: every value that shrinks; Redis: the values a writer
 * marks compressible).  One context per thread: writers and readers run
 * on many threads, some short-lived (the UI's thread per connection), and
 * each context is freed when its thread ends.
 */
#include "kv/kv_int.h"

#include <pthread.h>
#include <string.h>
#include <zstd.h>

static pthread_once_t zkeys_once = PTHREAD_ONCE_INIT;
static pthread_key_t cctx_key, dctx_key;

static void free_cctx(void *p)
{
    ZSTD_freeCCtx(p);
}

static void free_dctx(void *p)
{
    ZSTD_freeDCtx(p);
}

static void zkeys_init(void)
{
    pthread_key_create(&cctx_key, free_cctx);
    pthread_key_create(&dctx_key, free_dctx);
}

static ZSTD_CCtx *thread_cctx(void)
{
    pthread_once(&zkeys_once, zkeys_init);
    ZSTD_CCtx *c = pthread_getspecific(cctx_key);
    if (c == NULL && (c = ZSTD_createCCtx()) != NULL && pthread_setspecific(cctx_key, c) != 0) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&zkeys_once, zkeys_init);
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (d == NULL && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

bool ft_kv__is_frame(ft_str v)
{
    static const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    return v.len >= 4 && memcmp(v.ptr, magic, 4) == 0;
}

ft_code ft_kv__compress(ft_arena *a, ft_str v, bool force, ft_str *out, ft_err *err)
{
    *out = v;
    if (!force && v.len < FT_KV_COMPRESS_MIN)
        return FT_OK;
    ZSTD_CCtx *cc = thread_cctx();
    size_t bound = ZSTD_compressBound(v.len);
    char *z = cc != NULL ? ft_arena_alloc(a, bound) : NULL;
    if (z == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory compressing a value");
    size_t zlen = ZSTD_compressCCtx(cc, z, bound, v.len ? v.ptr : "", v.len, 1);
    if (ZSTD_isError(zlen))
        return force ? ft_err_set(err, FT_BACKEND, 0, "zstd: %s", ZSTD_getErrorName(zlen))
                     : FT_OK;
    if (force || zlen <= v.len - v.len / 8)
        *out = (ft_str){z, zlen};
    return FT_OK;
}

/* The content size a frame declares; false when it declares none, or
 * more than FT_KV_FRAME_MAX. */
static bool frame_size(ft_str frame, size_t *size)
{
    unsigned long long n = ZSTD_getFrameContentSize(frame.ptr, frame.len);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > FT_KV_FRAME_MAX)
        return false;
    *size = (size_t)n;
    return true;
}

/* The frame's content into dst (size bytes, as frame_size said). */
static ft_code decompress_to(ft_str frame, char *dst, size_t size)
{
    ZSTD_DCtx *d = thread_dctx();
    if (d == NULL)
        return FT_NOMEM;
    size_t got = ZSTD_decompressDCtx(d, dst, size, frame.ptr, frame.len);
    return ZSTD_isError(got) || got != size ? FT_CORRUPT : FT_OK;
}

ft_code ft_kv__decompress_into(ft_str frame, char **buf, size_t *cap, ft_str *out)
{
    size_t size;
    if (!frame_size(frame, &size))
        return FT_CORRUPT;
    if (*cap < size + 1) {
        char *b = ft_realloc(*buf, size + 1);
        if (b == NULL)
            return FT_NOMEM;
        *buf = b;
        *cap = size + 1;
    }
    ft_code rc = decompress_to(frame, *buf, size);
    if (rc == FT_OK)
        *out = (ft_str){*buf, size};
    return rc;
}

ft_code ft_kv__decompress(ft_arena *a, ft_str frame, ft_str *out, ft_err *err)
{
    size_t size;
    if (!frame_size(frame, &size))
        return ft_err_set(err, FT_CORRUPT, 0, "a stored zstd frame does not decode");
    char *b = ft_arena_alloc(a, size + 1);
    ft_code rc = b != NULL ? decompress_to(frame, b, size) : FT_NOMEM;
    if (rc == FT_NOMEM)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory decompressing a value");
    if (rc != FT_OK)
        return ft_err_set(err, FT_CORRUPT, 0, "a stored zstd frame does not decode");
    b[size] = '\0';
    *out = (ft_str){b, size};
    return FT_OK;
}
