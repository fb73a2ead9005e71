/*
 * disk_floor.c - ft_disk_floor: what the disk under a directory does with
 * writes shaped like LMDB's commits, with nothing else around them.
 *
 *   ft_disk_floor --dir DIR [--pages N] [--batches B] [--file-mib M]
 *
 * In a file of M MiB (default 512) created in DIR, written through once
 * and synced beforehand (so no block is allocated while timing), it times
 * B batches (default 100) of N 4 KiB pages (default 450, about what one
 * commit of three 512-span requests changes) written at random page
 * offsets with pwrite, each batch followed by fdatasync: LMDB's commit,
 * whose copied pages land where its free list has room.  Then the same
 * bytes written sequentially, one fdatasync per batch.  The file is
 * removed at the end.
 *
 * Output: "result scattered_writes_per_s=... scattered_mb_per_s=...
 * sequential_mb_per_s=... pages=N batches=B", then one line for people.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: ft_disk_floor --dir DIR [--pages N] [--batches B] [--file-mib M]\n");
    return 2;
}

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "ft_disk_floor: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long pages = 450, batches = 100, mib = 512;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc)
            pages = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
            batches = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--file-mib") == 0 && i + 1 < argc)
            mib = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (dir == NULL || pages <= 0 || batches <= 0 || mib <= 0 ||
        (uint64_t)pages * batches * PAGE > (uint64_t)mib << 20)
        return usage();
    char path[4096];
    snprintf(path, sizeof path, "%s/ft_disk_floor.%ld", dir, (long)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return fail("cannot create", path);
    static char page[PAGE];
    char *chunk = calloc(1, 1 << 20);
    if (chunk == NULL) {
        close(fd);
        unlink(path);
        return 1;
    }
    int rc = 0;
    for (long i = 0; i < mib && rc == 0; i++)
        if (write(fd, chunk, 1 << 20) != 1 << 20)
            rc = fail("cannot fill", path);
    free(chunk);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = fail("cannot sync", path);
    uint64_t n_pages = (uint64_t)mib << 20 >> 12, x = 88172645463325252ull;
    double t0 = now_s();
    for (long b = 0; b < batches && rc == 0; b++) {
        for (long p = 0; p < pages && rc == 0; p++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            memcpy(page, &x, sizeof x);
            if (pwrite(fd, page, PAGE, (off_t)(x % n_pages) * PAGE) != PAGE)
                rc = fail("cannot write", path);
        }
        if (rc == 0 && fdatasync(fd) != 0)
            rc = fail("cannot sync", path);
    }
    double scattered = now_s() - t0;
    t0 = now_s();
    for (long b = 0; b < batches && rc == 0; b++) {
        for (long p = 0; p < pages && rc == 0; p++)
            if (pwrite(fd, page, PAGE, (off_t)(b * pages + p) * PAGE) != PAGE)
                rc = fail("cannot write", path);
        if (rc == 0 && fdatasync(fd) != 0)
            rc = fail("cannot sync", path);
    }
    double sequential = now_s() - t0;
    close(fd);
    unlink(path);
    if (rc != 0)
        return rc;
    double writes = (double)pages * (double)batches, mb = writes * PAGE / 1e6;
    printf("result scattered_writes_per_s=%.0f scattered_mb_per_s=%.1f sequential_mb_per_s=%.1f "
           "pages=%ld batches=%ld\n",
           writes / scattered, mb / scattered, mb / sequential, pages, batches);
    printf("ft_disk_floor: %ld batches of %ld 4 KiB pages, each batch then fdatasync: scattered "
           "%.0f writes/s (%.1f MB/s), sequential %.1f MB/s\n",
           batches, pages, writes / scattered, mb / scattered, mb / sequential);
    return 0;
}
