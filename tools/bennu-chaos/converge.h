/* Convergence oracle of bennu-chaos: given every node's answer to the
 * admin "members" and "groups" requests, do all nodes agree? Pure code
 * over jansson values (no I/O). */
#ifndef BNC_CONVERGE_H
#define BNC_CONVERGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* members[i] / groups[i]: node i's "members" and "groups" objects (as
 * in the admin responses' "members" and "groups" fields), NULL if it did
 * not answer. Converged when every node answered, every node sees every
 * other node (by names[j]) up, every node has topic among its local
 * groups, and node i's view of node j's groups equals j's local groups.
 * On false, why (if not NULL) receives a short reason. */
bool bnc_converged(size_t n, const char *const *names, json_t *const *members,
                   json_t *const *groups, const char *topic, char *why, size_t why_cap);

#endif
