/* What the loader's files share (load.c, load_msg.c, load_step.c): the loader's state, the
 * step-key numbering and the helpers each of them uses. Private to pipeline/load*.c; the
 * functions are load_* because they are no longer static. */
#ifndef SLUICE_PIPELINE_LOAD_INT_H
#define SLUICE_PIPELINE_LOAD_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/load.h"
#include "pipeline/spec.h"
#include "pipeline/yaml.h"
#include "util/strmap.h"

#define MAX_DIAGS 1000     /* a hostile file could otherwise list an error per node */
#define MAX_SUGGEST 200000 /* did-you-mean comparisons per file: typos are few, names many */
/* Defaults are copied into every step that does not set them: like aliases, a multiplier a
 * hostile file could use, so the copies have their own budget. */
#define MAX_INHERIT_NODES 1000000
#define MAX_INHERIT_BYTES (16 << 20)
#define MSG_MAX 1024
#define DESC_MAX (YTEXT_SHOW_MAX + 16)

/* Step keys, in the order they are read; the index is the key's bit in step_aux. */
/* clang-format off */
enum {
    K_KIND, K_RUN, K_NEEDS, K_INPUTS, K_OUTPUTS, K_DEPS, K_WHEN, K_RETRIES, K_RETRY_DELAY,
    K_TIMEOUT, K_EXECUTOR, K_RESOURCES, K_CACHE, K_WORKDIR, K_ENV, K_PARAMS, K_SOURCE,
    K_SHA256, K_MAX_SIZE, K_INPUT, K_TABLE, K_ON_DRIFT, K_EXPECT, K_MODEL, K_MODEL_NAME,
    K_TARGET, K_HEALTH, K_HEALTH_TIMEOUT, K_TRIGGER_RULE, K_SLURM, NKEYS
};
/* clang-format on */

#define KB(k) (1u << (k))
#define CMD (KB(KIND_TASK) | KB(KIND_TRANSFORM) | KB(KIND_TRAIN) | KB(KIND_EVALUATE))
#define ALL (KB(KIND_COUNT) - 1)

/* What is known of one step while loading, beside the struct step being filled. */
struct step_aux {
    const struct ynode *key;  /* the step's name in 'steps' */
    const struct ynode *body; /* its mapping; NULL when it is not one (reported) */
    unsigned written;         /* KB(K_*) of keys the step sets itself */
    unsigned inherited;       /* ... that it takes from defaults */
    unsigned bad;             /* ... whose value was refused (reported) */
    bool kind_known;
};

struct loader {
    struct pipeline *p;
    struct diag_list *diags;
    size_t ndiags;                       /* added by this load */
    int quiet;                           /* > 0: drop diagnostics (defaults re-read for one step) */
    size_t suggest_left;                 /* did-you-mean comparisons left */
    size_t inherit_nodes, inherit_bytes; /* copied from defaults so far */
    struct strmap outputs;               /* "STEP\nOUTPUT" of every declared output */
    struct ytext_lines lines;            /* built when first needed */
    const char *text;
    size_t len;
    struct strmap steps;  /* step name → index */
    struct strmap params; /* param name → index */
    struct step_aux *aux; /* per step */
    struct expr_scope scope;
    char miss_kind;                /* 'p' or 's': the last scope look-up that failed, ... */
    char miss[72];                 /* ... and its name, for a did-you-mean */
    char who[YTEXT_SHOW_MAX + 16]; /* "step 'train'" or "'defaults'", for messages */
    /* defaults: read once (with messages) into a pseudo-step, then again quietly into each
     * step that does not set the key */
    const struct ynode *dflt_v[NKEYS];
    struct pipeline *dflt_holder; /* owns the pseudo-step dflt so pipeline_free frees it */
    struct step_aux dflt_aux;
};

#define NAME_RULE SPEC_NAME_RULE
#define IDENT_RULE "use letters, digits and '_', not starting with a digit"

struct suggest {
    const char *word;
    const char *best;
    size_t bestd;
};

/* ---- load_msg.c: messages, did-you-means, positions inside values ---- */

/* Add a diagnostic at pos / at node n (0:0 when n is NULL) / for the whole file; dropped while
 * L->quiet, and past MAX_DIAGS replaced by one "too many errors". */
void load_err_pos(struct loader *L, struct pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void load_err_node(struct loader *L, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void load_err_file(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct pos load_node_pos(const struct ynode *n);
/* The returned text is buf, or a string constant. */
const char *load_show(char buf[YTEXT_SHOW_MAX], const struct ynode *v);
const char *load_show_tag(char buf[YTEXT_SHOW_MAX], const struct ynode *v);
const char *load_describe(char buf[DESC_MAX], const struct ynode *v);
const char *load_key_text(char buf[DESC_MAX], const struct ynode *k);
const char *load_article(const char *word);
/* A did-you-mean: init with the word, try every candidate, then load_sug_text for the suffix. */
void load_sug_init(struct suggest *sg, const char *word);
void load_sug_try(struct suggest *sg, const char *cand);
const char *load_sug_text(char buf[128], const struct suggest *sg);
bool load_suggest_budget(struct loader *L, size_t n);
const char *load_suggest_step(struct loader *L, char buf[128], const char *word);
void load_suggest_miss(struct loader *L, char *msg, size_t msgsz);
const struct ytext_lines *load_text_lines(struct loader *L);
struct pos load_value_pos(struct loader *L, const struct ynode *v, size_t off);

/* ---- load_step.c: scalar values, the step-key table, steps and defaults ---- */

bool load_is_scalar(const struct ynode *v);
bool load_valid_ident(const char *s, size_t len);
/* Each reports a refused value at v and returns false. */
bool load_get_str(struct loader *L, const char *key, const struct ynode *v, const char **out);
bool load_step_key_known(const char *name);
void load_defaults(struct loader *L, const struct ynode *v);
void load_step(struct loader *L, size_t idx);

#endif
