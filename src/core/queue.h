/* An intrusive circular doubly linked list, and container_of.
 *
 * A list is a bn_queue_t head; an element embeds a bn_queue_t node and is
 * recovered from it with bn_container_of. Insertion and removal are O(1)
 * and allocate nothing. The head must be set up with bn_queue_init; a node
 * needs no set-up: a zeroed node is "not on a list" (bn_queue_linked), and
 * bn_queue_remove puts it back in that state, so a struct freshly calloc'd or
 * just removed can be tested and removed again safely.
 *
 * Iterating while removing the current element: take the next node first
 * (bn_queue_foreach_safe). */
#ifndef BN_CORE_QUEUE_H
#define BN_CORE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/* The struct of type `type` whose member `member` is at ptr. */
#define bn_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct bn_queue_s {
    struct bn_queue_s *next;
    struct bn_queue_s *prev;
} bn_queue_t;

static inline void bn_queue_init(bn_queue_t *head)
{
    head->next = head;
    head->prev = head;
}

/* For a head: no elements. */
static inline bool bn_queue_empty(const bn_queue_t *head)
{
    return head->next == head;
}

/* For a node: it is on some list. */
static inline bool bn_queue_linked(const bn_queue_t *node)
{
    return node->next != NULL;
}

static inline void bn_queue_insert_tail(bn_queue_t *head, bn_queue_t *node)
{
    node->next = head;
    node->prev = head->prev;
    head->prev->next = node;
    head->prev = node;
}

static inline void bn_queue_insert_head(bn_queue_t *head, bn_queue_t *node)
{
    node->prev = head;
    node->next = head->next;
    head->next->prev = node;
    head->next = node;
}

/* Unlinks the node if it is linked; afterwards bn_queue_linked is false. */
static inline void bn_queue_remove(bn_queue_t *node)
{
    if (node->next != NULL) {
        node->prev->next = node->next;
        node->next->prev = node->prev;
        node->next = NULL;
        node->prev = NULL;
    }
}

/* The first / last node, or NULL when the list is empty. */
static inline bn_queue_t *bn_queue_head(const bn_queue_t *head)
{
    return head->next != head ? head->next : NULL;
}
static inline bn_queue_t *bn_queue_tail(const bn_queue_t *head)
{
    return head->prev != head ? head->prev : NULL;
}

/* for (each node q of head) */
#define bn_queue_foreach(q, head) for ((q) = (head)->next; (q) != (head); (q) = (q)->next)
/* The same, with n holding the next node so q may be removed. */
#define bn_queue_foreach_safe(q, n, head) \
    for ((q) = (head)->next, (n) = (q)->next; (q) != (head); (q) = (n), (n) = (q)->next)

#endif
