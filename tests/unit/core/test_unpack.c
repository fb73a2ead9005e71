/* test_unpack.c - Content-Encoding decoding: names, roundtrips in every
 * split, multi-member gzip, the output limit (and a bomb cut off early),
 * truncated, corrupt and trailing data, sticky errors, empty bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

#include "core/unpack.h"

/* ---- test data ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Text-like data: words from a small vocabulary with some random bytes, so
 * that it compresses well but not absurdly. */
static bytes sample(size_t n)
{
    static const char *const words[] = {
        "activitypub", "inbox", "Follow", "Create", "Note", "https://a.example/",
        "span", "trace", " ", "\n", "{\"id\":", "}", "signature", "0123456789"};
    bytes b = {0};
    while (b.n < n) {
        if (rnd() % 8 == 0) {
            uint8_t c = (uint8_t)rnd();
            put(&b, &c, 1);
        } else {
            const char *w = words[rnd() % (sizeof words / sizeof words[0])];
            size_t l = strlen(w);
            put(&b, w, l < n - b.n ? l : n - b.n);
        }
    }
    return b;
}

/* zlib's deflate with windowBits wbits: 15 zlib, 16+15 gzip, -15 raw. */
static bytes zlib_pack(const uint8_t *in, size_t n, int wbits, int level)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    bytes out = {0};
    uint8_t buf[16384];
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int zr;
    do {
        z.next_out = buf;
        z.avail_out = sizeof buf;
        zr = deflate(&z, Z_FINISH);
        assert_true(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
        put(&out, buf, sizeof buf - z.avail_out);
    } while (zr != Z_STREAM_END);
    deflateEnd(&z);
    return out;
}

static bytes gzip_pack(const uint8_t *in, size_t n)
{
    return zlib_pack(in, n, 16 + MAX_WBITS, 6);
}

static bytes deflate_pack(const uint8_t *in, size_t n)
{
    return zlib_pack(in, n, MAX_WBITS, 6);
}

static bytes zstd_pack(const uint8_t *in, size_t n, int level)
{
    size_t cap = ZSTD_compressBound(n);
    bytes out = {malloc(cap ? cap : 1), 0, cap};
    assert_non_null(out.p);
    size_t r = ZSTD_compress(out.p, cap, in, n, level);
    assert_false(ZSTD_isError(r));
    out.n = r;
    return out;
}

/* A zstd frame written by the streaming API, so that its header carries no
 * content size; with a checksum. */
static bytes zstd_pack_stream(const uint8_t *in, size_t n, int window_log)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    if (window_log)
        assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log)));
    bytes out = {0};
    uint8_t buf[16384];
    /* ZSTD_e_continue first: ending on the first call would let zstd learn
     * the size and write it (and a window to match) into the header */
    ZSTD_inBuffer ib = {in, n, 0};
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob = {buf, sizeof buf, 0};
        assert_false(ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue)));
        put(&out, buf, ob.pos);
    }
    size_t left;
    do {
        ZSTD_outBuffer ob = {buf, sizeof buf, 0};
        left = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
        assert_false(ZSTD_isError(left));
        put(&out, buf, ob.pos);
    } while (left != 0);
    ZSTD_freeCCtx(c);
    return out;
}

static bytes pack(ft_encoding enc, const uint8_t *in, size_t n)
{
    switch (enc) {
    case FT_ENC_GZIP:
        return gzip_pack(in, n);
    case FT_ENC_DEFLATE:
        return deflate_pack(in, n);
    case FT_ENC_ZSTD:
        return zstd_pack(in, n, 3);
    case FT_ENC_IDENTITY:
        break;
    }
    bytes b = {0};
    put(&b, in, n);
    return b;
}

static const char *enc_name(ft_encoding e)
{
    static const char *const names[] = {"identity", "gzip", "deflate", "zstd"};
    return names[e];
}

/* ---- feeding ------------------------------------------------------------ */

enum split { WHOLE, BYTEWISE, RANDOM, HALVES };

typedef struct result {
    ft_code rc;   /* first failure of feed or finish, else FT_OK */
    bool at_finish; /* the failure came from finish */
    ft_err err;
    bytes out;
    size_t fed;   /* input bytes fed when the failure happened */
} result;

static result run(ft_encoding enc, size_t limit, const uint8_t *in, size_t n,
                  enum split how)
{
    result r;
    memset(&r, 0, sizeof r);
    ft_unpacker *u = NULL;
    ft_err err = {0};
    if (ft_unpacker_create(enc, limit, &u, &err) != FT_OK)
        fail_msg("create: %s", err.msg);
    size_t off = 0;
    bool first = true;
    while (off < n && r.rc == FT_OK) {
        size_t piece;
        switch (how) {
        case WHOLE:
            piece = n;
            break;
        case BYTEWISE:
            piece = 1;
            break;
        case HALVES:
            piece = first ? n / 2 : n - off;
            break;
        default:
            /* mostly small pieces, sometimes empty, sometimes large */
            switch (rnd() % 4) {
            case 0:
                piece = 0;
                break;
            case 1:
                piece = 1 + rnd() % 7;
                break;
            case 2:
                piece = 1 + rnd() % 300;
                break;
            default:
                piece = 1 + rnd() % 40000;
                break;
            }
            break;
        }
        if (piece > n - off)
            piece = n - off;
        r.rc = ft_unpacker_feed(u, in + off, piece, &r.err);
        off += piece;
        first = false;
    }
    r.fed = off;
    if (r.rc == FT_OK) {
        r.rc = ft_unpacker_finish(u, &r.err);
        r.at_finish = r.rc != FT_OK;
    }
    size_t len;
    const uint8_t *d = ft_unpacker_data(u, &len);
    assert_non_null(d);
    put(&r.out, d, len);
    ft_unpacker_destroy(u);
    return r;
}

static void expect_same(ft_encoding enc, const bytes *orig, const bytes *packed,
                        size_t limit, enum split how)
{
    result r = run(enc, limit, packed->p, packed->n, how);
    if (r.rc != FT_OK)
        fail_msg("%s, %zu bytes, split %d: %s: %s", enc_name(enc), orig->n, how,
                 ft_code_name(r.rc), r.err.msg);
    if (r.out.n != orig->n)
        fail_msg("%s, split %d: %zu bytes out, %zu in", enc_name(enc), how, r.out.n,
                 orig->n);
    assert_memory_equal(r.out.p ? r.out.p : (uint8_t *)"", orig->p ? orig->p : (uint8_t *)"",
                        orig->n);
    bytes_free(&r.out);
}

/* ---- names -------------------------------------------------------------- */

static void test_encoding_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        ft_encoding enc;
    } good[] = {
        {NULL, FT_ENC_IDENTITY},    {"", FT_ENC_IDENTITY},
        {"identity", FT_ENC_IDENTITY}, {"IDENTITY", FT_ENC_IDENTITY},
        {"gzip", FT_ENC_GZIP},      {"GZip", FT_ENC_GZIP},
        {"x-gzip", FT_ENC_GZIP},    {"X-GZIP", FT_ENC_GZIP},
        {"deflate", FT_ENC_DEFLATE}, {"Deflate", FT_ENC_DEFLATE},
        {"zstd", FT_ENC_ZSTD},      {"ZSTD", FT_ENC_ZSTD},
        {" gzip", FT_ENC_GZIP},     {"gzip ", FT_ENC_GZIP},
        {"\t zstd \t", FT_ENC_ZSTD},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ft_encoding e = (ft_encoding)99;
        if (!ft_encoding_parse(good[i].in, &e))
            fail_msg("\"%s\" refused", good[i].in ? good[i].in : "(null)");
        assert_int_equal(e, good[i].enc);
    }
    static const char *const bad[] = {
        "br", "compress", "x-compress", "gzip, deflate", "gzip,gzip", "gzip zstd",
        "identity, gzip", "gzip;q=1", "gz", "gzipp", "x-deflate", "zstandard",
        " ", "\t", ",", "g zip", "deflate-raw",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ft_encoding e = (ft_encoding)99;
        if (ft_encoding_parse(bad[i], &e))
            fail_msg("\"%s\" accepted as %d", bad[i], (int)e);
        assert_int_equal(e, 99);
    }
}

/* ---- roundtrips --------------------------------------------------------- */

static void roundtrips(ft_encoding enc)
{
    static const size_t sizes[] = {0, 1, 2, 100, 16383, 16384, 16385, 70000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        bytes orig = sample(sizes[i]);
        bytes packed = pack(enc, orig.p, orig.n);
        expect_same(enc, &orig, &packed, 1u << 20, WHOLE);
        expect_same(enc, &orig, &packed, 1u << 20, HALVES);
        expect_same(enc, &orig, &packed, 1u << 20, BYTEWISE);
        for (int k = 0; k < 4; k++)
            expect_same(enc, &orig, &packed, 1u << 20, RANDOM);
        bytes_free(&packed);
        bytes_free(&orig);
    }
    /* data that does not compress, and data that compresses very well */
    bytes noise = {0};
    for (size_t i = 0; i < 50000; i++) {
        uint8_t c = (uint8_t)rnd();
        put(&noise, &c, 1);
    }
    bytes zeros = {calloc(1, 3u << 20), 3u << 20, 3u << 20};
    assert_non_null(zeros.p);
    bytes *inputs[] = {&noise, &zeros};
    for (size_t i = 0; i < 2; i++) {
        bytes packed = pack(enc, inputs[i]->p, inputs[i]->n);
        expect_same(enc, inputs[i], &packed, 4u << 20, WHOLE);
        expect_same(enc, inputs[i], &packed, 4u << 20, RANDOM);
        expect_same(enc, inputs[i], &packed, 4u << 20, BYTEWISE);
        bytes_free(&packed);
    }
    bytes_free(&noise);
    bytes_free(&zeros);
}

static void test_roundtrip_identity(void **state)
{
    (void)state;
    roundtrips(FT_ENC_IDENTITY);
}

static void test_roundtrip_gzip(void **state)
{
    (void)state;
    roundtrips(FT_ENC_GZIP);
    /* every compression level, and a gzip stream under "deflate" (whose
     * decoder also takes the gzip wrapper) */
    bytes orig = sample(40000);
    for (int level = 0; level <= 9; level++) {
        bytes packed = zlib_pack(orig.p, orig.n, 16 + MAX_WBITS, level);
        expect_same(FT_ENC_GZIP, &orig, &packed, 40000, RANDOM);
        expect_same(FT_ENC_DEFLATE, &orig, &packed, 40000, RANDOM);
        bytes_free(&packed);
    }
    bytes_free(&orig);
}

static void test_roundtrip_deflate(void **state)
{
    (void)state;
    roundtrips(FT_ENC_DEFLATE);
    bytes orig = sample(40000);
    for (int level = 0; level <= 9; level++) {
        bytes packed = zlib_pack(orig.p, orig.n, MAX_WBITS, level);
        expect_same(FT_ENC_DEFLATE, &orig, &packed, 40000, RANDOM);
        bytes_free(&packed);
    }
    /* small windows */
    bytes packed = zlib_pack(orig.p, orig.n, 9, 6);
    expect_same(FT_ENC_DEFLATE, &orig, &packed, 40000, BYTEWISE);
    bytes_free(&packed);
    bytes_free(&orig);
}

static void test_roundtrip_zstd(void **state)
{
    (void)state;
    roundtrips(FT_ENC_ZSTD);
    bytes orig = sample(400000);
    static const int levels[] = {-5, 1, 3, 9, 19};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        bytes packed = zstd_pack(orig.p, orig.n, levels[i]);
        expect_same(FT_ENC_ZSTD, &orig, &packed, 400000, WHOLE);
        expect_same(FT_ENC_ZSTD, &orig, &packed, 400000, RANDOM);
        bytes_free(&packed);
    }
    /* no content size in the header, a checksum at the end */
    for (size_t n = 0; n <= 400000; n += 200000) {
        bytes part = {orig.p, n, n};
        bytes packed = zstd_pack_stream(orig.p, n, 0);
        expect_same(FT_ENC_ZSTD, &part, &packed, 400000, WHOLE);
        expect_same(FT_ENC_ZSTD, &part, &packed, 400000, BYTEWISE);
        expect_same(FT_ENC_ZSTD, &part, &packed, 400000, RANDOM);
        bytes_free(&packed);
    }
    bytes_free(&orig);
}

/* A frame that asks for a window larger than the decoder allows (16 MiB)
 * is refused, whatever its size: decoder memory stays bounded. */
static void test_zstd_window_limit(void **state)
{
    (void)state;
    bytes orig = sample(1000);
    bytes ok = zstd_pack_stream(orig.p, orig.n, 24);
    expect_same(FT_ENC_ZSTD, &orig, &ok, 1000, WHOLE);
    bytes big = zstd_pack_stream(orig.p, orig.n, 27);
    result r = run(FT_ENC_ZSTD, 1u << 20, big.p, big.n, WHOLE);
    assert_int_equal(r.rc, FT_DECODE);
    assert_non_null(strstr(r.err.msg, "zstd"));
    bytes_free(&r.out);
    bytes_free(&big);
    bytes_free(&ok);
    bytes_free(&orig);
}

/* ---- multi-member gzip -------------------------------------------------- */

static void test_gzip_multi_member(void **state)
{
    (void)state;
    bytes parts[4] = {sample(30000), sample(0), sample(1), sample(70000)};
    bytes all = {0}, packed = {0};
    size_t bounds[4];
    for (int i = 0; i < 4; i++) {
        put(&all, parts[i].p, parts[i].n);
        bytes m = gzip_pack(parts[i].p, parts[i].n);
        put(&packed, m.p, m.n);
        bounds[i] = packed.n;
        bytes_free(&m);
    }
    expect_same(FT_ENC_GZIP, &all, &packed, all.n, WHOLE);
    expect_same(FT_ENC_GZIP, &all, &packed, all.n, BYTEWISE);
    for (int k = 0; k < 8; k++)
        expect_same(FT_ENC_GZIP, &all, &packed, all.n, RANDOM);

    /* pieces that end exactly at member boundaries */
    ft_unpacker *u;
    assert_int_equal(ft_unpacker_create(FT_ENC_GZIP, all.n, &u, NULL), FT_OK);
    size_t off = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ft_unpacker_feed(u, packed.p + off, bounds[i] - off, NULL), FT_OK);
        off = bounds[i];
    }
    assert_int_equal(ft_unpacker_finish(u, NULL), FT_OK);
    size_t len;
    const uint8_t *d = ft_unpacker_data(u, &len);
    assert_int_equal(len, all.n);
    assert_memory_equal(d, all.p, all.n);
    ft_unpacker_destroy(u);

    /* the body ends inside the second member: incomplete */
    for (size_t cut = bounds[0] + 1; cut < bounds[1]; cut++) {
        result r = run(FT_ENC_GZIP, all.n, packed.p, cut, RANDOM);
        assert_int_equal(r.rc, FT_DECODE);
        assert_true(r.at_finish);
        bytes_free(&r.out);
    }

    /* the limit counts the members together */
    result r = run(FT_ENC_GZIP, all.n - 1, packed.p, packed.n, RANDOM);
    assert_int_equal(r.rc, FT_TOO_LARGE);
    assert_true(r.out.n <= all.n);
    bytes_free(&r.out);

    /* several members are gzip only: under deflate the second is data
     * after the end of the stream */
    bytes z = {0};
    for (int i = 0; i < 2; i++) {
        bytes m = deflate_pack(parts[i].p, parts[i].n);
        put(&z, m.p, m.n);
        bytes_free(&m);
    }
    r = run(FT_ENC_DEFLATE, all.n, z.p, z.n, WHOLE);
    assert_int_equal(r.rc, FT_DECODE);
    assert_false(r.at_finish);
    bytes_free(&r.out);
    bytes_free(&z);

    for (int i = 0; i < 4; i++)
        bytes_free(&parts[i]);
    bytes_free(&all);
    bytes_free(&packed);
}

/* ---- the limit ---------------------------------------------------------- */

static void test_limit(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 100, 16384, 16385, 50000, 200000};
    for (ft_encoding enc = FT_ENC_IDENTITY; enc <= FT_ENC_ZSTD; enc++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            bytes orig = sample(n);
            bytes packed = pack(enc, orig.p, orig.n);
            /* exactly at the limit: fine */
            expect_same(enc, &orig, &packed, n, WHOLE);
            expect_same(enc, &orig, &packed, n, RANDOM);
            if (n <= 16385)
                expect_same(enc, &orig, &packed, n, BYTEWISE);
            /* one byte over: FT_TOO_LARGE, and never more than limit + 1
             * bytes held */
            for (int how = WHOLE; how <= HALVES; how++) {
                if (how == BYTEWISE && n > 16385)
                    continue;
                result r = run(enc, n - 1, packed.p, packed.n, (enum split)how);
                if (r.rc != FT_TOO_LARGE)
                    fail_msg("%s, %zu bytes, limit %zu, split %d: %s: %s", enc_name(enc),
                             n, n - 1, how, ft_code_name(r.rc), r.err.msg);
                assert_false(r.at_finish);
                assert_true(r.out.n <= n);
                assert_non_null(strstr(r.err.msg, "limit"));
                /* what was kept is a prefix of the body */
                assert_memory_equal(r.out.p ? r.out.p : (uint8_t *)"", orig.p, r.out.n);
                bytes_free(&r.out);
            }
            bytes_free(&packed);
            bytes_free(&orig);
        }
        /* a limit of 0: only an empty body */
        bytes empty = pack(enc, (const uint8_t *)"", 0);
        result r = run(enc, 0, empty.p, empty.n, BYTEWISE);
        assert_int_equal(r.rc, FT_OK);
        assert_int_equal(r.out.n, 0);
        bytes_free(&r.out);
        bytes_free(&empty);
        bytes one = pack(enc, (const uint8_t *)"x", 1);
        r = run(enc, 0, one.p, one.n, WHOLE);
        assert_int_equal(r.rc, FT_TOO_LARGE);
        assert_true(r.out.n <= 1);
        bytes_free(&r.out);
        bytes_free(&one);
    }

    /* identity: a piece that would pass the limit is refused whole */
    ft_unpacker *u;
    assert_int_equal(ft_unpacker_create(FT_ENC_IDENTITY, 10, &u, NULL), FT_OK);
    assert_int_equal(ft_unpacker_feed(u, (const uint8_t *)"12345", 5, NULL), FT_OK);
    assert_int_equal(ft_unpacker_feed(u, (const uint8_t *)"123456", 6, NULL), FT_TOO_LARGE);
    size_t len;
    ft_unpacker_data(u, &len);
    assert_int_equal(len, 5);
    ft_unpacker_destroy(u);

    /* SIZE_MAX as "no limit" works */
    bytes orig = sample(5000);
    bytes packed = pack(FT_ENC_GZIP, orig.p, orig.n);
    expect_same(FT_ENC_GZIP, &orig, &packed, SIZE_MAX, RANDOM);
    expect_same(FT_ENC_IDENTITY, &orig, &orig, SIZE_MAX, RANDOM);
    bytes_free(&packed);
    bytes_free(&orig);
}

/* ---- bombs -------------------------------------------------------------- */

#define BOMB_SIZE ((size_t)1 << 30)
#define BOMB_LIMIT ((size_t)20 << 20)

static bytes gzip_bomb(void)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    static uint8_t zeros[1 << 20];
    uint8_t buf[65536];
    bytes out = {0};
    for (size_t done = 0; done < BOMB_SIZE; done += sizeof zeros) {
        z.next_in = zeros;
        z.avail_in = sizeof zeros;
        bool last = done + sizeof zeros >= BOMB_SIZE;
        int zr;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            zr = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
            put(&out, buf, sizeof buf - z.avail_out);
        } while (z.avail_out == 0 || (last && zr != Z_STREAM_END));
    }
    deflateEnd(&z);
    return out;
}

static bytes zstd_bomb(void)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    static uint8_t zeros[1 << 20];
    uint8_t buf[65536];
    bytes out = {0};
    for (size_t done = 0; done < BOMB_SIZE; done += sizeof zeros) {
        bool last = done + sizeof zeros >= BOMB_SIZE;
        ZSTD_inBuffer ib = {zeros, sizeof zeros, 0};
        size_t left;
        do {
            ZSTD_outBuffer ob = {buf, sizeof buf, 0};
            left = ZSTD_compressStream2(c, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
            assert_false(ZSTD_isError(left));
            put(&out, buf, ob.pos);
        } while (last ? left != 0 : ib.pos < ib.size);
    }
    ZSTD_freeCCtx(c);
    return out;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void defuse(ft_encoding enc, const bytes *bomb)
{
    long rss_before = max_rss_kib();
    double t0 = now_s();
    ft_unpacker *u;
    assert_int_equal(ft_unpacker_create(enc, BOMB_LIMIT, &u, NULL), FT_OK);
    ft_code rc = FT_OK;
    ft_err err = {0};
    size_t off = 0, piece = bomb->n / 64;
    while (off < bomb->n && rc == FT_OK) {
        size_t k = bomb->n - off < piece ? bomb->n - off : piece;
        rc = ft_unpacker_feed(u, bomb->p + off, k, &err);
        off += k;
    }
    double elapsed = now_s() - t0;
    assert_int_equal(rc, FT_TOO_LARGE);
    size_t len;
    const uint8_t *d = ft_unpacker_data(u, &len);
    assert_true(len <= BOMB_LIMIT + 1);
    assert_true(len >= BOMB_LIMIT); /* it was stopped by the limit, not before */
    assert_int_equal(d[0], 0);
    assert_int_equal(d[len - 1], 0);
    /* cut off after about limit / ratio input bytes, not after the body */
    assert_true(off < bomb->n / 8);
    /* and finish (and later feeds) report the same */
    assert_int_equal(ft_unpacker_finish(u, NULL), FT_TOO_LARGE);
    assert_int_equal(ft_unpacker_feed(u, bomb->p + off, 1, NULL), FT_TOO_LARGE);
    ft_unpacker_destroy(u);
    /* loose bounds: a bomb inflated whole would take 1 GiB and seconds */
    assert_true(elapsed < 20.0);
    long grown_mib = (max_rss_kib() - rss_before) / 1024;
    if (grown_mib > 512)
        fail_msg("%s bomb: resident set grew by %ld MiB", enc_name(enc), grown_mib);
    printf("# %s bomb: %zu compressed bytes, stopped after %zu, %.3f s\n", enc_name(enc),
           bomb->n, off, elapsed);
}

static void test_bomb_gzip(void **state)
{
    (void)state;
    bytes bomb = gzip_bomb();
    assert_true(bomb.n > 100000 && bomb.n < 4000000); /* ~1 MB */
    defuse(FT_ENC_GZIP, &bomb);
    defuse(FT_ENC_DEFLATE, &bomb); /* deflate takes the gzip wrapper too */
    bytes_free(&bomb);
}

static void test_bomb_zstd(void **state)
{
    (void)state;
    bytes bomb = zstd_bomb();
    defuse(FT_ENC_ZSTD, &bomb);
    bytes_free(&bomb);
}

/* ---- broken input ------------------------------------------------------- */

static void test_truncated(void **state)
{
    (void)state;
    bytes orig = sample(3000);
    for (ft_encoding enc = FT_ENC_GZIP; enc <= FT_ENC_ZSTD; enc++) {
        bytes packed = pack(enc, orig.p, orig.n);
        /* every proper, non-empty prefix is incomplete */
        for (size_t cut = 1; cut < packed.n; cut++) {
            result r = run(enc, 1u << 20, packed.p, cut, cut % 3 == 0 ? BYTEWISE : WHOLE);
            if (r.rc != FT_DECODE)
                fail_msg("%s cut at %zu of %zu: %s", enc_name(enc), cut, packed.n,
                         ft_code_name(r.rc));
            assert_true(r.at_finish);
            assert_non_null(strstr(r.err.msg, "ends before"));
            /* what came out is a prefix of the body */
            assert_true(r.out.n <= orig.n);
            assert_memory_equal(r.out.p ? r.out.p : (uint8_t *)"", orig.p, r.out.n);
            bytes_free(&r.out);
        }
        bytes_free(&packed);
    }
    bytes_free(&orig);
}

static void expect_decode_error(ft_encoding enc, const uint8_t *p, size_t n,
                                const char *what)
{
    for (int how = WHOLE; how <= HALVES; how++) {
        result r = run(enc, 1u << 20, p, n, (enum split)how);
        if (r.rc != FT_DECODE)
            fail_msg("%s: %s, split %d: %s", enc_name(enc), what, how, ft_code_name(r.rc));
        assert_true(r.err.msg[0] != '\0');
        assert_int_equal(r.err.code, FT_DECODE);
        bytes_free(&r.out);
    }
}

static void test_corrupt(void **state)
{
    (void)state;
    static const char junk[] = "this is not compressed at all, just text";
    for (ft_encoding enc = FT_ENC_GZIP; enc <= FT_ENC_ZSTD; enc++)
        expect_decode_error(enc, (const uint8_t *)junk, sizeof junk - 1, "plain text");

    bytes orig = sample(20000);
    bytes gz = gzip_pack(orig.p, orig.n);
    /* bad magic, bad method, bad CRC, bad length */
    size_t where[] = {0, 1, 2, gz.n - 8, gz.n - 5, gz.n - 4, gz.n - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        gz.p[where[i]] ^= 0x41;
        expect_decode_error(FT_ENC_GZIP, gz.p, gz.n, "gzip header/trailer byte");
        gz.p[where[i]] ^= 0x41;
    }
    bytes zl = deflate_pack(orig.p, orig.n);
    zl.p[1] ^= 1; /* header check */
    expect_decode_error(FT_ENC_DEFLATE, zl.p, zl.n, "zlib header check");
    zl.p[1] ^= 1;
    zl.p[zl.n - 1] ^= 1; /* adler32 */
    expect_decode_error(FT_ENC_DEFLATE, zl.p, zl.n, "zlib adler32");
    zl.p[zl.n - 1] ^= 1;
    /* raw deflate (no zlib wrapper) is not what HTTP calls deflate */
    bytes raw = zlib_pack(orig.p, orig.n, -MAX_WBITS, 6);
    expect_decode_error(FT_ENC_DEFLATE, raw.p, raw.n, "raw deflate");
    bytes zs = zstd_pack_stream(orig.p, orig.n, 0);
    zs.p[0] ^= 1; /* magic */
    expect_decode_error(FT_ENC_ZSTD, zs.p, zs.n, "zstd magic");
    zs.p[0] ^= 1;
    zs.p[zs.n - 1] ^= 1; /* checksum */
    expect_decode_error(FT_ENC_ZSTD, zs.p, zs.n, "zstd checksum");
    zs.p[zs.n - 1] ^= 1;

    /* random damage anywhere: an error or some output, never a crash, and
     * the limit holds */
    bytes *streams[] = {&gz, &zl, &zs};
    ft_encoding encs[] = {FT_ENC_GZIP, FT_ENC_DEFLATE, FT_ENC_ZSTD};
    for (int s = 0; s < 3; s++) {
        bytes *b = streams[s];
        for (int k = 0; k < 300; k++) {
            size_t at = rnd() % b->n;
            uint8_t mask = (uint8_t)(1 + rnd() % 255);
            b->p[at] ^= mask;
            result r = run(encs[s], 30000, b->p, b->n, RANDOM);
            assert_true(r.rc == FT_OK || r.rc == FT_DECODE || r.rc == FT_TOO_LARGE);
            if (r.rc != FT_OK)
                assert_true(r.err.msg[0] != '\0');
            assert_true(r.out.n <= 30001);
            bytes_free(&r.out);
            b->p[at] ^= mask;
        }
    }
    bytes_free(&raw);
    bytes_free(&zs);
    bytes_free(&zl);
    bytes_free(&gz);
    bytes_free(&orig);
}

static void test_trailing_data(void **state)
{
    (void)state;
    bytes orig = sample(5000);
    static const char *const tails[] = {"x", "garbage after the stream", "\0\0\0\0\0\0\0\0"};
    static const size_t tail_len[] = {1, 24, 8};
    for (ft_encoding enc = FT_ENC_GZIP; enc <= FT_ENC_ZSTD; enc++) {
        for (size_t t = 0; t < 3; t++) {
            bytes b = pack(enc, orig.p, orig.n);
            put(&b, tails[t], tail_len[t]);
            expect_decode_error(enc, b.p, b.n, "trailing bytes");
            bytes_free(&b);
        }
    }
    /* deflate: a second complete stream is data after the end too */
    bytes d = deflate_pack(orig.p, orig.n);
    bytes d2 = deflate_pack(orig.p, 10);
    put(&d, d2.p, d2.n);
    expect_decode_error(FT_ENC_DEFLATE, d.p, d.n, "a second zlib stream");
    bytes_free(&d2);
    bytes_free(&d);

    /* zstd: a second frame is part of a valid zstd stream (RFC 8878 allows
     * concatenated frames); the output is both frames' */
    bytes z = zstd_pack(orig.p, 3000, 3);
    bytes z2 = zstd_pack_stream(orig.p + 3000, 2000, 0);
    put(&z, z2.p, z2.n);
    expect_same(FT_ENC_ZSTD, &orig, &z, orig.n, WHOLE);
    expect_same(FT_ENC_ZSTD, &orig, &z, orig.n, BYTEWISE);
    bytes_free(&z2);
    bytes_free(&z);
    bytes_free(&orig);
}

/* Frames other than zstd's own: skippable frames are part of the format;
 * legacy (v0.x) frames are refused however the body is split (libzstd's
 * streaming decoder would take one only if its magic number arrived in one
 * piece). */
static void test_zstd_frame_kinds(void **state)
{
    (void)state;
    bytes orig = sample(3000);
    bytes z = {0};
    static const uint8_t skip[] = {0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};
    put(&z, skip, sizeof skip);
    bytes f = zstd_pack(orig.p, orig.n, 3);
    put(&z, f.p, f.n);
    put(&z, skip, sizeof skip);
    for (int how = WHOLE; how <= HALVES; how++)
        expect_same(FT_ENC_ZSTD, &orig, &z, orig.n, (enum split)how);
    bytes_free(&f);
    bytes_free(&z);

    /* a v0.5 frame (magic 0xFD2FB525) */
    static const uint8_t legacy[] = {0x25, 0xb5, 0x2f, 0xfd, 0x02, 0xfd, 0x02, 0xb5};
    expect_decode_error(FT_ENC_ZSTD, legacy, sizeof legacy, "a legacy frame");
    /* and the same after a good frame */
    z = zstd_pack(orig.p, orig.n, 3);
    put(&z, legacy, sizeof legacy);
    expect_decode_error(FT_ENC_ZSTD, z.p, z.n, "a legacy frame after a good one");
    bytes_free(&z);

    /* the first bytes of a next frame, and nothing more */
    for (size_t k = 1; k < 4; k++) {
        z = zstd_pack(orig.p, orig.n, 3);
        uint8_t head[4];
        memcpy(head, z.p, 4);
        put(&z, head, k);
        result r = run(FT_ENC_ZSTD, orig.n, z.p, z.n, BYTEWISE);
        assert_int_equal(r.rc, FT_DECODE);
        assert_true(r.at_finish);
        assert_int_equal(r.out.n, orig.n);
        bytes_free(&r.out);
        bytes_free(&z);
    }
    bytes_free(&orig);
}

static void test_sticky_errors(void **state)
{
    (void)state;
    bytes orig = sample(2000);
    for (ft_encoding enc = FT_ENC_GZIP; enc <= FT_ENC_ZSTD; enc++) {
        bytes good = pack(enc, orig.p, orig.n);
        ft_unpacker *u;
        ft_err e1 = {0}, e2 = {0}, e3 = {0};
        assert_int_equal(ft_unpacker_create(enc, 1u << 20, &u, NULL), FT_OK);
        assert_int_equal(ft_unpacker_feed(u, (const uint8_t *)"\xff\xfe\xfd\xfc\xfb", 5, &e1),
                         FT_DECODE);
        /* a valid body afterwards does not revive it */
        assert_int_equal(ft_unpacker_feed(u, good.p, good.n, &e2), FT_DECODE);
        assert_string_equal(e1.msg, e2.msg);
        assert_int_equal(ft_unpacker_feed(u, NULL, 0, &e3), FT_DECODE);
        assert_string_equal(e1.msg, e3.msg);
        memset(&e3, 0, sizeof e3);
        assert_int_equal(ft_unpacker_finish(u, &e3), FT_DECODE);
        assert_string_equal(e1.msg, e3.msg);
        assert_int_equal(ft_unpacker_feed(u, good.p, good.n, NULL), FT_DECODE);
        ft_unpacker_destroy(u);

        /* and FT_TOO_LARGE stays too */
        assert_int_equal(ft_unpacker_create(enc, 100, &u, NULL), FT_OK);
        assert_int_equal(ft_unpacker_feed(u, good.p, good.n, &e1), FT_TOO_LARGE);
        assert_int_equal(ft_unpacker_feed(u, good.p, 0, &e2), FT_TOO_LARGE);
        assert_string_equal(e1.msg, e2.msg);
        assert_int_equal(ft_unpacker_finish(u, NULL), FT_TOO_LARGE);
        ft_unpacker_destroy(u);
        bytes_free(&good);
    }
    bytes_free(&orig);

    /* identity too */
    ft_unpacker *u;
    ft_err e = {0};
    assert_int_equal(ft_unpacker_create(FT_ENC_IDENTITY, 3, &u, NULL), FT_OK);
    assert_int_equal(ft_unpacker_feed(u, (const uint8_t *)"abcd", 4, &e), FT_TOO_LARGE);
    assert_int_equal(e.code, FT_TOO_LARGE);
    assert_non_null(strstr(e.msg, "3 bytes"));
    assert_int_equal(ft_unpacker_feed(u, (const uint8_t *)"a", 1, NULL), FT_TOO_LARGE);
    assert_int_equal(ft_unpacker_finish(u, NULL), FT_TOO_LARGE);
    ft_unpacker_destroy(u);
}

static void test_empty_bodies(void **state)
{
    (void)state;
    for (ft_encoding enc = FT_ENC_IDENTITY; enc <= FT_ENC_ZSTD; enc++) {
        /* nothing at all: an empty body, whatever the encoding says */
        ft_unpacker *u;
        assert_int_equal(ft_unpacker_create(enc, 100, &u, NULL), FT_OK);
        size_t len = 99;
        const uint8_t *d = ft_unpacker_data(u, &len);
        assert_non_null(d);
        assert_int_equal(len, 0);
        assert_int_equal(ft_unpacker_feed(u, NULL, 0, NULL), FT_OK);
        ft_err err = {0};
        if (ft_unpacker_finish(u, &err) != FT_OK)
            fail_msg("%s, empty body: %s", enc_name(enc), err.msg);
        d = ft_unpacker_data(u, &len);
        assert_non_null(d);
        assert_int_equal(len, 0);
        ft_unpacker_destroy(u);

        /* a compressed empty body */
        bytes none = {0};
        bytes packed = pack(enc, (const uint8_t *)"", 0);
        if (enc != FT_ENC_IDENTITY)
            assert_true(packed.n > 0);
        expect_same(enc, &none, &packed, 0, BYTEWISE);
        bytes_free(&packed);

        /* a limit of 0 and no body */
        assert_int_equal(ft_unpacker_create(enc, 0, &u, NULL), FT_OK);
        assert_int_equal(ft_unpacker_finish(u, NULL), FT_OK);
        ft_unpacker_destroy(u);
    }
    ft_unpacker_destroy(NULL);
}

/* Allocation failures (through the ft_ allocator) become FT_NOMEM, never a
 * crash, and stay. */
static void test_out_of_memory(void **state)
{
    (void)state;
    ft_unpacker *u = (ft_unpacker *)1;
    ft_err err = {0};
    ft_alloc_fail_after(0);
    ft_code rc = ft_unpacker_create(FT_ENC_GZIP, 100, &u, &err);
    ft_alloc_fail_after(-1);
    assert_int_equal(rc, FT_NOMEM);
    assert_null(u);

    bytes orig = sample(100000);
    for (ft_encoding enc = FT_ENC_IDENTITY; enc <= FT_ENC_ZSTD; enc++) {
        bytes packed = pack(enc, orig.p, orig.n);
        for (long after = 0; after < 6; after++) {
            assert_int_equal(ft_unpacker_create(enc, 1u << 20, &u, NULL), FT_OK);
            ft_alloc_fail_after(after);
            size_t off = 0;
            rc = FT_OK;
            while (off < packed.n && rc == FT_OK) {
                size_t k = packed.n - off < 3000 ? packed.n - off : 3000;
                rc = ft_unpacker_feed(u, packed.p + off, k, &err);
                off += k;
            }
            ft_alloc_fail_after(-1);
            if (rc == FT_OK)
                rc = ft_unpacker_finish(u, &err);
            if (rc != FT_OK) {
                assert_int_equal(rc, FT_NOMEM);
                assert_int_equal(ft_unpacker_finish(u, NULL), FT_NOMEM);
            }
            ft_unpacker_destroy(u);
        }
        bytes_free(&packed);
    }
    bytes_free(&orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bomb_gzip),
        cmocka_unit_test(test_bomb_zstd),
        cmocka_unit_test(test_encoding_parse),
        cmocka_unit_test(test_roundtrip_identity),
        cmocka_unit_test(test_roundtrip_gzip),
        cmocka_unit_test(test_roundtrip_deflate),
        cmocka_unit_test(test_roundtrip_zstd),
        cmocka_unit_test(test_zstd_window_limit),
        cmocka_unit_test(test_gzip_multi_member),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_trailing_data),
        cmocka_unit_test(test_zstd_frame_kinds),
        cmocka_unit_test(test_sticky_errors),
        cmocka_unit_test(test_empty_bodies),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
