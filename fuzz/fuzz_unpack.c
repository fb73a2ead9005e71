/* fuzz_unpack.c - Content-Encoding decoding on arbitrary bytes.
 *
 * Input: one selector byte, then the body.  The selector's low two bits
 * pick the encoding (identity, gzip, deflate, zstd), the other six a way of
 * cutting the body into pieces (0: whole, 1: one byte at a time, else
 * pseudo-random pieces seeded by the value).
 *
 * The body is decoded twice, whole and cut up, under a 1 MiB limit.  Both
 * runs must end the same way (the pieces a body arrives in cannot change
 * what it means), with the same bytes on success; a failure must be one a
 * body can cause (malformed, too large), carry a message and stay; the
 * output never passes the limit by more than the one byte that detects it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/unpack.h"

#define LIMIT ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    ft_code rc;
    uint8_t *out; /* malloc'd copy of the decoded bytes */
    size_t len;
} outcome;

static uint32_t next_piece(uint32_t *state, unsigned mode)
{
    /* xorshift32; mode scales the typical piece */
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    switch (*state % 4) {
    case 0:
        return 0; /* empty feeds are allowed */
    case 1:
        return 1 + *state / 4 % 3;
    default:
        return 1 + *state / 4 % (mode * 97);
    }
}

static outcome decode(ft_encoding enc, const uint8_t *in, size_t n, unsigned mode)
{
    outcome o = {FT_OK, NULL, 0};
    ft_unpacker *u;
    ft_err err = {0};
    if (ft_unpacker_create(enc, LIMIT, &u, &err) != FT_OK)
        abort(); /* only allocation can fail here */
    uint32_t state = 0x9e3779b9u ^ mode;
    size_t off = 0;
    while (off < n && o.rc == FT_OK) {
        size_t piece = mode == 0 ? n : mode == 1 ? 1 : next_piece(&state, mode);
        if (piece > n - off)
            piece = n - off;
        o.rc = ft_unpacker_feed(u, in + off, piece, &err);
        off += piece;
    }
    if (o.rc == FT_OK)
        o.rc = ft_unpacker_finish(u, &err);
    if (o.rc != FT_OK) {
        if (o.rc != FT_DECODE && o.rc != FT_TOO_LARGE)
            abort();
        if (err.code != o.rc || err.msg[0] == '\0')
            abort();
        /* errors stay */
        ft_err again = {0};
        if (ft_unpacker_feed(u, in, n, &again) != o.rc || strcmp(again.msg, err.msg) != 0)
            abort();
        if (ft_unpacker_finish(u, NULL) != o.rc)
            abort();
    }
    const uint8_t *d = ft_unpacker_data(u, &o.len);
    if (d == NULL || o.len > LIMIT + 1 || (o.rc == FT_OK && o.len > LIMIT))
        abort();
    o.out = malloc(o.len ? o.len : 1);
    if (o.out == NULL)
        abort();
    memcpy(o.out, d, o.len);
    ft_unpacker_destroy(u);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    ft_encoding enc = (ft_encoding)(data[0] & 3);
    unsigned mode = data[0] >> 2;
    data++;
    size--;
    if (mode == 1 && size > 4096)
        mode = 2; /* keep byte-at-a-time runs cheap */

    outcome whole = decode(enc, data, size, 0);
    outcome cut = decode(enc, data, size, mode);
    if (whole.rc != cut.rc)
        abort();
    if (whole.rc == FT_OK) {
        if (whole.len != cut.len || memcmp(whole.out, cut.out, whole.len) != 0)
            abort();
        if (enc == FT_ENC_IDENTITY &&
            (whole.len != size || memcmp(whole.out, data, size) != 0))
            abort();
    }
    free(whole.out);
    free(cut.out);
    return 0;
}
