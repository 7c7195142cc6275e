"""The waits before a flow task's further attempts after an I/O error (``PINLAKE_FLOW_RETRY_DELAYS``)."""

from __future__ import annotations

import pytest

from flows.policy import DEFAULT_RETRY_DELAYS, retry_delays
from pinlake.errors import PinlakeError


def test_default_is_two_retries_one_then_five_seconds_later(monkeypatch):
    monkeypatch.delenv("PINLAKE_FLOW_RETRY_DELAYS", raising=False)
    assert retry_delays() == [1.0, 5.0] == retry_delays(DEFAULT_RETRY_DELAYS)


@pytest.mark.parametrize(
    ("text", "delays"),
    [("0.5", [0.5]), ("0, 2,10", [0.0, 2.0, 10.0]), ("", []), (" ", []), ("86400", [86400.0]), (",".join(["1"] * 50), [1.0] * 50)],
)
def test_setting_is_comma_separated_seconds(monkeypatch, text, delays):
    monkeypatch.setenv("PINLAKE_FLOW_RETRY_DELAYS", text)
    assert retry_delays() == delays


@pytest.mark.parametrize("text", ["soon", "1,x", "-1", "nan", "inf", "1;5", "1,,5", ",", "1e308", "86401", ",".join(["1"] * 51)])
def test_anything_else_is_one_error_naming_the_variable(text):
    with pytest.raises(PinlakeError, match=r"^PINLAKE_FLOW_RETRY_DELAYS='.*' is not a list of seconds$") as err:
        retry_delays(text)
    assert err.value.hint and "PINLAKE_FLOW_RETRY_DELAYS=1,5" in err.value.hint
