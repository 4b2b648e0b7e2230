#ifndef BN_APP_CHAT_CHANNEL_H
#define BN_APP_CHAT_CHANNEL_H

#include "bennu/bennu.h"

extern const bn_channel_type_t bn_chat_channel;

#endif
