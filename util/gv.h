/* Graph layout with graphviz: DOT text in, SVG (or another graphviz format) out. libgvc is
 * loaded with dlopen() on first use, so the sluice binary (exec'd as the shim and for every
 * built-in step) does not pay for loading graphviz and its plugins. The only file that touches
 * graphviz. */
#ifndef SLUICE_GV_H
#define SLUICE_GV_H

#include <stddef.h>

#include "util/err.h"
#include "util/strbuf.h"

/* Lay out the DOT graph dot[0..len) with the `dot` engine and render it in format (e.g.
 * "svg"), appending the result to out. Returns 0, or -1 with e set: graphviz is not
 * installed, the DOT text does not parse (graphviz's message is carried), or the layout or
 * the renderer failed. Not thread-safe (graphviz is not). */
int gv_render(const char *dot, size_t len, const char *format, struct strbuf *out, struct err *e);

/* Append s to sb as a DOT double-quoted string (with the quotes): '"' and '\' are escaped
 * and a newline becomes \n, so that a label shows exactly s. As a node name it is read back
 * with any '\' doubled (graphviz does not unescape names), the same at every use. */
void gv_add_quoted(struct strbuf *sb, const char *s);

#endif
