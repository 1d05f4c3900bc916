"""A TCP relay that delays every byte by a fixed time each way: PostgreSQL over a network.

On one machine a round trip to PostgreSQL takes tens of microseconds; between an application
and a managed database it takes a millisecond or so, and that is where a saver's round trips
and its pool show. The relay runs in a process of its own (so its work never competes with
the benchmark's for the GIL) and holds each chunk it reads for `delay_ms` before passing it
on, in order, in both directions: a round trip gains twice the delay.

    with delayed(url, delay_ms=0.5) as relayed:  # the same server, 1 ms further away
        ...

    python -m benchmarks.netdelay --target 127.0.0.1:5432 --delay-ms 0.5   # prints its port
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Pass what `reader` reads to `writer`, each chunk `delay` seconds after it arrived."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        while data := await reader.read(1 << 16):
            queue.put_nowait((time.monotonic() + delay, data))
        queue.put_nowait((0.0, b""))

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(receive(), send())


async def _serve(host: str, port: int, delay: float) -> None:
    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        for w in (client_w, server_w):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


@contextlib.contextmanager
def delayed(url: str, *, delay_ms: float) -> Iterator[str]:
    """`url` (a PostgreSQL URL over TCP) through a relay process that adds `delay_ms` each way."""
    parts = urlsplit(url)
    target = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
    cmd = [sys.executable, os.path.abspath(__file__), "--target", target, "--delay-ms", str(delay_ms)]
    relay = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout is not None
        port = int(relay.stdout.readline())
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        yield urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{port}"))
    finally:
        relay.kill()
        relay.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.netdelay", description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="host:port to relay to")
    parser.add_argument("--delay-ms", type=float, required=True, help="delay added each way")
    args = parser.parse_args(argv)
    host, port = args.target.rsplit(":", 1)
    asyncio.run(_serve(host, int(port), args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
