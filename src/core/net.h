/* Listener and address helpers shared by the client transport and the mesh.
 *
 * Addresses are numeric literals (an IPv4 dotted quad or an IPv6 address,
 * no brackets, no host names: names are resolved by the caller, the mesh's
 * --join-dns for instance). libuv already sets SO_REUSEADDR on every TCP
 * bind, so a restarted node can take its port back while old connections
 * sit in TIME_WAIT; SO_REUSEPORT (several worker processes on one port) is
 * asked for explicitly. */
#ifndef BN_CORE_NET_H
#define BN_CORE_NET_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

/* "127.0.0.1" or "::1" and a port into *ss. 0, or UV_EINVAL for anything
 * that is not an address literal. */
int bn_net_addr(const char *ip, int port, struct sockaddr_storage *ss);

/* The port of an AF_INET/AF_INET6 address; -1 for any other family. */
int bn_net_port(const struct sockaddr *sa);

/* Binds and listens on h, which the caller initialised with
 * uv_tcp_init_ex(loop, h, sa->sa_family) (the socket must exist for
 * SO_REUSEPORT) and closes whatever this returns. 0 or a libuv error. */
int bn_net_listen(uv_tcp_t *h, const struct sockaddr *sa, bool reuse_port, int backlog,
                  uv_connection_cb cb);

/* The port h is bound to (the kernel's choice when 0 was asked for), or -1. */
int bn_net_bound_port(const uv_tcp_t *h);

#endif
