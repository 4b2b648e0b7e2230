/* The bn_config_t table: every field's default and accepted range, once.
 * It generates bn_config_defaults, bn_config_validate and the
 * bn_config_field descriptors (src/channel/config.c); the bennu binary's
 * flags take their defaults and ranges from it (src/app/options.h). */
#ifndef BENNU_CONFIG_TABLE_H
#define BENNU_CONFIG_TABLE_H

/* X(field, type, default, min, max): the numeric fields. */
#define BN_CONFIG_NUMBERS(X)                                      \
    X(port, int, 4000, 0, 65535)                                  \
    X(max_frame_size, size_t, 1048576, 125, 268435456)            \
    X(max_message_size, size_t, 1048576, 125, 268435456)          \
    X(idle_timeout_ms, unsigned, 60000, 100, 86400000)            \
    X(handshake_timeout_ms, unsigned, 10000, 100, 3600000)        \
    X(frame_timeout_ms, unsigned, 20000, 0, 3600000)              \
    X(max_queued_bytes, size_t, 4194304, 4096, 17179869184LL)     \
    X(max_connections, unsigned, 100000, 1, 10000000)             \
    X(reserved_fds, unsigned, 256, 0, 65536)                      \
    X(max_pending_per_ip, unsigned, 256, 0, 10000000)             \
    X(memory_budget, size_t, 268435456, 65536, 1099511627776LL)   \
    X(max_channels, unsigned, 100, 1, 100000)                     \
    X(max_topics, unsigned, 1000000, 1, 100000000)                \
    X(max_request_line, size_t, 8192, 64, 1048576)                \
    X(max_header_bytes, size_t, 16384, 256, 16777216)             \
    X(max_headers, unsigned, 100, 1, 10000)                       \
    X(max_body, size_t, 1048576, 1, 1073741824)                   \
    X(longpoll_window_ms, unsigned, 10000, 1, 600000)             \
    X(longpoll_session_timeout_ms, unsigned, 15000, 100, 3600000) \
    X(max_longpoll_sessions, unsigned, 10000, 1, 10000000)        \
    X(max_longpoll_buffered, unsigned, 1000, 1, 10000000)         \
    X(rate_limit, unsigned, 0, 0, 10000000)                       \
    X(rate_burst, unsigned, 0, 0, 10000000)                       \
    X(drain_ms, unsigned, 10000, 0, 3600000)                      \
    X(drain_batch, unsigned, 1000, 1, 10000000)                   \
    X(presence_diff_ms, unsigned, 50, 1, 100000000)               \
    X(presence_broadcast_ms, unsigned, 100, 1, 100000000)         \
    X(presence_max_per_topic, unsigned, 100000, 0, 100000000)     \
    X(presence_count_above, unsigned, 10000, 0, 100000000)

/* X(field, default): the string fields (NULL = unset). */
#define BN_CONFIG_STRINGS(X) \
    X(bind, "127.0.0.1")     \
    X(static_dir, NULL)      \
    X(check_origin, "conn")  \
    X(url_host, "localhost") \
    X(secret_key_base, NULL) \
    X(trust_forwarded, NULL)

#endif
