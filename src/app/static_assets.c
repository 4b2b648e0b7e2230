#include "app/static_assets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/token_cli.h"
#include "bennu/log.h"

/* Read once at start-up: the event loop never touches the disk. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 64 * 1024, n = 0;
    char *data = malloc(cap);
    while (data != NULL) {
        size_t r = fread(data + n, 1, cap - n, f);
        n += r;
        if (n < cap || cap >= 16 * 1024 * 1024) {
            break;
        }
        char *bigger = realloc(data, cap * 2);
        if (bigger == NULL) {
            free(data);
            data = NULL;
            break;
        }
        data = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return data;
}

static void add_index(bn_server_t *srv, const char *data, size_t len, const char *token)
{
    static const char marker[] = "__USER_TOKEN__";
    const char *at = memmem(data, len, marker, sizeof(marker) - 1);
    if (at == NULL) {
        bn_server_add_static(srv, "/index.html", data, len);
        return;
    }
    size_t tl = strlen(token);
    size_t before = (size_t)(at - data), after = len - before - (sizeof(marker) - 1);
    char *page = malloc(before + tl + after);
    if (page == NULL) {
        return;
    }
    memcpy(page, data, before);
    memcpy(page + before, token, tl);
    memcpy(page + before + tl, at + sizeof(marker) - 1, after);
    bn_server_add_static(srv, "/index.html", page, before + tl + after);
    free(page);
}

void bn_app_static_load(bn_server_t *srv, const char *dir, const bn_token_key_t *demo_key)
{
    static const char *const files[] = {"index.html", "app.js", "phoenix.js"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        size_t len = 0;
        char *data = slurp(path, &len);
        if (data == NULL) {
            BN_LOG(WARN, "static_missing", "file=%s", BN_LOG_VAL(path));
            continue;
        }
        if (i == 0) {
            char *token = NULL;
            if (demo_key != NULL) {
                json_t *user = json_string("demo");
                token = bn_token_sign(demo_key, user, bn_token_now_ms(), BN_USER_TOKEN_MAX_AGE);
                json_decref(user);
            }
            add_index(srv, data, len, token ? token : "");
            free(token);
        } else {
            char url[64];
            snprintf(url, sizeof(url), "/%s", files[i]);
            bn_server_add_static(srv, url, data, len);
        }
        free(data);
    }
}
