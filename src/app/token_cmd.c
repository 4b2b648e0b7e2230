/* `bennu token mint|verify`: Phoenix.Token-compatible user tokens from the
 * command line, with the same secret sources and salt as the server. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/secret.h"
#include "app/token_cmd.h"
#include "channel/token.h"

static void token_usage(FILE *out)
{
    fprintf(out,
            "usage: bennu token mint --user ID [--max-age SECONDS] [secret options]\n"
            "       bennu token verify TOKEN [--max-age SECONDS] [secret options]\n"
            "\n"
            "Mints or verifies a Phoenix.Token (salt \"" BN_USER_TOKEN_SALT "\") exactly as a\n"
            "Phoenix application would. A numeric ID is signed as an integer, anything\n"
            "else as a string. mint prints the token; verify prints the user id and exits\n"
            "0, or prints missing/invalid/expired and exits 1.\n"
            "\n"
            "  --user ID                   the user id to sign (mint)\n"
            "  --max-age SECONDS           mint: embedded max age (default 1209600);\n"
            "                              verify: override the embedded one\n"
            "  --secret-key-base KEY       the secret (else --secret-key-base-file, else\n"
            "  --secret-key-base-file F    the SECRET_KEY_BASE environment variable)\n"
            "  --dev                       use the built-in development secret\n");
}

int64_t bn_app_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *bn_app_user_id_json(const char *id)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (*id != '\0' && errno == 0 && end != NULL && *end == '\0' && (id[0] != '0' || id[1] == '\0')) {
        return json_integer(v);
    }
    return json_string(id);
}

int bn_app_token_main(int argc, char **argv)
{
    if (argc < 2) {
        token_usage(stderr);
        return 2;
    }
    const char *action = argv[1];
    if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0) {
        token_usage(stdout);
        return 0;
    }
    bool mint = strcmp(action, "mint") == 0;
    if (!mint && strcmp(action, "verify") != 0) {
        fprintf(stderr, "bennu token: unknown action '%s' (mint or verify)\n", action);
        return 2;
    }
    enum { OPT_USER = 256, OPT_MAX_AGE, OPT_SECRET, OPT_SECRET_FILE, OPT_DEV, OPT_HELP };
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"secret-key-base", required_argument, NULL, OPT_SECRET},
        {"secret-key-base-file", required_argument, NULL, OPT_SECRET_FILE},
        {"dev", no_argument, NULL, OPT_DEV},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *secret_flag = NULL, *secret_file = NULL;
    long long max_age = -1;
    bool dev = false;
    int opt;
    optind = 2;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_USER:
            user = optarg;
            break;
        case OPT_MAX_AGE: {
            char *end = NULL;
            max_age = strtoll(optarg, &end, 10);
            if (end == optarg || *end != '\0' || max_age < 0) {
                fprintf(stderr, "bennu token: invalid --max-age '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case OPT_SECRET:
            secret_flag = optarg;
            break;
        case OPT_SECRET_FILE:
            secret_file = optarg;
            break;
        case OPT_DEV:
            dev = true;
            break;
        case OPT_HELP:
            token_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "bennu token: unknown or incomplete option %s\n", argv[optind - 1]);
            return 2;
        }
    }
    const char *secret = NULL;
    if (bn_app_secret_resolve(secret_flag, secret_file, dev, &secret) != 0) {
        return 2;
    }
    if (secret == NULL) {
        fprintf(stderr, "bennu token: no secret: pass --secret-key-base or set SECRET_KEY_BASE\n");
        return 2;
    }
    bn_token_key_t key;
    bn_token_key_derive(&key, secret, strlen(secret), BN_USER_TOKEN_SALT,
                        strlen(BN_USER_TOKEN_SALT));
    if (mint) {
        if (user == NULL || optind != argc) {
            fprintf(stderr, "bennu token mint: --user ID is required\n");
            return 2;
        }
        json_t *data = bn_app_user_id_json(user);
        char *token = bn_token_sign(&key, data, bn_app_now_ms(),
                                    max_age >= 0 ? max_age : BN_USER_TOKEN_MAX_AGE);
        json_decref(data);
        if (token == NULL) {
            fprintf(stderr, "bennu token mint: cannot sign\n");
            return 1;
        }
        printf("%s\n", token);
        free(token);
        return 0;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "bennu token verify: exactly one TOKEN expected\n");
        return 2;
    }
    json_t *data = NULL;
    bn_token_result_t r = bn_token_verify(&key, argv[optind], max_age, bn_app_now_ms(), &data);
    if (r != BN_TOKEN_OK) {
        printf("%s\n", bn_token_result_name(r));
        return 1;
    }
    char *text = json_dumps(data, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("%s\n", text ? text : "?");
    free(text);
    json_decref(data);
    return 0;
}
