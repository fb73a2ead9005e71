/* fuzz_common.h - what the OTLP fuzz targets share: the arena cap and
 * helpers that read every byte a decoded value, attribute list, resource or
 * scope points at, so that a slice reaching past the input or an array
 * shorter than its count shows up under ASan.
 *
 * A header of static functions, not a .c file: CMake builds every
 * fuzz/fuzz_*.c as a target of its own.  Include it once per target. */
#ifndef FEDTRACE_FUZZ_COMMON_H
#define FEDTRACE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/otlp.h"

#define ARENA_CAP ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static inline void touch_str(ft_str s)
{
    unsigned h = 0;
    for (size_t i = 0; i < s.len; i++)
        h = h * 31 + (unsigned char)s.ptr[i];
    sink += h;
}

static inline void touch_attrs(const ft_attr *items, size_t n);

static inline void touch_value(const ft_value *v)
{
    switch (v->type) {
    case FT_VAL_STRING:
    case FT_VAL_BYTES:
        touch_str(v->u.s);
        break;
    case FT_VAL_BOOL:
        sink += v->u.b;
        break;
    case FT_VAL_INT:
        sink += (unsigned)v->u.i;
        break;
    case FT_VAL_DOUBLE:
        sink += v->u.d > 0;
        break;
    case FT_VAL_ARRAY:
        for (size_t i = 0; i < v->u.array.n; i++)
            touch_value(&v->u.array.items[i]);
        break;
    case FT_VAL_KVLIST:
        touch_attrs(v->u.kvlist.items, v->u.kvlist.n);
        break;
    case FT_VAL_EMPTY:
        break;
    default:
        abort(); /* a type the decoder never produces */
    }
}

static inline void touch_attrs(const ft_attr *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        touch_str(items[i].key);
        touch_value(&items[i].value);
    }
}

/* The resource and scope that a span or log record points at. */
static inline void touch_origin(const ft_resource *res, const ft_scope *scope)
{
    touch_attrs(res->attrs.items, res->attrs.n);
    touch_str(res->schema_url);
    touch_str(scope->name);
    touch_str(scope->version);
    touch_str(scope->schema_url);
    touch_attrs(scope->attrs.items, scope->attrs.n);
}

/* A failed decode: only malformed input or a full arena may fail it, and
 * always with a message. */
static inline void check_failure(ft_code rc, const ft_err *err)
{
    if (rc != FT_DECODE && rc != FT_NOMEM)
        abort();
    if (err->msg[0] == '\0')
        abort(); /* failures always say why */
}

/*
 * The JSON fuzzers' run, shared by traces and logs.  decode() decodes into
 * the arena, checks a successful result (reading every byte it points at)
 * and gives its item count.  An input that decodes is decoded again with
 * the arena capped at exactly what it used (the same result, unless the
 * up-front estimate of jansson's tree is the larger need: FT_NOMEM) and at
 * half of it (FT_NOMEM).  Failures carry the decoder's message prefix.
 */
typedef ft_code (*fuzz_decode_fn)(const uint8_t *data, size_t size,
                                  ft_arena *arena, size_t *n, ft_err *err);

static inline ft_code fuzz_decode_capped(fuzz_decode_fn decode,
                                         const uint8_t *data, size_t size,
                                         size_t cap, size_t *n)
{
    ft_arena *arena = ft_arena_create(cap);
    if (arena == NULL)
        abort();
    ft_err err = {0};
    ft_code rc = decode(data, size, arena, n, &err);
    if (rc != FT_OK)
        check_failure(rc, &err);
    ft_arena_destroy(arena);
    return rc;
}

static inline void fuzz_json_run(fuzz_decode_fn decode, const uint8_t *data,
                                 size_t size)
{
    ft_arena *arena = ft_arena_create(ARENA_CAP);
    if (arena == NULL)
        return;
    ft_err err = {0};
    size_t n = 0, again_n = 0;
    ft_code rc = decode(data, size, arena, &n, &err);
    if (rc == FT_OK) {
        size_t used = ft_arena_used(arena);
        if (used > 0) {
            ft_code again = fuzz_decode_capped(decode, data, size, used, &again_n);
            if (again == FT_OK ? again_n != n : again != FT_NOMEM)
                abort();
            if (fuzz_decode_capped(decode, data, size, used / 2, &again_n) != FT_NOMEM)
                abort();
        }
    } else {
        check_failure(rc, &err);
        if (strncmp(err.msg, "OTLP JSON: ", 11) != 0)
            abort();
    }
    ft_arena_destroy(arena);
}

#endif
