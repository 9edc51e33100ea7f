/* The expression language's messages: the parser, the checker and the evaluator all quote
 * text that may come from a hostile file, so they quote it through expr_excerpt. */
#include "pipeline/expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *expr_excerpt(char out[static EXPR_QUOTE_SIZE], const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < EXPR_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "\\x%02x", c);
    }
    if (n > EXPR_QUOTE_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

void expr_set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
    if (!msg || !msgsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}
