/* Unit tests for bennuctl's pure parts: argument parsing and cookie
 * resolution, table rendering and number formats, and the views behind
 * members/groups/topic/stats/check computed from canned admin answers. The
 * tool's sources are compiled in directly because they are not part of
 * bennu_lib. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/bennuctl/args.c"
#include "../../tools/bennuctl/table.c"
#include "../../tools/bennuctl/view.c"

/* ---- argument parsing ---------------------------------------------------- */

#define MAX_ARGV 16

typedef struct {
    const char *argv[MAX_ARGV]; /* NULL-terminated, argv[0] included */
    int rc;
    bnctl_cmd_t cmd;
    const char *err_has; /* substring of the error, when rc != 0 */
} args_case_t;

static int parse(const char *const *in, bnctl_args_t *a, char *err, size_t err_len)
{
    static char *argv[MAX_ARGV];
    int argc = 0;
    while (in[argc] != NULL) {
        argv[argc] = (char *)in[argc];
        argc++;
    }
    argv[argc] = NULL;
    return bnctl_args_parse(argc, argv, a, err, err_len);
}

static void test_args_table(void **state)
{
    (void)state;
    static const args_case_t cases[] = {
        {{"bennuctl", "--node", "127.0.0.1:4000", "members", NULL}, 0, BNCTL_CMD_MEMBERS, NULL},
        {{"bennuctl", "nodes", "--node=h:1", NULL}, 0, BNCTL_CMD_MEMBERS, NULL},
        {{"bennuctl", "groups", "room:*", "--node", "h:2", "--summary", NULL},
         0,
         BNCTL_CMD_GROUPS,
         NULL},
        {{"bennuctl", "--node", "h:2", "topic", "room:1", NULL}, 0, BNCTL_CMD_TOPIC, NULL},
        {{"bennuctl", "--node", "h:2", "stats", "--watch", "0.5", "--count", "3", NULL},
         0,
         BNCTL_CMD_STATS,
         NULL},
        {{"bennuctl", "--node", "h:2", "check", "--timeout", "1500", NULL},
         0,
         BNCTL_CMD_CHECK,
         NULL},
        {{"bennuctl", "--node", "h:2", "broadcast", "t", "e", "{\"a\":1}", NULL},
         0,
         BNCTL_CMD_BROADCAST,
         NULL},
        {{"bennuctl", "--node", "h:2", "broadcast", "t", "e", "42", NULL},
         0,
         BNCTL_CMD_BROADCAST,
         NULL},
        {{"bennuctl", "--node", "h:2", "--", "topic", "--odd", NULL}, 0, BNCTL_CMD_TOPIC, NULL},
        {{"bennuctl", "token", "mint", "--user", "42", "--dev", NULL}, 0, BNCTL_CMD_TOKEN, NULL},
        /* usage errors */
        {{"bennuctl", NULL}, -1, BNCTL_CMD_NONE, "no command"},
        {{"bennuctl", "--node", "h:1", "frobnicate", NULL}, -1, BNCTL_CMD_NONE, "unknown command"},
        {{"bennuctl", "--node", "h:1", "members", "--bogus", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "unknown option '--bogus'"},
        {{"bennuctl", "members", NULL}, -1, BNCTL_CMD_MEMBERS, "--node HOST:PORT is required"},
        {{"bennuctl", "--node", "nohost", "members", NULL}, -1, BNCTL_CMD_NONE, "HOST:PORT"},
        {{"bennuctl", "--node", "h:0", "members", NULL}, -1, BNCTL_CMD_NONE, "HOST:PORT"},
        {{"bennuctl", "--node", "h:65536", "members", NULL}, -1, BNCTL_CMD_NONE, "HOST:PORT"},
        {{"bennuctl", "--node", ":80", "members", NULL}, -1, BNCTL_CMD_NONE, "HOST:PORT"},
        {{"bennuctl", "--node", "h:1", "members", "--node", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "--node needs a value"},
        {{"bennuctl", "--node", "h:1", "--timeout", "0", "members", NULL},
         -1,
         BNCTL_CMD_NONE,
         "--timeout"},
        {{"bennuctl", "--node", "h:1", "--timeout", "5s", "members", NULL},
         -1,
         BNCTL_CMD_NONE,
         "--timeout"},
        {{"bennuctl", "--node", "h:1", "--json=yes", "members", NULL},
         -1,
         BNCTL_CMD_NONE,
         "takes no value"},
        {{"bennuctl", "--node", "h:1", "topic", NULL}, -1, BNCTL_CMD_TOPIC, "exactly one TOPIC"},
        {{"bennuctl", "--node", "h:1", "topic", "a", "b", NULL},
         -1,
         BNCTL_CMD_TOPIC,
         "exactly one TOPIC"},
        {{"bennuctl", "--node", "h:1", "topic", "", NULL}, -1, BNCTL_CMD_TOPIC, "empty"},
        {{"bennuctl", "--node", "h:1", "broadcast", "t", "e", NULL},
         -1,
         BNCTL_CMD_BROADCAST,
         "TOPIC EVENT JSON"},
        {{"bennuctl", "--node", "h:1", "broadcast", "t", "e", "{nope", NULL},
         -1,
         BNCTL_CMD_BROADCAST,
         "not JSON"},
        {{"bennuctl", "--node", "h:1", "members", "extra", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "takes no arguments"},
        {{"bennuctl", "--node", "h:1", "groups", "a", "b", NULL},
         -1,
         BNCTL_CMD_GROUPS,
         "at most one PATTERN"},
        {{"bennuctl", "--node", "h:1", "members", "--summary", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "--summary applies to groups only"},
        {{"bennuctl", "--node", "h:1", "groups", "--watch", "1", NULL},
         -1,
         BNCTL_CMD_GROUPS,
         "--watch applies to members and stats only"},
        {{"bennuctl", "--node", "h:1", "members", "--watch", "0", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "--watch expects seconds"},
        {{"bennuctl", "--node", "h:1", "members", "--count", "2", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "--count needs --watch"},
        {{"bennuctl", "--node", "h:1", "members", "--log-level", "loud", NULL},
         -1,
         BNCTL_CMD_MEMBERS,
         "--log-level"},
        {{"bennuctl", "help", "nope", NULL}, -1, BNCTL_CMD_NONE, "unknown command"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bnctl_args_t a;
        char err[256];
        int rc = parse(cases[i].argv, &a, err, sizeof(err));
        if (rc != cases[i].rc || a.cmd != cases[i].cmd ||
            (cases[i].err_has != NULL && strstr(err, cases[i].err_has) == NULL)) {
            fail_msg("case %zu (%s %s): rc=%d cmd=%d err='%s'", i, cases[i].argv[1],
                     cases[i].argv[2] ? cases[i].argv[2] : "", rc, a.cmd, err);
        }
    }
}

static void test_args_values(void **state)
{
    (void)state;
    bnctl_args_t a;
    char err[256];
    const char *g[] = {"bennuctl",      "groups",        "room:*", "--node",
                       "10.0.0.1:4369", "--cookie",      "c1",     "--summary",
                       "--json",        "--timeout=250", NULL};
    assert_int_equal(parse(g, &a, err, sizeof(err)), 0);
    assert_string_equal(a.node, "10.0.0.1:4369");
    assert_string_equal(a.cookie, "c1");
    assert_string_equal(a.pattern, "room:*");
    assert_true(a.summary);
    assert_true(a.json);
    assert_int_equal(a.timeout_ms, 250);
    assert_string_equal(a.log_level, "off");

    const char *w[] = {"bennuctl", "--node",  "h:1", "stats", "--watch",
                       "0.25",     "--count", "4",   NULL};
    assert_int_equal(parse(w, &a, err, sizeof(err)), 0);
    assert_int_equal(a.watch_ms, 250);
    assert_int_equal(a.count, 4);
    assert_int_equal(a.timeout_ms, BNCTL_DEFAULT_TIMEOUT_MS);

    const char *b[] = {"bennuctl",          "--node", "h:1", "broadcast", "room:1", "new_msg",
                       "{\"body\":\"hi\"}", NULL};
    assert_int_equal(parse(b, &a, err, sizeof(err)), 0);
    assert_string_equal(a.topic, "room:1");
    assert_string_equal(a.event, "new_msg");
    assert_string_equal(a.payload, "{\"body\":\"hi\"}");

    /* token: everything from "token" on goes to the shared code, options
     * included, and no --node is needed. */
    const char *t[] = {"bennuctl", "--json", "token", "verify", "SFMy", "--max-age", "5", NULL};
    assert_int_equal(parse(t, &a, err, sizeof(err)), 0);
    assert_int_equal(a.cmd, BNCTL_CMD_TOKEN);
    assert_int_equal(a.token_argc, 5);
    assert_string_equal(a.token_argv[0], "token");
    assert_string_equal(a.token_argv[4], "5");
}

static void test_args_help(void **state)
{
    (void)state;
    bnctl_args_t a;
    char err[256];
    const char *h1[] = {"bennuctl", "--help", NULL};
    assert_int_equal(parse(h1, &a, err, sizeof(err)), 0);
    assert_true(a.help);
    assert_int_equal(a.cmd, BNCTL_CMD_NONE);
    const char *h2[] = {"bennuctl", "topic", "--help", NULL}; /* no TOPIC, no --node needed */
    assert_int_equal(parse(h2, &a, err, sizeof(err)), 0);
    assert_true(a.help);
    assert_int_equal(a.cmd, BNCTL_CMD_TOPIC);
    const char *h3[] = {"bennuctl", "help", "nodes", NULL};
    assert_int_equal(parse(h3, &a, err, sizeof(err)), 0);
    assert_true(a.help);
    assert_int_equal(a.cmd, BNCTL_CMD_MEMBERS);

    /* Every subcommand has a help text naming it and the exit codes. */
    for (int c = 1; c < BNCTL_CMD__COUNT; c++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bnctl_usage(f, (bnctl_cmd_t)c);
        fclose(f);
        char want[64];
        snprintf(want, sizeof(want), "bennuctl --node HOST:PORT %s",
                 bnctl_cmd_name((bnctl_cmd_t)c));
        if (c != BNCTL_CMD_TOKEN && strstr(buf, want) == NULL) {
            fail_msg("help of %s lacks '%s':\n%s", bnctl_cmd_name((bnctl_cmd_t)c), want, buf);
        }
        assert_non_null(strstr(buf, "Exit codes: 0 ok; 1 disagreement"));
        free(buf);
    }
    assert_int_equal(bnctl_cmd_from_name("nodes"), BNCTL_CMD_MEMBERS);
    assert_int_equal(bnctl_cmd_from_name("member"), BNCTL_CMD_NONE);
}

static void test_cookie_resolve(void **state)
{
    (void)state;
    char err[256];
    bnctl_args_t a;
    memset(&a, 0, sizeof(a));
    char path[] = "/tmp/bnctl-cookie-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file \n\n", 12), 12);
    close(fd);

    a.cookie = "flag";
    a.cookie_file = path;
    char *c = bnctl_cookie_resolve(&a, "env", err, sizeof(err));
    assert_string_equal(c, "flag"); /* flag beats file and env */
    free(c);
    a.cookie = NULL;
    c = bnctl_cookie_resolve(&a, "env", err, sizeof(err));
    assert_string_equal(c, "from-file"); /* trailing blanks trimmed, as bennu does */
    free(c);
    a.cookie_file = NULL;
    c = bnctl_cookie_resolve(&a, "env", err, sizeof(err));
    assert_string_equal(c, "env");
    free(c);
    a.dev = true;
    c = bnctl_cookie_resolve(&a, "", err, sizeof(err));
    assert_string_equal(c, BNCTL_DEV_COOKIE);
    free(c);
    a.dev = false;
    assert_null(bnctl_cookie_resolve(&a, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no cookie"));
    a.cookie_file = "/nonexistent/cookie";
    assert_null(bnctl_cookie_resolve(&a, "env", err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read a cookie"));
    FILE *f = fopen(path, "w");
    fputs("\n", f);
    fclose(f);
    a.cookie_file = path;
    assert_null(bnctl_cookie_resolve(&a, "env", err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    unlink(path);
}

/* ---- tables and formats -------------------------------------------------- */

static void test_table_render(void **state)
{
    (void)state;
    static const char *const heads[] = {"NODE", "N", "NOTE"};
    bnctl_table_t t;
    bnctl_table_init(&t, 3, heads, "lrl");
    const char *r1[] = {"a@h", "7", "short"};
    const char *r2[] = {"bb@host", "12345", NULL};
    const char *r3[] = {"caf\xc3\xa9", "1", ""}; /* "café": 4 columns wide */
    bnctl_table_add(&t, r1);
    bnctl_table_add(&t, r2);
    bnctl_table_add(&t, r3);
    assert_int_equal(bnctl_table_rows(&t), 3);
    char *s = bnctl_table_render(&t);
    assert_string_equal(s, "NODE         N  NOTE\n"
                           "a@h          7  short\n"
                           "bb@host  12345  -\n"
                           "caf\xc3\xa9         1\n");
    free(s);
    bnctl_table_free(&t);

    bnctl_table_init(&t, 1, heads, "l");
    s = bnctl_table_render(&t);
    assert_string_equal(s, "NODE\n");
    free(s);
    bnctl_table_free(&t);
}

static void test_formats(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *want;
    } bytes[] = {{0, "0 B"},
                 {1023, "1023 B"},
                 {1024, "1.0 KiB"},
                 {1536, "1.5 KiB"},
                 {1048575, "1.0 MiB"},
                 {5 * 1048576ull, "5.0 MiB"},
                 {3ull << 30, "3.0 GiB"},
                 {5ull << 40, "5.0 TiB"}};
    char buf[32];
    for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        bnctl_fmt_bytes(bytes[i].n, buf, sizeof(buf));
        assert_string_equal(buf, bytes[i].want);
    }
    static const struct {
        int64_t ms;
        const char *want;
    } durs[] = {{-1, "-"},          {0, "0ms"},          {999, "999ms"},      {1000, "1.0s"},
                {59999, "59.9s"},   {60000, "1m00s"},    {307000, "5m07s"},   {3599999, "59m59s"},
                {3600000, "1h00m"}, {11520000, "3h12m"}, {86400000, "1d00h"}, {187200000, "2d04h"}};
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        bnctl_fmt_duration_ms(durs[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, durs[i].want);
    }
    static const struct {
        uint64_t us;
        const char *want;
    } rtts[] = {{0, "0us"}, {312, "312us"}, {1000, "1.0ms"}, {1450, "1.4ms"}, {25400, "25ms"}};
    for (size_t i = 0; i < sizeof(rtts) / sizeof(rtts[0]); i++) {
        bnctl_fmt_rtt_us(rtts[i].us, buf, sizeof(buf));
        assert_string_equal(buf, rtts[i].want);
    }
}

/* ---- views ----------------------------------------------------------------- */

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL) {
        fail_msg("bad fixture JSON: %s: %s", e.text, text);
    }
    return j;
}

static char *render(bnctl_table_t *t)
{
    char *s = bnctl_table_render(t);
    bnctl_table_free(t);
    return s;
}

static const char MEMBERS_A[] =
    "{\"node\":\"a@h\",\"incarnation\":11,\"port\":4001,\"hidden\":false,\"closes\":{},"
    "\"nodes\":["
    " {\"name\":\"c@h\",\"host\":\"127.0.0.1\",\"port\":4003,\"incarnation\":33,\"state\":\"down\","
    "  \"link_state\":\"connecting\",\"hidden\":false,\"last_down_reason\":\"tick_timeout\"},"
    " {\"name\":\"b@h\",\"host\":\"127.0.0.1\",\"port\":4002,\"incarnation\":22,\"state\":\"up\","
    "  \"link_state\":\"up\",\"hidden\":false,\"last_down_reason\":\"none\","
    "  \"link\":{\"age_ms\":61000,\"last_tick_ms_ago\":80,\"rtt_us\":250,\"msgs_in\":10,"
    "   \"msgs_out\":12,\"bytes_in\":2048,\"bytes_out\":100}},"
    " {\"name\":\"bennuctl-1-0@127.0.0.1\",\"port\":-1,\"incarnation\":1,\"state\":\"up\","
    "  \"hidden\":true},"
    " {\"name\":\"old-tool@h\",\"port\":-1,\"incarnation\":2,\"state\":\"down\",\"hidden\":true},"
    " {\"name\":\"chaos@h\",\"port\":-1,\"incarnation\":3,\"state\":\"up\",\"link_state\":\"up\","
    "  \"hidden\":true}"
    "]}";

static void test_members_view(void **state)
{
    (void)state;
    json_t *raw = load(MEMBERS_A);
    json_t *m = bnctl_members_clean(raw, "bennuctl-1-");
    /* our own link and an exited tool are gone; another live tool stays */
    assert_int_equal(json_array_size(json_object_get(m, "nodes")), 3);
    assert_int_equal(json_array_size(json_object_get(raw, "nodes")), 5); /* a copy */
    bnctl_table_t t;
    bnctl_members_table(m, "127.0.0.1:4001", &t);
    char *s = render(&t);
    const char *lines[] = {
        "NODE     INCARNATION  ADDRESS         STATE                      LINK AGE  LAST TICK    "
        "RTT  MSGS IN  MSGS OUT  BYTES IN  BYTES OUT\n",
        "a@h               11  127.0.0.1:4001  self                              -          -    "
        "  -        -         -         -          -\n",
        "b@h               22  127.0.0.1:4002  up                            1m01s       80ms  "
        "250us       10        12   2.0 KiB      100 B\n",
        "c@h               33  127.0.0.1:4003  connecting (tick_timeout)         -          -    "
        "  -        -         -         -          -\n",
        "chaos@h            3  -               up hidden                         -          -    "
        "  -        -         -         -          -\n",
    };
    char want[2048] = "";
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        strcat(want, lines[i]);
    }
    assert_string_equal(s, want);
    free(s);

    /* A down node with a known down time shows how long it has been down. */
    json_t *d = json_array_get(json_object_get(m, "nodes"), 0);
    json_object_set_new(d, "link_state", json_string("down"));
    json_object_set_new(d, "down_ms", json_integer(4200));
    bnctl_members_table(m, "x:1", &t);
    s = render(&t);
    assert_non_null(strstr(s, "down 4.2s (tick_timeout)"));
    free(s);
    json_decref(m);
    json_decref(raw);
}

/* Worker 1 of a --workers 3 node answers; worker 2 is down; "x-w1@h" is a
 * lone node whose name merely ends in -w1. */
static const char MEMBERS_W[] =
    "{\"node\":\"n-w1@h\",\"incarnation\":5,\"port\":4101,\"hidden\":false,\"closes\":{},"
    "\"nodes\":["
    " {\"name\":\"n-w2@h\",\"host\":\"h\",\"port\":4102,\"incarnation\":6,\"state\":\"down\","
    "  \"link_state\":\"connecting\",\"hidden\":false,\"last_down_reason\":\"none\"},"
    " {\"name\":\"n-w0@h\",\"host\":\"h\",\"port\":4100,\"incarnation\":4,\"state\":\"up\","
    "  \"link_state\":\"up\",\"hidden\":false,\"last_down_reason\":\"none\"},"
    " {\"name\":\"x-w1@h\",\"host\":\"h\",\"port\":5000,\"incarnation\":7,\"state\":\"up\","
    "  \"link_state\":\"up\",\"hidden\":false,\"last_down_reason\":\"none\"},"
    " {\"name\":\"a@h\",\"host\":\"h\",\"port\":4000,\"incarnation\":8,\"state\":\"up\","
    "  \"link_state\":\"up\",\"hidden\":false,\"last_down_reason\":\"none\"}"
    "]}";

static void test_members_workers(void **state)
{
    (void)state;
    char base[32];
    assert_int_equal(bn_mesh_worker_name("n-w12@h", base, sizeof(base)), 12);
    assert_string_equal(base, "n@h");
    assert_int_equal(bn_mesh_worker_name("bennu-4000-w0", base, sizeof(base)), 0);
    assert_string_equal(base, "bennu-4000");
    assert_int_equal(bn_mesh_worker_name("n-w@h", base, sizeof(base)), -1);
    assert_int_equal(bn_mesh_worker_name("n-w01@h", base, sizeof(base)), -1);
    assert_int_equal(bn_mesh_worker_name("n-w100@h", base, sizeof(base)), -1);
    assert_int_equal(bn_mesh_worker_name("nw1@h", base, sizeof(base)), -1);
    assert_int_equal(bn_mesh_worker_name("-w1@h", base, sizeof(base)), -1);
    assert_int_equal(bn_mesh_worker_name("n-w1@h", base, 3), -1); /* too small */
    assert_int_equal(bn_mesh_worker_name(NULL, NULL, 0), -1);

    json_t *raw = load(MEMBERS_W);
    json_t *m = bnctl_members_clean(raw, "bennuctl-1-");
    assert_string_equal(json_string_value(json_object_get(m, "worker_of")), "n@h");
    assert_int_equal(json_integer_value(json_object_get(m, "worker")), 1);
    json_t *lone = json_array_get(json_object_get(m, "nodes"), 2);
    assert_null(json_object_get(lone, "worker_of"));
    bnctl_table_t t;
    bnctl_members_table(m, "h:4101", &t);
    char *s = render(&t);
    /* The node's own row, its workers beneath it in index order, then the
     * others by name. */
    const char *first[] = {"NODE ",          "n@h ", "\u251c n-w0@h ", "\u251c n-w1@h ",
                           "\u2514 n-w2@h ", "a@h ", "x-w1@h "};
    const char *line = s;
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        assert_non_null(line);
        assert_memory_equal(line, first[i], strlen(first[i]));
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    assert_non_null(strstr(s, "2/3 workers up"));
    assert_non_null(strstr(s, "n-w1@h            5  h:4101   self"));
    assert_non_null(strstr(s, "connecting"));
    free(s);
    json_decref(m);
    json_decref(raw);
}

/* Three nodes' groups answers: a holds room:1 (2 subs) and lobby, b holds
 * room:1 (1 sub) and room:2 (no count: no local_count callback), c none. */
static const char GROUPS_NODES[] =
    "{\"a@h\":{\"groups\":{\"local\":[\"room:1\",\"lobby\"],"
    "  \"peers\":{\"b@h\":[\"room:2\",\"room:1\"],\"c@h\":[]},"
    "  \"counts\":{\"room:1\":2,\"lobby\":5}}},"
    " \"b@h\":{\"groups\":{\"local\":[\"room:1\",\"room:2\"],"
    "  \"peers\":{\"a@h\":[\"room:1\",\"lobby\"]},\"counts\":{\"room:1\":1}}},"
    " \"c@h\":{\"error\":\"c: timeout\"}}";

static void test_groups_view(void **state)
{
    (void)state;
    json_t *nodes = load(GROUPS_NODES);
    json_t *merged = bnctl_groups_merge("a@h", nodes, NULL);
    json_t *topics = json_object_get(merged, "topics");
    assert_int_equal(json_array_size(topics), 3);
    /* sorted by topic */
    assert_string_equal(json_string_value(json_object_get(json_array_get(topics, 0), "topic")),
                        "lobby");
    json_t *r1 = json_array_get(topics, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "topic")), "room:1");
    assert_int_equal(json_integer_value(json_object_get(r1, "subscribers")), 3);
    assert_int_equal(json_array_size(json_object_get(r1, "nodes")), 2);
    bnctl_table_t t;
    bnctl_groups_table(merged, &t);
    char *s = render(&t);
    assert_string_equal(s, "TOPIC   NODES  SUBSCRIBERS  PER NODE\n"
                           "lobby       1            5  a@h=5\n"
                           "room:1      2            3  a@h=2 b@h=1\n"
                           "room:2      1          0+?  b@h=?\n");
    free(s);

    json_t *sum = bnctl_groups_summary(merged);
    assert_int_equal(json_integer_value(json_object_get(sum, "topics")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "memberships")), 4);
    assert_int_equal(json_integer_value(json_object_get(sum, "subscribers")), 8);
    bnctl_groups_summary_table(sum, &t);
    s = render(&t);
    assert_string_equal(s, "NODE         TOPICS  SUBSCRIBERS\n"
                           "a@h               2            7\n"
                           "b@h               2            1\n"
                           "(all nodes)       3            8\n");
    free(s);
    json_decref(sum);
    json_decref(merged);

    merged = bnctl_groups_merge("a@h", nodes, "room:*");
    assert_int_equal(json_array_size(json_object_get(merged, "topics")), 2);
    json_decref(merged);
    merged = bnctl_groups_merge("a@h", nodes, "nothing*");
    assert_int_equal(json_array_size(json_object_get(merged, "topics")), 0);
    json_decref(merged);
    json_decref(nodes);
}

static void test_topic_view(void **state)
{
    (void)state;
    /* agreement: a and b hold it, every node sees {a, b} */
    json_t *nodes =
        load("{\"a@h\":{\"topic\":{\"local\":true,\"count\":2,\"peers\":[\"b@h\"]}},"
             " \"b@h\":{\"topic\":{\"local\":true,\"count\":1,\"peers\":[\"a@h\"]}},"
             " \"c@h\":{\"topic\":{\"local\":false,\"count\":0,\"peers\":[\"b@h\",\"a@h\"]}}}");
    json_t *cmp = bnctl_topic_compare("room:1", nodes);
    assert_true(json_is_true(json_object_get(cmp, "known")));
    assert_true(json_is_true(json_object_get(cmp, "agree")));
    assert_int_equal(json_integer_value(json_object_get(cmp, "subscribers")), 3);
    assert_int_equal(json_array_size(json_object_get(cmp, "problems")), 0);
    bnctl_table_t t;
    bnctl_topic_table(cmp, &t);
    char *s = render(&t);
    assert_string_equal(s, "NODE  LOCAL  SUBSCRIBERS  SEES HOLDERS  AGREES\n"
                           "a@h   yes              2  a@h, b@h      yes\n"
                           "b@h   yes              1  a@h, b@h      yes\n"
                           "c@h   no               0  a@h, b@h      yes\n");
    free(s);
    json_decref(cmp);
    json_decref(nodes);

    /* divergence: c missed b's join and still thinks d holds it */
    nodes = load("{\"a@h\":{\"topic\":{\"local\":true,\"count\":2,\"peers\":[\"b@h\"]}},"
                 " \"b@h\":{\"topic\":{\"local\":true,\"count\":1,\"peers\":[\"a@h\"]}},"
                 " \"c@h\":{\"topic\":{\"local\":false,\"count\":0,\"peers\":[\"a@h\",\"d@h\"]}},"
                 " \"d@h\":{\"topic\":{\"local\":false,\"count\":0,\"peers\":[\"a@h\",\"b@h\"]}}}");
    cmp = bnctl_topic_compare("room:1", nodes);
    assert_false(json_is_true(json_object_get(cmp, "agree")));
    json_t *p = json_object_get(cmp, "problems");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_string_value(json_array_get(p, 0)),
                        "c@h does not know that b@h holds the topic");
    assert_string_equal(json_string_value(json_array_get(p, 1)),
                        "c@h believes d@h holds the topic, but it has no subscribers");
    bnctl_topic_table(cmp, &t);
    s = render(&t);
    assert_non_null(strstr(s, "c@h   no               0  a@h, d@h      NO\n"));
    free(s);
    json_decref(cmp);
    json_decref(nodes);

    /* unknown topic; a node that did not answer breaks agreement */
    nodes = load("{\"a@h\":{\"topic\":{\"local\":false,\"count\":0,\"peers\":[]}},"
                 " \"b@h\":{\"error\":\"b: timeout\"}}");
    cmp = bnctl_topic_compare("nope", nodes);
    assert_false(json_is_true(json_object_get(cmp, "known")));
    assert_false(json_is_true(json_object_get(cmp, "agree")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(cmp, "problems"), 0)),
                        "b@h did not answer: b: timeout");
    json_decref(cmp);
    json_decref(nodes);
}

static void test_stats_view(void **state)
{
    (void)state;
    json_t *nodes = load(
        "{\"b@h\":{\"error\":\"down according to a@h\"},"
        " \"a@h\":{\"stats\":{\"connections\":3,\"sockets_websocket\":2,\"sockets_longpoll\":1,"
        "  \"channels\":4,\"broadcasts_in\":5,\"broadcasts_out\":6,\"deliveries\":7,"
        "  \"slow_consumer_closes\":1,\"refused_connects\":2,\"rss_bytes\":10485760,"
        "  \"uptime_ms\":125000},"
        "  \"mesh\":{\"closes\":{\"bad_cookie\":2,\"name_clash\":1,\"tick_timeout\":9}}}}");
    bnctl_table_t t;
    bnctl_stats_table(nodes, &t);
    char *s = render(&t);
    assert_string_equal(
        s, "NODE  SOCKETS  WS  LP  TCP  CHANNELS  BCAST IN  BCAST OUT  DELIVERIES  SLOW CLOSES  "
           "REFUSED CONNS  REFUSED LINKS       RSS  UPTIME\n"
           "a@h         3   2   1    3         4         5          6           7            1  "
           "            2              3  10.0 MiB   2m05s\n"
           "b@h         ?   ?   ?    ?         ?         ?          ?           ?            ?  "
           "            ?              ?         ?       ?\n");
    free(s);
    json_decref(nodes);
}

/* Two workers of n@h answer, a third is down; a@h is a plain node. */
static void test_stats_workers(void **state)
{
    (void)state;
    json_t *nodes = load(
        "{\"n-w1@h\":{\"stats\":{\"connections\":30,\"sockets_websocket\":20,\"sockets_longpoll\":"
        "1,"
        "  \"channels\":40,\"broadcasts_in\":5,\"broadcasts_out\":6,\"deliveries\":700,"
        "  \"slow_consumer_closes\":0,\"refused_connects\":0,\"rss_bytes\":2097152,"
        "  \"uptime_ms\":5000}},"
        " \"n-w2@h\":{\"error\":\"down according to n-w0@h\"},"
        " \"a@h\":{\"stats\":{\"connections\":1,\"sockets_websocket\":1,\"sockets_longpoll\":0,"
        "  \"channels\":1,\"broadcasts_in\":0,\"broadcasts_out\":0,\"deliveries\":0,"
        "  \"slow_consumer_closes\":0,\"refused_connects\":0,\"rss_bytes\":1048576,"
        "  \"uptime_ms\":1000}},"
        " \"n-w0@h\":{\"stats\":{\"connections\":10,\"sockets_websocket\":10,\"sockets_longpoll\":"
        "0,"
        "  \"channels\":10,\"broadcasts_in\":6,\"broadcasts_out\":5,\"deliveries\":300,"
        "  \"slow_consumer_closes\":1,\"refused_connects\":2,\"rss_bytes\":1048576,"
        "  \"uptime_ms\":9000},\"mesh\":{\"closes\":{\"bad_cookie\":1}}}}");
    bnctl_table_t t;
    bnctl_stats_table(nodes, &t);
    char *s = render(&t);
    const char *first[] = {"NODE ",          "a@h ",           "n@h ",
                           "\u251c n-w0@h ", "\u251c n-w1@h ", "\u2514 n-w2@h "};
    const char *line = s;
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        assert_non_null(line);
        assert_memory_equal(line, first[i], strlen(first[i]));
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    /* The node row: sums of the answering workers, 2 of 3 up. */
    const char *node = strstr(s, "\nn@h ");
    assert_non_null(node);
    char row[512];
    const char *end = strchr(node + 1, '\n');
    snprintf(row, sizeof(row), "%.*s", (int)(end - node - 1), node + 1);
    char want[8][16] = {"31", "30", "1", "40", "50", "1000", "3.0 MiB", "2/3 up"};
    for (size_t i = 0; i < 8; i++) {
        assert_non_null(strstr(row, want[i]));
    }
    free(s);
    json_decref(nodes);
}

/* members + groups answers for check, built per test */
static json_t *node_view(const char *self, json_int_t inc, const char *up_csv, const char *down_csv,
                         const char *local_json, const char *peers_json)
{
    json_t *nodes = json_array();
    char buf[256];
    for (int pass = 0; pass < 2; pass++) {
        const char *csv = pass == 0 ? up_csv : down_csv;
        snprintf(buf, sizeof(buf), "%s", csv);
        for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ",")) {
            /* "name=inc" */
            char *eq = strchr(tok, '=');
            *eq = '\0';
            json_array_append_new(
                nodes, json_pack("{s:s, s:s, s:i, s:I, s:s, s:b}", "name", tok, "host", "127.0.0.1",
                                 "port", 4000 + tok[0], "incarnation", (json_int_t)atoll(eq + 1),
                                 "state", pass == 0 ? "up" : "down", "hidden", 0));
        }
    }
    json_t *members =
        json_pack("{s:s, s:I, s:o}", "node", self, "incarnation", inc, "nodes", nodes);
    return json_pack("{s:o, s:{s:o, s:o}}", "members", members, "groups", "local", load(local_json),
                     "peers", load(peers_json));
}

static void test_check_converged_and_down(void **state)
{
    (void)state;
    json_t *nodes = json_object();
    json_object_set_new(nodes, "a@h",
                        node_view("a@h", 1, "b@h=2", "c@h=3", "[\"t1\"]", "{\"b@h\":[\"t2\"]}"));
    json_object_set_new(nodes, "b@h",
                        node_view("b@h", 2, "a@h=1", "c@h=3", "[\"t2\"]", "{\"a@h\":[\"t1\"]}"));
    json_object_set_new(nodes, "c@h", json_pack("{s:s}", "error", "127.0.0.1:4099: refused"));
    json_t *r = bnctl_check(nodes);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_array_size(json_object_get(r, "answered")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "topics")), 2);
    json_t *down = json_object_get(r, "down");
    assert_int_equal(json_array_size(down), 1);
    assert_string_equal(json_string_value(json_array_get(down, 0)), "c@h");
    json_decref(r);
    json_decref(nodes);
}

static void test_check_divergences(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        const char *a_up, *a_down, *a_local, *a_peers;
        const char *b_up, *b_down, *b_local, *b_peers;
        const char *c_error; /* c did not answer, when set */
        const char *problem;
    } cases[] = {
        {"partition: a lost b, b still sees a", "", "b@h=2", "[]", "{}", "a@h=1", "", "[]",
         "{\"a@h\":[]}", NULL, "a@h sees b@h down, but b@h answers (and sees a@h up)"},
        {"stale incarnation", "b@h=7", "", "[]", "{\"b@h\":[]}", "a@h=1", "", "[]", "{\"a@h\":[]}",
         NULL, "a@h knows b@h as incarnation 7, but b@h is incarnation 2"},
        {"missed join", "b@h=2", "", "[]", "{\"b@h\":[]}", "a@h=1", "", "[\"t9\"]", "{\"a@h\":[]}",
         NULL, "a@h does not know that b@h holds t9"},
        {"missed leave", "b@h=2", "", "[]", "{\"b@h\":[\"gone\"]}", "a@h=1", "", "[]",
         "{\"a@h\":[]}", NULL, "a@h believes b@h holds gone, but it does not"},
        {"up but silent", "b@h=2,c@h=3", "", "[]", "{\"b@h\":[]}", "a@h=1,c@h=3", "", "[]",
         "{\"a@h\":[]}", "127.0.0.1:4099: timeout",
         "a@h sees c@h up, but c@h did not answer: 127.0.0.1:4099: timeout"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *nodes = json_object();
        json_object_set_new(nodes, "a@h",
                            node_view("a@h", 1, cases[i].a_up, cases[i].a_down, cases[i].a_local,
                                      cases[i].a_peers));
        json_object_set_new(nodes, "b@h",
                            node_view("b@h", 2, cases[i].b_up, cases[i].b_down, cases[i].b_local,
                                      cases[i].b_peers));
        if (cases[i].c_error != NULL) {
            json_object_set_new(nodes, "c@h", json_pack("{s:s}", "error", cases[i].c_error));
        }
        json_t *r = bnctl_check(nodes);
        bool found = false;
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(r, "problems"), j, p)
        {
            found = found || strcmp(json_string_value(p), cases[i].problem) == 0;
        }
        if (json_is_true(json_object_get(r, "ok")) || !found) {
            char *dump = json_dumps(r, JSON_INDENT(1));
            fail_msg("case '%s': want problem '%s', got %s", cases[i].what, cases[i].problem, dump);
        }
        json_decref(r);
        json_decref(nodes);
    }

    json_t *none = json_object();
    json_t *r = bnctl_check(none);
    assert_false(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_decref(none);
}

static void test_unasked_nodes(void **state)
{
    (void)state;
    json_t *nodes = json_object();
    json_object_set_new(nodes, "a@h", node_view("a@h", 1, "b@h=2", "d@h=4", "[]", "{}"));
    json_object_set_new(nodes, "b@h", json_pack("{s:s}", "error", "x"));
    json_t *more = bnctl_unasked_nodes(nodes);
    assert_int_equal(json_object_size(more), 1);
    char want[32];
    snprintf(want, sizeof(want), "127.0.0.1:%d", 4000 + 'd');
    assert_string_equal(json_string_value(json_object_get(more, "d@h")), want);
    json_decref(more);
    json_decref(nodes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_table),
        cmocka_unit_test(test_args_values),
        cmocka_unit_test(test_args_help),
        cmocka_unit_test(test_cookie_resolve),
        cmocka_unit_test(test_table_render),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_members_view),
        cmocka_unit_test(test_members_workers),
        cmocka_unit_test(test_groups_view),
        cmocka_unit_test(test_topic_view),
        cmocka_unit_test(test_stats_view),
        cmocka_unit_test(test_stats_workers),
        cmocka_unit_test(test_check_converged_and_down),
        cmocka_unit_test(test_check_divergences),
        cmocka_unit_test(test_unasked_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
