#include "app/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_secret_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    return strdup(buf);
}

int bn_app_secret_resolve(const char *flag_value, const char *file, bool dev, const char **out)
{
    const char *secret = flag_value;
    if (secret == NULL && file != NULL) {
        secret = read_secret_file(file);
        if (secret == NULL) {
            fprintf(stderr, "bennu: cannot read --secret-key-base-file %s\n", file);
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
        fprintf(stderr, "bennu: the secret_key_base must be at least 20 bytes\n");
        return -1;
    }
    *out = secret;
    return 0;
}
