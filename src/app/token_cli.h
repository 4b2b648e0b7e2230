/* The `token mint|verify` command line shared by `bennu token` and
 * `bennuctl token`: Phoenix.Token-compatible user tokens with the same secret
 * sources and salt as the server, so a token minted by either tool verifies
 * on every node. An application component (it is not in libbennu): both
 * programs link the one object built from src/app/token_cli.c. */
#ifndef BN_APP_TOKEN_CLI_H
#define BN_APP_TOKEN_CLI_H

#include <jansson.h>
#include <stdbool.h>

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

/* "42" -> 42, anything else -> "string" (a new reference). */
json_t *bn_token_cli_user_id(const char *id);

/* The secret_key_base from --secret-key-base, --secret-key-base-file, or the
 * SECRET_KEY_BASE environment variable, in that order; the built-in value
 * only with dev. Fills *out (static storage that lives until exit; NULL when
 * none is configured). Returns 0, or -1 after printing "<err_prefix>: why"
 * (a file bn_secret_file_read refuses, a secret shorter than 20 bytes). */
int bn_token_secret_resolve(const char *err_prefix, const char *flag_value, const char *file,
                            bool dev, const char **out);

#endif
