/* err.c - the error table and error messages. */
#include "fedtrace/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ft_code_name(ft_code code)
{
    switch (code) {
#define FT__NAME(name, num, msg) \
    case FT_##name:              \
        return #name;
        FT_ERRNO_MAP(FT__NAME)
#undef FT__NAME
    }
    return "UNKNOWN";
}

const char *ft_code_message(ft_code code)
{
    switch (code) {
#define FT__MSG(name, num, msg) \
    case FT_##name:             \
        return msg;
        FT_ERRNO_MAP(FT__MSG)
#undef FT__MSG
    }
    return "unknown error";
}

ft_code ft_err_set(ft_err *err, ft_code code, int native, const char *fmt,
                   ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->native = native;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s", ft_code_message(code));
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void ft_err_prefix(ft_err *err, const char *context)
{
    if (err == NULL || context == NULL)
        return;
    char tmp[FT_ERR_MSG_MAX];
    size_t n = strlen(context);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(tmp, context, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = strnlen(err->msg, sizeof err->msg);
    if (rest > sizeof tmp - n - 3)
        rest = sizeof tmp - n - 3;
    memcpy(tmp + n + 2, err->msg, rest);
    tmp[n + 2 + rest] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}
