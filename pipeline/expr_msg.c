/* The expression language's messages, shared by the parser, the checker and the evaluator
 * (they quote hostile text through diag_excerpt). */
#include "pipeline/expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void expr_set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
    if (!msg || !msgsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}
