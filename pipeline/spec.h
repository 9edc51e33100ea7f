/* The pipeline spec: what a pipeline file says, validated, with the source position of every
 * value. Built by pipeline_load() (load.h); read by the graph, the engine and the CLI. */
#ifndef SLUICE_SPEC_H
#define SLUICE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/cron.h"
#include "pipeline/expr.h"

struct pos {
    int line, col; /* 1-based; 0 when unknown */
};

/* A string as written in the file, with where it was written. */
struct sval {
    char *s; /* NULL when absent */
    struct pos pos;
};

/* A template: literal text with `${{ EXPR }}` holes, parsed once. */
struct tmpl_part {
    char *lit;         /* literal text, or NULL for an expression part */
    struct expr *expr; /* expression part, or NULL */
};
struct tmpl {
    char *src;       /* the text as written */
    struct pos pos;  /* where the text starts in the file */
    size_t nparts;
    struct tmpl_part *parts;
};

enum step_kind {
    KIND_TASK,
    KIND_TRANSFORM,
    KIND_TRAIN,
    KIND_EVALUATE,
    KIND_INGEST,
    KIND_CRAWL,
    KIND_APPROVE,
    KIND_DEPLOY,
};
#define KIND_COUNT 8
const char *step_kind_name(enum step_kind k);
/* true for ingest, crawl, approve, deploy */
bool step_kind_builtin(enum step_kind k);

/* A reference to an upstream output, "STEP/OUTPUT" (OUTPUT may contain further '/'). */
struct ref {
    char *name;   /* the input's name (key of `inputs:`), NULL for input:/model: */
    char *step;   /* upstream step */
    char *output; /* declared output of that step */
    struct pos pos;
};


struct param {
    char *name;
    enum expr_type type; /* from the default's YAML scalar: plain number, true/false, else string */
    char *value;         /* default, as written */
    struct pos pos;
};

struct env_var {
    char *name;
    struct tmpl value; /* templates allowed */
    struct pos pos;
};

enum on_drift { DRIFT_WARN, DRIFT_FAIL };

/* A step's `slurm:` options, for the Slurm executor (DESIGN "Executors"). */
struct slurm_opts {
    struct tmpl partition;  /* --partition; src NULL when absent (as every field below) */
    struct tmpl account;    /* --account */
    struct tmpl qos;        /* --qos */
    struct tmpl gres;       /* --gres, e.g. "gpu:1" */
    struct tmpl constraint; /* --constraint */
    int64_t time_ms;        /* --time, rounded up to minutes; 0: from timeout:, or none */
    struct sval *options;   /* further sbatch options, each one argument ("--exclusive") */
    size_t noptions;
};

/* When a step may start, given how its direct upstream steps ended: Airflow's trigger rules
 * (scheduler/plan.h applies them). */
enum trigger_rule {
    TRIGGER_ALL_SUCCESS, /* the default */
    TRIGGER_NONE_FAILED,
    TRIGGER_NONE_FAILED_MIN_ONE_SUCCESS,
    TRIGGER_ALL_DONE,
    TRIGGER_ONE_SUCCESS,
    TRIGGER_ONE_FAILED,
};
#define TRIGGER_RULE_COUNT 6
const char *trigger_rule_name(enum trigger_rule r);

/* Bits of step.set: which keys the step (or defaults) gave explicitly. */
enum step_key {
    SK_RETRIES = 1u << 0,
    SK_RETRY_DELAY = 1u << 1,
    SK_TIMEOUT = 1u << 2,
    SK_EXECUTOR = 1u << 3,
    SK_RESOURCES = 1u << 4,
    SK_CACHE = 1u << 5,
    SK_WORKDIR = 1u << 6,
    SK_ENV = 1u << 7,
    SK_WHEN = 1u << 8,
    SK_HEALTH_TIMEOUT = 1u << 9,
    SK_MAX_SIZE = 1u << 10,
    SK_ON_DRIFT = 1u << 11,
};

struct step {
    char *name;
    struct pos pos; /* of the step's key */
    size_t index;   /* position in pipeline.steps (file order) */
    enum step_kind kind;
    unsigned set;   /* enum step_key bits */

    /* run: exactly one of run_shell / run_argv for command steps; neither for built-ins */
    struct tmpl *run_shell;  /* string form, run under /bin/sh -c, substitutions quoted */
    struct tmpl *run_argv;   /* list form: run_argc templates, exec'd directly */
    size_t run_argc;
    struct pos run_pos;

    struct sval *needs;     /* explicit needs */
    size_t nneeds;
    struct ref *inputs;     /* inputs: {name: step/output} */
    size_t ninputs;
    struct sval *outputs;   /* declared output names (relative paths under $SLUICE_OUT) */
    size_t noutputs;
    struct tmpl *deps;      /* deps: files whose content is part of the cache key */
    size_t ndeps;
    struct expr *when;      /* NULL when absent */
    char *when_src;
    struct pos when_pos;

    int retries;            /* default 0 */
    int64_t retry_delay_ms; /* default 5000 */
    int64_t timeout_ms;     /* 0 = none; approve default 7d */
    char *executor;         /* "local" or "slurm"; NULL when not set (sluice run --executor
                             * decides, else local) */
    int cpus;               /* resources.cpus, default 1 */
    int64_t memory_bytes;   /* resources.memory, 0 = unspecified */
    struct slurm_opts slurm; /* executor: slurm's options */
    bool cache;
    struct tmpl workdir;    /* src NULL = the pipeline file's folder; relative to it otherwise */
    struct env_var *env;
    size_t nenv;
    enum trigger_rule trigger_rule; /* default all_success */
    struct sval *params;    /* params: [a, b], the only params it sees as SLUICE_PARAM_* and
                             * is keyed on; NULL when absent (it sees all) */
    size_t nparams;

    /* built-ins; their string fields are templates (src NULL when absent), expanded per run.
     * A value without `${{ }}` is checked by its rule when loaded, one with them when run. */
    struct tmpl source;        /* ingest: a path (relative to dir) or a file/http(s) URL */
    struct tmpl sha256;        /* ingest: 64 hex digits */
    int64_t max_size;          /* ingest, default 10 GiB */
    struct ref input;          /* crawl: step is NULL when absent */
    struct tmpl table;         /* crawl: a name (NAME_RULE) */
    enum on_drift on_drift;    /* crawl, default warn */
    struct sval *expect;       /* crawl: quality rules, as written (no templates) */
    size_t nexpect;
    struct ref model;          /* approve, deploy: step is NULL when absent */
    struct tmpl model_name;    /* approve: a name; default: the pipeline's name */
    struct tmpl target;        /* deploy: a folder, relative to dir */
    struct tmpl health;        /* deploy: an http(s) URL */
    int64_t health_timeout_ms; /* deploy, default 30s */
};

struct pipeline {
    char *path;        /* the file as given */
    char *dir;         /* the folder of the file (absolute) */
    char *text;        /* the whole file text */
    size_t text_len;
    char *name;
    struct pos name_pos;
    char *description;
    struct param *params;
    size_t nparams;
    char *schedule;     /* NULL when absent */
    struct cron cron;
    struct step *steps; /* in file order */
    size_t nsteps;
};

/* The rules of names (pipeline, step, model and table names) and of health URLs
 * (http(s)://HOST[:PORT][/PATH]), for values as written and as a run expands them. */
#define SPEC_NAME_RULE                                                                             \
    "use 1 to 64 lowercase letters, digits, '_' and '-', starting with a letter or digit"
bool spec_valid_name(const char *s, size_t len);
bool spec_valid_url(const char *u);

/* Look-ups; NULL when absent. */
struct step *pipeline_step(const struct pipeline *p, const char *name);
struct param *pipeline_param(const struct pipeline *p, const char *name);
/* The declared parameter closest to a misspelt name (at most two edits away), or NULL. */
const char *pipeline_param_suggest(const struct pipeline *p, const char *word);
void pipeline_free(struct pipeline *p);

/* Parse a template. Returns 0 or -1 with *err_offset (byte offset in src) and msg set. */
int tmpl_parse(struct tmpl *t, const char *src, int *err_offset, char *msg, size_t msgsz);
void tmpl_release(struct tmpl *t);
/* Expand t with env. When shell_quote, every substituted value is quoted for /bin/sh.
 * Returns the text (caller frees), or NULL with msg set. */
char *tmpl_expand(const struct tmpl *t, const struct expr_env *env, bool shell_quote, char *msg,
                  size_t msgsz);
/* Type-check every `${{ }}` hole of t against scope (a hole may have any type). Returns 0, or
 * -1 with *err_offset (byte offset in t->src) and msg set, e.g. "unknown parameter 'x'". */
int tmpl_check(const struct tmpl *t, const struct expr_scope *scope, int *err_offset, char *msg,
               size_t msgsz);

#endif
