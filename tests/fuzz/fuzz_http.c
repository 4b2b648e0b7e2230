/* Fuzzes the whole network stack of a real server: the HTTP request parser
 * and its limits (src/transport/http/), the WebSocket upgrade and frame
 * handling (src/transport/ws/), LongPoll GET/POST/OPTIONS, origin checks,
 * query parsing and Phoenix message dispatch (src/channel/).
 *
 * Input: the raw bytes a client sends on one TCP connection. The harness
 * connects to the server (started once in LLVMFuzzerInitialize), writes the
 * input, runs the server until it falls idle (so responses and WebSocket
 * frames are really written and keep-alive requests follow each other),
 * half-closes, reads until the server closes or falls idle again, then
 * closes and waits until the server has freed the connection. Half-closing
 * at once would be faster but the server aborts on EOF, so its write path
 * would never run.
 *
 * Oracles: the sanitizers, plus: whatever the server sends first on a
 * connection that received at least one byte is an HTTP/1.1 status line,
 * and the server frees (or is gracefully closing, with its own deadline)
 * every connection once the client is gone. */
#include "fuzz_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    bn_config_t cfg = fz_config();
    fz_server_start(&cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fz_connect();
    fz_send_all(fd, data, size);
    char head[16];
    size_t got = fz_read_until_eof(fd, head, sizeof head, 1, 100);
    shutdown(fd, SHUT_WR);
    if (got == 0) {
        got = fz_read_until_eof(fd, head, sizeof head, 20, 400);
    } else {
        fz_read_until_eof(fd, NULL, 0, 20, 400);
    }
    if (got >= 9) {
        FUZZ_CHECK(memcmp(head, "HTTP/1.1 ", 9) == 0, "first response bytes are not a status line");
    }
    fz_close_and_drain(fd);
    FUZZ_CHECK(fz_open_conns() == 0, "server kept a connection after the client left");
    return 0;
}
