/* YAML text → a small tree of scalars, sequences and mappings with 1-based positions. The
 * gatekeeper of libyaml: no other file includes <yaml.h>. Functions are ydoc_* and ytext_*
 * because libyaml's own symbols (yaml_*, even yaml_free) share the namespace when linked. */
#ifndef SLUICE_PIPELINE_YAML_H
#define SLUICE_PIPELINE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/diag.h"

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

enum ynode_style {
    YSTYLE_PLAIN,   /* also every sequence and mapping */
    YSTYLE_SINGLE,  /* 'quoted' */
    YSTYLE_DOUBLE,  /* "quoted" */
    YSTYLE_LITERAL, /* | block */
    YSTYLE_FOLDED,  /* > block */
};

struct ynode {
    enum ynode_type type;
    enum ynode_style style;
    int line, col; /* 1-based, of the first character: the quote of a quoted scalar, the '|'
                    * of a block scalar; columns count characters, not bytes, as libyaml does */
    int end_line;  /* 1-based line where the node ends */
    char *str;     /* scalar value, NUL-terminated; may hold NULs ("\0" escapes), see len */
    size_t len;
    struct ynode **kids; /* sequence: n items; mapping: n pairs, key kids[2i], value kids[2i+1] */
    size_t n;
    char *tag; /* as libyaml resolved it ("!x", "tag:yaml.org,2002:str"), or NULL; tags
                * are otherwise ignored */
    /* yaml.c's own bookkeeping */
    char *anchor;        /* &name, or NULL */
    size_t nkids, alloc; /* kids used and allocated while the node is being built */
    size_t size;         /* nodes in this subtree once aliases are expanded (capped) */
    size_t bytes;        /* bytes of scalar text in it once aliases are expanded (capped) */
    int height;          /* collections nested in this subtree, itself included */
    bool open;           /* between its start and end events: an alias to it would be a loop */
};

struct ydoc;

#define YDOC_MAX_BYTES (16 << 20)

/* Parse one YAML document. Aliases share the anchored node (the tree is a DAG), but the
 * expanded size counts every use: more than PIPELINE_MAX_NODES expanded nodes, collections
 * nested deeper than PIPELINE_MAX_DEPTH, or more than YDOC_MAX_BYTES of scalar text once
 * expanded (a short alias of a long string multiplies too) is an error. Merge keys
 * ('<<: *base', or a list of them) are applied; keys given explicitly win. Duplicate keys are
 * reported (the later pair is dropped) and parsing goes on; a syntax error, a second
 * document, a bad alias or a limit ends it. Every error goes to diags with its position.
 * Returns the document (its root NULL for an empty stream), or NULL after an error that ended
 * parsing. */
struct ydoc *ydoc_parse(const char *text, size_t len, struct diag_list *diags);
/* The root node; valid until ydoc_free. NULL when the text holds no document. */
const struct ynode *ydoc_root(const struct ydoc *d);
void ydoc_free(struct ydoc *d);

/* A plain scalar that YAML reads as null: empty, '~', 'null', 'Null', 'NULL'. */
bool ynode_is_null(const struct ynode *n);

/* Lines of text as libyaml counts them: breaks are \n, \r\n, \r, U+0085, U+2028, U+2029;
 * a UTF-8 byte-order mark at the start is not part of line 1. */
struct ytext_lines {
    const char *text; /* borrowed */
    size_t len;
    size_t *start; /* start[i]: byte offset where line i+1 begins */
    size_t n;      /* lines, at least 1 */
};
void ytext_lines_init(struct ytext_lines *tl, const char *text, size_t len);
void ytext_lines_release(struct ytext_lines *tl);
/* The bytes [*b, *e) of line (1-based, at most tl->n), without its line break. */
void ytext_line(const struct ytext_lines *tl, int line, size_t *b, size_t *e);
/* The byte offset of column col (1-based, in characters) of line, at most its end. */
size_t ytext_offset(const struct ytext_lines *tl, int line, int col);
/* Line and column (1-based, columns in characters) of byte offset off. */
void ytext_pos(const struct ytext_lines *tl, size_t off, int *line, int *col);

/* Copy s[0..len) into buf for a message: control characters escaped (\n, \t, \xHH), cut
 * after YTEXT_SHOW_CHARS characters with "...". Returns buf. */
#define YTEXT_SHOW_CHARS 60
#define YTEXT_SHOW_MAX (YTEXT_SHOW_CHARS * 4 + 4)
char *ytext_show(char buf[YTEXT_SHOW_MAX], const char *s, size_t len);

#endif
