"""HTTP limits of the API: a bounded POST /sql answer, 413 for any request body over the limit
(declared or chunked, through TestClient and a real uvicorn socket), one SQL statement per query
(API and CLI)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pinlake.api.app import create_app

DEFAULT_SQL_BYTES = 8 * 1024 * 1024  # the documented default of the POST /sql answer


@pytest.fixture()
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty library: SQL sees the catalog and nothing else (enough for these queries)."""
    for key in ("PINLAKE_API_MAX_SQL_BYTES", "PINLAKE_API_MAX_BODY_BYTES", "PINLAKE_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    lib = tmp_path / "library"
    lib.mkdir()
    return lib


def client(library: Path, **kwargs) -> TestClient:
    return TestClient(create_app(library, None, **kwargs), raise_server_exceptions=False)


# --- POST /sql: the answer is bounded ------------------------------------------------------------
def test_sql_huge_value_is_refused_with_the_limit_named(library: Path):
    started = time.monotonic()
    resp = client(library).post("/sql", json={"query": "SELECT repeat('x', 100000000) AS s"})
    assert resp.status_code == 422, resp.status_code
    assert len(resp.content) < 1000
    body = resp.json()
    assert f"{DEFAULT_SQL_BYTES}-byte response limit" in body["error"] and "\n" not in body["error"]
    assert "LIMIT" in body["hint"]
    assert time.monotonic() - started < 10


def test_sql_limit_is_configurable_and_counts_the_whole_answer(library: Path):
    small = client(library, max_sql_bytes=2000)
    assert small.post("/sql", json={"query": "SELECT repeat('x', 1500) AS s"}).status_code == 200
    resp = small.post("/sql", json={"query": "SELECT repeat('x', 2500) AS s"})
    assert resp.status_code == 422 and "2000-byte response limit" in resp.json()["error"]
    # many small rows add up: refused with the exact size; the row limit applies first
    many = small.post("/sql", json={"query": "SELECT range AS n FROM range(1000)", "limit": 1000})
    assert many.status_code == 422 and "bytes of JSON" in many.json()["error"], many.text
    few = small.post("/sql", json={"query": "SELECT range AS n FROM range(1000)", "limit": 10})
    assert few.status_code == 200 and few.json()["num_rows"] == 1000 and few.json()["truncated"] is True
    # bytes are answered with their length only: a large blob is a small answer
    blob = small.post("/sql", json={"query": "SELECT repeat('x', 100000)::BLOB AS b"})
    assert blob.status_code == 200 and blob.json()["rows"] == [{"b": {"bytes": 100000}}]
    # the answer keeps the JSON shape FastAPI gave it (NaN as null, nested values as JSON)
    resp = small.post("/sql", json={"query": "SELECT 'nan'::DOUBLE AS x, [1, 2] AS l, {'a': 'b'} AS s"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json() == {
        "columns": ["x", "l", "s"],
        "rows": [{"x": None, "l": [1, 2], "s": {"a": "b"}}],
        "num_rows": 1,
        "truncated": False,
    }


def test_sql_limit_from_the_environment(library: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PINLAKE_API_MAX_SQL_BYTES", "3000")
    resp = client(library).post("/sql", json={"query": "SELECT repeat('x', 5000) AS s"})
    assert resp.status_code == 422 and "3000-byte response limit" in resp.json()["error"]


# --- one statement per query ---------------------------------------------------------------------
def test_api_refuses_several_statements(library: Path):
    c = client(library)
    for query in ("SELECT 1; SELECT 2", "SELECT 1 AS a;\nSELECT 'x;y' AS b;"):
        resp = c.post("/sql", json={"query": query})
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert body["error"] == "the query has 2 statements; only one statement runs per query"
        assert "UNION ALL" in body["hint"]
    # still read-only whatever comes first
    assert c.post("/sql", json={"query": "SELECT 1; DROP TABLE x"}).status_code == 400
    # DuckDB's parser splits the statements: a ';' inside a string (and a trailing one) is one statement
    resp = c.post("/sql", json={"query": "SELECT 'a; SELECT 2' AS s;"})
    assert resp.status_code == 200 and resp.json()["rows"] == [{"s": "a; SELECT 2"}]


def test_cli_refuses_several_statements(library: Path):
    from pinlake.cli import _register, app

    _register()
    runner = CliRunner()
    res = runner.invoke(app, ["sql", "SELECT 1; SELECT 2", "--library", str(library)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert "the query has 2 statements; only one statement runs per query" in res.output
    assert "UNION ALL" in res.output  # the hint
    ok = runner.invoke(app, ["sql", "SELECT 'a;b' AS s;", "--library", str(library), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output) == [{"s": "a;b"}]


# --- request bodies over the limit: 413, declared or chunked ---------------------------------------
def chunks(total: int, size: int = 1000):
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


def test_chunked_body_over_the_limit_is_413(library: Path):
    c = client(library, max_body_bytes=4000)
    resp = c.post("/sql", content=chunks(10_000), headers={"content-type": "application/json"})
    assert resp.status_code == 413, resp.text
    assert "4000-byte limit" in resp.json()["error"]
    declared = c.post("/sql", content=b" " * 10_000, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json() == resp.json()
    # a chunked body under the limit still reaches the route
    small = c.post("/sql", content=iter([b'{"query": ', b'"SELECT 42 AS x"}']), headers={"content-type": "application/json"})
    assert small.status_code == 200 and small.json()["rows"] == [{"x": 42}]


@pytest.fixture()
def server(library: Path):
    """A real uvicorn server (in a thread of this process) on a free loopback port."""
    import uvicorn

    config = uvicorn.Config(create_app(library, None, max_body_bytes=4000), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (srv.started and srv.servers):
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def raw_chunked(port: int, parts: list[bytes]) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"POST /sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        try:
            for part in parts:
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the whole body is sent
        data = b""
        while True:
            try:
                got = s.recv(65536)
            except OSError:
                break
            if not got:
                break
            data += got
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_chunked_body_over_the_limit_is_413_over_a_socket(server: int):
    status, body = raw_chunked(server, [b" " * 1000] * 6)
    assert status == 413, body
    assert b"4000-byte limit" in body
    status, body = raw_chunked(server, [b'{"query": ', b'"SELECT 7 AS x"}'])
    assert status == 200 and json.loads(body)["rows"] == [{"x": 7}]
