/* file.c - reading a whole file. */
#include "fedtrace/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

ft_code ft_read_file(const char *path, size_t max, char **data, size_t *len,
                     ft_err *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return ft_err_set(err, FT_IO, errno, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = ft_malloc(cap + 1);
    ft_code rc = buf ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "%s: out of memory", path);
    while (rc == FT_OK && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (max != 0 && n > max) {
            rc = ft_err_set(err, FT_TOO_LARGE, 0, "%s: larger than %zu bytes", path, max);
        } else if (n == cap) {
            char *nb = ft_realloc(buf, cap * 2 + 1);
            if (nb == NULL)
                rc = ft_err_set(err, FT_NOMEM, 0, "%s: out of memory", path);
            else
                buf = nb, cap *= 2;
        }
    }
    if (rc == FT_OK && ferror(f))
        rc = ft_err_set(err, FT_IO, errno, "%s: %s", path, strerror(errno));
    fclose(f);
    if (rc != FT_OK) {
        ft_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return FT_OK;
}
