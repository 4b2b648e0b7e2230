/* Secret files (cookies, secret_key_base, API keys): one line, owner-only. */
#include "bennu/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool trailing_blank(char c)
{
    return c == '\n' || c == '\r' || c == ' ';
}

char *bn_secret_file_read(const char *path, char *buf, size_t cap, char *err, size_t err_len)
{
    if (cap < 2) {
        snprintf(err, err_len, "no room for a secret");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    /* The mode of what was opened, not of whatever the path names now. */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "%s is a directory", path);
        close(fd);
        return NULL;
    }
    if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
        snprintf(err, err_len,
                 "%s has mode %04o: group or others may read or write it; "
                 "run chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    /* The whole file must fit: bytes past cap - 1 are allowed only when they
     * are the trailing newline and blanks that are trimmed anyway. */
    size_t n = 0;
    bool too_big = false, has_nul = false;
    for (;;) {
        char chunk[512];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            sodium_memzero(chunk, sizeof(chunk));
            sodium_memzero(buf, cap);
            return NULL;
        }
        if (r == 0) {
            break;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] == '\0') {
                has_nul = true;
            }
            if (n < cap - 1) {
                buf[n++] = chunk[i];
            } else if (!trailing_blank(chunk[i])) {
                too_big = true;
            }
        }
        sodium_memzero(chunk, sizeof(chunk));
        if (too_big || has_nul) {
            break;
        }
    }
    close(fd);
    if (too_big || has_nul) {
        sodium_memzero(buf, cap);
        buf[0] = '\0';
        if (has_nul) {
            snprintf(err, err_len, "%s contains a NUL byte", path);
        } else {
            snprintf(err, err_len, "%s is too large: a secret file holds at most %zu bytes", path,
                     cap - 1);
        }
        return NULL;
    }
    buf[n] = '\0';
    while (n > 0 && trailing_blank(buf[n - 1])) {
        buf[--n] = '\0';
    }
    return buf;
}
