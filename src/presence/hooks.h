/* The channel layer's calls into the presence layer (lifetime hooks). */
#ifndef BN_PRESENCE_HOOKS_H
#define BN_PRESENCE_HOOKS_H

#include "bennu/bennu.h"

/* The channel ends (any reason): its presences leave. Cheap when the
 * channel tracked nothing. */
void bn__presence_channel_gone(bn_channel_t *ch);
/* The join reply went out: a state asked for inside join is pushed now. */
void bn__presence_channel_joined(bn_channel_t *ch);
/* Server stop, once every channel is gone: closes the presence timers and
 * frees the state; cb runs after that (at once when there was no state). */
void bn__presence_close(bn_server_t *srv, void (*cb)(void *ud), void *ud);

#endif
