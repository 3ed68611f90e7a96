"""The loopback server: a sandbox's handler over real HTTP, transport faults on the wire."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping

import httpx
import pytest

from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback


class EchoSandbox:
    """A minimal sandbox: echoes the request; raises what it is told to."""

    credentials: Mapping[str, str] = {}

    def __init__(self) -> None:
        self.raise_next: type[httpx.TransportError] | None = None
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc("simulated", request=request)
        body = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.url.params),
            "body": request.content.decode(),
            "header": request.headers.get("X-Test"),
        }
        return httpx.Response(418, headers={"X-Echo": "yes"}, json=body)


def test_requests_and_answers_pass_through() -> None:
    sandbox = EchoSandbox()
    with serve_on_loopback(sandbox) as server, httpx.Client(base_url=server.url) as client:
        assert server.url.startswith("http://127.0.0.1:")
        response = client.post("/a/b", params={"q": "1"}, content=b"hello", headers={"X-Test": "t"})
        assert response.status_code == 418
        assert response.headers["X-Echo"] == "yes"
        assert response.json() == {
            "method": "POST",
            "path": "/a/b",
            "query": {"q": "1"},
            "body": "hello",
            "header": "t",
        }
        # keep-alive: a second request on the same connection
        assert client.get("/c").json()["path"] == "/c"
        assert client.put("/d", content=json.dumps({"x": 1})).json()["method"] == "PUT"


def test_reset_is_a_dropped_connection() -> None:
    sandbox = EchoSandbox()
    with serve_on_loopback(sandbox) as server, httpx.Client(base_url=server.url) as client:
        sandbox.raise_next = httpx.RemoteProtocolError
        with pytest.raises(httpx.TransportError):
            client.get("/x")
        assert client.get("/y").status_code == 418  # the server still serves


def test_read_timeout_is_a_server_that_hangs() -> None:
    sandbox = EchoSandbox()
    with serve_on_loopback(sandbox, hang_seconds=5.0) as server:
        sandbox.raise_next = httpx.ReadTimeout
        with (
            httpx.Client(base_url=server.url, timeout=httpx.Timeout(0.2)) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.get("/slow")
    # close() released the hung connection without waiting out hang_seconds


def test_close_releases_the_port() -> None:
    server = serve_on_loopback(EchoSandbox())
    port = int(server.url.rsplit(":", 1)[1])
    server.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_serve_forever_in_the_calling_thread() -> None:
    server = LoopbackServer(EchoSandbox())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert httpx.get(server.url + "/z", timeout=5).status_code == 418
    finally:
        server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        LoopbackServer(EchoSandbox(), host="0.0.0.0")  # noqa: S104 - the point of the test
