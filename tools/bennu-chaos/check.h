/* The delivery checker of bennu-chaos: a ledger of every message a
 * publisher sent and every copy a subscriber received, and the
 * classification of each missing copy against the fault windows. Pure code
 * (no I/O); times are milliseconds on the harness clock.
 *
 * Every workload client is both a publisher and a subscriber of one topic;
 * clients are numbered 0..n_clients-1 and each sits on one node. */
#ifndef BNC_CHECK_H
#define BNC_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"

/* How a copy a subscriber should have received but did not is judged. */
#define BNC_LOSS_MAP(X)                                                                    \
    X(BNC_LOSS_FAULT, "in_fault_window", 1)       /* publisher and subscriber separated */ \
    X(BNC_LOSS_REJOIN, "subscriber_rejoining", 1) /* sub had just (re)joined */            \
    X(BNC_LOSS_UNEXPLAINED, "unexplained", 0)

typedef enum {
#define BNC_LOSS_ENUM(name, text, ok) name,
    BNC_LOSS_MAP(BNC_LOSS_ENUM)
#undef BNC_LOSS_ENUM
        BNC_LOSS_COUNT
} bnc_loss_t;

const char *bnc_loss_name(bnc_loss_t l);
bool bnc_loss_allowed(bnc_loss_t l);

/* A span during which messages between the nodes a fault separates may be
 * lost: from the fault's start until the cluster had reconverged after it
 * (end_ms), widened by the grace periods given to bnc_loss_classify. */
typedef struct bnc_window_s {
    bnc_fault_t fault; /* copy: kind and node sets */
    uint64_t start_ms;
    uint64_t end_ms;
} bnc_window_t;

typedef struct bnc_grace_s {
    uint32_t before_ms; /* in flight when the fault began */
    uint32_t after_ms;  /* membership still settling after convergence */
    uint32_t rejoin_ms; /* a subscriber's join still propagating to peers */
} bnc_grace_t;

/* Classifies the loss of a message sent at sent_ms by a client on node
 * pub_node to a subscriber on sub_node that joined at sub_join_ms. */
bnc_loss_t bnc_loss_classify(const bnc_window_t *w, size_t n, const bnc_grace_t *g, int pub_node,
                             int sub_node, uint64_t sent_ms, uint64_t sub_join_ms);

/* ---- ledger ---- */

typedef struct bnc_span_s {
    uint64_t from_ms;
    uint64_t to_ms; /* UINT64_MAX while still joined */
} bnc_span_t;

typedef struct bnc_pair_s { /* what subscriber s saw of publisher p */
    uint8_t *seen;          /* seen[seq] counts copies, saturating at 255 */
    size_t cap;
    uint64_t max_seq;
    uint64_t delivered;
    uint64_t dups;
    uint64_t reordered;
} bnc_pair_t;

typedef struct bnc_ledger_s {
    /* read-only after init */
    size_t n_clients;
    int *node_of; /* client -> node */
    /* private */
    uint64_t **sent_ms; /* [client][seq] send time; seq starts at 1 */
    size_t *sent_cap;
    uint64_t *last_seq;
    bnc_pair_t *pairs;   /* [sub * n_clients + pub] */
    bnc_span_t **joined; /* per client, the spans it was joined */
    size_t *n_joined;
    uint64_t unknown; /* copies naming a publisher or seq never sent */
} bnc_ledger_t;

void bnc_ledger_init(bnc_ledger_t *l, size_t n_clients, const int *node_of);
void bnc_ledger_free(bnc_ledger_t *l);

/* Records publisher pub sending seq (strictly increasing per publisher). */
void bnc_ledger_sent(bnc_ledger_t *l, size_t pub, uint64_t seq, uint64_t now_ms);
/* Records subscriber sub receiving (pub, seq). */
void bnc_ledger_delivered(bnc_ledger_t *l, size_t sub, uint32_t pub, uint64_t seq);
/* A copy whose body is not one the workload sends ("p<client> s<seq>
 * t<ns>"): counted with the unknown ones, since no publisher sent it. */
void bnc_ledger_malformed(bnc_ledger_t *l);
/* Subscriber join / leave (connection closed). */
void bnc_ledger_joined(bnc_ledger_t *l, size_t sub, uint64_t now_ms);
void bnc_ledger_left(bnc_ledger_t *l, size_t sub, uint64_t now_ms);

typedef struct bnc_tally_s {
    uint64_t sent;
    uint64_t expected;  /* (message, subscriber joined when it was sent) */
    uint64_t delivered; /* distinct expected copies received */
    uint64_t extra;     /* distinct copies received by subscribers not joined at send time */
    uint64_t dups;
    uint64_t reordered;
    uint64_t unknown;
    uint64_t lost[BNC_LOSS_COUNT];
    uint64_t lost_allowed;
    uint64_t lost_unexplained;
    /* The first few unexplained losses, for the report. */
    struct {
        uint32_t pub;
        uint32_t sub;
        uint64_t seq;
        uint64_t sent_ms;
    } examples[8];
    size_t n_examples;
} bnc_tally_t;

/* Copies from publishers on node pub_node to subscribers on node sub_node
 * of messages sent at or after from_ms: how many were expected (the
 * subscriber was joined) and how many of those arrived. */
void bnc_ledger_flow(const bnc_ledger_t *l, int pub_node, int sub_node, uint64_t from_ms,
                     uint64_t *expected, uint64_t *delivered);

/* Counts every message as delivered, lost (and why) or not expected.
 * lost_at, if not NULL, receives per-bucket counts of unexplained+allowed
 * losses by send time (bucket_ms wide, n_buckets long). */
void bnc_ledger_tally(const bnc_ledger_t *l, const bnc_window_t *w, size_t n_windows,
                      const bnc_grace_t *g, bnc_tally_t *out, uint64_t *lost_at, size_t n_buckets,
                      uint64_t bucket_ms);

/* 1 when the binary at path was built with a sanitizer (ASan, UBSan, ...):
 * without one, "no sanitizer reports" cannot be checked. */
int bnc_binary_has_sanitizer(const char *path);

#endif
