"""Serve a sandbox over real HTTP on a loopback address (standard library only).

Each incoming request becomes an ``httpx.Request`` handed to ``sandbox.handle``; the
``httpx.Response`` is written back. Transport failures a sandbox raises (how faults
are simulated on an ``httpx.MockTransport``) are reproduced on the wire:

* ``httpx.TimeoutException`` (e.g. ``ReadTimeout``): the server holds the connection
  for ``hang_seconds`` without answering, then closes it;
* any other ``httpx.TransportError`` (``RemoteProtocolError``, ``ConnectError``...):
  the connection is closed at once without an answer (reset).

::

    with serve_on_loopback(sandbox) as server:
        ...  # point the adapter at server.url

For a CLI (``tci sandbox serve``): ``LoopbackServer(sandbox, port=8765).serve_forever()``
blocks until interrupted or closed. Nothing is printed or logged by the server itself.
"""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

from tci_gateway.adapters.contract import Sandbox
from tci_gateway.http.addresses import is_loopback

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes: without this, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every small answer (a paged portfolio crawls).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the server prints nothing."""

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        host, port = self.server.server_address[:2]
        request = httpx.Request(
            self.command,
            f"http://{host!s}:{port}{self.path}",
            headers=list(self.headers.items()),
            content=body,
        )
        try:
            response = owner.sandbox.handle(request)
        except httpx.TimeoutException:
            owner.hang()
            self._drop(reset=False)
            return
        except httpx.TransportError:
            self._drop(reset=True)
            return
        content = response.read()
        self.send_response(response.status_code, response.reason_phrase)
        for name, value in response.headers.multi_items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _drop(self, *, reset: bool) -> None:
        self.close_connection = True
        if reset:
            # SO_LINGER 0: the close sends a reset instead of an orderly shutdown.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class LoopbackServer:
    """A sandbox served on ``host:port`` (port 0 picks a free one); see the module
    docstring. ``hang_seconds`` is how long a simulated read timeout holds the
    connection (interrupted by :meth:`close`)."""

    def __init__(
        self,
        sandbox: Sandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hang_seconds: float = 30.0,
        allow_non_loopback: bool = False,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(f"refusing to serve a sandbox on non-loopback address {host!r}")
        self.sandbox = sandbox
        self.hang_seconds = hang_seconds
        self._closing = threading.Event()
        self._httpd = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def hang(self) -> None:
        """Hold a connection as a server that stopped answering would."""
        self._closing.wait(self.hang_seconds)

    def start(self) -> LoopbackServer:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name=f"loopback-{self.url}", daemon=True
            )
            self._thread.start()
            self._serving.wait(5)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` (or KeyboardInterrupt)."""
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        except KeyboardInterrupt:
            pass
        finally:
            self._serving.clear()

    def close(self) -> None:
        """Stop serving, release hung connections and the port."""
        self._closing.set()
        if self._serving.is_set():
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_on_loopback(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, hang_seconds: float = 30.0
) -> LoopbackServer:
    """Start serving ``sandbox`` on loopback in a daemon thread."""
    return LoopbackServer(sandbox, host, port, hang_seconds=hang_seconds).start()
