/* alloc.c - the allocation wrapper that tests can make fail. */
#include "fedtrace/common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_after = -1;
static atomic_ulong failures;

void ft_alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

unsigned long ft_alloc_failures(void)
{
    return atomic_load(&failures);
}

/* true when the hook refuses this allocation */
static bool refuse(void)
{
    long left = atomic_load(&fail_after);
    while (left >= 0) {
        if (left == 0) {
            atomic_fetch_add(&failures, 1);
            return true;
        }
        if (atomic_compare_exchange_weak(&fail_after, &left, left - 1))
            return false;
    }
    return false;
}

void *ft_malloc(size_t n)
{
    if (refuse())
        return NULL;
    return malloc(n ? n : 1);
}

void *ft_calloc(size_t count, size_t size)
{
    if (refuse())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *ft_realloc(void *p, size_t n)
{
    if (refuse())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ft_free(void *p)
{
    free(p);
}

char *ft_strndup(const char *s, size_t n)
{
    char *p = ft_malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
