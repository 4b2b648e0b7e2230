#include "core/intern.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct entry_s {
    UT_hash_handle hh;
    json_t *val;
    size_t uses;
    size_t len;
    char key[];
} entry_t;

struct bn_intern_s {
    entry_t *entries;
    size_t count;
};

bn_intern_t *bn_intern_new(void)
{
    return calloc(1, sizeof(bn_intern_t));
}

void bn_intern_free(bn_intern_t *t)
{
    if (t == NULL) {
        return;
    }
    entry_t *e, *tmp;
    HASH_ITER(hh, t->entries, e, tmp)
    {
        HASH_DEL(t->entries, e);
        json_decref(e->val);
        free(e);
    }
    free(t);
}

json_t *bn_intern_json(bn_intern_t *t, const char *s, size_t len)
{
    entry_t *e = NULL;
    HASH_FIND(hh, t->entries, s, len, e);
    if (e == NULL) {
        e = calloc(1, sizeof(*e) + len + 1);
        if (e == NULL) {
            return NULL;
        }
        e->val = json_stringn(s, len);
        if (e->val == NULL) {
            free(e);
            return NULL;
        }
        memcpy(e->key, s, len);
        e->len = len;
        HASH_ADD(hh, t->entries, key[0], len, e);
        t->count++;
    }
    e->uses++;
    return e->val;
}

void bn_intern_release(bn_intern_t *t, json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL) {
        return;
    }
    size_t len = json_string_length(v);
    entry_t *e = NULL;
    HASH_FIND(hh, t->entries, s, len, e);
    if (e == NULL || e->val != v) {
        return; /* not ours */
    }
    if (--e->uses == 0) {
        HASH_DEL(t->entries, e);
        t->count--;
        json_decref(e->val);
        free(e);
    }
}

size_t bn_intern_count(const bn_intern_t *t)
{
    return t->count;
}
