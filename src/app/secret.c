#include "app/secret.h"

#include "channel/token_cli.h"

int bn_app_secret_resolve(const char *flag_value, const char *file, bool dev, const char **out)
{
    return bn_token_secret_resolve("bennu", flag_value, file, dev, out);
}
