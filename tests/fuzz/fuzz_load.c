/* libFuzzer target for the pipeline loader: any bytes in, no crash, leak or hang out.
 * Each input is loaded as a pipeline file (every check of validate, the expect: rules' syntax
 * included), its diagnostics printed (to /dev/null, to exercise diag_print's positions
 * against the text) and everything freed. Run, with new inputs kept out of the seed corpus:
 *   make fuzz && build/fuzz/fuzz_load -dict=tests/fuzz/fuzz_load.dict NEW_DIR tests/fuzz/corpus */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/diag.h"
#include "pipeline/load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = pipeline_load_text("fuzz.yaml", (const char *)data, size, &dl);
    if (p && dl.n)
        __builtin_trap(); /* a pipeline comes back only when nothing was wrong */
    if (!p && !dl.n)
        __builtin_trap(); /* and a refusal always says why */
    if (sink)
        diag_print(&dl, "fuzz.yaml", (const char *)data, size, sink);
    pipeline_free(p);
    diag_list_release(&dl);
    return 0;
}
