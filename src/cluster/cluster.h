/* Private side of bennu/cluster.h: the server owns its cluster glue. */
#ifndef BN_CLUSTER_CLUSTER_H
#define BN_CLUSTER_CLUSTER_H

#include "bennu/bennu.h"

typedef struct bn__cluster_s bn__cluster_t;

/* Detaches the server from its mesh (callbacks and responder cleared) and
 * frees the glue; nothing when not attached. Called when the server is
 * freed (the mesh must still be open). */
void bn__cluster_free(bn_server_t *srv);

#endif
