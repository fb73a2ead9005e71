/*
 * core/unpack.h - request bodies: Content-Encoding, streamed, bounded.
 *
 * An unpacker takes a body in the pieces it arrives in, undoes its
 * Content-Encoding (identity, gzip, deflate, zstd) and keeps the result,
 * refusing to produce more than `limit` bytes: a compressed bomb is cut off
 * as soon as its output passes the limit, not after it was inflated.
 *
 * One unpacker per request; not thread-safe.
 */
#ifndef FT_CORE_UNPACK_H
#define FT_CORE_UNPACK_H

#include "fedtrace/common.h"

typedef enum ft_encoding {
    FT_ENC_IDENTITY = 0,
    FT_ENC_GZIP,
    FT_ENC_DEFLATE,
    FT_ENC_ZSTD,
} ft_encoding;

/* Parses a Content-Encoding header value (NULL or empty: identity;
 * case-insensitive; "x-gzip" is gzip).  False for anything else, including
 * lists of several codings. */
bool ft_encoding_parse(const char *value, ft_encoding *out);

typedef struct ft_unpacker ft_unpacker;

ft_code ft_unpacker_create(ft_encoding enc, size_t limit, ft_unpacker **out,
                           ft_err *err);
void ft_unpacker_destroy(ft_unpacker *u); /* NULL is a no-op */

/*
 * Feeds the next piece of the encoded body.  FT_TOO_LARGE once the decoded
 * body passes the limit; FT_DECODE on corrupt compressed data (and on data
 * after the end of a zstd/deflate stream).  After an error, further calls
 * return the same error.
 */
ft_code ft_unpacker_feed(ft_unpacker *u, const uint8_t *in, size_t n,
                         ft_err *err);

/* Ends the body: FT_DECODE when the compressed stream is incomplete.  A
 * body of no bytes at all is empty, whatever its encoding. */
ft_code ft_unpacker_finish(ft_unpacker *u, ft_err *err);

/* The decoded bytes so far (valid until the next feed or destroy). */
const uint8_t *ft_unpacker_data(const ft_unpacker *u, size_t *len);

#endif
