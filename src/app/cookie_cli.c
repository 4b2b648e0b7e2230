/* See cookie_cli.h. */
#include "app/cookie_cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COOKIE_RANDOM_BYTES 32

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: bennu cookie new [FILE]\n"
                 "  Makes a random cluster cookie (256 bits, base64url). Without FILE it is\n"
                 "  printed; with FILE it is written to a new file of mode 0600 (an existing\n"
                 "  file is never overwritten) for --cookie-file.\n");
    return code;
}

static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bennu: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int rc = close(fd);
    if (n != (ssize_t)len || rc != 0) {
        fprintf(stderr, "bennu: cannot write %s\n", path);
        unlink(path);
        return 1;
    }
    return 0;
}

int bn_app_cookie_cli(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        return usage(stdout, 0);
    }
    if (argc < 2 || argc > 3 || strcmp(argv[1], "new") != 0) {
        return usage(stderr, 2);
    }
    if (sodium_init() < 0) {
        return 1;
    }
    unsigned char raw[COOKIE_RANDOM_BYTES];
    randombytes_buf(raw, sizeof(raw));
    char text[sodium_base64_ENCODED_LEN(COOKIE_RANDOM_BYTES,
                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
              1];
    sodium_bin2base64(text, sizeof(text) - 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    int rc = 0;
    if (argc == 3) {
        size_t len = strlen(text);
        text[len] = '\n';
        text[len + 1] = '\0';
        rc = write_new_file(argv[2], text);
        if (rc == 0) {
            fprintf(stderr, "bennu: wrote a new cluster cookie to %s (mode 0600); start every "
                            "node with --cookie-file %s\n",
                    argv[2], argv[2]);
        }
    } else {
        printf("%s\n", text);
    }
    sodium_memzero(text, sizeof(text));
    return rc;
}

bool bn_app_is_loopback(const char *addr)
{
    if (strcmp(addr, "localhost") == 0) {
        return true;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
    }
    return false;
}

bool bn_app_cidr_valid(const char *s)
{
    char buf[64];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len + 1);
    long max_bits = 0;
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    unsigned char tmp[16];
    if (inet_pton(AF_INET, buf, tmp) == 1) {
        max_bits = 32;
    } else if (inet_pton(AF_INET6, buf, tmp) == 1) {
        max_bits = 128;
    } else {
        return false;
    }
    if (slash == NULL) {
        return true;
    }
    char *end = NULL;
    errno = 0;
    long bits = strtol(slash + 1, &end, 10);
    return errno == 0 && end != slash + 1 && *end == '\0' && bits >= 0 && bits <= max_bits;
}
