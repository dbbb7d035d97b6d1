#!/usr/bin/env bash
# docs/screenshots.sh [BUILD_DIR]: remakes the README's screenshots (docs/*.png) with
# `sightglass-gui --screenshot` under Xvfb at 1280x800, from a made-up capture of an API client
# (written here as JSON Lines: HAR entries with TLS details, JSON bodies and an image).
# Needs xvfb and imagemagick (scripts/install-deps).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
BUILD="${1:-$ROOT/build/release}"
GUI="$BUILD/bin/sightglass-gui"
work="$(mktemp -d)"
XVFB_PID=""
cleanup() {
  if [ -n "$XVFB_PID" ]; then kill "$XVFB_PID" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export SIGHTGLASS_CONFDIR="$work/conf"

/usr/bin/python3 - "$work/demo.jsonl" <<'PY'
import base64, json, struct, sys, zlib
from datetime import datetime, timedelta, timezone

def png(width, height):
    raw = b"".join(b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 190))
                                    for x in range(width)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

start = datetime(2026, 12, 3, 9, 41, 7, tzinfo=timezone.utc)
tls = lambda host: {
    "client": {"sni": host, "version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": "h2"},
    "server": {"sni": host, "version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": "h2",
               "certificate": {"subject": "CN=" + host, "issuer": "CN=Example Issuing CA R3, O=Example Trust",
                               "notAfter": "2027-03-01T23:59:59Z",
                               "sha256": "3f:9a:c1:52:7e:0b:44:d8:19:a6:5c:e2:90:7b:33:c4:aa:10:6e:f1:2d:58:b7:09:64:ce:81:3a:f5:22:9d:70"}}}
users = [{"id": i, "login": name, "name": full, "admin": i == 1, "teams": teams,
          "last_seen": "2026-12-03T09:%02d:00Z" % (10 + i)}
         for i, (name, full, teams) in enumerate([
             ("ada", "Ada Lovelace", ["core", "proxy"]), ("grace", "Grace Hopper", ["compilers"]),
             ("alan", "Alan Turing", ["crypto", "core"]), ("edsger", "Edsger Dijkstra", ["graphs"]),
             ("barbara", "Barbara Liskov", ["types", "core"])], 1)]
calls = [
    ("GET", "api.example.com", "/v2/users?page=1&per_page=5", 200, "application/json",
     json.dumps({"page": 1, "per_page": 5, "total": 42, "users": users})),
    ("GET", "api.example.com", "/v2/users/1", 200, "application/json", json.dumps(users[0])),
    ("POST", "api.example.com", "/v2/sessions", 201, "application/json",
     json.dumps({"token": "eyJhbGciOiJFUzI1NiJ9.demo", "expires_in": 3600})),
    ("GET", "cdn.example.net", "/assets/app.9f3c1e.js", 200, "application/javascript",
     "window.app=(function(){return {start:function(){}}})();" * 40),
    ("GET", "cdn.example.net", "/assets/app.41d2aa.css", 200, "text/css", "body{margin:0}" * 50),
    ("GET", "cdn.example.net", "/img/avatar/ada.png", 200, "image/png", png(96, 96)),
    ("GET", "api.example.com", "/v2/projects/sightglass/issues?state=open", 200,
     "application/json", json.dumps([{"number": n, "title": t, "state": "open"} for n, t in
                                     [(12, "The desktop inspector"), (13, "Hold points"),
                                      (14, "Hardening"), (15, "Close to the limit")]])),
    ("DELETE", "api.example.com", "/v2/sessions/current", 204, "", ""),
    ("GET", "api.example.com", "/v2/billing", 403, "application/json",
     json.dumps({"error": "forbidden", "detail": "billing needs the owner role"})),
    ("GET", "telemetry.example.org", "/v1/collect?e=view&p=%2Fdashboard", 200, "image/gif",
     base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")),
    ("PUT", "api.example.com", "/v2/users/1/settings", 200, "application/json",
     json.dumps({"theme": "dark", "density": "compact", "timezone": "Europe/London"})),
    ("GET", "api.example.com", "/v2/search?q=proxy&limit=20", 502, "text/plain",
     "upstream connect error: connection refused"),
]
out = open(sys.argv[1], "w")
t = 0.0
for n in range(48):
    method, host, path, status, ctype, body = calls[n % len(calls)]
    if n >= len(calls):
        path = path.replace("page=1", "page=%d" % (n // len(calls) + 1))
    raw = body if isinstance(body, bytes) else body.encode()
    text = base64.b64encode(raw).decode() if isinstance(body, bytes) else body
    wait = [38, 12, 95, 22, 18, 30, 61, 9, 14, 7, 44, 210][n % len(calls)] + (n % 5) * 3
    content = {"size": len(raw), "mimeType": ctype, "text": text}
    if isinstance(body, bytes):
        content["encoding"] = "base64"
    req_headers = [{"name": ":authority", "value": host}, {"name": "user-agent", "value": "demo-app/3.2 (Linux)"},
                   {"name": "accept", "value": "application/json"},
                   {"name": "authorization", "value": "Bearer eyJhbGciOiJFUzI1NiJ9.demo"},
                   {"name": "cookie", "value": "sid=9f3c1e77; theme=dark"}]
    entry = {
        "_id": n + 1, "_schemaVersion": 1, "_clientAddress": "127.0.0.1:%d" % (51200 + n // 6),
        "startedDateTime": (start + timedelta(milliseconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": wait + 1.5, "cache": {}, "connection": str(51200 + n // 6),
        "serverIPAddress": "93.184.216.%d" % (10 + hash(host) % 40),
        "request": {"method": method, "url": "https://%s%s" % (host, path), "httpVersion": "HTTP/2.0",
                    "headers": req_headers, "cookies": [{"name": "sid", "value": "9f3c1e77"}],
                    "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/2.0",
                     "headers": ([{"name": "content-type", "value": ctype}] if ctype else []) +
                                [{"name": "server", "value": "example"}, {"name": "cache-control", "value": "no-store"}],
                     "cookies": [], "content": content, "redirectURL": "", "headersSize": -1,
                     "bodySize": len(raw)},
        "timings": {"blocked": -1, "dns": -1, "connect": 24.0 if n % 6 == 0 else -1,
                    "ssl": 16.0 if n % 6 == 0 else -1, "send": 0.2, "wait": wait, "receive": 1.3},
        "_tls": tls(host),
    }
    out.write(json.dumps(entry) + "\n")
    t += [3, 40, 7, 120, 2, 9, 60, 15][n % 8] * 1.0
PY

start_xvfb 1280x800x24

# shot NAME ARGS...: one screenshot, reduced to a small palette PNG in docs/.
shot() {
  local name="$1"
  shift
  "$GUI" -n -r "$work/demo.jsonl" --frames 6 --screenshot "$work/$name.png" "$@"
  convert "$work/$name.png" -colors 64 "PNG8:$ROOT/docs/$name.png"
  echo "docs/$name.png: $(stat -c %s "$ROOT/docs/$name.png") bytes"
}
shot table-filter --view-filter '~d api.example.com & !~c 204' --select 2 --tab Overview
shot json-response --select 1 --tab Response
shot timeline --tab Timeline --select 7
shot tls --select 3 --tab TLS

# The intercept, live: the window runs as a proxy before the Python origin of the tests, and a
# request that matches --intercept waits in the Intercept window, its rows marked HELD.
/usr/bin/python3 "$ROOT/tests/support/origin.py" > "$work/origin.out" &
origin_pid=$!
for _ in $(seq 50); do grep -q '^PORT ' "$work/origin.out" 2>/dev/null && break; sleep 0.1; done
origin_port=$(sed -n 's/^PORT //p' "$work/origin.out")
"$GUI" -p 0 --intercept '~q ~u /v2/orders' 2> "$work/gui.err" &
gui_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/gui.err" 2>/dev/null && break; sleep 0.1; done
proxy_port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$work/gui.err" | head -1)
for path in /v2/catalog /v2/profile; do
  curl -s -o /dev/null -x "http://127.0.0.1:$proxy_port" "http://127.0.0.1:$origin_port$path"
done
curl -s -o /dev/null --max-time 30 -x "http://127.0.0.1:$proxy_port" -H 'Content-Type: application/json' \
  --data-binary '{"item": "espresso-grinder", "quantity": 1}' \
  "http://127.0.0.1:$origin_port/v2/orders" &
curl_pid=$!
sleep 3
import -window root "$work/intercept.png"
convert "$work/intercept.png" -colors 64 "PNG8:$ROOT/docs/intercept.png"
echo "docs/intercept.png: $(stat -c %s "$ROOT/docs/intercept.png") bytes"
kill "$gui_pid" "$origin_pid" "$curl_pid" 2>/dev/null || true
wait "$gui_pid" 2>/dev/null || true
