/* A string → size_t map: open addressing with linear probing, for name look-ups (step names
 * to indices and the like). No removal; keys are copied. */
#ifndef SLUICE_STRMAP_H
#define SLUICE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
    char *key;   /* NULL: empty slot */
    size_t hash; /* of key, kept so that growing does not rehash the strings */
    size_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap; /* a power of two, or 0 before the first insertion */
    size_t n;   /* keys in the map */
};

#define STRMAP_INIT {NULL, 0, 0}

void strmap_init(struct strmap *m);
/* Free every key and the table; m is then empty and reusable. */
void strmap_release(struct strmap *m);
/* Make room for n keys in total without growing again. */
void strmap_reserve(struct strmap *m, size_t n);
/* Map key to value. key is copied. Returns true when key was new, false when it was present
 * (its value is then replaced). */
bool strmap_put(struct strmap *m, const char *key, size_t value);
/* Map key to value only when key is absent. Returns true when it was added; false when key
 * was present, leaving the map unchanged and setting *old (when non-NULL) to its value. */
bool strmap_add(struct strmap *m, const char *key, size_t value, size_t *old);
/* Returns true and sets *value (when non-NULL) when key is present. */
bool strmap_get(const struct strmap *m, const char *key, size_t *value);

#endif
