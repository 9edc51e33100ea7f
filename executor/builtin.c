/* What the built-in steps share: how they refuse a bad command line. */
#include <stdarg.h>
#include <stdio.h>

#include "executor/builtin.h"

int builtin_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return 1;
}
