"""Count PostgreSQL round trips: a byte-for-byte TCP relay between the saver and the server.

A round trip is counted each time a client starts sending after it last heard from the server
(or for the first time): pipelined statements sent in one burst count once, as they should.
The relay works for any driver and any saver, so upstream and graphsaver are counted alike.
It only runs for the counting runs, never for the timed ones.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


class RoundTripRelay:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.round_trips = 0
        self._lock = threading.Lock()
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.round_trips = 0

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            state = {"last": "server"}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict[str, str], from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                if from_client:
                    with self._lock:
                        if state["last"] == "server":
                            self.round_trips += 1
                        state["last"] = "client"
                else:
                    state["last"] = "server"
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


def relayable(url: str) -> bool:
    """True for a TCP URL (the relay cannot stand in for a Unix socket)."""
    parts = urlsplit(url)
    return bool(parts.hostname) and "host=" not in parts.query


@contextlib.contextmanager
def relay_for(url: str) -> Iterator[tuple[RoundTripRelay, str]]:
    """A relay to the server of `url`, and the same URL pointed at the relay."""
    parts = urlsplit(url)
    relay = RoundTripRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    try:
        yield relay, urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{relay.port}"))
    finally:
        relay.close()
