/* Unit tests for src/app/config_file.c and the route matching of
 * src/app/routes.c: flags from the file become flags in order, unknown
 * keys and wrong types name their JSON path, channel routes and their
 * router patterns, and {user_id} matching. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/config_file.h"

static const struct option opts[] = {
    {"port", required_argument, NULL, 1}, {"join", required_argument, NULL, 2},
    {"dev", no_argument, NULL, 3},        {"config", required_argument, NULL, 4},
    {"help", no_argument, NULL, 5},       {NULL, 0, NULL, 0},
};

static void file_free(bn_app_file_t *f)
{
    for (int i = 0; i < f->argc; i++) {
        free(f->argv[i]);
    }
    free(f->argv);
}

static int parse(const char *text, bn_app_file_t *f, char *why, size_t why_len)
{
    memset(f, 0, sizeof(*f));
    return bn_app_file_parse(text, strlen(text), opts, f, why, why_len);
}

static void test_flags(void **state)
{
    (void)state;
    bn_app_file_t f;
    char why[512];
    assert_int_equal(parse("{\"port\": 4001, \"dev\": true, \"join\": [\"a:1\", \"b:2\"]}", &f, why,
                           sizeof(why)),
                     0);
    assert_int_equal(f.argc, 4);
    assert_string_equal(f.argv[0], "--port=4001");
    assert_string_equal(f.argv[1], "--dev");
    assert_string_equal(f.argv[2], "--join=a:1");
    assert_string_equal(f.argv[3], "--join=b:2");
    assert_false(f.have_channels);
    file_free(&f);
    assert_int_equal(parse("{\"dev\": false}", &f, why, sizeof(why)), 0);
    assert_int_equal(f.argc, 0);
    file_free(&f);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *why;
    } cases[] = {
        {"{", "$: invalid JSON"},
        {"[1]", "$: expected an object"},
        {"{\"port\": 1, \"port\": 2}", "$: invalid JSON"},
        {"{\"config\": \"x\"}", "$.config: unknown key"},
        {"{\"help\": true}", "$.help: unknown key"},
        {"{\"prt\": 1}", "$.prt: unknown key"},
        {"{\"port\": [1]}", "$.port: expected a string or an integer"},
        {"{\"port\": \"\"}", "$.port: expected a non-empty string"},
        {"{\"join\": [1, true]}", "$.join[1]: expected a string or an integer"},
        {"{\"dev\": \"yes\"}", "$.dev: expected true or false"},
        {"{\"channels\": [1]}", "$.channels[0]: expected an object"},
        {"{\"channels\": [{\"join\": \"anyone\"}]}", "$.channels[0].topic: missing"},
        {"{\"channels\": [{\"topic\": \"a\", \"join\": \"anyone\", \"presence\": 1}]}",
         "$.channels[0].presence: expected true or false"},
        {"{\"channels\": [{\"topic\": \"a\", \"join\": \"anyone\", \"events\": \"all\"}]}",
         "$.channels[0].events: expected one of none, broadcast, webhook"},
        {"{\"channels\": [{\"topic\": \"a:{id}\", \"join\": \"anyone\"}]}",
         "$.channels[0].topic: '*' only at the end"},
        {"{\"channels\": [{\"topic\": \"a\", \"join\": \"anyone\", \"leave\": \"yes\"}]}",
         "$.channels[0].leave: expected one of none, webhook"},
        {"{\"channels\": [{\"topic\": \"a\", \"join\": \"anyone\"}, {\"topic\": \"b\", \"join\": "
         "\"anyone\", \"events\": \"webhook\"}]}",
         "$.channels[1]: uses the webhook, but $.webhook is missing"},
        {"{\"webhook\": []}", "$.webhook: expected an object"},
        {"{\"webhook\": {\"url\": \"http://127.0.0.1/\", \"timeout\": 1}}",
         "$.webhook.timeout: unknown key"},
        {"{\"webhook\": {\"url\": \"ftp://127.0.0.1/\"}}",
         "$.webhook.url: the URL must start with http://"},
        {"{\"webhook\": {\"url\": \"http://127.0.0.1/\", \"max_in_flight\": 0}}",
         "$.webhook.max_in_flight: expected an integer 1..100000"},
        {"{\"webhook\": {\"url\": \"http://127.0.0.1/\"}}", "$.webhook.secret_file: missing"},
        {"{\"webhook\": {\"secret_file\": \"/nonexistent/x\"}}", "$.webhook.secret_file: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_app_file_t f;
        char why[512] = "";
        int rc = parse(cases[i].in, &f, why, sizeof(why));
        if (rc != -1 || strncmp(why, cases[i].why, strlen(cases[i].why)) != 0) {
            fail_msg("%s: rc %d, why '%s', want '%s'", cases[i].in, rc, why, cases[i].why);
        }
        file_free(&f);
    }
}

static void test_routes(void **state)
{
    (void)state;
    bn_app_file_t f;
    char why[512];
    const char *doc = "{\"channels\": ["
                      "{\"topic\": \"public:*\", \"join\": \"anyone\"},"
                      "{\"topic\": \"user:{user_id}\", \"join\": \"owner\", \"presence\": true},"
                      "{\"topic\": \"exact\", \"join\": \"deny\", \"events\": \"broadcast\"},"
                      "{\"topic\": \"u:{user_id}:inbox\", \"join\": \"token\"}]}";
    assert_int_equal(parse(doc, &f, why, sizeof(why)), 0);
    assert_true(f.have_channels);
    assert_int_equal(f.n_routes, 4);
    assert_string_equal(f.routes[0].router_pattern, "public:*");
    assert_int_equal(f.routes[0].join, BN_APP_JOIN_ANYONE);
    assert_int_equal(f.routes[0].events, BN_APP_EVENTS_NONE);
    assert_string_equal(f.routes[1].router_pattern, "user:*");
    assert_int_equal(f.routes[1].join, BN_APP_JOIN_OWNER);
    assert_true(f.routes[1].presence);
    assert_string_equal(f.routes[2].router_pattern, "exact");
    assert_int_equal(f.routes[2].events, BN_APP_EVENTS_BROADCAST);
    assert_string_equal(f.routes[3].router_pattern, "u:*");
    file_free(&f);
}

static void test_topic_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *topic, *user;
        bool match, owner_ok;
    } cases[] = {
        {"public:*", "public:x", NULL, true, true},
        {"public:*", "public:", NULL, true, true},
        {"public:*", "publi", NULL, false, true},
        {"exact", "exact", NULL, true, true},
        {"exact", "exactly", NULL, false, true},
        {"user:{user_id}", "user:7", "7", true, true},
        {"user:{user_id}", "user:8", "7", true, false},
        {"user:{user_id}", "user:7", NULL, true, false},
        {"user:{user_id}", "user:", "7", false, true},
        {"user:{user_id}", "user:7:x", "7", false, true},
        {"user:{user_id}", "user:77", "7", true, false},
        {"u:{user_id}:inbox", "u:7:inbox", "7", true, true},
        {"u:{user_id}:inbox", "u:7:outbox", "7", false, true},
        {"u:{user_id}:*", "u:alice:anything:here", "alice", true, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool owner_ok = true;
        bool m = bn_app_topic_match(cases[i].pattern, cases[i].topic, cases[i].user, &owner_ok);
        if (m != cases[i].match || (m && owner_ok != cases[i].owner_ok)) {
            fail_msg("%s ~ %s (user %s): match %d owner_ok %d", cases[i].pattern, cases[i].topic,
                     cases[i].user ? cases[i].user : "-", m, owner_ok);
        }
    }
    bool uid;
    assert_true(bn_app_pattern_valid("a:{user_id}:*", &uid));
    assert_true(uid);
    assert_false(bn_app_pattern_valid("a:*:b", &uid));
    assert_false(bn_app_pattern_valid("a:{user}", &uid));
    assert_false(bn_app_pattern_valid("a:}", &uid));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_topic_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
