/* `token mint|verify` for both binaries (see token_cli.h), and where the
 * secret_key_base comes from. Built on the public API only; bennuctl links
 * the same object so both tools run the very same code. */
#include "token_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bennu/secret.h"
#include "bennu/token.h"

int bn_token_secret_resolve(const char *err_prefix, const char *flag_value, const char *file,
                            bool dev, const char **out)
{
    const char *secret = flag_value;
    if (secret == NULL && file != NULL) {
        /* The secret lives as long as the process: static storage, nothing
         * to free and nothing for LeakSanitizer to report. */
        static char file_secret[BN_SECRET_FILE_MAX + 1];
        char why[512];
        secret = bn_secret_file_read(file, file_secret, sizeof(file_secret), why, sizeof(why));
        if (secret == NULL) {
            fprintf(stderr, "%s: --secret-key-base-file: %s\n", err_prefix, why);
            return -1;
        }
    }
    if (secret == NULL) {
        secret = getenv("SECRET_KEY_BASE");
    }
    if (secret == NULL && dev) {
        secret = BN_DEV_SECRET_KEY_BASE;
    }
    if (secret != NULL && strlen(secret) < 20) {
        fprintf(stderr, "%s: the secret_key_base must be at least 20 bytes\n", err_prefix);
        return -1;
    }
    *out = secret;
    return 0;
}

static void token_usage(const char *prog, FILE *out)
{
    fprintf(out,
            "usage: %s mint --user ID [--max-age SECONDS] [secret options]\n"
            "       %s verify TOKEN [--max-age SECONDS] [secret options]\n"
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
            "  --dev                       use the built-in development secret\n",
            prog, prog);
}

json_t *bn_token_cli_user_id(const char *id)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (*id != '\0' && errno == 0 && end != NULL && *end == '\0' &&
        (id[0] != '0' || id[1] == '\0')) {
        return json_integer(v);
    }
    return json_string(id);
}

static bool takes_value(const char *arg)
{
    static const char *const with_value[] = {"--user", "--max-age", "--secret-key-base",
                                             "--secret-key-base-file"};
    for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++) {
        if (strcmp(arg, with_value[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int token_cli_run(const char *prog, int argc, char **argv);

int bn_token_cli_main(const char *prog, int argc, char **argv)
{
    /* Options may come before the action too (`token --dev mint`): the
     * first word that is neither an option nor an option's value is the
     * action, moved to argv[1]. */
    int k = 1;
    while (k < argc && argv[k][0] == '-' && argv[k][1] != '\0') {
        k += takes_value(argv[k]) && k + 1 < argc ? 2 : 1;
    }
    if (k <= 1 || k >= argc) {
        return token_cli_run(prog, argc, argv);
    }
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    args[0] = argv[0];
    args[1] = argv[k];
    int j = 2;
    for (int i = 1; i < argc; i++) {
        if (i != k) {
            args[j++] = argv[i];
        }
    }
    int rc = token_cli_run(prog, argc, args);
    free(args);
    return rc;
}

int bn_token_cli_dispatch(const char *prog, int argc, char **argv)
{
    int k = 1;
    while (k < argc && (strcmp(argv[k], "--dev") == 0 || takes_value(argv[k]) ||
                        strncmp(argv[k], "--secret-key-base", 17) == 0)) {
        k += takes_value(argv[k]) && k + 1 < argc ? 2 : 1;
    }
    if (k >= argc || strcmp(argv[k], "token") != 0) {
        return -1;
    }
    /* `bennu --dev token mint`: the options before the word go after it. */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    int j = 0;
    args[j++] = argv[k];
    for (int i = 1; i < argc; i++) {
        if (i != k) {
            args[j++] = argv[i];
        }
    }
    int rc = bn_token_cli_main(prog, j, args);
    free(args);
    return rc;
}

static int token_cli_run(const char *prog, int argc, char **argv)
{
    if (argc < 2) {
        token_usage(prog, stderr);
        return 2;
    }
    const char *action = argv[1];
    if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0) {
        token_usage(prog, stdout);
        return 0;
    }
    bool mint = strcmp(action, "mint") == 0;
    if (!mint && strcmp(action, "verify") != 0) {
        fprintf(stderr, "%s: unknown action '%s' (mint or verify)\n", prog, action);
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
                fprintf(stderr, "%s: invalid --max-age '%s'\n", prog, optarg);
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
            token_usage(prog, stdout);
            return 0;
        default:
            fprintf(stderr, "%s: unknown or incomplete option %s\n", prog, argv[optind - 1]);
            return 2;
        }
    }
    const char *secret = NULL;
    /* Secret errors name the program alone ("bennu: ..."), as the server's do. */
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%.*s", (int)strcspn(prog, " "), prog);
    if (bn_token_secret_resolve(prefix, secret_flag, secret_file, dev, &secret) != 0) {
        return 2;
    }
    if (secret == NULL) {
        fprintf(stderr, "%s: no secret: pass --secret-key-base or set SECRET_KEY_BASE\n", prog);
        return 2;
    }
    bn_token_key_t key;
    bn_token_key_derive(&key, secret, strlen(secret), BN_USER_TOKEN_SALT,
                        strlen(BN_USER_TOKEN_SALT));
    if (mint) {
        if (user == NULL || optind != argc) {
            fprintf(stderr, "%s mint: --user ID is required\n", prog);
            return 2;
        }
        json_t *data = bn_token_cli_user_id(user);
        char *token = bn_token_sign(&key, data, bn_token_now_ms(),
                                    max_age >= 0 ? max_age : BN_USER_TOKEN_MAX_AGE);
        json_decref(data);
        if (token == NULL) {
            fprintf(stderr, "%s mint: cannot sign\n", prog);
            return 1;
        }
        printf("%s\n", token);
        free(token);
        return 0;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s verify: exactly one TOKEN expected\n", prog);
        return 2;
    }
    json_t *data = NULL;
    bn_token_result_t r = bn_token_verify(&key, argv[optind], max_age, bn_token_now_ms(), &data);
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
