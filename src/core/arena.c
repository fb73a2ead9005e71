/* arena.c - per-operation arenas with a hard cap and cleanup hooks. */
#include "fedtrace/common.h"

#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_BLOCK 8192

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *data;
} cleanup;

struct ft_arena {
    block *head; /* current block; the first block is the chain's tail */
    block *first;
    cleanup *cleanups;
    size_t cap;
    size_t total; /* bytes of blocks held */
    size_t used;  /* bytes handed out */
};

static block *block_new(size_t size)
{
    block *b = ft_malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

ft_arena *ft_arena_create(size_t cap)
{
    ft_arena *a = ft_calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->first = block_new(ARENA_BLOCK);
    if (a->first == NULL) {
        ft_free(a);
        return NULL;
    }
    a->head = a->first;
    a->cap = cap;
    a->total = ARENA_BLOCK;
    return a;
}

static void run_cleanups(ft_arena *a)
{
    while (a->cleanups != NULL) {
        cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
    }
}

void ft_arena_reset(ft_arena *a)
{
    if (a == NULL)
        return;
    run_cleanups(a);
    block *b = a->head;
    while (b != a->first) {
        block *next = b->next;
        ft_free(b);
        b = next;
    }
    a->head = a->first;
    a->first->used = 0;
    a->total = a->first->size;
    a->used = 0;
}

void ft_arena_destroy(ft_arena *a)
{
    if (a == NULL)
        return;
    ft_arena_reset(a);
    ft_free(a->first);
    ft_free(a);
}

void *ft_arena_alloc(ft_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL; /* overflow */
    if (a->cap != 0 && (need > a->cap || a->used > a->cap - need))
        return NULL;
    block *b = a->head;
    if (b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        /* grow geometrically so that big requests cost few blocks */
        if (size < a->total / 2 && a->total / 2 <= (size_t)64 << 20)
            size = a->total / 2;
        if (a->cap != 0 && size > need && a->total + size > a->cap + ARENA_BLOCK)
            size = need;
        block *nb = block_new(size);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = nb;
        a->total += size;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

void *ft_arena_calloc(ft_arena *a, size_t n)
{
    void *p = ft_arena_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *ft_arena_strndup(ft_arena *a, const char *s, size_t n)
{
    char *p = ft_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *ft_arena_memdup(ft_arena *a, const void *src, size_t n)
{
    void *p = ft_arena_alloc(a, n);
    if (p != NULL && n)
        memcpy(p, src, n);
    return p;
}

size_t ft_arena_used(const ft_arena *a)
{
    return a->used;
}

bool ft_arena_cleanup(ft_arena *a, void (*fn)(void *), void *data)
{
    cleanup *c = ft_arena_alloc(a, sizeof *c);
    if (c == NULL)
        return false;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return true;
}

size_t ft_arena_remaining(const ft_arena *a)
{
    if (a->cap == 0)
        return SIZE_MAX;
    return a->used < a->cap ? a->cap - a->used : 0;
}
