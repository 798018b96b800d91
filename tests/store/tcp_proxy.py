"""A loopback TCP forwarder that a test can cut, to make a server die mid-run.

``TcpProxy(upstream)`` listens on a free port and copies bytes both ways.
``cut()`` closes the listener and every connection (the server is gone:
connections refused); ``start()`` listens again on the same port (it is back).
With ``answer=False`` connections are accepted and read but nothing comes back:
a server that hangs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

_JOIN_S = 5.0
_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream: str, *, answer: bool = True) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._answer = answer
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def cut(self) -> None:
        """Close the listener and every connection; wait for the copiers."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
            threads, self._threads = self._threads, []
        for sock in ([listener] if listener else []) + sockets:
            _close(sock)
        for thread in threads:
            thread.join(_JOIN_S)
        alive = [t.name for t in threads if t.is_alive()]
        assert not alive, f"proxy threads did not stop: {alive}"

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._answer:
                self._track(client)
                self._spawn(self._swallow, client)
                continue
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._track(client, server)
            self._spawn(self._copy, client, server)
            self._spawn(self._copy, server, client)

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            if self._listener is not None:
                self._sockets.extend(sockets)
                return
        for sock in sockets:  # cut meanwhile
            _close(sock)

    def _spawn(self, target: Callable[..., None], *args: socket.socket) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    @staticmethod
    def _swallow(source: socket.socket) -> None:
        try:
            while source.recv(_CHUNK):
                pass
        except OSError:
            pass


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
