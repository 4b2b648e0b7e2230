/* Listener and address helpers (core/net.h). */
#include "core/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

int bn_net_addr(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (ip == NULL || port < 0 || port > 65535) {
        return UV_EINVAL;
    }
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    return UV_EINVAL;
}

int bn_net_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    }
    if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    return -1;
}

int bn_net_listen(uv_tcp_t *h, const struct sockaddr *sa, bool reuse_port, int backlog,
                  uv_connection_cb cb)
{
    if (reuse_port) {
        uv_os_fd_t fd;
        int one = 1;
        int rc = uv_fileno((const uv_handle_t *)h, &fd);
        if (rc != 0) {
            return rc;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
            return uv_translate_sys_error(errno);
        }
    }
    int rc = uv_tcp_bind(h, sa, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)h, backlog, cb);
    }
    return rc;
}

int bn_net_bound_port(const uv_tcp_t *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    return bn_net_port((const struct sockaddr *)&ss);
}
