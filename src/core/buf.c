#include "core/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

bn_buf_t *bn_buf_new(size_t cap)
{
    bn_buf_t *b = malloc(sizeof(*b) + BN_BUF_HEADROOM + cap);
    if (b == NULL) {
        return NULL;
    }
    b->refs = 1;
    b->head = 0;
    b->len = 0;
    b->cap = cap;
    b->binary = 0;
    b->framed = 0;
    return b;
}

void bn_buf_unref(bn_buf_t *b)
{
    if (b == NULL) {
        return;
    }
    assert(b->refs > 0);
    if (--b->refs == 0) {
        free(b);
    }
}

int bn_buf_append(bn_buf_t **bp, const void *data, size_t n)
{
    bn_buf_t *b = *bp;
    assert(b->refs == 1 && !b->framed);
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2 + n;
        bn_buf_t *nb = realloc(b, sizeof(*b) + BN_BUF_HEADROOM + cap);
        if (nb == NULL) {
            return -1;
        }
        nb->cap = cap;
        *bp = b = nb;
    }
    memcpy(bn_buf_body(b) + b->len, data, n);
    b->len += n;
    return 0;
}
