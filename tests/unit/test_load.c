/* Unit tests of the pipeline loader: positions, defaults, built-in rules, limits, the YAML
 * tree (aliases, merge keys, duplicates) and the printed form of diagnostics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/diag.h"
#include "pipeline/load.h"
#include "pipeline/yaml.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static struct pipeline *load(const char *text, struct diag_list *dl)
{
    return pipeline_load_text("t.yaml", text, strlen(text), dl);
}

/* Load text that must fail with exactly one error, and return it. */
static struct diag one_error(const char *text)
{
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load(text, &dl);
    assert_null(p);
    if (dl.n != 1)
        for (size_t i = 0; i < dl.n; i++)
            print_message("%d:%d: %s\n", dl.items[i].line, dl.items[i].col, dl.items[i].msg);
    assert_int_equal(dl.n, 1);
    struct diag d = dl.items[0];
    d.msg = xstrdup(d.msg);
    diag_list_release(&dl);
    return d;
}

static void expect_error(const char *text, int line, int col, const char *msg)
{
    struct diag d = one_error(text);
    char got[1024]; /* copied so that a failed assertion leaks nothing */
    snprintf(got, sizeof(got), "%s", d.msg);
    free(d.msg);
    assert_string_equal(got, msg);
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
}

static char *printed(const struct diag_list *dl, const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    diag_print(dl, "f.yaml", text, text ? strlen(text) : 0, f);
    fclose(f);
    return buf;
}

static void test_tumour_loads(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    char *text = NULL;
    size_t len = 0;
    struct pipeline *p = pipeline_load("dags/tumour.yaml", &dl, &text, &len);
    assert_non_null(p);
    assert_int_equal(dl.n, 0);
    assert_null(text);
    assert_string_equal(p->name, "tumour-classifier");
    assert_int_equal(p->nsteps, 7);
    assert_true(p->dir[0] == '/');
    assert_non_null(strstr(p->dir, "dags"));
    assert_int_equal(p->nparams, 4);
    assert_string_equal(p->schedule, "0 3 * * *");
    struct step *train = pipeline_step(p, "train");
    assert_non_null(train);
    assert_int_equal(train->kind, KIND_TRAIN);
    assert_int_equal(train->memory_bytes, (int64_t)1 << 30);
    struct step *approve = pipeline_step(p, "approve");
    assert_int_equal(approve->timeout_ms, (int64_t)7 * 24 * 3600 * 1000);
    assert_string_equal(approve->model_name.src, "tumour");
    assert_string_equal(approve->model.step, "train");
    assert_string_equal(approve->model.output, "model.pkl");
    assert_non_null(approve->when);
    assert_null(pipeline_step(p, "nope"));
    assert_string_equal(pipeline_param(p, "seed")->value, "42");
    pipeline_free(p);
}

static void test_value_positions(void **state)
{
    (void)state;
    /* plain scalar: the column of its first character, 1-based */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    retries: two\n", 5, 14,
                 "'retries' must be an integer, got 'two'");
    /* quoted scalar: the column of the opening quote */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    retries: 'two'\n", 5, 14,
                 "'retries' must be an integer, got the string 'two'");
    /* an expression error inside a plain scalar: scalar column + byte offset */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    when: 1 < params.nope\n", 5, 15,
                 "unknown parameter 'nope'");
    /* ... and inside a quoted one: + 1 for the quote */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    when: \"1 < params.nope\"\n", 5, 16,
                 "unknown parameter 'nope'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: 'echo ${{ params.q }}'\n", 4, 20,
                 "unknown parameter 'q'");
    /* columns count characters, not bytes */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: \"é ${{ params.q }}\"\n", 4, 17,
                 "unknown parameter 'q'");
    /* escapes in quoted scalars are counted as written */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: \"tab\\there ${{ params.n }}\"\n", 4, 25,
                 "unknown parameter 'n'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: 'it''s ${{ params.n }}'\n", 4, 21,
                 "unknown parameter 'n'");
    expect_error("pipeline: x\nsteps:\n  a:\n"
                 "    run: \"\\u00e9\\x41\\U0001F600\\\\ é ${{ params.n }}\"\n",
                 4, 40, "unknown parameter 'n'");
    /* CRLF ends lines like LF */
    expect_error("pipeline: x\r\nsteps:\r\n  a:\r\n    run: echo\r\n    cache: maybe\r\n", 5, 12,
                 "'cache' must be true or false, got 'maybe'");
    /* a literal block maps back line by line */
    expect_error(
        "pipeline: x\nsteps:\n  a:\n    run: |\n      set -e\n        echo ${{ params.z }}\n", 6,
        18, "unknown parameter 'z'");
}

static void test_spec_positions(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "steps:\n"
                              "  a:\n"
                              "    run: [echo, \"${{ run.id }}\"]\n"
                              "    outputs: [o1, 'o2']\n"
                              "    needs: b\n"
                              "  b:\n"
                              "    run: echo b\n",
                              &dl);
    assert_non_null(p);
    struct step *a = &p->steps[0];
    assert_int_equal(a->pos.line, 3);
    assert_int_equal(a->pos.col, 3);
    assert_int_equal(a->outputs[0].pos.col, 15);
    assert_int_equal(a->outputs[1].pos.col, 19); /* at the quote */
    assert_int_equal(a->run_pos.line, 4);
    assert_int_equal(a->run_pos.col, 10);
    assert_int_equal(a->run_argv[1].pos.col, 18); /* the text starts after the quote */
    assert_int_equal(a->nneeds, 1);
    assert_string_equal(a->needs[0].s, "b");
    assert_int_equal(a->needs[0].pos.line, 6);
    assert_int_equal(a->needs[0].pos.col, 12);
    pipeline_free(p);
}

static void test_run_forms(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "params: { n: 3 }\n"
                              "steps:\n"
                              "  sh:\n"
                              "    run: echo ${{ params.n }} | wc -c\n"
                              "  argv:\n"
                              "    run: [echo, '', \"n=${{ params.n }}\", 7]\n",
                              &dl);
    assert_non_null(p);
    struct step *sh = pipeline_step(p, "sh"), *argv = pipeline_step(p, "argv");
    assert_int_equal(sh->kind, KIND_TASK);
    assert_non_null(sh->run_shell);
    assert_null(sh->run_argv);
    assert_string_equal(sh->run_shell->src, "echo ${{ params.n }} | wc -c");
    assert_int_equal(sh->run_shell->nparts, 3);
    assert_null(argv->run_shell);
    assert_int_equal(argv->run_argc, 4);
    assert_string_equal(argv->run_argv[1].src, "");
    assert_string_equal(argv->run_argv[3].src, "7");
    assert_int_equal(argv->run_argv[2].nparts, 2);
    pipeline_free(p);

    expect_error("pipeline: x\nsteps:\n  a:\n    run: []\n", 4, 10,
                 "'run' must be a command or a list of arguments, got an empty list");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: [echo, [x]]\n", 4, 17,
                 "arguments of 'run' must be strings, got a list");
}

static void test_params_types(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "params:\n"
                              "  a: 0.25\n"
                              "  b: \"0.25\"\n"
                              "  c: true\n"
                              "  d: 'false'\n"
                              "  e: -1e3\n"
                              "  f: 1.2.3\n"
                              "  g: yes\n"
                              "steps:\n"
                              "  s:\n"
                              "    run: echo\n"
                              "    when: params.a < 1 && params.c && params.b == '0.25'\n",
                              &dl);
    assert_non_null(p);
    assert_int_equal(pipeline_param(p, "a")->type, TYPE_NUMBER);
    assert_int_equal(pipeline_param(p, "b")->type, TYPE_STRING);
    assert_string_equal(pipeline_param(p, "b")->value, "0.25");
    assert_int_equal(pipeline_param(p, "c")->type, TYPE_BOOL);
    assert_int_equal(pipeline_param(p, "d")->type, TYPE_STRING);
    assert_int_equal(pipeline_param(p, "e")->type, TYPE_NUMBER);
    assert_int_equal(pipeline_param(p, "f")->type, TYPE_STRING);
    assert_int_equal(pipeline_param(p, "g")->type, TYPE_STRING);
    assert_int_equal(pipeline_param(p, "a")->pos.line, 3);
    assert_int_equal(pipeline_param(p, "a")->pos.col, 6);
    pipeline_free(p);

    /* a quoted number is a string: comparing it with a number does not type-check */
    struct diag d = one_error("pipeline: x\nparams: { b: '1' }\nsteps:\n  s:\n    run: echo\n"
                              "    when: params.b < 2\n");
    assert_int_equal(d.line, 6);
    assert_non_null(strstr(d.msg, "string"));
    free(d.msg);
}

static void test_defaults_applied(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "defaults:\n"
                              "  retries: 2\n"
                              "  timeout: 1h\n"
                              "  resources: { cpus: 4 }\n"
                              "  health_timeout: 2m\n"
                              "  outputs: [log.txt]\n"
                              "steps:\n"
                              "  a:\n"
                              "    run: echo a\n"
                              "  b:\n"
                              "    run: echo b\n"
                              "    retries: 0\n"
                              "    outputs: [b.txt, c.txt]\n"
                              "  gate:\n"
                              "    kind: approve\n"
                              "  gate2:\n"
                              "    kind: approve\n"
                              "    timeout: 5m\n",
                              &dl);
    assert_non_null(p);
    struct step *a = pipeline_step(p, "a"), *b = pipeline_step(p, "b");
    struct step *gate = pipeline_step(p, "gate"), *gate2 = pipeline_step(p, "gate2");
    assert_int_equal(a->retries, 2);
    assert_int_equal(a->timeout_ms, 3600 * 1000);
    assert_int_equal(a->cpus, 4);
    assert_true(a->set & SK_RETRIES);
    assert_true(a->set & SK_RESOURCES);
    assert_int_equal(a->noutputs, 1);
    assert_string_equal(a->outputs[0].s, "log.txt");
    assert_int_equal(a->retry_delay_ms, 5000);     /* built-in default */
    assert_int_equal(a->health_timeout_ms, 30000); /* not a deploy key: not applied */
    assert_null(a->executor); /* not set: sluice run --executor, else local, decides */
    assert_int_equal(b->retries, 0); /* the step's own value wins */
    assert_int_equal(b->noutputs, 2);
    /* the defaults' timeout applies to approve steps too; 7d only when nothing sets one */
    assert_int_equal(gate->timeout_ms, 3600 * 1000);
    assert_int_equal(gate->retries, 2);
    assert_int_equal(gate->noutputs, 0); /* outputs do not apply to approve steps */
    assert_int_equal(gate2->timeout_ms, 5 * 60 * 1000);
    pipeline_free(p);

    p = load("pipeline: x\nsteps:\n  gate:\n    kind: approve\n  d:\n    kind: deploy\n"
             "    model: m/x\n    target: t\n  m:\n    run: r\n    outputs: [x]\n",
             &dl);
    assert_non_null(p);
    assert_int_equal(pipeline_step(p, "gate")->timeout_ms, (int64_t)7 * 24 * 3600 * 1000);
    assert_false(pipeline_step(p, "gate")->set & SK_TIMEOUT);
    assert_int_equal(pipeline_step(p, "d")->health_timeout_ms, 30000);
    assert_int_equal(pipeline_step(p, "m")->cpus, 1);
    pipeline_free(p);

    /* an error in defaults is reported once, not once per step */
    struct diag d = one_error("pipeline: x\ndefaults: { retries: x }\nsteps:\n"
                              "  a: { run: a }\n  b: { run: b }\n  c: { run: c }\n");
    assert_int_equal(d.line, 2);
    free(d.msg);
}

/* params: [a, b] names the params a command step sees (and is keyed on); defaults may set it. */
static void test_step_params(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "params: { lr: 0.1, depth: 4, seed: 7 }\n"
                              "defaults: { params: [seed] }\n"
                              "steps:\n"
                              "  a: { run: echo a }\n"
                              "  b: { run: echo b, params: [depth, lr] }\n"
                              "  c: { run: echo c, params: [] }\n"
                              "  d: { kind: approve }\n",
                              &dl);
    assert_non_null(p);
    struct step *a = pipeline_step(p, "a"), *b = pipeline_step(p, "b");
    struct step *c = pipeline_step(p, "c"), *d = pipeline_step(p, "d");
    assert_int_equal(a->nparams, 1);
    assert_string_equal(a->params[0].s, "seed");
    assert_int_equal(b->nparams, 2);
    assert_string_equal(b->params[0].s, "depth");
    assert_string_equal(b->params[1].s, "lr");
    assert_int_equal(b->params[1].pos.line, 6);
    assert_int_equal(b->params[1].pos.col, 37);
    assert_non_null(c->params); /* sees none, which is not "all" */
    assert_int_equal(c->nparams, 0);
    assert_null(d->params); /* not a command step: the defaults' list does not apply */
    pipeline_free(p);

    expect_error("pipeline: x\nparams: { max_depth: 4 }\nsteps:\n  a:\n    run: echo\n"
                 "    params: [max_dpth]\n",
                 6, 14,
                 "unknown parameter 'max_dpth' in 'params' of step 'a'; did you mean "
                 "'max_depth'?");
    expect_error("pipeline: x\nparams: { lr: 1 }\ndefaults:\n  params: [lr, nope]\n"
                 "steps:\n  a: { run: a }\n  b: { run: b }\n",
                 4, 16, "unknown parameter 'nope' in 'params' of 'defaults'");
    expect_error("pipeline: x\nparams: { lr: 1 }\nsteps:\n  a:\n    run: echo\n"
                 "    params: [lr, lr]\n",
                 6, 18, "parameter 'lr' is listed twice in 'params' of step 'a'");
    expect_error("pipeline: x\nparams: { lr: 1 }\nsteps:\n  a:\n    kind: approve\n"
                 "    params: [lr]\n",
                 6, 5, "'params' applies only to command steps; step 'a' is an 'approve' step");
    expect_error("pipeline: x\nparams: { lr: 1 }\nsteps:\n  a:\n    run: echo\n"
                 "    params: { lr: 1 }\n",
                 6, 13, "'params' must be a list of strings, got a mapping");
}

/* String fields are templates (built-ins', workdir, deps), checked at load; a built-in's rule
 * waits for the run when its value has one. */
static void test_field_templates(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "params: { input_data: d.csv, sum: x, t: events, url: x }\n"
                              "steps:\n"
                              "  in:\n"
                              "    kind: ingest\n"
                              "    source: ${{ params.input_data }}\n"
                              "    sha256: ${{ params.sum }}\n"
                              "    outputs: [d.csv]\n"
                              "  crawl: { kind: crawl, input: in/d.csv,\n"
                              "           table: '${{ params.t }}' }\n"
                              "  ok:\n"
                              "    kind: approve\n"
                              "    model: in/d.csv\n"
                              "    model_name: m-${{ run.id }}\n"
                              "  go:\n"
                              "    kind: deploy\n"
                              "    model: in/d.csv\n"
                              "    target: serving/${{ params.t }}\n"
                              "    health: ${{ params.url }}\n",
                              &dl);
    if (!p)
        for (size_t i = 0; i < dl.n; i++)
            print_message("%d:%d: %s\n", dl.items[i].line, dl.items[i].col, dl.items[i].msg);
    assert_non_null(p);
    struct step *in = pipeline_step(p, "in"), *go = pipeline_step(p, "go");
    assert_string_equal(in->source.src, "${{ params.input_data }}");
    assert_int_equal(in->source.nparts, 1);
    assert_non_null(in->source.parts[0].expr);
    assert_int_equal(in->source.pos.line, 6); /* where the text starts */
    assert_int_equal(in->source.pos.col, 13);
    assert_string_equal(in->sha256.src, "${{ params.sum }}");
    assert_string_equal(pipeline_step(p, "crawl")->table.src, "${{ params.t }}");
    assert_string_equal(pipeline_step(p, "ok")->model_name.src, "m-${{ run.id }}");
    assert_int_equal(go->target.nparts, 2);
    assert_string_equal(go->target.parts[0].lit, "serving/");
    assert_string_equal(go->health.src, "${{ params.url }}");
    assert_null(pipeline_step(p, "in")->health.src); /* absent */
    pipeline_free(p);

    p = load("pipeline: x\nparams: { sub: s, y: a }\nsteps:\n  a:\n    run: r\n"
             "    workdir: ${{ params.sub }}\n    deps: [a.ini, \"${{ params.y }}.ini\"]\n",
             &dl);
    assert_non_null(p);
    struct step *a = pipeline_step(p, "a");
    assert_string_equal(a->workdir.src, "${{ params.sub }}");
    assert_int_equal(a->ndeps, 2);
    assert_string_equal(a->deps[0].src, "a.ini");
    assert_null(a->deps[0].parts[0].expr);
    assert_non_null(a->deps[1].parts[0].expr);
    assert_int_equal(a->deps[1].pos.col, 20); /* after the quote */
    pipeline_free(p);

    /* an unknown param points into the value, with a did-you-mean */
    expect_error("pipeline: x\nparams: { input_data: d }\nsteps:\n  in:\n    kind: ingest\n"
                 "    source: ${{ params.input_dat }}\n    outputs: [d]\n",
                 6, 17, "unknown parameter 'input_dat'; did you mean 'input_data'?");
    expect_error("pipeline: x\nsteps:\n  a: { run: r, outputs: [m] }\n  d:\n    kind: deploy\n"
                 "    model: a/m\n    target: t\n    health: \"http://h/${{ steps.b.status }}\"\n",
                 8, 27, "unknown step 'b'");
    expect_error("pipeline: x\nsteps:\n  a: { run: r, outputs: [m] }\n  d:\n    kind: deploy\n"
                 "    model: a/m\n    target: ${{ params.t\n",
                 7, 13, "unterminated '${{'");
    expect_error("pipeline: x\nparams: { y: a }\nsteps:\n  a:\n    run: r\n"
                 "    deps: [conf/a.ini, \"conf/${{ params.z }}.ini\"]\n",
                 6, 34, "unknown parameter 'z'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: r\n    workdir: ${{ params.w }}\n", 5, 18,
                 "unknown parameter 'w'");
    expect_error("pipeline: x\nparams: { y: a }\nsteps:\n  a:\n    run: r\n"
                 "    outputs: [\"${{ params.y }}.csv\"]\n",
                 6, 15,
                 "output '${{ params.y }}.csv' cannot be a template: an output's name is fixed");
    /* a value without a template is checked as written */
    expect_error("pipeline: x\nsteps:\n  a: { run: r, outputs: [m] }\n  c:\n    kind: crawl\n"
                 "    input: a/m\n    table: Events\n",
                 7, 12, "bad table 'Events': " SPEC_NAME_RULE);
}

static void test_crawl_output(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "steps:\n"
                              "  in:\n"
                              "    kind: ingest\n"
                              "    source: d.csv\n"
                              "    outputs: [d.csv]\n"
                              "  crawl:\n"
                              "    kind: crawl\n"
                              "    input: in/d.csv\n"
                              "  use:\n"
                              "    run: cat $SLUICE_IN_SCHEMA\n"
                              "    inputs: { schema: crawl/schema.json }\n",
                              &dl);
    assert_non_null(p);
    struct step *crawl = pipeline_step(p, "crawl");
    assert_int_equal(crawl->noutputs, 1);
    assert_string_equal(crawl->outputs[0].s, "schema.json");
    assert_string_equal(crawl->input.step, "in");
    assert_string_equal(crawl->input.output, "d.csv");
    assert_null(crawl->input.name);
    assert_int_equal(crawl->on_drift, DRIFT_WARN);
    struct step *use = pipeline_step(p, "use");
    assert_string_equal(use->inputs[0].name, "schema");
    assert_string_equal(use->inputs[0].step, "crawl");
    assert_int_equal(pipeline_step(p, "in")->max_size, (int64_t)10 << 30);
    pipeline_free(p);
}

/* The loader checks the syntax of a crawl's expect: rules itself (pipeline/rules.h), whoever
 * loads the file: validate, the engine, the fuzzer; the caret is at the problem in the rule. */
static void test_crawl_expect_rules(void **state)
{
    (void)state;
    static const char head[] = "pipeline: x\n"
                               "steps:\n"
                               "  in: { kind: ingest, source: d.csv, outputs: [d.csv] }\n"
                               "  crawl:\n"
                               "    kind: crawl\n"
                               "    input: in/d.csv\n"
                               "    expect:\n"
                               "      - rows >= 10 && nulls('id') == 0\n";
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load(head, &dl);
    assert_non_null(p);
    assert_int_equal(pipeline_step(p, "crawl")->nexpect, 1);
    pipeline_free(p);
    char text[512];
    snprintf(text, sizeof(text), "%s      - nulls(id) => 0\n", head);
    expect_error(text, 9, 19, "bad rule in step 'crawl': expected a comparison (== != < <= > >=)");
    snprintf(text, sizeof(text), "%s      - rows > 1 && median(x) > 2\n", head);
    expect_error(text, 9, 21, "bad rule in step 'crawl': unknown function 'median'");
}

static void test_all_errors_in_one_pass(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: Bad\n" /* 1 bad name */
                              "steps:\n"
                              "  a:\n"
                              "    run: echo\n"
                              "    retries: -3\n"   /* 2 */
                              "    timeout: soon\n" /* 3 */
                              "    needs: [zz]\n"   /* 4 */
                              "    colour: red\n"   /* 5 */
                              "  b:\n"
                              "    kind: ingest\n" /* 6 no source, 7 no output */
                              "  c:\n"
                              "    run: echo\n"
                              "    needs: [d]\n"
                              "  d:\n"
                              "    run: echo\n"
                              "    needs: [c]\n", /* 8 the cycle */
                              &dl);
    assert_null(p);
    assert_int_equal(dl.n, 8);
    int count[17] = {0}; /* errors per line, in whatever order they were found */
    for (size_t i = 0; i < 8; i++)
        count[dl.items[i].line]++;
    /* line 13: the cycle, at c's 'needs: [d]' that closes it */
    int want[17] = {0, 1, 0, 0, 0, 1, 1, 1, 1, 2, 0, 0, 0, 1};
    assert_memory_equal(count, want, sizeof(want));
    assert_string_equal(dl.items[7].msg, "dependency cycle: c -> d -> c");
    assert_int_equal(dl.items[7].line, 13);
    assert_int_equal(dl.items[7].col, 13);
    diag_list_release(&dl);
}

/* A key at the wrong indentation is named with where it should go, not "quote a value". */
static void test_indentation_mistakes(void **state)
{
    (void)state;
    /* deeper than the "key: value" above: YAML reads it as more of that value */
    expect_error("pipeline: x\nparams:\n  lr: 0.1\n   depth: 3\nsteps: { a: { run: echo } }\n",
                 4, 4,
                 "'depth' is indented more than 'lr' on line 3, so YAML reads it as part of the "
                 "value of 'lr'; indent 'depth' to column 3, like 'lr'");
    expect_error("pipeline: x\nsteps:\n  a:\n    outputs:\n      - m.pkl\n        run: echo\n",
                 6, 9,
                 "'run' is indented more than line 5, so YAML reads it as part of the value "
                 "there; indent it like the keys it belongs with");
    /* between two levels */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n  b:\n      run: echo\n"
                 "    needs: [a]\n",
                 7, 5,
                 "'needs' at column 5 lines up with no key above it: 'run' on line 6 is at column "
                 "7, 'b' on line 5 at column 3; indent it like one of them");
    /* a colon in a value, or in what is not a key, still asks for quotes */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo note: this\n", 4, 19,
                 "mapping values are not allowed in this context; quote a value that contains "
                 "': '");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: python3 t.py\n      --lr: 0.1\n", 5, 11,
                 "mapping values are not allowed in this context; quote a value that contains "
                 "': '");
    /* a step key at the level of step names, or of the top-level keys */
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n  outputs: [m.pkl]\n", 5, 3,
                 "'outputs' is not part of step 'a': it is indented like a step name (column 3); "
                 "indent it like the keys of step 'a' (column 5)");
    expect_error("pipeline: x\nsteps:\n  a:\n      run: echo\n  resources:\n    cpus: 2\n", 5,
                 3,
                 "'resources' is not part of step 'a': it is indented like a step name (column "
                 "3); indent it like the keys of step 'a' (column 7)");
    expect_error("pipeline: x\nsteps:\n  cache: true\n  a:\n    run: echo\n", 3, 3,
                 "'cache' is a key of a step, but it is indented like a step name (column 3); "
                 "write it under its step's name, indented more");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\ntimeout: 1h\n", 5, 1,
                 "unknown top-level key 'timeout': it is a key of a step; indent it like the "
                 "keys of step 'a' (column 5)");
    expect_error("pipeline: x\ntimeout: 1h\nsteps:\n  a:\n    run: echo\n", 2, 1,
                 "unknown top-level key 'timeout': it is a key of a step; write it under its "
                 "step's name in 'steps', indented more");
    expect_error("pipeline: x\nsteps: { a: { run: echo } }\nb:\n  run: echo\n", 3, 1,
                 "unknown top-level key 'b': it looks like a step; indent it under 'steps'");
    /* steps named like keys are steps */
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\nsteps:\n  model:\n    run: echo\n  env:\n"
                              "    kind: train\n    run: echo\n",
                              &dl);
    assert_non_null(p);
    assert_int_equal(p->nsteps, 2);
    pipeline_free(p);
}

static void test_limits(void **state)
{
    (void)state;
    /* 64 levels of nesting are allowed, 65 are not: the root mapping is the first */
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "pipeline: x\nsteps: { a: { run: echo } }\nparams: { p: 1 }\nx: ");
    for (int i = 0; i < 63; i++)
        strbuf_addch(&sb, '[');
    for (int i = 0; i < 63; i++)
        strbuf_addch(&sb, ']');
    strbuf_addch(&sb, '\n');
    struct diag d = one_error(sb.buf); /* only the unknown key 'x' */
    assert_string_equal(d.msg, "unknown top-level key 'x'");
    free(d.msg);
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "x: ");
    for (int i = 0; i < 64; i++)
        strbuf_addch(&sb, '[');
    d = one_error(sb.buf);
    assert_string_equal(d.msg, "document nests deeper than 64 levels");
    assert_int_equal(d.col, 4 + 63);
    free(d.msg);

    /* an alias that makes the expanded tree deep is refused too */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "a: &a ");
    for (int i = 0; i < 40; i++)
        strbuf_addch(&sb, '[');
    for (int i = 0; i < 40; i++)
        strbuf_addch(&sb, ']');
    strbuf_addstr(&sb, "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
    d = one_error(sb.buf);
    assert_non_null(strstr(d.msg, "deeper than 64 levels once alias '*a' is expanded"));
    free(d.msg);

    /* aliases count as copies: 10 x 10 x 10 x 10 x 10 = 100,000 leaves */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
    for (char c = 'b'; c <= 'e'; c++)
        strbuf_addf(&sb, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c,
                    c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    d = one_error(sb.buf);
    assert_int_equal(d.line, 5);
    assert_non_null(strstr(d.msg, "more than 100000 nodes"));
    free(d.msg);
    /* while a few copies are fine */
    struct diag_list dl = DIAG_LIST_INIT;
    const char *shared = "a: &a [1, 2]\nb: [*a, *a]\n";
    struct ydoc *doc = ydoc_parse(shared, strlen(shared), &dl);
    assert_non_null(doc);
    assert_int_equal(dl.n, 0);
    const struct ynode *root = ydoc_root(doc);
    assert_ptr_equal(root->kids[3]->kids[0], root->kids[1]); /* shared, not copied */
    ydoc_free(doc);

    /* a short alias of a long string multiplies text: refused past 16 MiB */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "a: &a \"");
    for (int i = 0; i < (1 << 20); i++)
        strbuf_addch(&sb, 'x');
    strbuf_addstr(&sb, "\"\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
    d = one_error(sb.buf);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 61); /* the 15th alias: 16 MiB and the keys' 2 bytes */
    assert_string_equal(d.msg, "document expands to more than 16 MiB of text (an alias counts as "
                               "a copy of what it names)");
    free(d.msg);

    /* defaults multiply too: 200 outputs copied into 6,000 steps is over a million nodes */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "pipeline: x\ndefaults:\n  outputs: [");
    for (int i = 0; i < 200; i++)
        strbuf_addf(&sb, "%so%d", i ? ", " : "", i);
    strbuf_addstr(&sb, "]\nsteps:\n");
    for (int i = 0; i < 6000; i++)
        strbuf_addf(&sb, "  s%d: { run: x }\n", i);
    d = one_error(sb.buf);
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 12);
    assert_non_null(strstr(d.msg, "'defaults' are too big to copy into every step"));
    free(d.msg);

    /* size: one byte over 4 MiB */
    size_t big = PIPELINE_MAX_BYTES + 1;
    char *text = xmalloc(big);
    memset(text, '#', big);
    assert_null(pipeline_load_text("big.yaml", text, big, &dl));
    assert_int_equal(dl.n, 1);
    assert_int_equal(dl.items[0].line, 0);
    assert_string_equal(dl.items[0].msg, "file is larger than 4 MiB");
    diag_list_release(&dl);
    FILE *f = fopen("/tmp/sluice-test-big.yaml", "wb");
    assert_non_null(f);
    fwrite(text, 1, big, f);
    fclose(f);
    char *got = NULL;
    size_t got_len = 0;
    assert_null(pipeline_load("/tmp/sluice-test-big.yaml", &dl, &got, &got_len));
    assert_string_equal(dl.items[0].msg, "file is larger than 4 MiB");
    unlink("/tmp/sluice-test-big.yaml");
    free(got);
    free(text);
    diag_list_release(&dl);
    strbuf_release(&sb);
}

static void test_utf8(void **state)
{
    (void)state;
    expect_error("pipeline: x\n# ok: é\n# bad: \xc3\x28\n", 3, 8,
                 "file is not valid UTF-8 (byte 0xc3)");
    expect_error("a: \xed\xa0\x80\n", 1, 4, "file is not valid UTF-8 (byte 0xed)"); /* surrogate */
    expect_error("a: \xc0\xaf\n", 1, 4, "file is not valid UTF-8 (byte 0xc0)");     /* overlong */
    expect_error("a: \xe2\x82", 1, 4, "file is not valid UTF-8 (byte 0xe2)");       /* cut short */
}

static void test_yaml_tree(void **state)
{
    (void)state;
    /* duplicate keys: reported at the later one, which is dropped */
    expect_error("pipeline: x\nsteps:\n  a: { run: one, run: two }\n", 3, 18,
                 "duplicate key 'run' (first at 3:8)");
    /* merge keys: explicit keys win wherever they are written, earlier sources win */
    struct diag_list dl = DIAG_LIST_INIT;
    const char *t = "base: &b { x: 1, y: 2 }\n"
                    "more: &m { y: 3, z: 4 }\n"
                    "use: { x: 0, <<: [*b, *m] }\n";
    struct ydoc *doc = ydoc_parse(t, strlen(t), &dl);
    assert_non_null(doc);
    assert_int_equal(dl.n, 0);
    const struct ynode *use = ydoc_root(doc)->kids[5];
    assert_int_equal(use->n, 3);
    assert_string_equal(use->kids[0]->str, "x");
    assert_string_equal(use->kids[1]->str, "0");
    assert_string_equal(use->kids[2]->str, "y");
    assert_string_equal(use->kids[3]->str, "2");
    assert_string_equal(use->kids[4]->str, "z");
    assert_string_equal(use->kids[5]->str, "4");
    ydoc_free(doc);
    /* a recursive alias and a second document end parsing */
    expect_error("a: &a [1, *a]\n", 1, 11, "alias '*a' refers to a node that contains it");
    expect_error("a: 1\n---\nb: 2\n", 2, 1,
                 "a pipeline file holds one YAML document; this is a second one");
    /* libyaml's own errors, at libyaml's position + 1 */
    expect_error("a: [1, 2\n", 2, 1,
                 "did not find expected ',' or ']' (while parsing a flow sequence at 1:4)");
    expect_error("a:\n\tb: 1\n", 2, 1,
                 "found character that cannot start any token; YAML is indented with spaces, "
                 "not tabs");
    expect_error("a: \x01\n", 1, 4, "control characters are not allowed (code 0x01)");
    /* scalar styles */
    const char *styles = "a: ''\nb: \"x\"\nc: |\n  l\nd: ~\ne:\n";
    doc = ydoc_parse(styles, strlen(styles), &dl);
    assert_non_null(doc);
    const struct ynode *r = ydoc_root(doc);
    assert_int_equal(r->kids[1]->style, YSTYLE_SINGLE);
    assert_false(ynode_is_null(r->kids[1]));
    assert_int_equal(r->kids[3]->style, YSTYLE_DOUBLE);
    assert_int_equal(r->kids[5]->style, YSTYLE_LITERAL);
    assert_string_equal(r->kids[5]->str, "l\n");
    assert_true(ynode_is_null(r->kids[7]));
    assert_true(ynode_is_null(r->kids[9]));
    ydoc_free(doc);
}

static void test_rules(void **state)
{
    (void)state;
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    needs: [trasnform]\n"
                 "  transform:\n    run: e\n",
                 5, 13, "step 'a' needs unknown step 'trasnform'; did you mean 'transform'?");
    expect_error("pipeline: x\nsteps:\n  i:\n    kind: ingest\n    source: s3://b/k\n"
                 "    outputs: [o]\n",
                 5, 13,
                 "'source' must be a path or a file://, http:// or https:// URL, got "
                 "'s3://b/k'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    inputs: { r: b/x, R: b/x }\n"
                 "  b: { run: echo, outputs: [x] }\n",
                 5, 23, "inputs 'r' and 'R' would both be $SLUICE_IN_R");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    when: \"1\"\n", 5, 12,
                 "'when' must be a boolean expression, got number");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    resources: { cpus: 0 }\n", 5, 24,
                 "'cpus' must be 1 or more, got '0'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    env: { SLUICE_X: 1 }\n", 5, 12,
                 "variable 'SLUICE_X' in 'env' is reserved: sluice sets the SLUICE_ ones");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    retries: 99999999999999999999\n", 5,
                 14, "'retries' must be at most 1000, got '99999999999999999999'");
    expect_error("pipeline: x\nsteps: {}\n", 2, 8, "'steps' has no steps");
    /* YAML reads a leading '!' as a tag: in when: it would silently drop a negation */
    expect_error("pipeline: x\nparams: { p: true }\nsteps:\n  a:\n    run: echo\n"
                 "    when: ! params.p\n",
                 6, 11,
                 "'when' starts with a YAML tag '!': quote an expression that starts with '!'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    retries: !two\n", 5, 14,
                 "'retries' must be an integer, got nothing (YAML read '!two' as a tag)");
    expect_error("pipeline: x\nsteps:\n  a:\n", 3, 3,
                 "step 'a' is empty; give it a 'run' or a built-in 'kind'");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    <<: { retires: 1 }\n", 5, 11,
                 "unknown key 'retires' in step 'a'; did you mean 'retries'?");
}

/* trigger_rule: Airflow's names, any step kind, from defaults too; anything else is an error
 * at the value that lists the names. */
static void test_trigger_rule(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "defaults: { trigger_rule: all_done }\n"
                              "steps:\n"
                              "  a: { run: a }\n"
                              "  b: { run: b, needs: [a], trigger_rule: one_failed }\n"
                              "  gate: { kind: approve, needs: [b], trigger_rule: none_failed }\n",
                              &dl);
    assert_non_null(p);
    assert_int_equal(pipeline_step(p, "a")->trigger_rule, TRIGGER_ALL_DONE);
    assert_int_equal(pipeline_step(p, "b")->trigger_rule, TRIGGER_ONE_FAILED);
    assert_int_equal(pipeline_step(p, "gate")->trigger_rule, TRIGGER_NONE_FAILED);
    pipeline_free(p);
    p = load("pipeline: x\nsteps:\n  a: { run: a }\n", &dl);
    assert_non_null(p);
    assert_int_equal(p->steps[0].trigger_rule, TRIGGER_ALL_SUCCESS);
    pipeline_free(p);
    assert_string_equal(trigger_rule_name(TRIGGER_NONE_FAILED_MIN_ONE_SUCCESS),
                        "none_failed_min_one_success");
#define RULES                                                                                      \
    "'trigger_rule' must be 'all_success', 'none_failed', 'none_failed_min_one_success', "        \
    "'all_done', 'one_success' or 'one_failed', got "
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    trigger_rule: all_failed\n", 5, 19,
                 RULES "'all_failed'");
    expect_error("pipeline: x\ndefaults:\n  trigger_rule: [one_success]\nsteps:\n  a: { run: a }\n",
                 3, 17, RULES "a list");
#undef RULES
}

static void test_diag_print(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    const char *text = "a: 1\n\tb:\tc\nend";
    diag_add(&dl, 0, 0, "whole %s", "file");
    diag_add(&dl, 2, 5, "second %d", 2);
    diag_add(&dl, 1, 1, "first");
    diag_add(&dl, 2, 5, "second again");
    diag_add(&dl, 9, 3, "past the end");
    char *out = printed(&dl, text);
    assert_string_equal(out, "f.yaml:1:1: error: first\n"
                             "    1 | a: 1\n"
                             "      | ^\n"
                             "f.yaml:2:5: error: second 2\n"
                             "    2 | \tb:\tc\n"
                             "      | \t  \t^\n"
                             "f.yaml:2:5: error: second again\n"
                             "    2 | \tb:\tc\n"
                             "      | \t  \t^\n"
                             "f.yaml:9:3: error: past the end\n"
                             "f.yaml: error: whole file\n");
    free(out);
    out = printed(&dl, NULL);
    assert_non_null(strstr(out, "f.yaml:2:5: error: second 2\nf.yaml:2:5: error: second again\n"));
    free(out);
    diag_list_release(&dl);
    assert_int_equal(dl.n, 0);

    /* a long line is shown as a window around the column */
    struct strbuf line = STRBUF_INIT;
    for (int i = 0; i < 400; i++)
        strbuf_addch(&line, (char)('a' + i % 26));
    diag_add(&dl, 1, 301, "far");
    diag_add(&dl, 1, 2, "near");
    out = printed(&dl, line.buf);
    struct strbuf want = STRBUF_INIT;
    strbuf_addstr(&want, "f.yaml:1:2: error: near\n    1 | ");
    strbuf_add(&want, line.buf, 240);
    strbuf_addstr(&want, "...\n      |  ^\nf.yaml:1:301: error: far\n    1 | ...");
    strbuf_add(&want, line.buf + 200, 200);
    strbuf_addstr(&want, "\n      |    ");
    for (int i = 0; i < 100; i++)
        strbuf_addch(&want, ' ');
    strbuf_addstr(&want, "^\n");
    assert_string_equal(out, want.buf);
    free(out);
    strbuf_release(&want);
    strbuf_release(&line);
    diag_list_release(&dl);

    /* carets count characters, not bytes */
    diag_add(&dl, 1, 4, "x");
    out = printed(&dl, "é: x\n");
    assert_string_equal(out, "f.yaml:1:4: error: x\n    1 | é: x\n      |    ^\n");
    free(out);
    diag_list_release(&dl);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    char *text = (char *)"sentinel";
    size_t len = 7;
    assert_null(pipeline_load("/nonexistent/p.yaml", &dl, &text, &len));
    assert_null(text);
    assert_int_equal(len, 0);
    assert_int_equal(dl.n, 1);
    assert_string_equal(dl.items[0].msg,
                        "cannot read '/nonexistent/p.yaml': No such file or directory");
    diag_list_release(&dl);
    /* on a validation error the text comes back for diag_print */
    FILE *f = fopen("/tmp/sluice-test-bad.yaml", "w");
    fputs("pipeline: x\n", f);
    fclose(f);
    assert_null(pipeline_load("/tmp/sluice-test-bad.yaml", &dl, &text, &len));
    assert_string_equal(text, "pipeline: x\n");
    assert_int_equal(len, 12);
    assert_string_equal(dl.items[0].msg, "missing top-level key 'steps'");
    free(text);
    unlink("/tmp/sluice-test-bad.yaml");
    diag_list_release(&dl);
    assert_string_equal(step_kind_name(KIND_EVALUATE), "evaluate");
    assert_true(step_kind_builtin(KIND_CRAWL));
    assert_false(step_kind_builtin(KIND_TASK));
}

static void test_slurm_options(void **state)
{
    (void)state;
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = load("pipeline: x\n"
                              "params: { part: gpu }\n"
                              "defaults: { executor: slurm, slurm: { partition: '${{ params.part }}',"
                              " time: 2h } }\n"
                              "steps:\n"
                              "  a: { run: a, slurm: { account: ml, time: 90m,"
                              " options: ['--exclusive', '--nice=5'] } }\n"
                              "  b: { run: b }\n",
                              &dl);
    assert_non_null(p);
    const struct step *a = pipeline_step(p, "a"), *b = pipeline_step(p, "b");
    /* a step's slurm: replaces the defaults' whole, as every key does */
    assert_string_equal(a->slurm.account.src, "ml");
    assert_null(a->slurm.partition.src);
    assert_int_equal(a->slurm.time_ms, 90 * 60 * 1000);
    assert_int_equal(a->slurm.noptions, 2);
    assert_string_equal(a->slurm.options[1].s, "--nice=5");
    assert_string_equal(b->slurm.partition.src, "${{ params.part }}");
    assert_int_equal(b->slurm.partition.nparts, 1);
    assert_int_equal(b->slurm.time_ms, 2 * 3600 * 1000);
    assert_string_equal(b->executor, "slurm");
    pipeline_free(p);
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    slurm: { gress: 'gpu:1' }\n", 5,
                 14,
                 "unknown key 'gress' in 'slurm' of step 'a' (keys: partition, account, qos, gres, "
                 "constraint, time, options); did you mean 'gres'?");
    expect_error("pipeline: x\nsteps:\n  a:\n    run: echo\n    slurm: { options: ['-J'] }\n",
                 5, 24,
                 "sbatch option '-J' is set by sluice (time, partition, account, qos, gres, "
                 "constraint and resources have keys of their own)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tumour_loads),   cmocka_unit_test(test_value_positions),
        cmocka_unit_test(test_spec_positions), cmocka_unit_test(test_run_forms),
        cmocka_unit_test(test_params_types),   cmocka_unit_test(test_defaults_applied),
        cmocka_unit_test(test_crawl_output),
        cmocka_unit_test(test_crawl_expect_rules),   cmocka_unit_test(test_all_errors_in_one_pass),
        cmocka_unit_test(test_indentation_mistakes),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_yaml_tree),      cmocka_unit_test(test_rules),
        cmocka_unit_test(test_diag_print),     cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_trigger_rule),   cmocka_unit_test(test_slurm_options),
        cmocka_unit_test(test_step_params),    cmocka_unit_test(test_field_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
