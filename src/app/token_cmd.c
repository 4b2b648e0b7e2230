/* `bennu token mint|verify`: the shared command line in
 * src/channel/token_cli.c, named for this binary. */
#include "app/token_cmd.h"

int64_t bn_app_now_ms(void)
{
    return bn_token_cli_now_ms();
}

json_t *bn_app_user_id_json(const char *id)
{
    return bn_token_cli_user_id(id);
}

int bn_app_token_main(int argc, char **argv)
{
    return bn_token_cli_main("bennu token", argc, argv);
}
