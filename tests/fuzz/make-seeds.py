#!/usr/bin/env python3
"""Writes the hand-made seed corpora under tests/fuzz/corpus/<fuzzer>/.

Run from anywhere; existing seed files are overwritten, others are left
alone. Each seed is a small, meaningful input for its harness (see the
header comment of fuzz_<name>.c for the input layout)."""
import base64, hashlib, hmac, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(fuzzer, name, data):
    d = os.path.join(HERE, "corpus", fuzzer)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def ws_frame(opcode, payload, fin=True, mask=b"\x11\x22\x33\x44", rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, 0x80 | n])
    elif n < 65536:
        hdr = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return hdr + mask + masked

# ---- ws_frame: byte 0 = split, rest = client bytes
join = '["1","1","room:lobby","phx_join",{}]'
put("ws_frame", "text", b"\x40" + ws_frame(1, join))
put("ws_frame", "fragmented", b"\x80" + ws_frame(1, "hel", fin=False) + ws_frame(9, "p") + ws_frame(0, "lo"))
put("ws_frame", "close", b"\x10" + ws_frame(8, struct.pack(">H", 1000) + b"bye"))
put("ws_frame", "binary16", b"\x20" + ws_frame(2, bytes(range(200))))
put("ws_frame", "ping_pong", b"\xff" + ws_frame(9, "x") + ws_frame(10, ""))
put("ws_frame", "unmasked", b"\x01\x81\x02hi")
put("ws_frame", "accept_key", b"\x00dGhlIHNhbXBsZSBub25jZQ==")
put("ws_frame", "utf8_split", b"\x03" + ws_frame(1, "h\u00e9\u20ac\U0001f600"))

# ---- text serializers
put("v2_json", "join", join)
put("v2_json", "heartbeat", '[null,"5","phoenix","heartbeat",{}]')
put("v2_json", "push", '["3","4","room:lobby","new_msg",{"body":"hi \\u00e9","n":[1,2.5,true,null]}]')
put("v2_json", "extra", '[1,2,"t","e","not an object",6]')
put("v2_json", "escapes", '["\\"","\\\\","a\\nb\\u0001","\\ud83d\\ude00",{"k":{}}]')
put("v1_json", "join", '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}')
put("v1_json", "join_ref", '{"topic":"room:lobby","event":"new_msg","payload":{"body":"x"},"ref":2,"join_ref":"1"}')
put("v1_json", "heartbeat", '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":null}')
put("v1_json", "missing", '{"topic":"t","event":"e","payload":[]}')

# ---- v2_binary: client push kind 0
put("v2_binary", "phoenix_js", bytes.fromhex("00010106023132726f6f6d3a317570dead"))
put("v2_binary", "nil_refs", b"\x00\x00\x00\x04\x02room" + b"ev" + b"\x00\x01\x02")
put("v2_binary", "empty_payload", b"\x00\x01\x01\x01\x01abcd")
put("v2_binary", "utf8", b"\x00\x01\x02\x05\x02" + b"1" + b"\xc3\xa9" + b"r:\xe2\x82\xac" + b"up" + b"payload")

# ---- ETF (term_to_binary output)
def etf_bin(s):
    return b"m" + struct.pack(">I", len(s)) + s
def etf_atom(s):
    return b"w" + bytes([len(s)]) + s
put("etf", "int", b"\x83a\x2a")
put("etf", "neg_int", b"\x83b\xff\xff\xff\xfe")
put("etf", "binary", b"\x83" + etf_bin(b"hello"))
put("etf", "map", b"\x83t\x00\x00\x00\x02" + etf_bin(b"id") + b"a\x07" + etf_atom(b"admin") + etf_atom(b"true"))
put("etf", "tuple_list", b"\x83h\x03" + etf_atom(b"nil") + b"l\x00\x00\x00\x02a\x01a\x02j" + b"k\x00\x03abc")
put("etf", "bigint", b"\x83n\x08\x01\x00\x00\x00\x00\x00\x00\x00\x80")
put("etf", "nil", b"\x83j")

# ---- token
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")
secret = b"fuzz-secret-key-base-0123456789abcdef"
salt = b"user socket"
key = hashlib.pbkdf2_hmac("sha256", secret, salt, 1000, 32)
def claims(data_term, signed_ms, max_age_s):
    return (b"\x83h\x03" + data_term + b"n\x06\x00" + signed_ms.to_bytes(6, "little")
            + b"b" + struct.pack(">i", max_age_s))
def token(payload, digest="sha256", header=b"SFMyNTY"):
    signed = header + b"." + b64u(payload)
    return signed + b"." + b64u(hmac.new(key, signed, digest).digest())
now = 1700000000000
c1 = claims(b"a\x7b", now - 1000, 86400)
put("token", "raw_valid", b"\x00" + token(c1))
put("token", "raw_sha512", b"\x00" + token(c1, "sha512", b"SFM1MTI"))
put("token", "raw_garbage", b"\x00SFMyNTY.g2gDYQFuBgA.AAAA")
# mode 1: byte 0 = 1 (sha256) / 5 (sha384); now_ms, max_age_s, claims
put("token", "claims_map", b"\x01" + struct.pack(">qq", now, -1)
    + claims(b"t\x00\x00\x00\x01" + etf_bin(b"user_id") + b"a\x05", now - 5, 60))
put("token", "claims_infinity", b"\x05" + struct.pack(">qq", now, -1)
    + b"\x83h\x03" + etf_bin(b"x") + b"a\x01" + etf_atom(b"infinity"))
put("token", "claims_legacy", b"\x01" + struct.pack(">qq", now, 10)
    + b"\x83t\x00\x00\x00\x02" + etf_atom(b"data") + b"a\x01" + etf_atom(b"signed") + b"a\x02")
put("token", "claims_pair", b"\x01" + struct.pack(">qq", now, 2**63 - 1)
    + b"\x83h\x02" + b"j" + b"b\x00\x00\x00\x05")
# mode 2: byte 0 = 2, body = base64 text of the claims
put("token", "b64_padded", b"\x02" + base64.urlsafe_b64encode(c1))

# ---- query
put("query", "vsn", "vsn=2.0.0")
put("query", "token", "token=SFMyNTY.abc&vsn=2.0.0&token=LP1")
put("query", "escapes", "a%20b=c+d&%E2%82%AC=%e2%82%ac&x")
put("query", "bad", "k=%zz&=v&&%41=%4")
put("query", "brackets", "user%5Bid%5D=7&user[name]=bob")

# ---- http (raw client bytes)
key_hdr = "dGhlIHNhbXBsZSBub25jZQ=="
upgrade = ("GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_hdr +
           "\r\nSec-WebSocket-Version: 13\r\n\r\n")
put("http", "health", "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
put("http", "index", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /index.html HTTP/1.0\r\n\r\n")
put("http", "ws_join", upgrade.encode() + ws_frame(1, join)
    + ws_frame(1, '["1","2","room:lobby","shout",{"body":"hi"}]')
    + ws_frame(1, '[null,"3","phoenix","heartbeat",{}]'))
put("http", "ws_v1_binary", upgrade.replace("vsn=2.0.0", "vsn=1.0.0").encode()
    + ws_frame(1, '{"topic":"room:a","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
    + ws_frame(2, bytes.fromhex("00010106023132726f6f6d3a317570dead"))
    + ws_frame(8, struct.pack(">H", 1000)))
put("http", "ws_v2_binary", upgrade.encode() + ws_frame(1, '["1","1","room:1","phx_join",{}]')
    + ws_frame(2, bytes.fromhex("00010106023132726f6f6d3a317570dead"))
    + ws_frame(1, '["1","3","room:1","crash",{}]'))
put("http", "longpoll_get", "GET /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
put("http", "longpoll_post", "POST /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: localhost\r\n"
    "Content-Type: application/x-ndjson\r\nX-Phoenix-Longpoll-Token: SFMyNTY.x.y\r\nContent-Length: 38\r\n\r\n"
    + join + "\n")
put("http", "options", "OPTIONS /socket/longpoll HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n"
    "Access-Control-Request-Headers: content-type\r\n\r\n")
put("http", "chunked", "POST /socket/longpoll HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n0\r\n\r\n")
put("http", "malformed", "GET /\x01 HTTP/9.9\r\nHost:\r\n: x\r\n\r\n")
put("http", "bad_origin", upgrade.replace("Host: 127.0.0.1:4000\r\n",
    "Host: 127.0.0.1:4000\r\nOrigin: http://evil.example\r\n").encode())

# ---- longpoll_body: byte 0 bit 0 = V2, bit 1 = text/plain
put("longpoll_body", "v2_ndjson", b"\x01" + (join + "\n" + '["1","2","room:lobby","push",{"a":1}]\n').encode())
put("longpoll_body", "v2_binary_b64", b"\x01" + (join + "\r\n").encode()
    + base64.b64encode(bytes.fromhex("00010106023132726f6f6d3a317570dead")) + b"\n")
put("longpoll_body", "v1_ndjson", b"\x00" + b'{"topic":"room:x","event":"phx_join","payload":{},"ref":"1"}\n'
    b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}')
put("longpoll_body", "v2_plain", b"\x03" + join.encode())
put("longpoll_body", "leave", b"\x01" + (join + "\n" + '["1","3","room:lobby","phx_leave",{}]\n').encode())
put("longpoll_body", "garbage", b"\x01not json\n[\n\n!!!\n")

# ---- mesh_frame: byte 0 = split, then length-prefixed Envelopes.
# Hand-encoded protobuf (see proto/mesh.proto for the field numbers).
def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(num, wt, payload):
    tag = varint((num << 3) | wt)
    if wt == 0:
        return tag + varint(payload)
    return tag + varint(len(payload)) + payload
def frame(env):
    return struct.pack(">I", len(env)) + env
put("mesh_frame", "version_only", b"\x00" + frame(field(1, 0, 2)))
V = field(1, 0, 2)  # protocol version 2
# The handshake: Hello and Challenge in plain text, then Identify, Refuse and
# Ready (sealed on a real link; plain here, the codec does not care).
keys = field(1, 2, bytes(range(32))) + field(2, 2, bytes(range(32, 64)))
ident = (field(1, 2, b"a@127.0.0.1") + field(2, 0, 1883680184175253837) + field(3, 0, 0)
         + field(4, 2, b"127.0.0.1") + field(5, 0, 4370))
put("mesh_frame", "handshake", b"\x20" + frame(V + field(10, 2, keys)) + frame(V + field(21, 2, keys))
    + frame(V + field(22, 2, ident)) + frame(V + field(24, 2, b"")))
put("mesh_frame", "refuse", b"\x08" + frame(V + field(23, 2, field(1, 0, 2)))
    + frame(V + field(23, 2, field(1, 0, 4))) + frame(V + field(23, 2, field(1, 0, 99))))
put("mesh_frame", "identify_hidden", b"\x00" + frame(V + field(22, 2, field(1, 2, b"bennuctl-1@h")
    + field(3, 0, 1) + field(5, 0, (1 << 64) - 1))))
tick = field(1, 0, 123456) + field(2, 0, 1) + field(3, 0, 5) + field(4, 0, 1) + field(5, 0, 2**63) + field(6, 0, 3)
put("mesh_frame", "tick", b"\x80" + frame(V + field(12, 2, tick)))
peer = field(1, 2, b"b@h") + field(2, 2, b"10.0.0.2") + field(3, 0, 4370) + field(4, 0, 9)
put("mesh_frame", "peer_list", b"\x40" + frame(V + field(13, 2, field(1, 2, peer) + field(1, 2, peer))))
put("mesh_frame", "groups", b"\xa0" + frame(V + field(14, 2, field(1, 2, b"room:lobby")))
    + frame(V + field(15, 2, field(1, 2, b"room:lobby")))
    + frame(V + field(16, 2, field(1, 0, 4) + field(2, 0, 1) + field(3, 0, 1) + field(4, 2, b"t1") + field(4, 2, b"t2")))
    + frame(V + field(17, 2, b"")))
put("mesh_frame", "broadcast", b"\x30" + frame(V + field(18, 2, field(1, 2, b"room:lobby") + field(2, 2, b"new_msg")
    + field(3, 0, 0) + field(4, 2, b'{"body":"hi"}')))
    + frame(V + field(18, 2, field(1, 2, b"r") + field(2, 2, b"bin") + field(3, 0, 1) + field(4, 2, b"\x00\xff"))))
put("mesh_frame", "admin", b"\x10" + frame(V + field(19, 2, field(1, 0, 1) + field(2, 2, b'{"op":"members"}')))
    + frame(V + field(20, 2, field(1, 0, 1) + field(2, 2, b'{"ok":true}'))))
# NodeMessage (25): service 1 (presence) with a delta body.
put("mesh_frame", "node_message", b"\x18" + frame(V + field(25, 2, field(1, 0, 1) + field(2, 2,
    b'{"v":1,"t":"d","inc":"7","seq":1,"base":0,"ops":[["+","room:lobby","k",{"phx_ref":"r"}]]}'))))
# Other versions: a version 1 peer's Hello and Auth (field 11, now reserved),
# a version 3 tick, no version at all.
hello_v1 = (field(1, 2, b"a@host") + field(2, 0, 7) + field(4, 2, bytes(32)) + field(5, 2, bytes(range(32)))
            + field(6, 2, b"127.0.0.1") + field(7, 0, 4370) + field(8, 0, 1))
put("mesh_frame", "bad_version", b"\x00" + frame(field(1, 0, 1) + field(10, 2, hello_v1))
    + frame(field(1, 0, 1) + field(11, 2, field(1, 2, bytes(32)))))
put("mesh_frame", "bad_version_3", b"\x00" + frame(field(1, 0, 3) + field(12, 2, b"")) + frame(field(12, 2, b"")))
put("mesh_frame", "unknown_type", b"\x00" + frame(V + field(99, 2, b"future")))
put("mesh_frame", "too_large", b"\x00" + struct.pack(">I", 1 << 20) + b"xxxx")

# ---- mesh_handshake: byte 0 = case (fuzz_mesh_handshake.c header)
# 0: a forged proof.
put("mesh_handshake", "proof", b"\x00" + bytes(range(80)))
# 1: transcript rewrites. Flags 0 (nothing rewritten) is the honest run.
put("mesh_handshake", "honest", b"\x01\x00\x80")
put("mesh_handshake", "hello_edit", b"\x01\x01\xff" + bytes([5, 0x01, 40, 0x80]))
put("mesh_handshake", "challenge_edit", b"\x01\x02\x00" + bytes([37, 0x40]))
put("mesh_handshake", "hello_grow", b"\x01\x01\xff" + bytes([0x83]))
put("mesh_handshake", "both_truncate", b"\x01\x03\x80" + bytes([0x21, 0x02]))
# Replaced by hand-made Hellos: an all-zero (low-order) key, a 31-byte key.
hs_v = field(1, 0, 2)
zero = hs_v + field(10, 2, field(1, 2, bytes(32)) + field(2, 2, bytes(32)))
short = hs_v + field(10, 2, field(1, 2, bytes(32)) + field(2, 2, bytes(range(31))))
put("mesh_handshake", "low_order_key", b"\x01\x05\xff" + zero)
put("mesh_handshake", "short_key", b"\x01\x05\xff" + short)
chal = hs_v + field(21, 2, field(1, 2, bytes(32)) + field(2, 2, bytes([9]) + bytes(31)))
put("mesh_handshake", "challenge_replaced", b"\x01\x06\x00" + chal)
# 2: stream actions (op = b % 8, arg = b / 8): forward, replay, flip,
# inject 4 bytes, drop, reorder, reflect.
put("mesh_handshake", "stream", b"\x02" + bytes([0, 1, 0, 2, 3 + 8 * 5, 0, 4 + 8 * 4]) + b"\xde\xad\xbe\xef"
    + bytes([5, 0, 6, 7, 2 + 8 * 3, 0]))
put("mesh_handshake", "stream_forward", b"\x02" + bytes(24))
# 3: round trip.
put("mesh_handshake", "roundtrip", b"\x03plaintext frame body")
put("mesh_handshake", "roundtrip_empty", b"\x03")
