/* Unit tests for src/channel/router.c: prefix ("room:*") and exact patterns,
 * first match wins, '*' allowed only at the end, table limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "channel/router.h"

static bn_chan_result_t dummy_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *r)
{
    (void)ch;
    (void)params;
    (void)r;
    return BN_CHAN_OK;
}

static const bn_channel_type_t type_a = {.name = "A", .join = dummy_join};
static const bn_channel_type_t type_b = {.name = "B", .join = dummy_join};
static const bn_channel_type_t type_c = {.name = "C", .join = dummy_join};
static const bn_channel_type_t type_nojoin = {.name = "nojoin"};

/* Routes of the match table, in declaration order. */
static const struct {
    const char *pattern;
    const bn_channel_type_t *type;
} routes[] = {
    {"room:lobby", &type_a}, /* exact, declared before the wildcard: wins for room:lobby */
    {"room:*", &type_b},     {"room:special", &type_c}, /* shadowed by room:* */
    {"user", &type_c},       {"*", &type_a}, /* everything else... only if declared; see below */
};

static void test_match_table(void **state)
{
    (void)state;
    bn_router_t r;
    bn_router_init(&r);
    /* All but the catch-all. */
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(bn_router_add(&r, routes[i].pattern, routes[i].type, NULL), 0);
    }
    static const struct {
        const char *name;
        const char *topic;
        const char *want; /* type name or NULL for no match */
        const char *want_pattern;
    } cases[] = {
        {"exact before wildcard", "room:lobby", "A", "room:lobby"},
        {"wildcard", "room:42", "B", "room:*"},
        {"wildcard empty rest", "room:", "B", "room:*"},
        {"wildcard shadows later exact", "room:special", "B", "room:*"},
        {"exact other", "user", "C", "user"},
        {"exact is not a prefix", "user:1", NULL, NULL},
        {"shorter than prefix", "room", NULL, NULL},
        {"case sensitive", "Room:1", NULL, NULL},
        {"exact needs full length", "room:lobbyX", "B", "room:*"},
        {"empty topic", "", NULL, NULL},
        {"unrelated", "chat:1", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bn_route_t *rt = bn_router_match(&r, cases[i].topic, strlen(cases[i].topic));
        if ((rt == NULL) != (cases[i].want == NULL) ||
            (rt != NULL && (strcmp(rt->type->name, cases[i].want) != 0 ||
                            strcmp(rt->pattern, cases[i].want_pattern) != 0))) {
            fail_msg("case '%s': topic '%s' matched %s (pattern %s), want %s", cases[i].name,
                     cases[i].topic, rt ? rt->type->name : "nothing", rt ? rt->pattern : "-",
                     cases[i].want ? cases[i].want : "nothing");
        }
    }
    /* Lengths count, not NUL: a topic slice "room:lobby" out of a longer buffer. */
    const bn_route_t *rt = bn_router_match(&r, "room:lobby+junk", 10);
    assert_non_null(rt);
    assert_string_equal(rt->type->name, "A");
    rt = bn_router_match(&r, "userX", 4);
    assert_non_null(rt);
    assert_string_equal(rt->type->name, "C");

    /* A catch-all added last only gets what nobody else matched. */
    assert_int_equal(bn_router_add(&r, routes[4].pattern, routes[4].type, NULL), 0);
    rt = bn_router_match(&r, "chat:1", 6);
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "*");
    rt = bn_router_match(&r, "", 0);
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "*");
    rt = bn_router_match(&r, "room:9", 6);
    assert_string_equal(rt->pattern, "room:*");
    bn_router_free(&r);
    assert_int_equal(r.n, 0);
}

static void test_route_data(void **state)
{
    (void)state;
    bn_router_t r;
    int ud1 = 1, ud2 = 2;
    bn_router_init(&r);
    assert_int_equal(bn_router_add(&r, "a:*", &type_a, &ud1), 0);
    assert_int_equal(bn_router_add(&r, "b", &type_b, &ud2), 0);
    assert_ptr_equal(bn_router_match(&r, "a:x", 3)->ud, &ud1);
    assert_ptr_equal(bn_router_match(&r, "b", 1)->ud, &ud2);
    assert_ptr_equal(bn_router_match(&r, "b", 1)->type, &type_b);
    bn_router_free(&r);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *pattern;
        const bn_channel_type_t *type;
    } bad[] = {
        {"star in the middle", "room:*:x", &type_a},
        {"star at the start", "*room", &type_a},
        {"two stars", "room:**", &type_a},
        {"NULL pattern", NULL, &type_a},
        {"NULL type", "room:*", NULL},
        {"type without join", "room:*", &type_nojoin},
    };
    bn_router_t r;
    bn_router_init(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bn_router_add(&r, bad[i].pattern, bad[i].type, NULL) != -1) {
            fail_msg("case '%s': accepted", bad[i].name);
        }
        assert_int_equal(r.n, 0);
    }
    bn_router_free(&r);
}

static void test_table_full(void **state)
{
    (void)state;
    bn_router_t r;
    bn_router_init(&r);
    char pat[32];
    for (int i = 0; i < BN_ROUTER_MAX; i++) {
        snprintf(pat, sizeof(pat), "t%d", i);
        assert_int_equal(bn_router_add(&r, pat, &type_a, NULL), 0);
    }
    assert_int_equal(bn_router_add(&r, "one:more", &type_a, NULL), -1);
    assert_int_equal(r.n, BN_ROUTER_MAX);
    snprintf(pat, sizeof(pat), "t%d", BN_ROUTER_MAX - 1);
    assert_non_null(bn_router_match(&r, pat, strlen(pat)));
    assert_null(bn_router_match(&r, "one:more", 8));
    bn_router_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_route_data),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
