/* What the files of a step's cache key are, for people: the engine's cache-miss reason
 * ("data 'data/extra.csv' changed") and `sluice diff` name each file by the same rule. */
#ifndef SLUICE_CACHE_H
#define SLUICE_CACHE_H

/* "code" or "data" for the file at path (relative to the pipeline's folder) in the cache key of
 * a step of kind (its name: "ingest", "task", …; NULL when unknown). A built-in's files
 * (an ingest's source, a crawl's input) are data; so is a file whose extension is not one of
 * source code or scripts (.py .sh .r .jl .js .sql .c …: .csv, .parquet, .json, .yaml, .pkl,
 * .npy are data). A file without an extension counts as a script (Makefile, bin/train). */
const char *cache_file_role(const char *kind, const char *path);

#endif
