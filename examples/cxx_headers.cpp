// Every public header compiles as C++ (g++ -Wall -Wextra -Werror) and every
// public function links with C linkage: a declaration outside extern "C"
// would be looked for under a mangled name and fail to link. Built and run
// against the installed package by examples/run-smoke.sh.
#include <bennu/admin.h>
#include <bennu/bennu.h>
#include <bennu/cluster.h>
#include <bennu/channel.h>
#include <bennu/config_table.h>
#include <bennu/err.h>
#include <bennu/export.h>
#include <bennu/log.h>
#include <bennu/mesh.h>
#include <bennu/ops.h>
#include <bennu/payload.h>
#include <bennu/presence.h>
#include <bennu/pubsub.h>
#include <bennu/secret.h>
#include <bennu/token.h>
#include <bennu/version.h>

#include <cstdio>
#include <cstring>

namespace
{

typedef void (*any_fn)();

template <typename F> any_fn fn(F f)
{
    return reinterpret_cast<any_fn>(f);
}

// Each public function, by address.
const any_fn public_api[] = {
    // bennu.h
    fn(bn_config_defaults),
    fn(bn_server_new),
    fn(bn_server_route),
    fn(bn_server_on_connect),
    fn(bn_server_set_adapter),
    fn(bn_server_add_static),
    fn(bn_server_start),
    fn(bn_server_port),
    fn(bn_server_broadcast),
    fn(bn_server_deliver_remote),
    fn(bn_server_subscriber_count),
    fn(bn_server_stop),
    fn(bn_server_stats_json),
    fn(bn_config_validate),
    fn(bn_config_fields),
    fn(bn_config_field),
    fn(bn_config_get),
    fn(bn_config_set),
    // channel.h
    fn(bn_stop_reason_name),
    fn(bn_reply_set),
    fn(bn_reply_set_binary),
    fn(bn_channel_topic),
    fn(bn_channel_socket),
    fn(bn_channel_route_data),
    fn(bn_channel_set_data),
    fn(bn_channel_data),
    fn(bn_channel_push),
    fn(bn_channel_broadcast),
    fn(bn_channel_broadcast_from),
    fn(bn_socket_assign),
    fn(bn_socket_assigns_get),
    fn(bn_socket_params),
    fn(bn_socket_transport),
    fn(bn_channel_finish),
    fn(bn_channel_alive),
    // mesh.h
    fn(bn_mesh_new),
    fn(bn_mesh_start),
    fn(bn_mesh_port),
    fn(bn_mesh_group_join),
    fn(bn_mesh_group_leave),
    fn(bn_mesh_send_broadcast),
    fn(bn_mesh_group_peers),
    fn(bn_mesh_set_callbacks),
    fn(bn_mesh_info),
    fn(bn_mesh_members),
    fn(bn_mesh_groups),
    fn(bn_mesh_has_group),
    fn(bn_mesh_close_counts),
    fn(bn_mesh_forget),
    fn(bn_mesh_set_responder),
    fn(bn_mesh_request),
    fn(bn_mesh_up_count),
    fn(bn_mesh_name),
    fn(bn_mesh_incarnation),
    fn(bn_mesh_close),
    // admin.h, cluster.h
    fn(bn_admin_attach),
    fn(bn_admin_members_json),
    fn(bn_admin_groups_json),
    fn(bn_admin_request),
    fn(bn_server_attach_mesh),
    fn(bn_server_admin_stats_hook),
    fn(bn_cluster_broadcast),
    // presence.h
    fn(bn_presence_track),
    fn(bn_presence_untrack),
    fn(bn_presence_update),
    fn(bn_presence_push_state),
    fn(bn_presence_list),
    fn(bn_presence_member_count),
    fn(bn_presence_on_event),
    fn(bn_presence_attach_mesh),
    fn(bn_presence_peer_up),
    fn(bn_presence_peer_down),
    fn(bn_presence_node_message),
    fn(bn_presence_admin_json),
    fn(bn_mesh_send),
    fn(bn_mesh_worker_name),
    // ops.h
    fn(bn_server_enable_ops),
    fn(bn_server_close_expired),
    fn(bn_socket_id),
    fn(bn_socket_set_id),
    fn(bn_socket_set_expiry),
    fn(bn_metrics_family),
    fn(bn_metrics_u64),
    fn(bn_metrics_double),
    // token.h, secret.h, log.h
    fn(bn_token_result_name),
    fn(bn_token_key_derive),
    fn(bn_token_sign),
    fn(bn_token_verify),
    fn(bn_token_now_ms),
    fn(bn_token_expires_at_ms),
    fn(bn_secret_file_read),
    fn(bn_log_set_level),
    fn(bn_log_set_sink),
    fn(bn_log_level_parse),
    fn(bn_log_level_name),
    fn(bn_log_write),
    fn(bn_log_value_n),
    fn(bn_log_value),
    // err.h, version.h
    fn(bn_strerror),
    fn(bn_err_name),
    fn(bn_version),
    fn(bn_version_string),
};

bn_chan_result_t join(bn_channel_t *, const bn_payload_t *, bn_reply_t *)
{
    return BN_CHAN_OK;
}

} // namespace

int main()
{
    for (size_t i = 0; i < sizeof(public_api) / sizeof(public_api[0]); i++) {
        if (public_api[i] == nullptr) {
            return 1;
        }
    }
    bn_channel_type_t type;
    std::memset(&type, 0, sizeof(type));
    type.name = "Cxx";
    type.join = join;
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    json_t *j = json_object();
    bn_payload_t p = bn_payload_json(j);
    json_decref(p.json);
    if (bn_version() != static_cast<unsigned>(BN_VERSION_HEX) ||
        std::strcmp(bn_version_string(), BN_VERSION_STRING) != 0) {
        std::fprintf(stderr, "headers %s, library %s\n", BN_VERSION_STRING, bn_version_string());
        return 1;
    }
    if (std::strcmp(bn_err_name(BN_ECOOKIE), "BN_ECOOKIE") != 0 ||
        std::strcmp(bn_err_name(UV_EADDRINUSE), "EADDRINUSE") != 0) {
        return 1;
    }
    std::printf("cxx_headers: %zu public functions linked, bennu %s, port %d default\n",
                sizeof(public_api) / sizeof(public_api[0]), bn_version_string(), cfg.port);
    return 0;
}
