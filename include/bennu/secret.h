/* Reading secrets (a cluster cookie, a secret_key_base, an API key) from
 * files, with the checks a production server owes its operator. */
#ifndef BENNU_SECRET_H
#define BENNU_SECRET_H

#include <stddef.h>

#include "bennu/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest secret file the bennu node reads (trailing newline and blanks
 * apart). */
#define BN_SECRET_FILE_MAX 4095

/* Reads a one-line secret from path into buf (cap bytes), trailing newlines
 * and spaces removed. Returns buf, or NULL with a one-line reason in err
 * (naming the file) when the file cannot be read, is readable or writable by
 * group or others (the reason gives the mode and suggests chmod 600), holds
 * more than cap - 1 bytes before its trailing blanks (never silently cut),
 * or contains a NUL byte. */
BN_EXTERN char *bn_secret_file_read(const char *path, char *buf, size_t cap, char *err,
                                    size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
