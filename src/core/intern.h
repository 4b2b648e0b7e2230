/* A table of shared immutable JSON strings: equal strings handed to
 * bn_intern_json get one json_t, counted by uses, freed with the last
 * release. Channels keep their join_ref here: clients reuse a few small
 * refs ("1", "2", ...), so an idle joined channel carries no string of its
 * own. Not thread-safe (one per loop). */
#ifndef BN_CORE_INTERN_H
#define BN_CORE_INTERN_H

#include <jansson.h>
#include <stddef.h>

typedef struct bn_intern_s bn_intern_t;

bn_intern_t *bn_intern_new(void);
/* Frees the table; every interned value must have been released. */
void bn_intern_free(bn_intern_t *t);
/* The shared JSON string with these bytes (one more use), or NULL on OOM.
 * The value must not be modified; give it back with bn_intern_release. */
json_t *bn_intern_json(bn_intern_t *t, const char *s, size_t len);
/* One use fewer of a value bn_intern_json returned. */
void bn_intern_release(bn_intern_t *t, json_t *v);
/* Distinct strings held now. */
size_t bn_intern_count(const bn_intern_t *t);

#endif
