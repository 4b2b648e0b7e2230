/* Where the secret_key_base comes from, for the server and `bennu token`:
 * --secret-key-base, --secret-key-base-file, or the SECRET_KEY_BASE
 * environment variable, in that order; the built-in value only with --dev.
 * The logic is bn_token_secret_resolve (channel/token_cli.h), shared with
 * bennuctl. */
#ifndef BN_APP_SECRET_H
#define BN_APP_SECRET_H

#include <stdbool.h>

/* BN_DEV_SECRET_KEY_BASE lives with the shared code in src/channel. */
#include "channel/token_cli.h"

/* Fills *out with the secret (static or malloc'd storage that lives until
 * exit; NULL when none is configured). Returns 0, or -1 after printing why
 * (unreadable file, shorter than 20 bytes). */
int bn_app_secret_resolve(const char *flag_value, const char *file, bool dev, const char **out);

#endif
