"""A Prefect server configured for another project but not running: `pinlake demo` (embedded defaults)
warns and runs its flows on a temporary local server instead of failing."""

from __future__ import annotations

import pytest

from pinlake.integrations import prefect as flows_bridge


def test_dead_server_from_env_or_profile_is_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "none.toml"))
    down = flows_bridge.configured_server_down()
    assert down is not None and "127.0.0.1:9" in down.message
    flows_bridge.forget_server()
    assert flows_bridge.configured_server() is None and flows_bridge.configured_server_down() is None
    # the same server named by the active Prefect profile instead of the environment
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "profiles.toml").write_text('active = "other"\n[profiles.other]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n')
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "home" / "profiles.toml"))  # restored after the test
    monkeypatch.delenv("PREFECT_API_URL")
    assert flows_bridge.configured_server() == "http://127.0.0.1:9/api"
    flows_bridge.forget_server()
    assert flows_bridge.configured_server() is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".env", "PREFECT_API_URL=http://127.0.0.1:9/api\n"),
        ("prefect.toml", '[api]\nurl = "http://127.0.0.1:9/api"\n'),
        ("pyproject.toml", '[tool.prefect.api]\nurl = "http://127.0.0.1:9/api"\n'),
    ],
)
def test_a_server_named_in_a_settings_file_is_configured_and_forgotten(tmp_path, monkeypatch, name, text):
    """Prefect reads PREFECT_API_URL from .env, prefect.toml and pyproject.toml in the working
    directory too: pinlake sees that server as configured, and the demo's forget_server() leaves it."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)
    assert flows_bridge.configured_server() is None
    (tmp_path / name).write_text(text)
    assert flows_bridge.configured_server() == "http://127.0.0.1:9/api"
    down = flows_bridge.configured_server_down()
    assert down is not None and "127.0.0.1:9" in down.message
    flows_bridge.forget_server()
    assert flows_bridge.configured_server() is None and flows_bridge.configured_server_down() is None
