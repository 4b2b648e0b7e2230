#ifndef BN_APP_TOKEN_CMD_H
#define BN_APP_TOKEN_CMD_H

#include <jansson.h>
#include <stdint.h>

/* The salt and max age of the Phoenix guide's user socket tokens. */
#define BN_USER_TOKEN_SALT "user socket"
#define BN_USER_TOKEN_MAX_AGE 1209600

int bn_app_token_main(int argc, char **argv);
int64_t bn_app_now_ms(void);
/* "42" -> 42, anything else -> "string". */
json_t *bn_app_user_id_json(const char *id);

#endif
