#!/usr/bin/python3
"""Seed corpora for the fuzz targets, from real captures (Debian's /usr/bin/python3).

  make_seeds.py SIGHTGLASS_BINARY OUT_DIR

Real clients (curl, nghttp, h2load, openssl s_client, tests/support/ws_client.py) talk to real
servers (tests/support/origin.py, nghttpd, tests/support/ws_echo.py) through Sightglass; taps
(TCP relays that record both directions of every connection) sit in front of the proxy and
between the proxy and the servers. Their recordings become OUT_DIR/TARGET/* as each target reads
its input (see the comment at the top of fuzz/TARGET_fuzzer.cc): one stream, or a client stream
and a server stream joined by the separator in fuzz/fuzz_input.h. The flow log, the HAR file and
the session file Sightglass wrote while the clients ran are the readers' seeds. Everything
listens on 127.0.0.1 and stops before the script exits.
"""
import base64
import gzip
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import brotli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(ROOT, "tests", "support")
SPLIT = b"\n==sightglass-fuzz-split==\n"


class Tap:
    """Listens on a free port and relays every connection to |target|, recording both
    directions: conns is a list of [client_bytes, server_bytes] per connection."""

    def __init__(self, target):
        self.target = target
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            record = [bytearray(), bytearray()]
            with self.lock:
                self.conns.append(record)
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, server, record[0]), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, record[1]), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                record += data
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def take(self):
        """The recordings so far (and forgets them), once the relays went quiet."""
        time.sleep(0.3)
        with self.lock:
            conns, self.conns = self.conns, []
        return [(bytes(c), bytes(s)) for c, s in conns]


def start(argv):
    """Starts a test server that prints "PORT <n>" once listening; returns (process, port)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = process.stdout.readline().decode()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit("seeds: %s did not start" % argv[-1])
    return process, int(line.split()[1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, **kwargs):
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, **kwargs)


class Proxy:
    """Sightglass on a free port with |args|, recording to files in |work|."""

    def __init__(self, binary, work, name, args):
        self.port = free_port()
        self.files = {k: os.path.join(work, name + ext) for k, ext in
                      (("jsonl", ".jsonl"), ("har", ".har"), ("session", ".sightglass"))}
        argv = [binary, "-p", str(self.port), "--ssl-insecure", "-q", "--confdir",
                os.path.join(work, "confdir"), "-w", self.files["jsonl"], "--har",
                self.files["har"], "--save", self.files["session"]] + args
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.process.stderr.readline()
            if b"listening on" in line:
                threading.Thread(target=self.process.stderr.read, daemon=True).start()
                return
            if not line:
                break
        raise SystemExit("seeds: sightglass did not start")

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


class Seeds:
    def __init__(self, out):
        self.out = out
        self.count = {}

    def add(self, target, data):
        if not data or len(data) > (1 << 20):  # Large inputs only slow the fuzzer down.
            return
        directory = os.path.join(self.out, target)
        os.makedirs(directory, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def after_head(data):
    """The bytes after the first HTTP head (a CONNECT's or an Upgrade's)."""
    at = data.find(b"\r\n\r\n")
    return data[at + 4:] if at >= 0 else b""


def main():
    binary, out = sys.argv[1], sys.argv[2]
    shutil.rmtree(out, ignore_errors=True)
    seeds = Seeds(out)
    work = tempfile.mkdtemp(prefix="sightglass-seeds-")
    children = []
    try:
        capture(binary, work, seeds, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        shutil.rmtree(work, ignore_errors=True)
    for target in sorted(seeds.count):
        print("seeds: %-18s %d" % (target, seeds.count[target]))


def capture(binary, work, seeds, children):
    os.makedirs(os.path.join(work, "confdir"), mode=0o700)
    key = os.path.join(work, "origin-key.pem")
    cert = os.path.join(work, "origin-cert.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])

    origin, origin_port = start(["/usr/bin/python3", os.path.join(SUPPORT, "origin.py")])
    tls_origin, tls_port = start(["/usr/bin/python3", os.path.join(SUPPORT, "origin.py"),
                                  "--cert", cert, "--key", key])
    ws, ws_port = start(["/usr/bin/python3", os.path.join(SUPPORT, "ws_echo.py")])
    children += [origin, tls_origin, ws]
    docroot = os.path.join(work, "docroot")
    os.makedirs(docroot)
    for name, size in (("index.html", 300), ("data.bin", 40000)):
        with open(os.path.join(docroot, name), "wb") as f:
            f.write(bytes(range(256)) * (size // 256))
    h2_port = free_port()
    h2 = subprocess.Popen(["nghttpd", "--no-tls", "-d", docroot, "-a", "127.0.0.1", str(h2_port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(h2)
    time.sleep(0.5)

    # Taps between the proxy and each server record what servers say.
    origin_tap = Tap(("127.0.0.1", origin_port))
    h2_tap = Tap(("127.0.0.1", h2_port))
    ws_tap = Tap(("127.0.0.1", ws_port))
    o = "http://127.0.0.1:%d" % origin_tap.port

    # Regular mode: HTTP/1 requests, CONNECT, TLS, WebSocket.
    proxy = Proxy(binary, work, "regular", [])
    front = Tap(("127.0.0.1", proxy.port))
    via = ["curl", "-s", "-o", "/dev/null", "-x", "http://127.0.0.1:%d" % front.port]
    run(via + [o + "/", o + "/chunked", o + "/bytes?n=3000", o + "/status/404"])
    run(via + ["-d", "name=value&x=1", o + "/upload"])
    run(via + ["-H", "Transfer-Encoding: chunked", "--data-binary", "@-", o + "/upload"],
        input=b"a chunked upload body")
    run(via + ["-H", "Expect: 100-continue", "--data-binary", "x" * 2000, o + "/upload"])
    run(via + ["-I", o + "/bytes?n=10"])
    run(via + ["--compressed", o + "/close-delimited", o + "/echo-full/x?a=b"])
    run(via + ["-H", "Cookie: a=1; b=2", "-A", "fuzz-seed/1.0", o + "/extra"])
    run(via + ["-k", "https://127.0.0.1:%d/bytes?n=100" % tls_port])
    run(via + ["-k", "--http1.1", "https://localhost:%d/chunked" % tls_port])
    run(["/usr/bin/python3", os.path.join(SUPPORT, "ws_client.py"),
         "ws://127.0.0.1:%d/" % ws_tap.port, "--proxy", "127.0.0.1:%d" % front.port])
    run(["/usr/bin/python3", os.path.join(SUPPORT, "ws_client.py"), "--no-deflate",
         "ws://127.0.0.1:%d/" % ws_tap.port, "--proxy", "127.0.0.1:%d" % front.port])
    client_side = front.take()
    server_side = origin_tap.take()
    proxy.stop()

    responses = [s for _, s in server_side]
    for i, (c, s) in enumerate(client_side):
        seeds.add("sniff", c)
        if c.startswith(b"CONNECT"):
            hello = after_head(c)
            seeds.add("client_hello", hello)
            seeds.add("sniff", hello)
            continue
        seeds.add("http1_request", c + SPLIT + (responses[i % len(responses)] if responses else b""))
    for c, s in server_side:
        seeds.add("http1_response", c + SPLIT + s)
    for c, s in ws_tap.take():
        seeds.add("websocket", c + SPLIT + s)

    # Proxy authentication, right and wrong.
    proxy = Proxy(binary, work, "auth", ["--proxyauth", "user:pass"])
    front = Tap(("127.0.0.1", proxy.port))
    via = ["curl", "-s", "-o", "/dev/null", "-x", "http://127.0.0.1:%d" % front.port]
    run(via + ["--proxy-user", "user:pass", o + "/"])
    run(via + ["--proxy-user", "alice:wrong", o + "/"])
    run(via + [o + "/"])
    run(via + ["--proxy-user", "user:pass", "-k", "https://127.0.0.1:%d/" % tls_port])
    for c, s in front.take():
        seeds.add("proxy_auth", c)
    origin_tap.take()
    proxy.stop()

    # SOCKS5, with and without RFC 1929 credentials.
    for name, args, url in (("socks", [], "socks5h://127.0.0.1:%d"),
                            ("socks-auth", ["--proxyauth", "user:pass"],
                             "socks5://user:pass@127.0.0.1:%d")):
        proxy = Proxy(binary, work, name, ["--mode", "socks5"] + args)
        front = Tap(("127.0.0.1", proxy.port))
        run(["curl", "-s", "-o", "/dev/null", "-x", url % front.port, o + "/bytes?n=20"])
        run(["curl", "-s", "-o", "/dev/null", "-x", url % front.port, "-k",
             "https://localhost:%d/" % tls_port])
        for c, s in front.take():
            seeds.add("socks5", c)
        origin_tap.take()
        proxy.stop()

    # Reverse mode to the TLS origin: ClientHellos of several clients, as the first bytes.
    proxy = Proxy(binary, work, "reverse", ["--mode", "reverse:https://127.0.0.1:%d" % tls_port])
    front = Tap(("127.0.0.1", proxy.port))
    hello_clients = [
        ["curl", "-s", "-k", "-o", "/dev/null", "https://localhost:%d/" % front.port],
        ["curl", "-s", "-k", "-o", "/dev/null", "--http1.1", "--tlsv1.2", "--tls-max", "1.2",
         "https://127.0.0.1:%d/" % front.port],
    ]
    for argv in hello_clients:
        run(argv)
    for extra in (["-tls1_2"], ["-tls1_3", "-alpn", "h2,http/1.1"], ["-servername", "example.test"]):
        run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % front.port] + extra,
            input=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for c, s in front.take():
        seeds.add("client_hello", c)
        seeds.add("sniff", c)
    proxy.stop()

    # HTTP/2: clients' frames (prior knowledge) and nghttpd's answers, through the proxy in
    # reverse mode to the h2c server.
    proxy = Proxy(binary, work, "h2", ["--mode", "reverse:http://127.0.0.1:%d" % h2_tap.port])
    front = Tap(("127.0.0.1", proxy.port))
    h = "http://127.0.0.1:%d" % front.port
    run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge", h + "/index.html",
         h + "/data.bin", h + "/missing"])
    run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge", "-d", "a=b", h + "/index.html"])
    run(["nghttp", "-n", h + "/index.html", h + "/data.bin"])
    run(["h2load", "-n", "20", "-c", "1", "-m", "8", h + "/index.html"])
    direct = h2_tap.take()
    client_side = front.take()
    proxy.stop()
    # Straight to nghttpd as well (the proxy may answer HTTP/2 clients over HTTP/1.1 upstream).
    h2d = "http://127.0.0.1:%d" % h2_tap.port
    run(["nghttp", "-n", h2d + "/index.html", h2d + "/data.bin"])
    run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge", h2d + "/index.html",
         h2d + "/missing"])
    direct += h2_tap.take()
    h2_server = [s for c, s in direct if c.startswith(b"PRI * HTTP/2.0")]
    for c, s in client_side + direct:
        if c.startswith(b"PRI * HTTP/2.0"):
            seeds.add("http2_client", c + SPLIT + (h2_server[0] if h2_server else b""))
            seeds.add("sniff", c)
    for c, s in direct:
        if c.startswith(b"PRI * HTTP/2.0"):
            seeds.add("http2_server", s)
    for c, s in server_side[:4]:
        for h2s in h2_server[:3]:
            seeds.add("h1_over_h2", c + SPLIT + h2s)

    # Bodies in every coding, from the origin's real bodies.
    bodies = [b"", b"hello, world", bytes(range(256)) * 40, b"{\"a\": [1, 2, 3]}" * 50]
    for body in bodies:
        for coding, encoded in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)),
                                ("br", brotli.compress(body)),
                                ("zstd", subprocess.run(["zstd", "-q", "-c"], input=body,
                                                        stdout=subprocess.PIPE).stdout),
                                ("identity", body)):
            seeds.add("content_decoding", coding.encode() + b"\n" + encoded)
        seeds.add("content_decoding", b"gzip, br\n" + brotli.compress(gzip.compress(body)))
    # A bomb: 64 MiB of zeros in a few KiB.
    zeros = b"\0" * (64 << 20)
    seeds.add("content_decoding", b"gzip\n" + gzip.compress(zeros))
    seeds.add("content_decoding", b"br\n" + brotli.compress(zeros))

    # The filter language: the contract's and mitmproxy's own examples.
    for expression in ("~q", "~s", "~d example.com", "~u /api & ~m POST", "!~c 200",
                       "~c 404 | ~c 500", "~h 'content-type: json'", "~b token",
                       "~bq secret & ~bs error", "~t html", "~hq User-Agent", "~hs Set-Cookie",
                       "(~m GET | ~m HEAD) & !~u \\.png$", "~websocket", "~http & ~tcp",
                       "~a", "~e", "~marked", "~replay", "~src 127.0.0.1", "~dst :443",
                       "~all", "~u \"a b\" & ~d '^x\\.'", "~comment todo", "~meta k=v"):
        seeds.add("filter", expression.encode())

    # The readers: what the proxies wrote.
    for name in os.listdir(work):
        path = os.path.join(work, name)
        target = {".jsonl": "jsonl_reader", ".har": "har_reader",
                  ".sightglass": "session_file"}.get(os.path.splitext(name)[1])
        if target and os.path.getsize(path) > 0:
            with open(path, "rb") as f:
                data = f.read()
            if target == "jsonl_reader":
                for line in data.splitlines(keepends=True)[:50]:
                    seeds.add(target, line)
                seeds.add(target, data[:200000])
            elif target == "session_file":
                for keep in (1, 3, 8):
                    seeds.add(target, small_session(path, keep))
            else:
                seeds.add(target, data)


def small_session(path, keep):
    """The session file at |path| cut to its first |keep| flows, in 512-byte pages: the proxy's
    own 16 KiB pages make even a one-flow file larger than the fuzzer's -max_len."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "small.sightglass")
        shutil.copyfile(path, copy)
        db = sqlite3.connect(copy, isolation_level=None)
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("DELETE FROM details WHERE seq NOT IN"
                   " (SELECT seq FROM flows ORDER BY seq LIMIT ?)", (keep,))
        db.execute("DELETE FROM flows WHERE seq NOT IN (SELECT seq FROM details)")
        db.execute("PRAGMA page_size=512")
        db.execute("VACUUM")
        db.close()
        with open(copy, "rb") as f:
            return f.read()


if __name__ == "__main__":
    main()
