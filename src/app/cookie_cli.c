/* See cookie_cli.h. */
#include "app/cookie_cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
            fprintf(stderr,
                    "bennu: wrote a new cluster cookie to %s (mode 0600); start every "
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

static bool is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* One list entry, n bytes, surrounding blanks already removed. */
static bool origin_entry_valid(const char *s, size_t n)
{
    /* "scheme:" (a letter, then letters, digits, + - .) or nothing, then "//". */
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] != '/') {
        bool alpha = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z');
        if (!(i == 0 ? alpha : is_scheme_char(s[i]))) {
            return false;
        }
        i++;
    }
    if (i < n && s[i] == ':') {
        if (i == 0) {
            return false;
        }
        i++;
    } else if (i != 0) {
        return false;
    }
    if (n - i < 3 || s[i] != '/' || s[i + 1] != '/') {
        return false;
    }
    const char *h = s + i + 2;
    size_t hn = n - i - 2;
    if (hn > 0 && h[hn - 1] == '/') {
        hn--;
    }
    size_t host_end;
    if (hn > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', hn);
        if (close == NULL || close == h + 1) {
            return false;
        }
        char addr[64];
        size_t an = (size_t)(close - h - 1);
        struct in6_addr a6;
        if (an >= sizeof(addr)) {
            return false;
        }
        memcpy(addr, h + 1, an);
        addr[an] = '\0';
        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            return false;
        }
        host_end = (size_t)(close - h) + 1;
    } else {
        size_t k = 0;
        if (hn >= 2 && h[0] == '*' && h[1] == '.') {
            k = 2;
        }
        size_t start = k;
        while (k < hn && is_host_char(h[k])) {
            k++;
        }
        if (k == start || h[start] == '.' || h[start] == '-') {
            return false;
        }
        host_end = k;
    }
    if (host_end == hn) {
        return true;
    }
    if (h[host_end] != ':' || host_end + 1 == hn || hn - host_end - 1 > 5) {
        return false;
    }
    long port = 0;
    for (size_t k = host_end + 1; k < hn; k++) {
        if (h[k] < '0' || h[k] > '9') {
            return false;
        }
        port = port * 10 + (h[k] - '0');
    }
    return port >= 1 && port <= 65535;
}

bool bn_app_check_origin_valid(const char *mode)
{
    if (strcmp(mode, "off") == 0 || strcmp(mode, "conn") == 0 || strcmp(mode, "host") == 0) {
        return true;
    }
    const char *p = mode;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *e = p;
        while (n > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            n--;
        }
        while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t')) {
            n--;
        }
        if (n == 0 || !origin_entry_valid(e, n)) {
            return false;
        }
        if (comma == NULL) {
            return true;
        }
        p = comma + 1;
    }
}

int bn_app_resolve_bind(const char *host, char *out, size_t out_len, char *err, size_t err_len)
{
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
        if (strlen(host) >= out_len) {
            snprintf(err, err_len, "address too long");
            return -1;
        }
        strcpy(out, host);
        return 0;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (ai->ai_family == AF_INET6 && pick == NULL) {
            pick = ai;
        }
    }
    const char *ok = NULL;
    if (pick != NULL && pick->ai_family == AF_INET) {
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)pick->ai_addr)->sin_addr, out,
                       (socklen_t)out_len);
    } else if (pick != NULL) {
        ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, out,
                       (socklen_t)out_len);
    }
    freeaddrinfo(res);
    if (ok == NULL) {
        snprintf(err, err_len, "'%s' has no IPv4 or IPv6 address", host);
        return -1;
    }
    return 0;
}

bool bn_app_cidr_list_valid(const char *s)
{
    if (s[0] == '\0') {
        return false;
    }
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        char item[64];
        if (len == 0 || len >= sizeof(item)) {
            return false;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (!bn_app_cidr_valid(item)) {
            return false;
        }
        s += len;
        if (*s == ',') {
            s++;
            if (*s == '\0') {
                return false;
            }
        }
    }
    return true;
}
