#ifndef BN_APP_STATIC_ASSETS_H
#define BN_APP_STATIC_ASSETS_H

#include "bennu/bennu.h"
#include "bennu/token.h"

/* Loads the demo page from dir (index.html, app.js, phoenix.js) into the
 * server. With demo_key, index.html's __USER_TOKEN__ placeholder becomes a
 * token for user "demo", as the Phoenix guide's layout injects
 * window.userToken; otherwise it becomes an empty string. */
void bn_app_static_load(bn_server_t *srv, const char *dir, const bn_token_key_t *demo_key);

#endif
