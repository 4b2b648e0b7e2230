/* Unit tests for the configuration tables: bennu/config_table.h (library
 * defaults, ranges, bn_config_validate, bn_server_start refusing an
 * out-of-range config) and src/app/options.h (the bennu binary's flags:
 * every row's default and range come from the library's, every range
 * rejects min-1 and max+1, --help lists every flag, getopt's table matches
 * the rows). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/config_file.h"
#include "app/options.h"
#include "bennu/bennu.h"

/* Stores v into the field's memory without the range check. */
static void raw_store(bn_config_t *cfg, const bn_config_field_t *f, long long v)
{
    char *p = (char *)cfg + f->offset;
    if (f->is_signed) {
        int i = (int)v;
        memcpy(p, &i, sizeof(i));
    } else if (f->size == sizeof(size_t)) {
        size_t s = (size_t)v;
        memcpy(p, &s, sizeof(s));
    } else {
        unsigned u = (unsigned)v;
        memcpy(p, &u, sizeof(u));
    }
}

/* Is v representable in the field (so a raw store keeps it)? */
static int fits(const bn_config_field_t *f, long long v)
{
    if (f->is_signed) {
        return 1;
    }
    if (v < 0) {
        return 0;
    }
    return f->size == sizeof(size_t) || v <= (long long)UINT32_MAX;
}

static void test_library_defaults(void **state)
{
    (void)state;
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    size_t n = 0;
    const bn_config_field_t *fields = bn_config_fields(&n);
    assert_true(n >= 29);
    for (size_t i = 0; i < n; i++) {
        const bn_config_field_t *f = &fields[i];
        assert_int_equal(bn_config_get(&cfg, f), f->def);
        assert_true(f->def >= f->min && f->def <= f->max);
        assert_ptr_equal(bn_config_field(f->name), f);
    }
    assert_string_equal(cfg.bind, "127.0.0.1");
    assert_string_equal(cfg.check_origin, "conn");
    assert_string_equal(cfg.url_host, "localhost");
    assert_null(cfg.static_dir);
    assert_null(cfg.secret_key_base);
    assert_null(cfg.trust_forwarded);
    assert_false(cfg.reuse_port);
    char why[128];
    assert_int_equal(bn_config_validate(&cfg, why, sizeof(why)), 0);
    assert_null(bn_config_field("no_such_field"));
    /* The figures the header's comments and README repeat. */
    assert_int_equal(cfg.port, 4000);
    assert_int_equal(cfg.max_frame_size, 1048576);
    assert_int_equal(cfg.max_connections, 100000);
    assert_int_equal(cfg.presence_count_above, 10000);
}

static void test_library_ranges(void **state)
{
    (void)state;
    size_t n = 0;
    const bn_config_field_t *fields = bn_config_fields(&n);
    char why[128];
    for (size_t i = 0; i < n; i++) {
        const bn_config_field_t *f = &fields[i];
        bn_config_t cfg;
        bn_config_defaults(&cfg);
        assert_int_equal(bn_config_set(&cfg, f, f->min), 0);
        assert_int_equal(bn_config_validate(&cfg, why, sizeof(why)), 0);
        assert_int_equal(bn_config_set(&cfg, f, f->max), 0);
        assert_int_equal(bn_config_validate(&cfg, why, sizeof(why)), 0);
        assert_int_equal(bn_config_get(&cfg, f), f->max);
        assert_int_equal(bn_config_set(&cfg, f, f->min - 1), UV_EINVAL);
        assert_int_equal(bn_config_set(&cfg, f, f->max + 1), UV_EINVAL);
        assert_int_equal(bn_config_get(&cfg, f), f->max); /* unchanged */
        if (fits(f, f->min - 1)) {
            raw_store(&cfg, f, f->min - 1);
            assert_int_equal(bn_config_validate(&cfg, why, sizeof(why)), UV_EINVAL);
            assert_non_null(strstr(why, f->name));
        }
        if (fits(f, f->max + 1)) {
            raw_store(&cfg, f, f->max + 1);
            assert_int_equal(bn_config_validate(&cfg, why, sizeof(why)), UV_EINVAL);
            assert_non_null(strstr(why, f->name));
        }
    }
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

/* An embedder gets the same checks: bn_server_start refuses. */
static void test_server_start_validates(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.port = 0;
    cfg.max_channels = 0;
    bn_server_t *srv = bn_server_new(&loop, &cfg);
    assert_non_null(srv);
    assert_int_equal(bn_server_start(srv), UV_EINVAL);
    int stopped = 0;
    bn_server_stop(srv, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(stopped, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int parse_args(bn_app_opts_t *o, const char *a, const char *b)
{
    char *argv[] = {(char *)"bennu", (char *)a, (char *)b, NULL};
    bn_app_opts_init(o);
    return bn_app_opts_parse(o, b != NULL ? 3 : 2, argv);
}

/* The app's numeric rows: CFG rows take the library's range and default;
 * every range accepts min and max and rejects min-1 and max+1. */
static void test_cli_ranges(void **state)
{
    (void)state;
    size_t n = 0;
    const bn_app_opt_t *rows = bn_app_opt_rows(&n);
    bn_app_opts_t *o = malloc(sizeof(*o));
    assert_non_null(o);
    size_t numeric = 0;
    for (size_t i = 0; i < n; i++) {
        const bn_app_opt_t *r = &rows[i];
        long long min, max;
        if (r->kind == BN_APP_KIND_CFG) {
            assert_non_null(r->field);
            assert_string_equal(r->field->name, r->target);
            min = r->field->min;
            max = r->field->max;
        } else if (r->kind == BN_APP_KIND_NUM) {
            min = r->min;
            max = r->max;
        } else {
            continue;
        }
        numeric++;
        char flag[80], val[32];
        snprintf(flag, sizeof(flag), "--%s", r->name);
        long long cases[][2] = {{min, 0}, {max, 0}, {min - 1, 2}, {max + 1, 2}};
        for (size_t c = 0; c < 4; c++) {
            snprintf(val, sizeof(val), "%lld", cases[c][0]);
            int rc = parse_args(o, flag, val);
            if (rc != (int)cases[c][1]) {
                fail_msg("%s %s: %d", flag, val, rc);
            }
            if (rc == 0 && r->kind == BN_APP_KIND_CFG) {
                assert_int_equal(bn_config_get(&o->cfg, r->field), cases[c][0]);
            } else if (rc == 0) {
                assert_int_equal(*(const long *)((const char *)o + r->offset), cases[c][0]);
            }
        }
        assert_int_equal(parse_args(o, flag, "12x"), 2);
    }
    assert_true(numeric >= 30);
    /* Defaults: the parsed-nothing opts equal bn_config_defaults. */
    bn_config_t d;
    bn_config_defaults(&d);
    char *argv[] = {(char *)"bennu", NULL};
    bn_app_opts_init(o);
    assert_int_equal(bn_app_opts_parse(o, 1, argv), 0);
    assert_memory_equal(&o->cfg, &d, sizeof(d));
    assert_int_equal(o->tick_ms, 1000);
    assert_int_equal(o->down_ms, 5000);
    assert_int_equal(o->workers, 1);
    assert_int_equal(o->mesh_port, -1);
    free(o);
}

static void test_cli_values(void **state)
{
    (void)state;
    bn_app_opts_t *o = malloc(sizeof(*o));
    assert_non_null(o);
    assert_int_equal(parse_args(o, "--join=a:1", "--join=b:2"), 0);
    assert_int_equal(o->seeds.n, 2);
    assert_string_equal(o->seeds.v[1], "b:2");
    assert_string_equal(o->mesh_flag, "join");
    assert_int_equal(parse_args(o, "--join", "nope"), 2);
    assert_int_equal(parse_args(o, "--check-origin", "maybe"), 2);
    assert_int_equal(parse_args(o, "--check-origin", "off"), 0);
    assert_string_equal(o->cfg.check_origin, "off");
    assert_int_equal(parse_args(o, "--dev", NULL), 0);
    assert_true(o->dev);
    assert_int_equal(parse_args(o, "--dev=yes", NULL), 2);
    assert_int_equal(parse_args(o, "--po", "1"), 2);
    assert_int_equal(parse_args(o, "--port", NULL), 2);
    assert_int_equal(parse_args(o, "--rate-burst", "5"), 0);
    assert_int_equal(bn_app_opts_check(o), 2);
    assert_int_equal(parse_args(o, "--max-frame-size", "200000"), 0);
    assert_int_equal(bn_app_opts_check(o), 0);
    assert_int_equal(o->cfg.max_message_size, 1048576);
    assert_int_equal(parse_args(o, "--max-frame-size", "2000000"), 0);
    assert_int_equal(bn_app_opts_check(o), 0);
    assert_int_equal(o->cfg.max_message_size, 2000000); /* raised to the frame size */
    /* Repeatable flags (arrays in a --config file) are the LIST rows. */
    assert_int_equal(bn_app_opt_find("join")->kind, BN_APP_KIND_LIST);
    assert_int_equal(bn_app_opt_find("join-dns")->kind, BN_APP_KIND_LIST);
    assert_int_equal(bn_app_opt_find("mesh-allow")->kind, BN_APP_KIND_LIST);
    assert_int_equal(bn_app_opt_find("dial-override")->kind, BN_APP_KIND_LIST);
    assert_null(bn_app_opt_find("nope"));
    free(o);
}

static void test_getopt_table(void **state)
{
    (void)state;
    size_t n = 0;
    const bn_app_opt_t *rows = bn_app_opt_rows(&n);
    const struct option *lo = bn_app_long_options();
    size_t i = 0;
    for (; lo[i].name != NULL; i++) {
        assert_true(i < n);
        assert_string_equal(lo[i].name, rows[i].name);
        assert_int_equal(lo[i].val, rows[i].id);
        assert_int_equal(lo[i].has_arg,
                         rows[i].kind == BN_APP_KIND_BOOL ? no_argument : required_argument);
        for (size_t j = 0; j < i; j++) {
            assert_true(strcmp(rows[j].name, rows[i].name) != 0);
        }
    }
    assert_int_equal(i, n);
}

static void test_help_lists_every_flag(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    bn_app_usage(f);
    fclose(f);
    assert_true(strncmp(text, "usage: bennu", 12) == 0);
    size_t n = 0;
    const bn_app_opt_t *rows = bn_app_opt_rows(&n);
    bn_config_t d;
    bn_config_defaults(&d);
    for (size_t i = 0; i < n; i++) {
        char head[96];
        snprintf(head, sizeof(head), "\n  --%s%s%s", rows[i].name, rows[i].meta[0] ? " " : "",
                 rows[i].meta);
        const char *at = strstr(text, head);
        if (at == NULL) {
            fail_msg("--help lacks %s", head + 1);
        }
        if (rows[i].kind == BN_APP_KIND_CFG && rows[i].deftext == NULL) {
            /* The library's default follows, before the next flag. */
            char def[64];
            snprintf(def, sizeof(def), "(default %lld)", bn_config_get(&d, rows[i].field));
            const char *next = strstr(at + 1, "\n  --");
            const char *found = strstr(at, def);
            if (found == NULL || (next != NULL && found > next)) {
                fail_msg("--help: %s without %s", head + 1, def);
            }
        }
    }
    /* No line is wider than a terminal. */
    for (const char *p = text; *p != '\0';) {
        size_t l = strcspn(p, "\n");
        assert_true(l <= 79);
        p += l + (p[l] == '\n');
    }
    free(text);
}

static void file_free(bn_app_file_t *f)
{
    for (int i = 0; i < f->argc; i++) {
        free(f->argv[i]);
    }
    free(f->argv);
}

/* --config FILE's keys are the table's flag names; arrays exactly for the
 * LIST rows; config, help and version are refused. */
static void test_config_file_keys(void **state)
{
    (void)state;
    size_t n = 0;
    const bn_app_opt_t *rows = bn_app_opt_rows(&n);
    bn_app_file_t *f = malloc(sizeof(*f));
    assert_non_null(f);
    char why[512], text[256];
    for (size_t i = 0; i < n; i++) {
        const bn_app_opt_t *r = &rows[i];
        bool refused =
            r->id == BN_APP_OPT_CONFIG || r->id == BN_APP_OPT_HELP || r->id == BN_APP_OPT_VERSION;
        const char *value = r->kind == BN_APP_KIND_BOOL ? "true" : "\"1\"";
        snprintf(text, sizeof(text), "{\"%s\": %s}", r->name, value);
        memset(f, 0, sizeof(*f));
        int rc = bn_app_file_parse(text, strlen(text), bn_app_long_options(), f, why, sizeof(why));
        if (rc != (refused ? -1 : 0)) {
            fail_msg("%s: %d %s", text, rc, why);
        }
        if (rc == 0) {
            char want[96];
            snprintf(want, sizeof(want), r->kind == BN_APP_KIND_BOOL ? "--%s" : "--%s=1", r->name);
            assert_int_equal(f->argc, 1);
            assert_string_equal(f->argv[0], want);
        }
        file_free(f);
        if (refused || r->kind == BN_APP_KIND_BOOL) {
            continue;
        }
        snprintf(text, sizeof(text), "{\"%s\": [\"1\", \"2\"]}", r->name);
        memset(f, 0, sizeof(*f));
        rc = bn_app_file_parse(text, strlen(text), bn_app_long_options(), f, why, sizeof(why));
        if (rc != (r->kind == BN_APP_KIND_LIST ? 0 : -1)) {
            fail_msg("%s: %d %s", text, rc, why);
        }
        if (rc == 0) {
            assert_int_equal(f->argc, 2);
        }
        file_free(f);
    }
    memset(f, 0, sizeof(*f));
    assert_int_equal(
        bn_app_file_parse("{\"no-such-flag\": 1}", 20, bn_app_long_options(), f, why, sizeof(why)),
        -1);
    file_free(f);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_defaults),
        cmocka_unit_test(test_library_ranges),
        cmocka_unit_test(test_server_start_validates),
        cmocka_unit_test(test_cli_ranges),
        cmocka_unit_test(test_cli_values),
        cmocka_unit_test(test_getopt_table),
        cmocka_unit_test(test_help_lists_every_flag),
        cmocka_unit_test(test_config_file_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
