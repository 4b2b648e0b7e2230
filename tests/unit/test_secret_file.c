/* bn_secret_file_read: what a --cookie-file or --secret-key-base-file may
 * be. Mode: nothing for group or others. Size: the secret must fit, never
 * cut; trailing newlines and blanks do not count. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bennu/secret.h"

static char *make_file(const void *data, size_t len, mode_t mode)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/bn-secret-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_modes(void **state)
{
    (void)state;
    static const struct {
        mode_t mode;
        bool ok;
    } rows[] = {
        {0600, true},  {0400, true},  {0700, true},  {0640, false}, {0604, false},
        {0620, false}, {0602, false}, {0644, false}, {0666, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *path = make_file("sekrit-0123456789\n", 18, rows[i].mode);
        char buf[64], err[256];
        err[0] = '\0';
        char *got = bn_secret_file_read(path, buf, sizeof(buf), err, sizeof(err));
        if (rows[i].ok) {
            assert_non_null(got);
            assert_string_equal(got, "sekrit-0123456789");
        } else {
            assert_null(got);
            char want[96];
            snprintf(want, sizeof(want), "%s has mode %04o", path, (unsigned)rows[i].mode);
            assert_non_null(strstr(err, want));
            assert_non_null(strstr(err, "chmod 600"));
            assert_null(strstr(err, "sekrit"));
        }
        unlink(path);
    }
}

static void test_sizes(void **state)
{
    (void)state;
    char buf[9], err[256]; /* at most 8 bytes */
    static const struct {
        const char *text;
        size_t len;
        const char *want; /* NULL: refused */
        const char *err_has;
    } rows[] = {
        {"12345678", 8, "12345678", NULL},
        {"12345678\n", 9, "12345678", NULL},
        {"12345678 \r\n\n\n\n\n\n", 15, "12345678", NULL},
        {"1234 \n", 6, "1234", NULL},
        {"123456789", 9, NULL, "at most 8 bytes"},
        {"12345678\nx", 10, NULL, "at most 8 bytes"},
        {"1234\0"
         "5678",
         9, NULL, "NUL byte"},
        {"", 0, "", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *path = make_file(rows[i].text, rows[i].len, 0600);
        err[0] = '\0';
        char *got = bn_secret_file_read(path, buf, sizeof(buf), err, sizeof(err));
        if (rows[i].want != NULL) {
            if (got == NULL) {
                fail_msg("row %zu refused: %s", i, err);
            }
            assert_string_equal(got, rows[i].want);
        } else {
            if (got != NULL) {
                fail_msg("row %zu accepted: [%s]", i, got);
            }
            assert_non_null(strstr(err, rows[i].err_has));
            assert_non_null(strstr(err, path));
        }
        unlink(path);
    }
    assert_null(bn_secret_file_read("/nonexistent/secret", buf, sizeof(buf), err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read /nonexistent/secret"));
    assert_null(bn_secret_file_read("/tmp", buf, sizeof(buf), err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
