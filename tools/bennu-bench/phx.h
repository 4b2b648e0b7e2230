/* Phoenix V2 JSON frames as bennu-bench needs them: building the few client
 * messages it sends, and classifying server frames cheaply (the header
 * fields are scanned, the payload is only searched for "status"/"body";
 * there is no general JSON parser on the hot path). Pure code. */
#ifndef BNB_PHX_H
#define BNB_PHX_H

#include <stddef.h>
#include <stdint.h>

/* Events bennu-bench tells apart; everything else is BNB_PHX_EV_OTHER. */
#define BNB_PHX_EVENT_MAP(X)                       \
    X(BNB_PHX_EV_OTHER, "")                        \
    X(BNB_PHX_EV_REPLY, "phx_reply")               \
    X(BNB_PHX_EV_NEW_MSG, "new_msg")               \
    X(BNB_PHX_EV_CLOSE, "phx_close")               \
    X(BNB_PHX_EV_ERROR, "phx_error")               \
    X(BNB_PHX_EV_PRESENCE_STATE, "presence_state") \
    X(BNB_PHX_EV_PRESENCE_DIFF, "presence_diff")

typedef enum {
#define BNB_PHX_EV_ENUM(name, text) name,
    BNB_PHX_EVENT_MAP(BNB_PHX_EV_ENUM)
#undef BNB_PHX_EV_ENUM
} bnb_phx_event_t;

const char *bnb_phx_event_name(bnb_phx_event_t ev);

/* A classified server frame. Pointers point into the frame text. */
typedef struct bnb_phx_in_s {
    bnb_phx_event_t event;
    uint64_t ref;      /* numeric value of a "digits" ref; 0 if null or not numeric */
    uint64_t join_ref; /* likewise */
    const char *topic;
    size_t topic_len;
    int status_ok;    /* replies: 1 if "status":"ok" */
    const char *body; /* new_msg: contents of "body":"..." (raw, unescaped), else NULL */
    size_t body_len;
} bnb_phx_in_t;

/* Classifies one text frame. Returns 0, or -1 if the frame is not a JSON
 * array starting with two refs, a topic and an event. */
int bnb_phx_classify(const char *f, size_t len, bnb_phx_in_t *out);

/* Writes [join_ref, ref, topic, event, payload] where a zero ref is encoded
 * as null and others as decimal strings; payload is raw JSON. Returns the
 * length, or 0 if it does not fit in cap. topic/event are written as given
 * (they must need no escaping). */
size_t bnb_phx_frame(char *out, size_t cap, uint64_t join_ref, uint64_t ref, const char *topic,
                     const char *event, const char *payload);

/* Writes a fanout body "p<pub> s<seq> t<ns> " padded with 'x' to body_size
 * characters (never truncated: if the fields alone are longer, the body is
 * just the fields without the trailing space). Returns the length, or 0 if
 * cap is too small. */
size_t bnb_phx_body_write(char *out, size_t cap, size_t body_size, uint32_t pub, uint64_t seq,
                          uint64_t t_ns);

/* Parses the fields written by bnb_phx_body_write. Returns 0 or -1. */
int bnb_phx_body_parse(const char *s, size_t len, uint32_t *pub, uint64_t *seq, uint64_t *t_ns);

/* Writes a new_msg push frame whose payload is {"body":"<fanout body>"}.
 * Returns the length or 0 if cap is too small. */
size_t bnb_phx_new_msg(char *out, size_t cap, uint64_t join_ref, uint64_t ref, const char *topic,
                       size_t body_size, uint32_t pub, uint64_t seq, uint64_t t_ns);

#endif
