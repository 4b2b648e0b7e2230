/* The `token mint|verify` command line shared by `bennu token` and
 * `bennuctl token`: Phoenix.Token-compatible user tokens with the same secret
 * sources and salt as the server, so a token minted by either tool verifies
 * on every node. */
#ifndef BN_CHANNEL_TOKEN_CLI_H
#define BN_CHANNEL_TOKEN_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The salt and max age of the Phoenix guide's user socket tokens. */
#define BN_USER_TOKEN_SALT "user socket"
#define BN_USER_TOKEN_MAX_AGE 1209600

/* Clearly not a secret: used only when --dev is given. */
#define BN_DEV_SECRET_KEY_BASE "bennu-dev-mode-secret-key-base-do-not-use-in-production-0000"

/* Runs `PROG mint|verify ...`; argv[0] is the word before the action (e.g.
 * "token") and is skipped. prog names the command in usage and errors
 * ("bennu token", "bennuctl token"). Returns the exit code: 0 ok, 1 invalid
 * token or signing failure, 2 usage. */
int bn_token_cli_main(const char *prog, int argc, char **argv);
/* For a program's whole argv: when the first word after `--dev` and secret
 * options is "token" (`bennu --dev token mint ...`), runs the token command
 * with those options and returns its exit code; else -1 (not a token
 * command). */
int bn_token_cli_dispatch(const char *prog, int argc, char **argv);

/* Wall-clock milliseconds, the time base of Phoenix.Token. */
int64_t bn_token_cli_now_ms(void);

/* "42" -> 42, anything else -> "string" (a new reference). */
json_t *bn_token_cli_user_id(const char *id);

/* The largest --secret-key-base-file (trailing newline and blanks apart). */
#define BN_SECRET_KEY_BASE_FILE_MAX 4095

/* Reads a one-line secret (a cookie, a secret_key_base) from path into buf,
 * trailing newlines and spaces removed. Returns buf, or NULL with a
 * one-line reason in err (naming the file) when the file cannot be read, is
 * readable or writable by group or others (the reason gives the mode and
 * suggests chmod 600), holds more than cap - 1 bytes before its trailing
 * blanks (never silently cut), or contains a NUL byte. */
char *bn_secret_file_read(const char *path, char *buf, size_t cap, char *err, size_t err_len);

/* The secret_key_base from --secret-key-base, --secret-key-base-file, or the
 * SECRET_KEY_BASE environment variable, in that order; the built-in value
 * only with dev. Fills *out (static storage that lives until exit; NULL when none is configured). Returns 0, or -1 after printing
 * "<err_prefix>: why" (a file bn_secret_file_read refuses, a secret shorter
 * than 20 bytes). */
int bn_token_secret_resolve(const char *err_prefix, const char *flag_value, const char *file,
                            bool dev, const char **out);

#endif
