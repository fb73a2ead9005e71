/*
 * ft_test_util.h - small helpers shared by the unit tests.
 *
 * Files: read a whole file into memory, write one out.
 * ft_pbw: a minimal protobuf wire-format writer for building test inputs
 * by hand (valid ones, and with ft_pbw_raw, broken ones).
 *
 * Helpers abort the test program on malloc failure: they are test scaffolding,
 * not code under test.
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

typedef struct ft_pbw {
    uint8_t *buf;
    size_t len, cap;
    /* offsets of the open nested messages (ft_pbw_begin) */
    size_t open[FT_PBW_MAX_DEPTH];
    int depth;
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
/* Empties the buffer, keeping its memory. */
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
 * one and writes its length in front of it (minimal varint encoding). */
void ft_pbw_begin(ft_pbw *w, uint32_t field);
void ft_pbw_end(ft_pbw *w);

#endif
