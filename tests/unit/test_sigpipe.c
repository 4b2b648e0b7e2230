/* SIGPIPE and the library: after bn_server_start or bn_mesh_start a write
 * to a peer that has gone (the reset-mid-write case) is an EPIPE error, not
 * the death of the embedding process; an embedder's own SIGPIPE handler is
 * left alone. Each case runs in a child process, because the disposition
 * and the library's once-per-process guard are process-wide. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "bennu/bennu.h"
#include "bennu/mesh.h"
#include "bennu/log.h"
#include "core/sigpipe.h"

/* Child exit codes: 0 = as expected, others name the step that failed. */
enum { OK = 0, SETUP = 10, NOT_IGNORED = 11, WRITE_NOT_EPIPE = 12, HANDLER_REPLACED = 13 };

static sighandler_t current_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) != 0) {
        return SIG_ERR;
    }
    return sa.sa_handler;
}

/* Writes to a socket whose peer has closed: SIGPIPE unless ignored. */
static int write_to_gone_peer(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        return SETUP;
    }
    close(sv[1]);
    ssize_t n = write(sv[0], "x", 1);
    int err = errno;
    close(sv[0]);
    return n < 0 && err == EPIPE ? OK : WRITE_NOT_EPIPE;
}

static int start_server(uv_loop_t *loop)
{
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.port = 0;
    bn_server_t *srv = bn_server_new(loop, &cfg);
    if (srv == NULL || bn_server_start(srv) != 0) {
        return SETUP;
    }
    return OK;
}

static int start_mesh(uv_loop_t *loop)
{
    bn_mesh_config_t mc;
    memset(&mc, 0, sizeof(mc));
    mc.name = "sigpipe@127.0.0.1";
    mc.port = 0;
    mc.cookie = "sigpipe-test-cookie-0123456789";
    bn_mesh_callbacks_t cb;
    memset(&cb, 0, sizeof(cb));
    bn_mesh_t *m = NULL;
    if (bn_mesh_new(loop, &mc, &cb, NULL, &m) != 0 || bn_mesh_start(m) != 0) {
        return SETUP;
    }
    return OK;
}

static int child_server(void)
{
    signal(SIGPIPE, SIG_DFL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = start_server(&loop);
    if (rc != OK) {
        return rc;
    }
    if (current_sigpipe() != SIG_IGN) {
        return NOT_IGNORED;
    }
    return write_to_gone_peer();
}

static int child_mesh(void)
{
    signal(SIGPIPE, SIG_DFL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = start_mesh(&loop);
    if (rc != OK) {
        return rc;
    }
    if (current_sigpipe() != SIG_IGN) {
        return NOT_IGNORED;
    }
    return write_to_gone_peer();
}

static volatile sig_atomic_t handled;

static void embedder_handler(int sig)
{
    (void)sig;
    handled = 1;
}

static int child_embedder_handler(void)
{
    signal(SIGPIPE, embedder_handler);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = start_server(&loop);
    if (rc == OK) {
        rc = start_mesh(&loop);
    }
    if (rc != OK) {
        return rc;
    }
    bn_sigpipe_ignore();
    if (current_sigpipe() != embedder_handler) {
        return HANDLER_REPLACED;
    }
    rc = write_to_gone_peer();
    return rc == OK && handled ? OK : HANDLER_REPLACED;
}

/* Runs fn in a child; asserts it exited normally with OK (a SIGPIPE death
 * shows as a signal). */
static void run_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(fn());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        fail_msg("child killed by signal %d", WTERMSIG(status));
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), OK);
}

static void test_server_start_ignores_sigpipe(void **state)
{
    (void)state;
    run_child(child_server);
}

static void test_mesh_start_ignores_sigpipe(void **state)
{
    (void)state;
    run_child(child_mesh);
}

static void test_embedder_handler_kept(void **state)
{
    (void)state;
    run_child(child_embedder_handler);
}

/* The control: without the library, the same write kills the process. */
static int child_control(void)
{
    signal(SIGPIPE, SIG_DFL);
    return write_to_gone_peer();
}

static void test_control_default_kills(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_control());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGPIPE);
}

int main(void)
{
    bn_log_level = BN_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_default_kills),
        cmocka_unit_test(test_server_start_ignores_sigpipe),
        cmocka_unit_test(test_mesh_start_ignores_sigpipe),
        cmocka_unit_test(test_embedder_handler_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
