#!/usr/bin/python3
"""A WebSocket echo server for the integration tests (Debian's /usr/bin/python3 with
python3-websockets).

Every message received is sent back as one message of the same type (a fragmented message
comes back whole); pings are answered with pongs and a close frame is echoed, by the library.
permessage-deflate is accepted when the client offers it. Prints "PORT <n>" once listening.

Options: --cert/--key serve TLS (wss); --host ADDR and --port N choose the listening address
(default 127.0.0.1 and 0, a free port).
"""
import argparse
import asyncio
import ssl
import sys

import websockets


async def echo(websocket, path=None):
    try:
        async for message in websocket:
            await websocket.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve(args):
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        context.set_alpn_protocols(["http/1.1"])
    async with websockets.serve(
        echo,
        args.host,
        args.port,
        ssl=context,
        max_size=None,
        ping_interval=None,
        compression="deflate",
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await asyncio.Future()  # Until killed.


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
