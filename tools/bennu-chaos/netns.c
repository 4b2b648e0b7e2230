/* netns mode: namespaces, veths, bridge, kernel faults and the NFQUEUE
 * delay line; contracts in netns.h. */
#include "netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "schedule.h"

#define NETNS_DIR "/run/netns"
#define CMD_OUT_MAX 16384

bool bnc_netns_privileged(void)
{
    return geteuid() == 0;
}

/* ---- running commands ---- */

/* Runs argv (found on PATH) inside namespace ns (NULL: the root one),
 * feeding it `input` on stdin, and collects stdout and stderr together
 * into out. Returns the exit status, or -1 if it could not run. Blocking:
 * the commands are short, and a fault must be in place before the loop
 * moves on. */
static int run_cmd(const char *ns, const char *const *argv, const char *input, char *out,
                   size_t cap)
{
    int in[2];
    int res[2];
    if (out != NULL && cap > 0) {
        out[0] = '\0';
    }
    if (pipe2(in, O_CLOEXEC) != 0) {
        return -1;
    }
    if (pipe2(res, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        close(res[0]);
        close(res[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (ns != NULL) {
            char path[128];
            snprintf(path, sizeof(path), NETNS_DIR "/%s", ns);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                _exit(126);
            }
        }
        dup2(in[0], 0);
        dup2(res[1], 1);
        dup2(res[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(res[1]);
    if (input != NULL) {
        size_t len = strlen(input);
        size_t off = 0;
        while (off < len) {
            ssize_t k = write(in[1], input + off, len - off);
            if (k < 0 && errno == EINTR) {
                continue;
            }
            if (k <= 0) {
                break;
            }
            off += (size_t)k;
        }
    }
    close(in[1]);
    size_t got = 0;
    char sink[512];
    for (;;) {
        char *dst = out != NULL && got + 1 < cap ? out + got : sink;
        size_t room = out != NULL && got + 1 < cap ? cap - 1 - got : sizeof(sink);
        ssize_t k = read(res[0], dst, room);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break;
        }
        if (dst != sink) {
            got += (size_t)k;
        }
    }
    if (out != NULL && cap > 0) {
        out[got] = '\0';
    }
    close(res[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs a command that must succeed; on failure records why. */
static int must(bnc_netns_t *ns, const char *in_ns, const char *const *argv, const char *input)
{
    char out[1024];
    int rc = run_cmd(in_ns, argv, input, out, sizeof(out));
    if (rc == 0) {
        return 0;
    }
    ns->cmd_failures++;
    size_t l = strlen(out);
    while (l > 0 && (out[l - 1] == '\n' || out[l - 1] == ' ')) {
        out[--l] = '\0';
    }
    char cmd[160] = "";
    size_t cl = 0;
    for (int i = 0; argv[i] != NULL && cl + 1 < sizeof(cmd); i++) {
        int k = snprintf(cmd + cl, sizeof(cmd) - cl, "%s%s", i ? " " : "", argv[i]);
        if (k < 0) {
            break;
        }
        cl += (size_t)k;
        if (cl >= sizeof(cmd)) {
            cl = sizeof(cmd) - 1;
        }
    }
    snprintf(ns->last_error, sizeof(ns->last_error), "%s%.31s%s%.100s: %.200s", in_ns ? "[" : "",
             in_ns ? in_ns : "", in_ns ? "] " : "", cmd,
             rc == 127   ? "command not found"
             : rc == 126 ? "cannot enter the namespace"
             : l > 0     ? out
                         : "failed");
    return -1;
}

/* ---- stale objects ---- */

static bool pid_dead(long pid)
{
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void kill_ns_processes(const char *name)
{
    const char *argv[] = {"ip", "netns", "pids", name, NULL};
    char out[CMD_OUT_MAX];
    if (run_cmd(NULL, argv, NULL, out, sizeof(out)) != 0) {
        return;
    }
    for (char *p = out; *p != '\0';) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (v > 1 && v != (long)getpid()) {
            kill((pid_t)v, SIGCONT);
            kill((pid_t)v, SIGKILL);
        }
        p = end;
    }
}

void bnc_netns_cleanup_stale(void)
{
    DIR *d = opendir(NETNS_DIR);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            long pid;
            if (bnc_ns_owner(e->d_name, &pid) == 0 && pid_dead(pid)) {
                char name[64];
                snprintf(name, sizeof(name), "%.63s", e->d_name);
                kill_ns_processes(name);
                const char *argv[] = {"ip", "netns", "del", name, NULL};
                run_cmd(NULL, argv, NULL, NULL, 0);
            }
        }
        closedir(d);
    }
    /* Veth ends and bridges left in the root namespace. */
    d = opendir("/sys/class/net");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            long pid;
            if (bnc_ns_owner(e->d_name, &pid) == 0 && pid_dead(pid)) {
                char name[64];
                snprintf(name, sizeof(name), "%.63s", e->d_name);
                const char *argv[] = {"ip", "link", "del", name, NULL};
                run_cmd(NULL, argv, NULL, NULL, 0);
            }
        }
        closedir(d);
    }
}

/* A /24 under 10.213/16 that no interface of the root namespace uses
 * (another run may hold one), starting from one derived from our pid. */
static int pick_subnet(long pid)
{
    bool used[256] = {false};
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i != NULL; i = i->ifa_next) {
            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET) {
                continue;
            }
            uint32_t a = ntohl(((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
            if ((a >> 24) == BNC_NS_NET_A && ((a >> 16) & 255) == BNC_NS_NET_B) {
                used[(a >> 8) & 255] = true;
            }
        }
        freeifaddrs(ifa);
    }
    for (int k = 0; k < 254; k++) {
        int s = 1 + (int)((pid + k) % 254);
        if (!used[s]) {
            return s;
        }
    }
    return -1;
}

/* ---- NFQUEUE delay line ---- */

typedef struct nlbuf_s {
    char b[512] __attribute__((aligned(8)));
    size_t len;
} nlbuf_t;

static void nl_begin(nlbuf_t *m, uint16_t type, uint16_t flags, uint16_t res_id)
{
    memset(m, 0, sizeof(*m));
    struct nlmsghdr *h = (struct nlmsghdr *)m->b;
    h->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | type);
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    m->len = NLMSG_HDRLEN;
    struct nfgenmsg *g = (struct nfgenmsg *)(m->b + m->len);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(res_id);
    m->len += NLMSG_ALIGN(sizeof(*g));
}

static void nl_attr(nlbuf_t *m, uint16_t type, const void *data, size_t dlen)
{
    struct nlattr *a = (struct nlattr *)(m->b + m->len);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + dlen);
    memcpy(m->b + m->len + NLA_HDRLEN, data, dlen);
    m->len += NLA_ALIGN(a->nla_len);
}

static int nl_send(int fd, nlbuf_t *m)
{
    struct nlmsghdr *h = (struct nlmsghdr *)m->b;
    h->nlmsg_len = (uint32_t)m->len;
    struct sockaddr_nl k;
    memset(&k, 0, sizeof(k));
    k.nl_family = AF_NETLINK;
    ssize_t w = sendto(fd, m->b, m->len, 0, (struct sockaddr *)&k, sizeof(k));
    return w == (ssize_t)m->len ? 0 : -1;
}

/* Sends a config request and waits for its acknowledgement (setup only,
 * before the socket is polled). Returns 0 or a negative errno. */
static int nl_request_ack(int fd, nlbuf_t *m)
{
    if (nl_send(fd, m) != 0) {
        return -errno;
    }
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof(buf), 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return -errno;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)k);
             h = NLMSG_NEXT(h, k)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                return e->error;
            }
        }
    }
}

static int nfq_config(int fd, unsigned queue)
{
    nlbuf_t m;
    struct nfqnl_msg_config_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.command = NFQNL_CFG_CMD_BIND;
    cmd.pf = htons(AF_INET);
    nl_begin(&m, NFQNL_MSG_CONFIG, NLM_F_ACK, (uint16_t)queue);
    nl_attr(&m, NFQA_CFG_CMD, &cmd, sizeof(cmd));
    int rc = nl_request_ack(fd, &m);
    if (rc != 0) {
        return rc;
    }
    /* Metadata only: the harness needs the packet id, not its bytes. */
    struct nfqnl_msg_config_params params;
    memset(&params, 0, sizeof(params));
    params.copy_range = htonl(0);
    params.copy_mode = NFQNL_COPY_META;
    uint32_t maxlen = htonl(16384);
    /* Past the queue's length packets pass rather than drop. */
    uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN);
    nl_begin(&m, NFQNL_MSG_CONFIG, NLM_F_ACK, (uint16_t)queue);
    nl_attr(&m, NFQA_CFG_PARAMS, &params, sizeof(params));
    nl_attr(&m, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen));
    nl_attr(&m, NFQA_CFG_FLAGS, &flags, sizeof(flags));
    nl_attr(&m, NFQA_CFG_MASK, &flags, sizeof(flags));
    return nl_request_ack(fd, &m);
}

/* Accepts every packet of queue up to and including id (the kernel's
 * batch verdict); ids are per queue and increasing. */
static void nfq_accept_upto(bnc_netns_t *ns, int node, unsigned queue, uint32_t id)
{
    nlbuf_t m;
    struct nfqnl_msg_verdict_hdr v;
    v.verdict = htonl(NF_ACCEPT);
    v.id = htonl(id);
    nl_begin(&m, NFQNL_MSG_VERDICT_BATCH, 0, (uint16_t)queue);
    nl_attr(&m, NFQA_VERDICT_HDR, &v, sizeof(v));
    (void)nl_send(ns->nfq_fd[node], &m);
}

static void arm_timer(bnc_netns_t *ns);

static void release_due(bnc_netns_t *ns, uint64_t now, bool all)
{
    for (int a = 0; a < ns->n; a++) {
        for (int b = 0; b < ns->n; b++) {
            bnc_nfq_flow_t *q = &ns->q[a][b];
            size_t k = 0;
            while (k < q->len && (all || q->pkts[q->head + k].due_ms <= now)) {
                k++;
            }
            if (k == 0) {
                continue;
            }
            nfq_accept_upto(ns, a, bnc_ns_queue_num(a, b), q->pkts[q->head + k - 1].id);
            q->head += k;
            q->len -= k;
            if (q->len == 0) {
                q->head = 0;
            }
        }
    }
}

static void timer_cb(uv_timer_t *t)
{
    bnc_netns_t *ns = t->data;
    release_due(ns, ns->now_ms(ns->now_ud), false);
    arm_timer(ns);
}

static void arm_timer(bnc_netns_t *ns)
{
    uint64_t first = UINT64_MAX;
    for (int a = 0; a < ns->n; a++) {
        for (int b = 0; b < ns->n; b++) {
            const bnc_nfq_flow_t *q = &ns->q[a][b];
            if (q->len > 0 && q->pkts[q->head].due_ms < first) {
                first = q->pkts[q->head].due_ms;
            }
        }
    }
    if (first == UINT64_MAX || ns->close_cb != NULL) {
        uv_timer_stop(&ns->timer);
        return;
    }
    uint64_t now = ns->now_ms(ns->now_ud);
    uv_timer_start(&ns->timer, timer_cb, first > now ? first - now : 0, 0);
}

static void enqueue(bnc_netns_t *ns, int a, int b, uint32_t id)
{
    bnc_nfq_flow_t *q = &ns->q[a][b];
    if (q->head + q->len == q->cap) {
        if (q->head > 0) {
            memmove(q->pkts, q->pkts + q->head, q->len * sizeof(*q->pkts));
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 256;
            q->pkts = realloc(q->pkts, q->cap * sizeof(*q->pkts));
            if (q->pkts == NULL) {
                abort();
            }
        }
    }
    uint64_t now = ns->now_ms(ns->now_ud);
    /* A packet queued just before its fault healed still leaves in order,
     * with whatever delay the flow has now. */
    bnc_flow_t f = ns->flows[a][b];
    f.bw_bytes_per_s = 0; /* bandwidth is HTB's job */
    uint64_t due = bnc_pace_due(&q->pace, &f, now, 0, bnc_rng_unit(&ns->rng));
    q->pkts[q->head + q->len].id = id;
    q->pkts[q->head + q->len].due_ms = due;
    q->len++;
    q->delayed++;
    q->last_id = id;
    q->any = 1;
    if (q->len > q->max_held) {
        q->max_held = q->len;
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    bnc_netns_t *ns = h->data;
    int node = (int)(h - ns->poll);
    if (status < 0) {
        return;
    }
    char buf[16384] __attribute__((aligned(8)));
    for (;;) {
        ssize_t k = recv(ns->nfq_fd[node], buf, sizeof(buf), MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0 && errno == ENOBUFS) {
            /* Notifications were lost; their packets are accepted by the
             * next batch verdict of their queue. */
            ns->nfq_overruns++;
            continue;
        }
        if (k <= 0) {
            break;
        }
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (size_t)k);
             m = NLMSG_NEXT(m, k)) {
            if (m->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
                continue;
            }
            const struct nfgenmsg *g = NLMSG_DATA(m);
            unsigned queue = ntohs(g->res_id);
            int from = (int)((queue - BNC_NS_QUEUE_BASE) / BNC_MAX_NODES);
            int to = (int)((queue - BNC_NS_QUEUE_BASE) % BNC_MAX_NODES);
            if (queue < BNC_NS_QUEUE_BASE || from != node || to >= ns->n) {
                continue;
            }
            size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*g));
            while (off + NLA_HDRLEN <= m->nlmsg_len) {
                const struct nlattr *at = (const struct nlattr *)((const char *)m + off);
                if (at->nla_len < NLA_HDRLEN || off + at->nla_len > m->nlmsg_len) {
                    break;
                }
                if ((at->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
                    at->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
                    struct nfqnl_msg_packet_hdr ph;
                    memcpy(&ph, (const char *)at + NLA_HDRLEN, sizeof(ph));
                    enqueue(ns, from, to, ntohl(ph.packet_id));
                    break;
                }
                off += NLA_ALIGN(at->nla_len);
            }
        }
    }
    arm_timer(ns);
}

/* Opens node i's queue reader inside its namespace: the socket belongs
 * to the namespace it was created in, so the thread enters it briefly. */
static int open_nfq(bnc_netns_t *ns, int i, char *why, size_t cap)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    char path[128];
    snprintf(path, sizeof(path), NETNS_DIR "/%s", ns->ns[i]);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
        snprintf(why, cap, "cannot enter namespace %s: %s", ns->ns[i], strerror(errno));
        if (self >= 0) {
            close(self);
        }
        if (target >= 0) {
            close(target);
        }
        return -1;
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    int err = errno;
    int back = setns(self, CLONE_NEWNET);
    close(self);
    close(target);
    if (back != 0) {
        /* Carrying on in a node's namespace would misdirect everything. */
        fprintf(stderr, "bennu-chaos: cannot return to the root network namespace\n");
        abort();
    }
    if (fd < 0) {
        snprintf(why, cap, "NFQUEUE netlink socket: %s", strerror(err));
        return -1;
    }
    int big = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    struct sockaddr_nl me;
    memset(&me, 0, sizeof(me));
    me.nl_family = AF_NETLINK;
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
        snprintf(why, cap, "NFQUEUE netlink bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    for (int j = 0; j < ns->n; j++) {
        if (j == i) {
            continue;
        }
        int rc = nfq_config(fd, bnc_ns_queue_num(i, j));
        if (rc != 0) {
            snprintf(why, cap, "NFQUEUE %u in %s: %s (the kernel needs nfnetlink_queue)",
                     bnc_ns_queue_num(i, j), ns->ns[i], strerror(-rc));
            close(fd);
            return -1;
        }
    }
    ns->nfq_fd[i] = fd;
    return 0;
}

/* ---- setup and teardown ---- */

static int build(bnc_netns_t *ns, char *why, size_t cap)
{
    const char *add_br[] = {"ip", "link", "add", ns->bridge, "type", "bridge", NULL};
    if (must(ns, NULL, add_br, NULL) != 0) {
        snprintf(why, cap, "cannot create bridge: %s", ns->last_error);
        return -1;
    }
    ns->made_bridge = 1;
    char cidr[48];
    snprintf(cidr, sizeof(cidr), "%s/24", ns->bridge_addr);
    const char *addr_br[] = {"ip", "addr", "add", cidr, "dev", ns->bridge, NULL};
    const char *up_br[] = {"ip", "link", "set", ns->bridge, "up", NULL};
    if (must(ns, NULL, addr_br, NULL) != 0 || must(ns, NULL, up_br, NULL) != 0) {
        snprintf(why, cap, "cannot configure bridge: %s", ns->last_error);
        return -1;
    }
    char init[BNC_NS_SCRIPT_MAX];
    bnc_ns_rules_init_script(init, sizeof(init));
    for (int i = 0; i < ns->n; i++) {
        char veth[32];
        char peer[32];
        bnc_ns_veth_name(veth, sizeof(veth), ns->pid, i);
        bnc_ns_peer_name(peer, sizeof(peer), ns->pid, i);
        const char *add_ns[] = {"ip", "netns", "add", ns->ns[i], NULL};
        if (must(ns, NULL, add_ns, NULL) != 0) {
            snprintf(why, cap, "ip netns failed: %s", ns->last_error);
            return -1;
        }
        ns->made_ns[i] = 1;
        char ncidr[48];
        snprintf(ncidr, sizeof(ncidr), "%s/24", ns->addr[i]);
        const char *add_veth[] = {"ip",   "link", "add", veth,    "type",    "veth",
                                  "peer", "name", peer,  "netns", ns->ns[i], NULL};
        const char *enslave[] = {"ip", "link", "set", veth, "master", ns->bridge, "up", NULL};
        const char *lo_up[] = {"ip", "link", "set", "lo", "up", NULL};
        const char *rename[] = {"ip", "link", "set", peer, "name", BNC_NS_DEV, NULL};
        const char *addr[] = {"ip", "addr", "add", ncidr, "dev", BNC_NS_DEV, NULL};
        const char *up[] = {"ip", "link", "set", BNC_NS_DEV, "up", NULL};
        const char *rules[] = {"iptables-restore", "--noflush", NULL};
        if (must(ns, NULL, add_veth, NULL) != 0 || must(ns, NULL, enslave, NULL) != 0 ||
            must(ns, ns->ns[i], lo_up, NULL) != 0 || must(ns, ns->ns[i], rename, NULL) != 0 ||
            must(ns, ns->ns[i], addr, NULL) != 0 || must(ns, ns->ns[i], up, NULL) != 0) {
            snprintf(why, cap, "cannot wire node %d: %s", i, ns->last_error);
            return -1;
        }
        if (must(ns, ns->ns[i], rules, init) != 0) {
            snprintf(why, cap, "iptables failed in %s: %s", ns->ns[i], ns->last_error);
            return -1;
        }
        bnc_flow_t none[BNC_MAX_NODES];
        memset(none, 0, sizeof(none));
        bnc_ns_rules_script(ns->rules[i], sizeof(ns->rules[i]), i, ns->n, none, ns->subnet);
    }
    /* Informational: whether this kernel could have delayed with netem. */
    const char *netem_add[] = {"tc",   "qdisc", "add",   "dev", "lo",
                               "root", "netem", "delay", "1ms", NULL};
    ns->netem_available = run_cmd(ns->ns[0], netem_add, NULL, NULL, 0) == 0;
    if (ns->netem_available) {
        const char *netem_del[] = {"tc", "qdisc", "del", "dev", "lo", "root", NULL};
        run_cmd(ns->ns[0], netem_del, NULL, NULL, 0);
    }
    for (int i = 0; i < ns->n; i++) {
        if (open_nfq(ns, i, why, cap) != 0) {
            return -1;
        }
    }
    return 0;
}

int bnc_netns_setup(bnc_netns_t *ns, uv_loop_t *loop, int n, uint64_t seed,
                    uint64_t (*now_ms)(void *), void *now_ud, char *why, size_t cap)
{
    memset(ns, 0, sizeof(*ns));
    ns->pid = (long)getpid();
    ns->n = n;
    ns->now_ms = now_ms;
    ns->now_ud = now_ud;
    ns->rng = bnc_rng_seed(seed ^ 0x6e65746e73ull);
    for (int i = 0; i < BNC_MAX_NODES; i++) {
        ns->nfq_fd[i] = -1;
    }
    if (!bnc_netns_privileged()) {
        snprintf(why, cap, "netns mode needs root");
        return -1;
    }
    bnc_netns_cleanup_stale();
    ns->subnet = pick_subnet(ns->pid);
    if (ns->subnet < 0) {
        snprintf(why, cap, "no free 10.213.x.0/24 subnet");
        return -1;
    }
    bnc_ns_bridge_name(ns->bridge, sizeof(ns->bridge), ns->pid);
    bnc_ns_addr(ns->bridge_addr, sizeof(ns->bridge_addr), ns->subnet, -1);
    for (int i = 0; i < n; i++) {
        bnc_ns_netns_name(ns->ns[i], sizeof(ns->ns[i]), ns->pid, i);
        bnc_ns_addr(ns->addr[i], sizeof(ns->addr[i]), ns->subnet, i);
    }
    if (build(ns, why, cap) != 0) {
        bnc_netns_teardown(ns);
        return -1;
    }
    uv_timer_init(loop, &ns->timer);
    ns->timer.data = ns;
    ns->open_handles = 1;
    for (int i = 0; i < n; i++) {
        uv_poll_init(loop, &ns->poll[i], ns->nfq_fd[i]);
        ns->poll[i].data = ns;
        uv_poll_start(&ns->poll[i], UV_READABLE, poll_cb);
        ns->open_handles++;
    }
    ns->started = 1;
    ns->rule_updates = 0;
    return 0;
}

/* ---- faults ---- */

/* Destroys node a's TCP sockets towards node b (inside a's namespace).
 * Returns how many. */
static unsigned kill_sockets(bnc_netns_t *ns, int a, int b)
{
    const char *argv[] = {"ss", "-K", "-t", "-n", "-H", "dst", ns->addr[b], NULL};
    char out[CMD_OUT_MAX];
    if (run_cmd(ns->ns[a], argv, NULL, out, sizeof(out)) != 0) {
        ns->cmd_failures++;
        snprintf(ns->last_error, sizeof(ns->last_error), "[%s] ss -K failed: %.200s", ns->ns[a],
                 out);
        return 0;
    }
    unsigned lines = 0;
    for (const char *p = out; *p != '\0'; p++) {
        if (*p == '\n') {
            lines++;
        }
    }
    ns->killed[a][b] += lines;
    return lines;
}

void bnc_netns_set_active(bnc_netns_t *ns, const bnc_fault_t *const *active, size_t n_active)
{
    if (!ns->started) {
        return;
    }
    bnc_flow_t next[BNC_MAX_NODES][BNC_MAX_NODES];
    memset(next, 0, sizeof(next));
    for (int a = 0; a < ns->n; a++) {
        for (int b = 0; b < ns->n; b++) {
            if (a != b) {
                next[a][b] = bnc_flow_state(active, n_active, a, b);
            }
        }
    }
    for (int a = 0; a < ns->n; a++) {
        char script[BNC_NS_SCRIPT_MAX];
        bnc_ns_rules_script(script, sizeof(script), a, ns->n, next[a], ns->subnet);
        if (strcmp(script, ns->rules[a]) != 0) {
            const char *argv[] = {"iptables-restore", "--noflush", NULL};
            if (must(ns, ns->ns[a], argv, script) == 0) {
                snprintf(ns->rules[a], sizeof(ns->rules[a]), "%s", script);
                ns->rule_updates++;
            }
        }
        bnc_ns_tc_script(script, sizeof(script), a, ns->n, next[a], ns->subnet);
        if (strcmp(script, ns->tc[a]) != 0) {
            if (ns->tc_on[a]) {
                const char *del[] = {"tc", "qdisc", "del", "dev", BNC_NS_DEV, "root", NULL};
                (void)must(ns, ns->ns[a], del, NULL);
                ns->tc_on[a] = 0;
            }
            const char *batch[] = {"tc", "-batch", "-", NULL};
            if (script[0] == '\0' || must(ns, ns->ns[a], batch, script) == 0) {
                ns->tc_on[a] = script[0] != '\0';
                snprintf(ns->tc[a], sizeof(ns->tc[a]), "%s", script);
                ns->tc_updates++;
            }
        }
    }
    /* With the REJECT rules in place, end the connections a new cut
     * crosses, as the proxies do: the RSTs come from the kernel. */
    for (int a = 0; a < ns->n; a++) {
        for (int b = 0; b < ns->n; b++) {
            if (a != b && next[a][b].reject && !ns->flows[a][b].reject) {
                kill_sockets(ns, a, b);
            }
        }
    }
    memcpy(ns->flows, next, sizeof(next));
}

unsigned bnc_netns_reset(bnc_netns_t *ns, uint32_t a_mask, uint32_t b_mask)
{
    if (!ns->started) {
        return 0;
    }
    unsigned found = 0;
    for (int a = 0; a < ns->n; a++) {
        for (int b = 0; b < ns->n; b++) {
            if (a == b || !(a_mask & (1u << a)) || !(b_mask & (1u << b))) {
                continue;
            }
            /* Counted on a's side; b's side is destroyed too, in case a's
             * RST does not get through (a held flow drops it). */
            found += kill_sockets(ns, a, b);
            kill_sockets(ns, b, a);
        }
    }
    return found;
}

static void handle_closed(uv_handle_t *h)
{
    bnc_netns_t *ns = h->data;
    if (--ns->open_handles == 0 && ns->close_cb != NULL) {
        void (*cb)(void *) = ns->close_cb;
        ns->close_cb = NULL;
        cb(ns->close_ud);
    }
}

void bnc_netns_close(bnc_netns_t *ns, void (*cb)(void *ud), void *ud)
{
    if (!ns->started || ns->open_handles == 0) {
        cb(ud);
        return;
    }
    release_due(ns, 0, true);
    ns->close_cb = cb;
    ns->close_ud = ud;
    uv_timer_stop(&ns->timer);
    uv_close((uv_handle_t *)&ns->timer, handle_closed);
    for (int i = 0; i < ns->n; i++) {
        uv_poll_stop(&ns->poll[i]);
        uv_close((uv_handle_t *)&ns->poll[i], handle_closed);
    }
}

void bnc_netns_teardown(bnc_netns_t *ns)
{
    for (int i = 0; i < BNC_MAX_NODES; i++) {
        if (ns->nfq_fd[i] >= 0 && ns->open_handles == 0) {
            close(ns->nfq_fd[i]);
            ns->nfq_fd[i] = -1;
        }
    }
    for (int i = 0; i < ns->n; i++) {
        if (!ns->made_ns[i]) {
            continue;
        }
        kill_ns_processes(ns->ns[i]);
        /* Deleting the veth first removes both ends at once; the kernel
         * would otherwise drop them only when it gets round to cleaning
         * up the namespace, after we have returned. */
        char veth[32];
        bnc_ns_veth_name(veth, sizeof(veth), ns->pid, i);
        const char *del_veth[] = {"ip", "link", "del", veth, NULL};
        run_cmd(NULL, del_veth, NULL, NULL, 0);
        const char *argv[] = {"ip", "netns", "del", ns->ns[i], NULL};
        run_cmd(NULL, argv, NULL, NULL, 0);
        ns->made_ns[i] = 0;
    }
    if (ns->made_bridge) {
        const char *argv[] = {"ip", "link", "del", ns->bridge, NULL};
        run_cmd(NULL, argv, NULL, NULL, 0);
        ns->made_bridge = 0;
    }
}

void bnc_netns_free(bnc_netns_t *ns)
{
    for (int a = 0; a < BNC_MAX_NODES; a++) {
        for (int b = 0; b < BNC_MAX_NODES; b++) {
            free(ns->q[a][b].pkts);
            ns->q[a][b].pkts = NULL;
        }
    }
}
