#!/usr/bin/python3
"""A scripted WebSocket client for the integration tests (Debian's /usr/bin/python3 with
python3-websockets), talking to tests/support/ws_echo.py, usually through Sightglass.

  ws_client.py URL [--proxy HOST:PORT] [--cafile PEM] [--no-deflate] [--transcript FILE]

With --proxy it opens the tunnel itself (CONNECT on a raw socket: websockets 10 has no proxy
support), then runs TLS over it for wss:// (trusting --cafile) and hands the socket to
websockets. It sends, waiting for each echo: a text message, a binary one, a text message in
three fragments, a ping (answered by a pong), a 1000-byte text message, a 1 MiB binary
message, and finally a close with code 4001 and reason "done here". It checks every echo, and
writes to --transcript a JSON array of the messages as the proxy should log them
([{"type": "send"|"receive", "opcode", "data"}], data base64 unless the opcode is 1).
Prints "OK" and exits 0 when everything came back as sent.
"""
import argparse
import asyncio
import socket
import ssl
import struct
import sys
import urllib.parse

import websockets

from ws_transcript import entry, finish

TEXT = "hello, WebSocket ✓"
BINARY = bytes(range(256))
FRAGMENTS = ["frag", "ment", "ed ✓"]
PING = b"are you there"
MEDIUM = "m" * 1000
BIG = bytes((i * 7 + i // 256) % 256 for i in range(1 << 20))
CLOSE_CODE = 4001
CLOSE_REASON = "done here"


def connect_tunnel(proxy, host, port):
    proxy_host, _, proxy_port = proxy.rpartition(":")
    sock = socket.create_connection((proxy_host, int(proxy_port)), timeout=30)
    authority = "%s:%d" % (host, port)
    sock.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise RuntimeError("the proxy closed the connection during CONNECT")
        head += byte
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise RuntimeError("CONNECT refused: %r" % status)
    sock.settimeout(None)
    return sock


async def run(args):
    url = urllib.parse.urlsplit(args.url)
    secure = url.scheme == "wss"
    port = url.port or (443 if secure else 80)
    kwargs = {}
    context = None
    if secure:
        context = ssl.create_default_context(cafile=args.cafile)
        kwargs["ssl"] = context
    if args.proxy:
        kwargs["sock"] = connect_tunnel(args.proxy, url.hostname, port)
        if secure:
            kwargs["server_hostname"] = url.hostname
    transcript = []
    failures = []

    def check(what, got, want):
        if got != want:
            shown = repr(got)[:80]
            failures.append("%s: got %s (%d), want %d long" % (what, shown, len(got), len(want)))

    async with websockets.connect(
        args.url,
        compression=None if args.no_deflate else "deflate",
        max_size=None,
        ping_interval=None,
        open_timeout=30,
        close_timeout=30,
        **kwargs,
    ) as ws:
        extensions = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        if args.no_deflate == ("permessage-deflate" in extensions):
            failures.append("unexpected extensions: %r" % extensions)

        for name, message, opcode in (("text", TEXT, 1), ("binary", BINARY, 2)):
            await ws.send(message)
            transcript.append(entry("send", opcode, message))
            echo = await ws.recv()
            transcript.append(entry("receive", opcode, echo))
            check(name, echo, message)

        await ws.send(FRAGMENTS)  # One message in three frames.
        whole = "".join(FRAGMENTS)
        transcript.append(entry("send", 1, whole))
        echo = await ws.recv()
        transcript.append(entry("receive", 1, echo))
        check("fragmented", echo, whole)

        pong = await ws.ping(PING)
        transcript.append(entry("send", 9, PING))
        await asyncio.wait_for(pong, 30)
        transcript.append(entry("receive", 10, PING))

        for name, message, opcode in (("medium", MEDIUM, 1), ("big", BIG, 2)):
            await ws.send(message)
            transcript.append(entry("send", opcode, message))
            echo = await ws.recv()
            transcript.append(entry("receive", opcode, echo))
            check(name, echo, message)

        await ws.close(CLOSE_CODE, CLOSE_REASON)
        payload = struct.pack("!H", CLOSE_CODE) + CLOSE_REASON.encode()
        transcript.append(entry("send", 8, payload))
        transcript.append(entry("receive", 8, payload))
        if ws.close_code != CLOSE_CODE or ws.close_reason != CLOSE_REASON:
            failures.append("close echoed as %r %r" % (ws.close_code, ws.close_reason))

    return finish(args.transcript, transcript, failures)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--proxy")
    parser.add_argument("--cafile")
    parser.add_argument("--no-deflate", action="store_true")
    parser.add_argument("--transcript")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
