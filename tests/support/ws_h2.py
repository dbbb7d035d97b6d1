#!/usr/bin/python3
"""WebSocket over HTTP/2 (RFC 8441, extended CONNECT) for the integration tests: Debian's
/usr/bin/python3 with python3-h2 (4.1) and python3-wsproto, on blocking sockets.

  ws_h2.py server --cert PEM --key PEM
      A TLS server (ALPN h2) that advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts
      extended CONNECT with :protocol websocket on any path: it answers 200 (accepting
      permessage-deflate when offered) and echoes every message whole, answers pings, echoes
      the close frame and ends the stream. Other requests get 404. Prints "PORT <n>".

  ws_h2.py client URL --proxy HOST:PORT --cafile PEM [--no-deflate] [--transcript FILE]
      Opens a CONNECT tunnel through the proxy to URL's host (https://host:port/path), runs
      TLS with ALPN h2 over it (trusting --cafile), waits for the proxy to advertise
      SETTINGS_ENABLE_CONNECT_PROTOCOL, then opens the WebSocket with an extended CONNECT and
      sends, waiting for each echo: a text message, a binary one, a text message in three
      fragments, a ping (answered by a pong), a 1 MiB binary message, and a close with code
      4001 and reason "done here"; then it ends the stream and waits for the server to end
      its side. It checks every echo and writes to --transcript the messages as the proxy
      should log them ([{"type": "send"|"receive", "opcode", "data"}], data base64 unless the
      opcode is 1). Prints "OK" and exits 0 when everything came back as sent.
"""
import argparse
import socket
import socketserver
import ssl
import struct
import sys
import threading
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate

from ws_transcript import entry, finish

TEXT = "hello, h2 WebSocket ✓"
BINARY = bytes(range(256))
FRAGMENTS = ["frag", "ment", "ed ✓"]
PING = b"are you there"
BIG = bytes((i * 7 + i // 256) % 256 for i in range(1 << 20))
CLOSE_CODE = 4001
CLOSE_REASON = "done here"


class H2Stream:
    """One end of an HTTP/2 connection on a blocking socket: sends DATA within the flow
    control windows, and keeps reading (and acknowledging) while it waits."""

    def __init__(self, sock, client):
        self.sock = sock
        config = h2.config.H2Configuration(client_side=client, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.data = {}  # Stream id -> received bytes not yet taken.
        self.headers = {}  # Stream id -> the head received.
        self.ended = set()
        self.reset = set()
        self.requests = []  # Server side: (stream id, headers) not yet handled.
        self.closed = False
        self.flush()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def receive_once(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            raise ConnectionError("the peer closed the connection")
        for event in self.conn.receive_data(chunk):
            if isinstance(event, h2.events.RequestReceived):
                self.headers[event.stream_id] = dict(event.headers)
                self.requests.append(event.stream_id)
            elif isinstance(event, h2.events.ResponseReceived):
                self.headers[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.reset.add(event.stream_id)
                self.ended.add(event.stream_id)
        self.flush()

    def wait(self, condition):
        while not condition():
            self.receive_once()

    def send_data(self, stream_id, data, end_stream=False):
        view = memoryview(data)
        while view:
            window = min(
                self.conn.local_flow_control_window(stream_id),
                self.conn.max_outbound_frame_size,
            )
            if window <= 0:
                self.receive_once()
                continue
            self.conn.send_data(stream_id, bytes(view[:window]))
            view = view[window:]
            self.flush()
        if end_stream:
            self.conn.end_stream(stream_id)
            self.flush()

    def take(self, stream_id):
        data = bytes(self.data.get(stream_id, b""))
        self.data[stream_id] = bytearray()
        return data


def ws_events(h2s, stream_id, ws):
    """Feeds what arrived on the stream to wsproto and returns its events."""
    data = h2s.take(stream_id)
    if data:
        ws.receive_data(data)
    return list(ws.events())


# --- Server -----------------------------------------------------------------------------


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.server.context.wrap_socket(self.request, server_side=True)
        h2s = H2Stream(sock, client=False)
        h2s.conn.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        h2s.flush()
        sockets = {}  # Stream id -> (wsproto connection, partial message).
        try:
            while True:
                h2s.receive_once()
                for stream_id in h2s.requests:
                    headers = h2s.headers[stream_id]
                    if headers.get(":method") != "CONNECT" or headers.get(":protocol") != "websocket":
                        h2s.conn.send_headers(stream_id, [(":status", "404")], end_stream=True)
                        continue
                    extensions = []
                    response = [(":status", "200")]
                    offer = headers.get("sec-websocket-extensions", "")
                    if "permessage-deflate" in offer:
                        deflate = PerMessageDeflate()
                        accepted = deflate.accept(offer.split(",")[0])
                        if accepted is not None and accepted is not False:
                            params = "" if accepted is True else accepted
                            value = "permessage-deflate" + ("; " + params if params else "")
                            response.append(("sec-websocket-extensions", value))
                            extensions.append(deflate)
                    h2s.conn.send_headers(stream_id, response)
                    sockets[stream_id] = [Connection(ConnectionType.SERVER, extensions), None]
                h2s.requests.clear()
                h2s.flush()
                for stream_id, state in list(sockets.items()):
                    if stream_id in h2s.reset:
                        del sockets[stream_id]
                        continue
                    ws = state[0]
                    for event in ws_events(h2s, stream_id, ws):
                        if isinstance(event, Message):
                            state[1] = event.data if state[1] is None else state[1] + event.data
                            if event.message_finished:
                                h2s.send_data(
                                    stream_id, ws.send(type(event)(data=state[1]))
                                )
                                state[1] = None
                        elif isinstance(event, Ping):
                            h2s.send_data(stream_id, ws.send(event.response()))
                        elif isinstance(event, CloseConnection):
                            h2s.send_data(stream_id, ws.send(event.response()))
                    if stream_id in h2s.ended and stream_id not in h2s.reset:
                        # The client ended its side after the close handshake: so does the server.
                        h2s.conn.end_stream(stream_id)
                        h2s.flush()
                        del sockets[stream_id]
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["h2"])
    server = Server((args.host, args.port), Handler)
    server.context = context
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# --- Client -----------------------------------------------------------------------------


def connect_tunnel(proxy, host, port):
    proxy_host, _, proxy_port = proxy.rpartition(":")
    sock = socket.create_connection((proxy_host, int(proxy_port)), timeout=60)
    authority = "%s:%d" % (host, port)
    sock.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise RuntimeError("the proxy closed the connection during CONNECT")
        head += byte
    if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise RuntimeError("CONNECT refused: %r" % head)
    return sock


def run_client(args):
    url = urllib.parse.urlsplit(args.url)
    port = url.port or 443
    raw = connect_tunnel(args.proxy, url.hostname, port)
    context = ssl.create_default_context(cafile=args.cafile)
    context.set_alpn_protocols(["h2"])
    sock = context.wrap_socket(raw, server_hostname=url.hostname)
    if sock.selected_alpn_protocol() != "h2":
        print("FAIL ALPN %r" % sock.selected_alpn_protocol(), flush=True)
        return 1
    h2s = H2Stream(sock, client=True)
    setting = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
    h2s.wait(lambda: h2s.conn.remote_settings.get(setting, 0) == 1)

    deflate = PerMessageDeflate()
    headers = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", url.path or "/"),
        (":authority", "%s:%d" % (url.hostname, port)),
        ("sec-websocket-version", "13"),
    ]
    if not args.no_deflate:
        headers.append(("sec-websocket-extensions", "permessage-deflate; " + deflate.offer()))
    stream_id = h2s.conn.get_next_available_stream_id()
    h2s.conn.send_headers(stream_id, headers)
    h2s.flush()
    h2s.wait(lambda: stream_id in h2s.headers or stream_id in h2s.ended)
    response = h2s.headers.get(stream_id, {})
    if response.get(":status") != "200":
        print("FAIL the WebSocket was refused: %r" % response, flush=True)
        return 1
    extensions = []
    accepted = response.get("sec-websocket-extensions", "")
    if "permessage-deflate" in accepted:
        deflate.finalize(accepted)
        extensions.append(deflate)
    if args.no_deflate == bool(extensions):
        print("FAIL permessage-deflate negotiated: %r" % accepted, flush=True)
        return 1
    ws = Connection(ConnectionType.CLIENT, extensions)
    pending = []
    partial = {}

    def next_event():
        while not pending:
            if stream_id in h2s.ended and not h2s.data.get(stream_id):
                raise RuntimeError("the stream ended")
            pending.extend(ws_events(h2s, stream_id, ws))
            if not pending:
                h2s.receive_once()
        return pending.pop(0)

    def next_message():
        while True:
            event = next_event()
            if isinstance(event, Message):
                kind = type(event)
                partial[kind] = partial.get(kind, event.data[:0]) + event.data
                if event.message_finished:
                    return (1 if kind is TextMessage else 2), partial.pop(kind)
            else:
                return event

    transcript = []
    failures = []

    def send(event):
        h2s.send_data(stream_id, ws.send(event))

    def exchange(opcode, message):
        send(TextMessage(data=message) if opcode == 1 else BytesMessage(data=message))
        transcript.append(entry("send", opcode, message))
        got = next_message()
        if got != (opcode, message):
            failures.append("echo of a %d-byte message: %r" % (len(message), str(got)[:100]))
            return
        transcript.append(entry("receive", opcode, message))

    exchange(1, TEXT)
    exchange(2, BINARY)
    for i, fragment in enumerate(FRAGMENTS):
        send(TextMessage(data=fragment, message_finished=i == len(FRAGMENTS) - 1))
    transcript.append(entry("send", 1, "".join(FRAGMENTS)))
    got = next_message()
    if got != (1, "".join(FRAGMENTS)):
        failures.append("fragmented echo: %r" % (got,))
    transcript.append(entry("receive", 1, "".join(FRAGMENTS)))
    send(Ping(payload=PING))
    transcript.append(entry("send", 9, PING))
    got = next_message()
    if not isinstance(got, Pong) or bytes(got.payload) != PING:
        failures.append("pong: %r" % (got,))
    transcript.append(entry("receive", 10, PING))
    exchange(2, BIG)
    send(CloseConnection(code=CLOSE_CODE, reason=CLOSE_REASON))
    payload = struct.pack("!H", CLOSE_CODE) + CLOSE_REASON.encode()
    transcript.append(entry("send", 8, payload))
    got = next_message()
    if not isinstance(got, CloseConnection) or got.code != CLOSE_CODE or got.reason != CLOSE_REASON:
        failures.append("close echo: %r" % (got,))
    transcript.append(entry("receive", 8, payload))
    # The WebSocket is closed: end the stream, and wait for the server to end its side.
    h2s.conn.end_stream(stream_id)
    h2s.flush()
    h2s.wait(lambda: stream_id in h2s.ended)
    if stream_id in h2s.reset:
        failures.append("the stream was reset")
    h2s.conn.close_connection()
    h2s.flush()
    sock.close()

    return finish(args.transcript, transcript, failures)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    server = sub.add_parser("server")
    server.add_argument("--cert", required=True)
    server.add_argument("--key", required=True)
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=0)
    client = sub.add_parser("client")
    client.add_argument("url")
    client.add_argument("--proxy", required=True)
    client.add_argument("--cafile", required=True)
    client.add_argument("--no-deflate", action="store_true")
    client.add_argument("--transcript")
    args = parser.parse_args()
    return serve(args) if args.mode == "server" else run_client(args)


if __name__ == "__main__":
    sys.exit(main())
