"""A flow run whose "Completed" reply from the server is lost still gives the CLI its result.

Prefect's client retries a request whose response never came. The server already committed that
transition, so it rejects the retry as a duplicate and sends back the run's state as it stored it:
without the result, unless the result was persisted (Prefect then raises ``MissingResult: State data
is missing``). A loaded machine loses responses this way (`pinlake demo` once failed so after a 97 s
stall). Here a real proxy in front of the real server forwards the run's ``set_state`` to Completed,
then closes the connection without the reply.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e

SET_STATE = re.compile(rb"^POST /api/flow_runs/[0-9a-f-]+/set_state ")


def read_request(conn: socket.socket) -> bytes | None:
    """One HTTP/1.1 request (head and Content-Length body) as bytes; None at end of stream."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def closing(request: bytes) -> bytes:
    """The request with ``Connection: close`` (the server's reply then ends the connection)."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    for s in (src, dst):
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


class LosingProxy:
    """Forwards HTTP (and websockets, as raw bytes) to ``upstream``; the first ``set_state`` of a flow
    run to COMPLETED reaches the server, and its reply is dropped with the connection."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped: list[bytes] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        with conn:
            request = read_request(conn)
            if request is None:
                return
            up = socket.create_connection(self.upstream)
            if b"\r\nupgrade: websocket" in request.lower():  # the events stream: a tunnel
                up.sendall(request)
                threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
                pipe(conn, up)
                return
            with up:
                up.sendall(closing(request))
                reply = b""
                while chunk := up.recv(65536):
                    reply += chunk
                body = request.partition(b"\r\n\r\n")[2]
                if not self.dropped and SET_STATE.match(request) and json.loads(body)["state"]["type"] == "COMPLETED":
                    self.dropped.append(request)  # committed by the server; the client never hears it
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def losing_proxy(prefect_server) -> Iterator[LosingProxy]:
    proxy = LosingProxy(prefect_server)
    try:
        yield proxy
    finally:
        proxy.close()


def test_refresh_whose_completed_reply_is_lost_prints_its_result(losing_proxy, project, tmp_path):
    library, registry, _ = project()
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{losing_proxy.port}/api"}
    proc = subprocess.run(
        [sys.executable, "-m", "pinlake", "refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert losing_proxy.dropped, "no Completed reply was dropped: the test did not exercise the retry"
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "health_by_tag" in proc.stdout and "version 1" in proc.stdout, proc.stdout
    assert (Path(library) / "health_by_tag").is_dir()
