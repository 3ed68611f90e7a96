"""``tci serve`` as a subprocess for end-to-end tests: on a free port, ready when
``/healthz`` answers, killed (and its output kept for the failure message) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .conftest import TCI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(15)


@contextmanager
def serving(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[Served]:
    """Run ``tci [args] serve --port P`` (``args`` are global options such as ``-c
    FILE``; put serve options after a literal ``"serve"`` in ``args`` if needed) and
    yield once ``/healthz`` answers. Always terminated (SIGTERM, then SIGKILL)."""
    port = port or free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    base.update(env or {})
    command = [str(TCI), *args]
    if "serve" not in args:
        command.append("serve")
    command += ["--port", str(port)]
    log = cwd / f"serve-{port}.log"
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            command, cwd=cwd, env=base, stdout=sink, stderr=subprocess.STDOUT, text=True
        )
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"tci serve exited {process.returncode}:\n{served.output()}")
            try:
                if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"tci serve did not answer in time:\n{served.output()}")
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
