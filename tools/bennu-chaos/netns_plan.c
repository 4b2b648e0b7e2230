/* Names and kernel scripts of netns mode; contracts in netns_plan.h. */
#include "netns_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bnc_ns_netns_name(char *out, size_t cap, long pid, int node)
{
    return snprintf(out, cap, BNC_NS_PREFIX "%ldn%d", pid, node);
}

int bnc_ns_bridge_name(char *out, size_t cap, long pid)
{
    return snprintf(out, cap, BNC_NS_BRIDGE_PREFIX "%ld", pid);
}

int bnc_ns_veth_name(char *out, size_t cap, long pid, int node)
{
    return snprintf(out, cap, BNC_NS_PREFIX "%ldv%d", pid, node);
}

int bnc_ns_peer_name(char *out, size_t cap, long pid, int node)
{
    return snprintf(out, cap, BNC_NS_PREFIX "%ldp%d", pid, node);
}

int bnc_ns_addr(char *out, size_t cap, int subnet, int node)
{
    return snprintf(out, cap, "%d.%d.%d.%d", BNC_NS_NET_A, BNC_NS_NET_B, subnet,
                    node < 0 ? 1 : BNC_NS_HOST_BASE + node);
}

/* Reads 1..7 decimal digits at *p (a pid), advancing *p; -1 if none. */
static long read_pid(const char **p)
{
    const char *s = *p;
    long v = 0;
    size_t k = 0;
    while (s[k] >= '0' && s[k] <= '9') {
        if (k == 7) {
            return -1;
        }
        v = v * 10 + (s[k] - '0');
        k++;
    }
    if (k == 0 || s[0] == '0') {
        return -1;
    }
    *p = s + k;
    return v;
}

static bool all_digits(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

int bnc_ns_owner(const char *name, long *pid)
{
    size_t bl = strlen(BNC_NS_BRIDGE_PREFIX);
    const char *p;
    long v;
    if (strncmp(name, BNC_NS_BRIDGE_PREFIX, bl) == 0) {
        p = name + bl;
        v = read_pid(&p);
        if (v < 0 || *p != '\0') {
            return -1;
        }
        *pid = v;
        return 0;
    }
    size_t nl = strlen(BNC_NS_PREFIX);
    if (strncmp(name, BNC_NS_PREFIX, nl) != 0) {
        return -1;
    }
    p = name + nl;
    v = read_pid(&p);
    if (v < 0 || (*p != 'n' && *p != 'v' && *p != 'p') || !all_digits(p + 1)) {
        return -1;
    }
    *pid = v;
    return 0;
}

unsigned bnc_ns_queue_num(int from, int to)
{
    return BNC_NS_QUEUE_BASE + (unsigned)from * BNC_MAX_NODES + (unsigned)to;
}

/* An snprintf that appends at *len and keeps counting past cap, so the
 * caller learns the size it would have needed. */
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = *len < cap ? out + *len : NULL;
    size_t room = *len < cap ? cap - *len : 0;
    int k = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (k > 0) {
        *len += (size_t)k;
    }
}

size_t bnc_ns_rules_init_script(char *out, size_t cap)
{
    size_t len = 0;
    if (cap > 0) {
        out[0] = '\0';
    }
    put(out, cap, &len, "*filter\n:%s - [0:0]\n-A OUTPUT -j %s\nCOMMIT\n", BNC_NS_CHAIN,
        BNC_NS_CHAIN);
    return len;
}

size_t bnc_ns_rules_script(char *out, size_t cap, int self, int n, const bnc_flow_t *flows,
                           int subnet)
{
    size_t len = 0;
    if (cap > 0) {
        out[0] = '\0';
    }
    put(out, cap, &len, "*filter\n-F %s\n", BNC_NS_CHAIN);
    for (int j = 0; j < n; j++) {
        if (j == self) {
            continue;
        }
        const bnc_flow_t *f = &flows[j];
        char dst[32];
        bnc_ns_addr(dst, sizeof(dst), subnet, j);
        /* One verdict per flow: a cut beats a delay, and a REJECT cut
         * beats a silent one (it is the stronger statement). */
        if (f->reject) {
            put(out, cap, &len, "-A %s -d %s/32 -p tcp -j REJECT --reject-with tcp-reset\n",
                BNC_NS_CHAIN, dst);
        } else if (f->held) {
            put(out, cap, &len, "-A %s -d %s/32 -j DROP\n", BNC_NS_CHAIN, dst);
        } else if (f->latency_ms > 0 || f->jitter_ms > 0) {
            /* --queue-bypass: should the harness's queue reader be gone,
             * packets pass rather than vanish. */
            put(out, cap, &len, "-A %s -d %s/32 -j NFQUEUE --queue-num %u --queue-bypass\n",
                BNC_NS_CHAIN, dst, bnc_ns_queue_num(self, j));
        }
    }
    put(out, cap, &len, "COMMIT\n");
    return len;
}

bool bnc_ns_has_bandwidth(int self, int n, const bnc_flow_t *flows)
{
    for (int j = 0; j < n; j++) {
        if (j != self && flows[j].bw_bytes_per_s > 0) {
            return true;
        }
    }
    return false;
}

unsigned bnc_ns_htb_burst(unsigned bytes_per_s)
{
    unsigned b = bytes_per_s / 20; /* 50 ms worth */
    return b < 4u * 1514u ? 4u * 1514u : b;
}

size_t bnc_ns_tc_script(char *out, size_t cap, int self, int n, const bnc_flow_t *flows, int subnet)
{
    size_t len = 0;
    if (cap > 0) {
        out[0] = '\0';
    }
    if (!bnc_ns_has_bandwidth(self, n, flows)) {
        return 0;
    }
    put(out, cap, &len, "qdisc add dev %s root handle 1: htb default 1\n", BNC_NS_DEV);
    /* An explicit burst: HTB's own for 10gbit rounds to nothing. */
    put(out, cap, &len, "class add dev %s parent 1: classid 1:1 htb rate %s burst %u cburst %u\n",
        BNC_NS_DEV, BNC_NS_HTB_DEFAULT_RATE, BNC_NS_HTB_DEFAULT_BURST, BNC_NS_HTB_DEFAULT_BURST);
    for (int j = 0; j < n; j++) {
        if (j == self || flows[j].bw_bytes_per_s == 0) {
            continue;
        }
        unsigned rate = flows[j].bw_bytes_per_s;
        unsigned minor = 0x10u + (unsigned)j;
        char dst[32];
        bnc_ns_addr(dst, sizeof(dst), subnet, j);
        /* tc's "bps" is bytes per second, the unit of the fault model. */
        put(out, cap, &len,
            "class add dev %s parent 1: classid 1:%x htb rate %ubps ceil %ubps burst %u "
            "cburst %u\n",
            BNC_NS_DEV, minor, rate, rate, bnc_ns_htb_burst(rate), bnc_ns_htb_burst(rate));
        put(out, cap, &len,
            "filter add dev %s parent 1: protocol ip prio 1 u32 match ip dst %s/32 flowid 1:%x\n",
            BNC_NS_DEV, dst, minor);
    }
    return len;
}
