/* bn_config_t from its table (bennu/config_table.h): the defaults, the
 * range check and the field descriptors are generated from the same rows,
 * so they cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "bennu/bennu.h"

#define BN__CFG_SIGNED_int true
#define BN__CFG_SIGNED_unsigned false
#define BN__CFG_SIGNED_size_t false
#define BN__CFG_FIELD(field, type, def, min, max)    \
    {#field,           offsetof(bn_config_t, field), \
     sizeof(type),     BN__CFG_SIGNED_##type,        \
     (long long)(def), (long long)(min),             \
     (long long)(max)},
static const bn_config_field_t fields[] = {BN_CONFIG_NUMBERS(BN__CFG_FIELD)};
#undef BN__CFG_FIELD

/* The table's type column must be the field's type. */
#define BN__CFG_TYPE_CHECK(field, type, def, min, max)                                      \
    _Static_assert(_Generic(((bn_config_t *)0)->field, type : 1, default : 0), #field " is" \
                                                                                      " " #type);
BN_CONFIG_NUMBERS(BN__CFG_TYPE_CHECK)
#undef BN__CFG_TYPE_CHECK

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

const bn_config_field_t *bn_config_fields(size_t *n)
{
    *n = N_FIELDS;
    return fields;
}

const bn_config_field_t *bn_config_field(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (strcmp(fields[i].name, name) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

long long bn_config_get(const bn_config_t *cfg, const bn_config_field_t *f)
{
    const char *p = (const char *)cfg + f->offset;
    if (f->size == sizeof(size_t) && !f->is_signed) {
        size_t v;
        memcpy(&v, p, sizeof(v));
        return (long long)v;
    }
    if (f->is_signed) {
        int v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    unsigned v;
    memcpy(&v, p, sizeof(v));
    return (long long)v;
}

static void store(bn_config_t *cfg, const bn_config_field_t *f, long long v)
{
    char *p = (char *)cfg + f->offset;
    if (f->size == sizeof(size_t) && !f->is_signed) {
        size_t s = (size_t)v;
        memcpy(p, &s, sizeof(s));
    } else if (f->is_signed) {
        int i = (int)v;
        memcpy(p, &i, sizeof(i));
    } else {
        unsigned u = (unsigned)v;
        memcpy(p, &u, sizeof(u));
    }
}

int bn_config_set(bn_config_t *cfg, const bn_config_field_t *f, long long v)
{
    if (v < f->min || v > f->max) {
        return UV_EINVAL;
    }
    store(cfg, f, v);
    return 0;
}

void bn_config_defaults(bn_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_FIELDS; i++) {
        store(cfg, &fields[i], fields[i].def);
    }
#define BN__CFG_STR(field, def) cfg->field = def;
    BN_CONFIG_STRINGS(BN__CFG_STR)
#undef BN__CFG_STR
}

int bn_config_validate(const bn_config_t *cfg, char *why, size_t why_len)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        const bn_config_field_t *f = &fields[i];
        long long v = bn_config_get(cfg, f);
        if (v < f->min || v > f->max) {
            if (why_len > 0) {
                snprintf(why, why_len, "%s: %lld is outside %lld..%lld", f->name, v, f->min,
                         f->max);
            }
            return UV_EINVAL;
        }
    }
    return 0;
}
