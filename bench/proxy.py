"""A tiny round-robin TCP proxy on 127.0.0.1, standing in for a clinic's load balancer.

    python -m bench.proxy --port 9000 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002 [--log F]

Each new client connection goes to the next backend in turn (HTTP keep-alive stays on one
backend, as with nginx's default upstream). With --log, one line per connection says which
backend took it, keyed by the client's port, so a test can tell which server answered.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing an already broken socket
            pass


async def serve(port: int, backends: list[tuple[str, int]], log) -> None:
    turn = itertools.cycle(range(len(backends)))

    async def handle(client_r, client_w):
        index = next(turn)
        host, bport = backends[index]
        if log:
            peer = client_w.get_extra_info("peername")
            log.write(f"{peer[1]} {index}\n")
            log.flush()
        try:
            up_r, up_w = await asyncio.open_connection(host, bport)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"proxy on 127.0.0.1:{port} -> {backends}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True)
    parser.add_argument("--log")
    args = parser.parse_args(argv)
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    log = open(args.log, "a") if args.log else None  # noqa: SIM115
    try:
        asyncio.run(serve(args.port, backends, log))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
