/*
 * fedtrace/common.h - errors, string slices, arenas and the allocator.
 *
 * Everything in libfedtrace reports failure the same way: a function returns
 * an ft_code and, when it is given an ft_err, writes into it a message
 * composed where the failure happened (plus the backend's native code, if
 * any).  FT_OK and the two statuses FT_NOTFOUND / FT_CONFLICT are not
 * failures; they never write a message.
 *
 * Threading: nothing here keeps global mutable state except the allocator
 * hooks (ft_alloc_set_hooks), which tests set before starting threads.
 */
#ifndef FEDTRACE_COMMON_H
#define FEDTRACE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The error table.  X(enum suffix, number, message).  Numbers are part of
 * the ABI and are never reused; new codes go at the end.
 */
#define FT_ERRNO_MAP(X)                                                      \
    X(OK, 0, "success")                                                      \
    X(NOTFOUND, 1, "not found")                                              \
    X(CONFLICT, 2, "compare-and-swap did not match")                        \
    X(NOMEM, 3, "out of memory")                                             \
    X(INVAL, 4, "invalid argument")                                          \
    X(UNSUPPORTED, 5, "operation not supported by this store")              \
    X(IO, 6, "input/output error")                                           \
    X(BACKEND, 7, "storage backend error")                                   \
    X(FULL, 8, "store is full")                                              \
    X(DECODE, 9, "malformed input")                                          \
    X(TOO_LARGE, 10, "input exceeds the size limit")                         \
    X(AGAIN, 11, "temporarily unavailable, try again")                       \
    X(CORRUPT, 12, "stored data is corrupt")                                 \
    X(CLOSED, 13, "shutting down")

typedef enum ft_code {
#define FT__ENUM(name, num, msg) FT_##name = (num),
    FT_ERRNO_MAP(FT__ENUM)
#undef FT__ENUM
} ft_code;

/* "OK", "NOTFOUND", ...; "UNKNOWN" for numbers not in the table. */
const char *ft_code_name(ft_code code);
/* The table's message for a code; never NULL. */
const char *ft_code_message(ft_code code);

#define FT_ERR_MSG_MAX 512

/*
 * An error as it happened: our code, the backend's native code (errno, an
 * LMDB or libpq code; 0 if none) and a message written at the failure site.
 * Zero-initialise it; functions that fail fill it, functions that succeed
 * leave it alone.  May be passed as NULL by callers that only want the code.
 */
typedef struct ft_err {
    ft_code code;
    int native;
    char msg[FT_ERR_MSG_MAX];
} ft_err;

/* Fills err (if not NULL) with code, native and a printf-style message;
 * returns code so that callers can write `return ft_err_set(...)`. */
ft_code ft_err_set(ft_err *err, ft_code code, int native, const char *fmt,
                   ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Prepends "context: " to an already set message. */
void ft_err_prefix(ft_err *err, const char *context);

/* A borrowed byte slice; not NUL-terminated unless said so. */
typedef struct ft_str {
    const char *ptr;
    size_t len;
} ft_str;

#define FT_STR_LIT(s) ((ft_str){(s), sizeof(s) - 1})
ft_str ft_str_c(const char *s); /* slice of a C string (NULL -> empty) */
bool ft_str_eq(ft_str a, ft_str b);
bool ft_str_eq_c(ft_str a, const char *s);

/*
 * The allocator.  All library allocations go through these so that tests
 * can make the n-th allocation fail (ft_alloc_fail_after) and count leaks.
 * ft_free(NULL) is a no-op.  ft_realloc keeps the old block on failure.
 */
void *ft_malloc(size_t n);
void *ft_calloc(size_t count, size_t size);
void *ft_realloc(void *p, size_t n);
void ft_free(void *p);
char *ft_strndup(const char *s, size_t n);

/* Test hook: after `n` more successful allocations every allocation fails,
 * until ft_alloc_fail_after(-1) restores normal behaviour. */
void ft_alloc_fail_after(long n);
/* Number of allocations refused by the hook so far. */
unsigned long ft_alloc_failures(void);

/*
 * An arena: a chain of blocks freed all at once, for one request or one
 * operation.  Every allocation is 16-byte aligned.  A hard cap (bytes, 0 =
 * unlimited) makes allocation past it fail with NULL instead of growing, so
 * that a server can answer 413/503 instead of aborting.  Cleanup hooks run
 * in reverse order on ft_arena_reset and ft_arena_destroy, for foreign
 * objects (a jansson value, an LMDB cursor) whose lifetime is the arena's.
 *
 * Not thread-safe: one arena belongs to one thread at a time.
 */
typedef struct ft_arena ft_arena;

ft_arena *ft_arena_create(size_t cap);
void ft_arena_destroy(ft_arena *a);
/* Frees every block but the first and runs cleanups; the arena is reusable. */
void ft_arena_reset(ft_arena *a);
void *ft_arena_alloc(ft_arena *a, size_t n);   /* NULL when out of memory/cap */
void *ft_arena_calloc(ft_arena *a, size_t n);
char *ft_arena_strndup(ft_arena *a, const char *s, size_t n); /* NUL-ends */
void *ft_arena_memdup(ft_arena *a, const void *p, size_t n);
size_t ft_arena_used(const ft_arena *a);
/* Bytes that may still be allocated before the cap (SIZE_MAX: no cap). */
size_t ft_arena_remaining(const ft_arena *a);
/* Registers fn(data) to run at reset/destroy; false when out of memory. */
bool ft_arena_cleanup(ft_arena *a, void (*fn)(void *), void *data);

/*
 * Reads a whole file into *data (ft_malloc'd, NUL-terminated past *len;
 * the caller ft_frees it).  Files larger than max bytes (0: no limit) fail
 * with FT_TOO_LARGE; errors name the path.  On failure *data is NULL.
 */
ft_code ft_read_file(const char *path, size_t max, char **data, size_t *len,
                     ft_err *err);

/* Compares two byte strings in time that depends only on their lengths
 * (for secrets: tokens, passwords).  True when equal. */
bool ft_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* The first occurrence of needle (m bytes) in hay (n bytes), or NULL. */
const char *ft_memfind(const char *hay, size_t n, const char *needle, size_t m);

/* FNV-1a, 64 bits: continues hash h over n bytes (start with
 * FT_FNV_INIT).  For tables and fingerprints, not for security. */
#define FT_FNV_INIT 1469598103934665603ull
uint64_t ft_fnv1a(uint64_t h, const void *p, size_t n);

/* Wall clock in milliseconds since the epoch.  Tests may replace it (the
 * TTL sweeper and expiry checks read it) with ft_clock_set; NULL restores
 * the system clock. */
int64_t ft_now_ms(void);
void ft_clock_set(int64_t (*fn)(void));

#ifdef __cplusplus
}
#endif
#endif
