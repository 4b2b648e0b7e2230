#ifndef BN_APP_TOKEN_CMD_H
#define BN_APP_TOKEN_CMD_H

#include <jansson.h>
#include <stdint.h>

/* BN_USER_TOKEN_SALT and BN_USER_TOKEN_MAX_AGE live with the shared code. */
#include "channel/token_cli.h"

int bn_app_token_main(int argc, char **argv);
int64_t bn_app_now_ms(void);
/* "42" -> 42, anything else -> "string". */
json_t *bn_app_user_id_json(const char *id);

#endif
