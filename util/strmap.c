/* A string → size_t map with open addressing; kept at most half full so probes stay short. */
#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* FNV-1a: simple, and good enough for identifiers chosen by the user of a pipeline file. */
static size_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

void strmap_init(struct strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void strmap_release(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

/* The slot of key, or the empty slot where it would go. m->cap must be nonzero. */
static struct strmap_slot *find_slot(const struct strmap *m, const char *key, size_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && !strcmp(s->key, key)))
            return s;
    }
}

static void rehash(struct strmap *m, size_t cap)
{
    struct strmap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key)
            continue;
        size_t mask = cap - 1, j = old[i].hash & mask;
        while (m->slots[j].key)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void strmap_reserve(struct strmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap / 2 < n)
        cap *= 2;
    if (cap != m->cap)
        rehash(m, cap);
}

/* Returns the slot for key, inserting key (with value) when absent; *added says which. */
static struct strmap_slot *insert(struct strmap *m, const char *key, size_t value, bool *added)
{
    strmap_reserve(m, m->n + 1);
    size_t h = hash_str(key);
    struct strmap_slot *s = find_slot(m, key, h);
    *added = !s->key;
    if (*added) {
        s->key = xstrdup(key);
        s->hash = h;
        s->value = value;
        m->n++;
    }
    return s;
}

bool strmap_put(struct strmap *m, const char *key, size_t value)
{
    bool added;
    struct strmap_slot *s = insert(m, key, value, &added);
    s->value = value;
    return added;
}

bool strmap_add(struct strmap *m, const char *key, size_t value, size_t *old)
{
    bool added;
    struct strmap_slot *s = insert(m, key, value, &added);
    if (!added && old)
        *old = s->value;
    return added;
}

bool strmap_get(const struct strmap *m, const char *key, size_t *value)
{
    if (!m->n)
        return false;
    const struct strmap_slot *s = find_slot(m, key, hash_str(key));
    if (!s->key)
        return false;
    if (value)
        *value = s->value;
    return true;
}
