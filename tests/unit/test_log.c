/* Log values as logfmt: bn_log_value against a table (bare, quoted, every
 * escape, truncation at every small buffer size), BN_LOG_VAL inside BN_LOG,
 * and bn_log_write keeping a line one line whatever a caller passes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bennu/log.h"

static void test_value_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len; /* 0: strlen(in) */
        const char *out;
    } rows[] = {
        {"room:lobby", 0, "room:lobby"},
        {"a@127.0.0.1", 0, "a@127.0.0.1"},
        {"http://localhost:4000", 0, "http://localhost:4000"},
        {"", 0, "\"\""},
        {"two words", 0, "\"two words\""},
        {"x level=error", 0, "\"x level=error\""},
        {"k=v", 0, "\"k=v\""},
        {"say \"hi\"", 0, "\"say \\\"hi\\\"\""},
        {"back\\slash", 0, "\"back\\\\slash\""},
        {"line\nforged=1", 0, "\"line\\nforged=1\""},
        {"cr\rtab\t", 0, "\"cr\\rtab\\t\""},
        {"bell\x07", 0, "\"bell\\x07\""},
        {"del\x7f", 0, "\"del\\x7f\""},
        {"caf\xc3\xa9", 0, "\"caf\\xc3\\xa9\""},
        {"\xff", 0, "\"\\xff\""},
        {"nul\0inside", 10, "\"nul\\x00inside\""},
        {"quote\"only", 0, "\"quote\\\"only\""},
        {"-", 0, "-"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char buf[BN_LOG_VALUE_MAX];
        size_t len = rows[i].len != 0 ? rows[i].len : strlen(rows[i].in);
        const char *got = bn_log_value_n(buf, sizeof(buf), rows[i].in, len);
        if (strcmp(got, rows[i].out) != 0) {
            fail_msg("row %zu: got [%s], want [%s]", i, got, rows[i].out);
        }
    }
    char buf[16];
    assert_string_equal(bn_log_value(buf, sizeof(buf), NULL), "\"\"");
    assert_string_equal(bn_log_value(buf, sizeof(buf), "ok"), "ok");
}

/* Every output fits its buffer, is NUL-terminated, is a well-formed logfmt
 * value (quoted ones close their quote, never end inside an escape) and,
 * when cut, says so with "...". */
static void check_well_formed(const char *out, size_t cap, bool cut)
{
    size_t n = strlen(out);
    assert_true(n < cap);
    if (out[0] != '"') {
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i] > 0x20 && out[i] < 0x7f && out[i] != '"' && out[i] != '=');
        }
        if (cut) {
            assert_true(n >= 3 && strcmp(out + n - 3, "...") == 0);
        }
        return;
    }
    assert_true(n >= 2 && out[n - 1] == '"');
    for (size_t i = 1; i < n - 1; i++) {
        assert_true(out[i] >= 0x20 && out[i] < 0x7f);
        if (out[i] == '"') {
            fail_msg("unescaped quote at %zu in [%s]", i, out);
        }
        if (out[i] == '\\') {
            char e = out[i + 1];
            assert_true(i + 1 < n - 1);
            if (e == 'x') {
                assert_true(i + 3 < n - 1);
                i += 3;
            } else {
                assert_true(e == '"' || e == '\\' || e == 'n' || e == 'r' || e == 't');
                i += 1;
            }
        }
    }
    if (cut) {
        assert_true(n >= 5 && memcmp(out + n - 4, "...\"", 4) == 0);
    }
}

static void test_value_truncation(void **state)
{
    (void)state;
    const char *inputs[] = {
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "with space and \"quotes\" and \\ and \n newline \x01\x02\x03 bytes",
        "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    };
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        char full[BN_LOG_VALUE_MAX];
        bn_log_value(full, sizeof(full), inputs[k]);
        size_t full_len = strlen(full);
        for (size_t cap = 6; cap <= full_len + 2; cap++) {
            char *buf = malloc(cap);
            assert_non_null(buf);
            const char *out = bn_log_value(buf, cap, inputs[k]);
            bool cut = full_len + 1 > cap;
            check_well_formed(out, cap, cut);
            if (!cut) {
                assert_string_equal(out, full);
            }
            free(buf);
        }
    }
    /* Buffers too small for any value stay empty strings. */
    char tiny[5];
    assert_string_equal(bn_log_value(tiny, sizeof(tiny), "a b"), "");
    assert_string_equal(bn_log_value_n(tiny, 0, "a b", 3), "");
    /* The macro's buffer: a long value is cut to BN_LOG_VALUE_MAX. */
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *v = BN_LOG_VAL(big);
    assert_int_equal(strlen(v), BN_LOG_VALUE_MAX - 1);
    assert_string_equal(v + BN_LOG_VALUE_MAX - 4, "...");
}

/* Captures what bn_log_write puts on stderr while fn runs. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/bn-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    assert_true(len >= 0);
    char *text = calloc((size_t)len + 1, 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return text;
}

static void log_origin(void)
{
    const char *origin = "http://x level=error event=forged\nts=0 level=error event=injected";
    BN_LOG(INFO, "connect_refused", "reason=origin origin=%s", BN_LOG_VAL(origin));
}

static void log_raw_newline(void)
{
    /* A call site that forgot BN_LOG_VAL still cannot start a new line. */
    BN_LOG(INFO, "careless", "value=%s", "a\nb\rc");
}

static void log_disabled(void)
{
    bn_log_level_t saved = bn_log_level;
    bn_log_level = BN_LOG_WARN;
    BN_LOG(INFO, "hidden", "x=%s", BN_LOG_VAL("y"));
    bn_log_level = saved;
}

static void test_write_one_line(void **state)
{
    (void)state;
    char *out = capture_stderr(log_origin);
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0'); /* exactly one line */
    assert_non_null(strstr(out, " level=info event=connect_refused reason=origin origin=\"http://x "
                                "level=error event=forged\\nts=0 level=error event=injected\"\n"));
    free(out);

    out = capture_stderr(log_raw_newline);
    assert_non_null(strstr(out, " event=careless value=a?b?c\n"));
    assert_int_equal(strchr(out, '\n')[1], '\0');
    free(out);

    out = capture_stderr(log_disabled);
    assert_string_equal(out, "");
    free(out);
}

/* An embedder's sink gets each whole line with its level, and nothing below
 * the configured level; clearing it goes back to stderr. */
typedef struct {
    int calls;
    bn_log_level_t level;
    char line[512];
    size_t len;
} sink_capture_t;

static void capture_sink(void *ud, bn_log_level_t level, const char *line, size_t len)
{
    sink_capture_t *c = ud;
    c->calls++;
    c->level = level;
    c->len = len < sizeof(c->line) - 1 ? len : sizeof(c->line) - 1;
    memcpy(c->line, line, c->len);
    c->line[c->len] = '\0';
}

static void test_sink(void **state)
{
    (void)state;
    sink_capture_t cap = {0};
    bn_log_level_t saved = bn_log_level;
    bn_log_set_sink(capture_sink, &cap);
    bn_log_set_level(BN_LOG_WARN);
    BN_LOG(INFO, "hidden", "x=%d", 1);
    assert_int_equal(cap.calls, 0);
    BN_LOG(WARN, "shown", "peer=%s", BN_LOG_VAL("a b"));
    assert_int_equal(cap.calls, 1);
    assert_int_equal(cap.level, BN_LOG_WARN);
    assert_true(cap.len > 0 && cap.line[cap.len - 1] == '\n');
    assert_non_null(strstr(cap.line, " level=warn event=shown peer=\"a b\"\n"));
    bn_log_set_sink(NULL, NULL);
    bn_log_set_level(saved);
    BN_LOG(ERROR, "to_stderr", "x=%d", 2);
    assert_int_equal(cap.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_table),
        cmocka_unit_test(test_value_truncation),
        cmocka_unit_test(test_write_one_line),
        cmocka_unit_test(test_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
