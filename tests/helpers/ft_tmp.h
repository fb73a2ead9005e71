/* ft_tmp.h - temporary directories for tests. */
#ifndef FT_TMP_H
#define FT_TMP_H

/* Creates a fresh directory under $TMPDIR (or /tmp) named after tag;
 * returns a malloc'd path, or aborts the test run if it cannot. */
char *ft_test_tmpdir(const char *tag);
/* Removes a directory tree (best effort). */
void ft_test_rmrf(const char *path);

#endif
