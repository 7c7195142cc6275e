"""Fuzz the API from its own OpenAPI spec (schemathesis): no request may produce a 500."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from api_client import AUTH, TOKEN, make_client  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

pytestmark = pytest.mark.slow  # hypothesis-driven requests over the whole API


@pytest.fixture(scope="module")
def fuzz_schema(demo_root):
    app = make_client(demo_root).app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _cases(schema):
    gets = schema.include(method="GET")
    sql = schema.include(method="POST", path="/sql")
    return [op.ok() for op in list(gets.get_all_operations()) + list(sql.get_all_operations())]


def test_fuzz_no_server_errors(fuzz_schema):
    ops = _cases(fuzz_schema)
    assert len(ops) >= 10
    failures: list[str] = []
    calls: list[int] = []
    for op in ops:

        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case):
            response = case.call()
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: {response.text[:300]}")

        run()
    assert not failures, "\n".join(failures[:10])
    assert len(calls) > 3 * len(ops)  # the fuzzer really sent requests
    assert any(code == 200 for code in calls)


@pytest.fixture()
def fuzz_write_schema(demo):
    """The same spec over a private copy of the demo, with the token: the editor's writes are fuzzed too."""
    return schemathesis.openapi.from_asgi("/openapi.json", make_client(demo, token=TOKEN).app)


def test_fuzz_edit_and_restore_no_server_errors(fuzz_write_schema):
    ops = [
        op.ok()
        for path in ("/items/{dataset}/{id}/edits", "/datasets/{dataset}/restore")
        for op in fuzz_write_schema.include(method="POST", path=path).get_all_operations()
    ]
    assert len(ops) == 2
    failures: list[str] = []
    calls: list[int] = []
    for op in ops:

        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case):
            response = case.call(headers=AUTH)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r:.300} -> {response.status_code}: {response.text[:300]}")

        run()
    assert not failures, "\n".join(failures[:10])
    assert len(calls) > 40 and {404, 422} & set(calls)  # bodies reached the routes' own checks
