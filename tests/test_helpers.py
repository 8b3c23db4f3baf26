"""The test suite's own helpers: a missing prerequisite skips locally and fails in CI."""

from __future__ import annotations

import pytest
from helpers import require


@pytest.mark.parametrize("value", ["true", "1", "yes", "True"])
def test_missing_prerequisite_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"in CI.*no slurmctld"):
        require(False, "no slurmctld")


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_missing_prerequisite_skips_outside_ci(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="no slurmctld"):
        require(False, "no slurmctld")
    require(True, "never said")  # a present prerequisite neither skips nor fails
