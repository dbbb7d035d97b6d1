#!/usr/bin/python3
"""A small HTTP/1.1 origin server for the integration tests (Debian's /usr/bin/python3).

It parses requests itself, so that it can echo the exact bytes it received, and answers:
  /echo-raw            the request head exactly as received (body: its bytes)
  /echo-full[/...]     the request head exactly as received, then the request body
  /bytes?n=N           N bytes of the repeating pattern 0,1,...,255 (Content-Length)
  /chunked             a chunked body "hello, world" in pieces, with a trailer
  /file?path=P&enc=E&type=T   the bytes of file P, with Content-Encoding E (if given)
  /upload              reads the body (Content-Length or chunked), answers {"size","sha256"}
  /reset               a head promising 100000 bytes, 1000 bytes, then a TCP reset
  /close-delimited     a body without Content-Length, ended by closing the connection
  /status/N            status N with a short body
  /stall?n=N&total=T   a head promising T bytes, N of them, then nothing until the peer leaves
  /extra               "ok" (Content-Length 2) and 9 more bytes nobody asked for, in one write
  /late-extra          "ok" (Content-Length 2), then 9 more bytes 300 ms later
  /slow?ms=M           waits M ms before answering "ok"
  anything else        200 "ok"
Keep-alive is honoured; HEAD gets the head only. Prints "PORT <n>" once listening.

Options: --cert/--key serve TLS; --host ADDR and --port N choose the listening address
(default 127.0.0.1 and 0, a free port); --echo makes it a raw TCP echo server instead (every
byte received is sent back, until the client closes), for non-HTTP TCP.
"""
import argparse
import hashlib
import json
import socket
import socketserver
import ssl
import struct
import sys
import time
import urllib.parse

BLOCK = bytes(range(256)) * 4096  # 1 MiB of the pattern.


def read_head(rfile):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline(65537)
        if not line:
            return None
        head += line
        if len(head) > 1 << 20:
            return None
    return head


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
    return method, target, version, headers


def header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def read_body(rfile, headers, sink):
    te = header(headers, "transfer-encoding")
    if te and "chunked" in te.lower():
        while True:
            size = int(rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b""):
                    pass
                return
            left = size
            while left:
                data = rfile.read(min(left, 1 << 20))
                if not data:
                    raise ConnectionError("short body")
                sink(data)
                left -= len(data)
            rfile.readline()
    length = int(header(headers, "content-length") or 0)
    while length:
        data = rfile.read(min(length, 1 << 20))
        if not data:
            raise ConnectionError("short body")
        sink(data)
        length -= len(data)


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, status, body=b"", headers=(), head_only=False, length=True):
        out = "HTTP/1.1 %d X\r\n" % status
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        if length:
            out += "Content-Length: %d\r\n" % len(body)
        out += "\r\n"
        self.wfile.write(out.encode("latin-1") + (b"" if head_only else body))

    def handle(self):
        while True:
            head = read_head(self.rfile)
            if head is None:
                return
            method, target, version, headers = parse_head(head)
            url = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(url.query))
            path = url.path
            head_only = method == "HEAD"
            if (header(headers, "expect") or "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            if path == "/upload":
                digest = hashlib.sha256()
                size = [0]

                def sink(data):
                    digest.update(data)
                    size[0] += len(data)

                read_body(self.rfile, headers, sink)
                body = json.dumps({"size": size[0], "sha256": digest.hexdigest()}).encode()
                self.send(200, body, [("Content-Type", "application/json")])
                continue
            if path == "/echo-full" or path.startswith("/echo-full/"):
                parts = [head]
                read_body(self.rfile, headers, parts.append)
                self.send(200, b"".join(parts), [("Content-Type", "application/octet-stream")],
                          head_only)
                continue
            read_body(self.rfile, headers, lambda data: None)
            if path == "/echo-raw":
                self.send(200, head, [("Content-Type", "application/octet-stream")], head_only)
            elif path == "/bytes":
                n = int(query.get("n", "0"))
                self.wfile.write(("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Length: %d\r\n\r\n" % n).encode())
                if not head_only:
                    while n:
                        chunk = BLOCK[: min(n, len(BLOCK))]
                        self.wfile.write(chunk)
                        n -= len(chunk)
            elif path == "/drip":
                # n bytes spread evenly over ms milliseconds, in 64 KiB writes.
                n = int(query.get("n", "0"))
                ms = int(query.get("ms", "1000"))
                self.wfile.write(("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Length: %d\r\n\r\n" % n).encode())
                self.wfile.flush()
                pieces = max(1, (n + 65535) // 65536)
                sent = 0
                for i in range(pieces):
                    chunk = min(65536, n - sent)
                    self.wfile.write(BLOCK[:chunk] if chunk <= len(BLOCK) else b"x" * chunk)
                    self.wfile.flush()
                    sent += chunk
                    time.sleep(ms / 1000.0 / pieces)
            elif path == "/chunked":
                out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\n\r\n"
                if not head_only:
                    for piece in (b"hello", b", ", b"world"):
                        out += b"%x\r\n%s\r\n" % (len(piece), piece)
                    out += b"0\r\nX-Check: done\r\n\r\n"
                self.wfile.write(out)
            elif path == "/file":
                with open(query["path"], "rb") as f:
                    data = f.read()
                extra = [("Content-Type", query.get("type", "application/octet-stream"))]
                if query.get("enc"):
                    extra.append(("Content-Encoding", query["enc"]))
                self.send(200, data, extra, head_only)
            elif path == "/reset":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
                return
            elif path == "/close-delimited":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                return
            elif path == "/stall":
                n = int(query.get("n", "0"))
                total = int(query.get("total", str(n + 1)))
                self.wfile.write(("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Length: %d\r\n\r\n" % total).encode() + BLOCK[:n])
                self.wfile.flush()
                self.connection.settimeout(60)
                try:
                    while self.connection.recv(65536):
                        pass
                except OSError:
                    pass
                return
            elif path == "/extra":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNKJUNK")
            elif path == "/late-extra":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                self.wfile.flush()
                time.sleep(0.3)
                self.wfile.write(b"JUNKJUNK!")
            elif path == "/slow":
                time.sleep(int(query.get("ms", "1000")) / 1000.0)
                self.send(200, b"ok", [("Content-Type", "text/plain")], head_only)
            elif path.startswith("/status/"):
                self.send(int(path[len("/status/"):]), b"status", [], head_only)
            else:
                self.send(200, b"ok", [("Content-Type", "text/plain")], head_only)
            if (header(headers, "connection") or "").lower() == "close":
                return


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = self.request.recv(1 << 16)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--echo", action="store_true")
    args = parser.parse_args()
    server = Server((args.host, args.port), EchoHandler if args.echo else Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        context.set_alpn_protocols(["http/1.1"])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
