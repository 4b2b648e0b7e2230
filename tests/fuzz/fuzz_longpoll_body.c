/* Fuzzes LongPoll POST bodies (src/transport/longpoll/longpoll.c): ndjson batches of
 * text frames and base64 binary frames, dispatched to a live session.
 *
 * A session per serializer is created with a GET (its token taken from the
 * {"status":410,"token":...} answer). Byte 0 of the input picks the
 * serializer (bit 0: V1/V2) and the content type (bit 1: ndjson or a single
 * text frame); the rest is the POST body. Every 64 inputs a GET drains the
 * session's buffer; when the session has ended (a full buffer, a closed
 * socket) the POST answers 410 and a GET opens a new session whose token is
 * used from then on. Every 1000 inputs the harness
 * starts from fresh sessions so joined channels do not accumulate.
 *
 * Oracles: the sanitizers, plus: every POST and GET gets an HTTP 200 whose
 * body is a JSON object with an integer "status", and a GET always returns
 * a token. */
#include <stdio.h>

#include "fuzz_server.h"

static char fz_tokens[2][512];
static unsigned long fz_inputs;

/* Sends one keep-alive request (so the server frees the connection as soon
 * as we close it; see fz_close_and_drain), reads one response, and returns the JSON body of the
 * answer (a new reference), checking the envelope. */
static json_t *lp_request(const char *method, int vsn, const char *token, const char *ctype,
                          const uint8_t *body, size_t body_len)
{
    char head[1024];
    int n =
        snprintf(head, sizeof head,
                 "%s /socket/longpoll?vsn=%s HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%d\r\n"
                 "%s%s%s"
                 "%s%s%s"
                 "Content-Length: %zu\r\n\r\n",
                 method, vsn == 2 ? "2.0.0" : "1.0.0", fz_port,
                 token[0] ? "X-Phoenix-Longpoll-Token: " : "", token, token[0] ? "\r\n" : "",
                 ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", body_len);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof head, "request head");
    int fd = fz_connect();
    fz_send_all(fd, head, (size_t)n);
    if (body_len > 0) {
        fz_send_all(fd, body, body_len);
    }
    static char resp[1 << 16];
    size_t got = fz_read_response(fd, resp, sizeof resp, 50, 400, true);
    fz_close_and_drain(fd);
    if (got >= sizeof resp) {
        return json_object(); /* a huge GET answer: fine, not inspected */
    }
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "longpoll %s answer: %.200s\n", method, resp);
    }
    FUZZ_CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0, "LongPoll answer is not HTTP 200");
    const char *json = strstr(resp, "\r\n\r\n");
    FUZZ_CHECK(json != NULL, "LongPoll answer has no body");
    json_error_t err;
    json_t *j = json_loads(json + 4, 0, &err);
    FUZZ_CHECK(j != NULL && json_is_object(j), "LongPoll body is not a JSON object");
    FUZZ_CHECK(json_is_integer(json_object_get(j, "status")), "LongPoll body without status");
    return j;
}

/* GET: drains the session; adopts the token of a new session on 410. */
static void lp_poll(int vsn)
{
    char *tok = fz_tokens[vsn - 1];
    json_t *j = lp_request("GET", vsn, tok, NULL, NULL, 0);
    json_t *t = json_object_get(j, "token");
    json_int_t status = json_integer_value(json_object_get(j, "status"));
    if (status != 403) {
        FUZZ_CHECK(json_is_string(t), "LongPoll GET answer without token");
    }
    if (json_is_string(t)) {
        FUZZ_CHECK(strlen(json_string_value(t)) < sizeof fz_tokens[0], "token too long");
        strcpy(tok, json_string_value(t));
    }
    json_decref(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    bn_config_t cfg = fz_config();
    cfg.max_longpoll_buffered = 256;
    fz_server_start(&cfg);
    lp_poll(1);
    lp_poll(2);
    FUZZ_CHECK(fz_tokens[0][0] != '\0' && fz_tokens[1][0] != '\0', "no initial session");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (++fz_inputs % 1000 == 0) {
        fz_tokens[0][0] = '\0';
        fz_tokens[1][0] = '\0';
        lp_poll(1);
        lp_poll(2);
    }
    int vsn = (data[0] & 1) ? 2 : 1;
    const char *ctype = (data[0] & 2) ? "text/plain" : "application/x-ndjson";
    json_t *j = lp_request("POST", vsn, fz_tokens[vsn - 1], ctype, data + 1, size - 1);
    json_int_t status = json_integer_value(json_object_get(j, "status"));
    json_decref(j);
    /* 410: the session is gone, the GET opens a new one at once. Otherwise
     * a GET now and then drains the buffer; on an empty buffer it waits for
     * the server's LongPoll sweep (up to 100 ms), hence not every time. */
    if (status == 410 || fz_inputs % 64 == 0) {
        lp_poll(vsn);
    }
    return 0;
}
