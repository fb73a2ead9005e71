/*
 * ft_test_util.h - small helpers shared by the unit tests.
 *
 * Files: read a whole file into memory, write one out.
 * ft_pbw: a minimal protobuf wire-format writer for building test inputs
 * by hand (valid ones, and with ft_pbw_raw, broken ones), and the load
 * generator's request bodies (bench/loadgen.c).
 *
 * Helpers abort the program on malloc failure: they are test and bench
 * scaffolding, not code under test.
 */
#ifndef FT_TEST_UTIL_H
#define FT_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The whole file, malloc'd (plus a NUL byte past the end, not counted in
 * *len, so that text files can be used as C strings); NULL on error. */
uint8_t *ft_test_read_file(const char *path, size_t *len);
/* Writes (creates or truncates) a file; false on error. */
bool ft_test_write_file(const char *path, const void *data, size_t len);

/* ---- protobuf writer ---------------------------------------------------- */

#define FT_PBW_MAX_DEPTH 1024

/*
 * buf and mark are malloc'd.  A caller may keep them when done (taking
 * buf/len and mark/nmark, then ft_pbw_init instead of ft_pbw_free).
 */
typedef struct ft_pbw {
    uint8_t *buf;
    size_t len, cap;
    /* where the bodies of the open nested messages (ft_pbw_begin) start */
    size_t open[FT_PBW_MAX_DEPTH];
    int depth;
    /* the marks (ft_pbw_mark): offsets, ascending */
    size_t *mark;
    size_t nmark, capmark;
} ft_pbw;

enum {
    FT_PB_VARINT = 0,
    FT_PB_I64 = 1,
    FT_PB_LEN = 2,
    FT_PB_SGROUP = 3,
    FT_PB_EGROUP = 4,
    FT_PB_I32 = 5,
};

void ft_pbw_init(ft_pbw *w);
void ft_pbw_free(ft_pbw *w);
/* Empties the buffer and drops the marks, keeping the memory. */
void ft_pbw_reset(ft_pbw *w);

/* Raw bytes, as they are (for malformed input). */
void ft_pbw_raw(ft_pbw *w, const void *data, size_t n);
/* A bare varint, with no tag. */
void ft_pbw_raw_varint(ft_pbw *w, uint64_t v);
/* A field key (field number and wire type). */
void ft_pbw_tag(ft_pbw *w, uint32_t field, unsigned wire_type);

void ft_pbw_varint(ft_pbw *w, uint32_t field, uint64_t v);
void ft_pbw_sint(ft_pbw *w, uint32_t field, int64_t v); /* zigzag */
void ft_pbw_fixed32(ft_pbw *w, uint32_t field, uint32_t v);
void ft_pbw_fixed64(ft_pbw *w, uint32_t field, uint64_t v);
void ft_pbw_double(ft_pbw *w, uint32_t field, double v);
void ft_pbw_bytes(ft_pbw *w, uint32_t field, const void *data, size_t n);
void ft_pbw_str(ft_pbw *w, uint32_t field, const char *s);

/* Nested message: begin opens field `field`, end closes the innermost open
 * one and writes its length in front of it (minimal varint encoding).
 * Until then one byte stands for the length (w->len counts it); end moves
 * the message's bytes along when the length needs more. */
void ft_pbw_begin(ft_pbw *w, uint32_t field);
void ft_pbw_end(ft_pbw *w);

/*
 * Marks offset `off` (at most w->len, and not below the previous mark) so
 * that it can be found in the finished buffer: when ft_pbw_end moves the
 * bytes of the message it closes, the marks in them move along.  For
 * patching a finished buffer in place, such as ids rewritten before each
 * send of a pre-encoded body.  Returns the mark's index: w->mark[i] is
 * where the marked byte is now.
 */
size_t ft_pbw_mark(ft_pbw *w, size_t off);

#endif
