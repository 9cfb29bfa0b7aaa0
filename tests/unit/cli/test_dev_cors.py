"""`threadwatch dev` opens CORS as `langgraph dev` does: any origin unless some are set, and
the Private Network Access preflight answered; the API it starts reads it as settings."""

from __future__ import annotations

import pytest

from threadwatch.cli.daemons import dev_cors_env
from threadwatch.settings import Settings


@pytest.mark.parametrize(
    ("origins", "expected"),
    [([], ["*"]), (["https://ui.example.com", "http://localhost:5173"], None)],
)
def test_dev_cors_env(
    monkeypatch: pytest.MonkeyPatch, origins: list[str], expected: list[str] | None
) -> None:
    env = dev_cors_env(origins)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == (expected or origins)
    assert settings.cors_allow_private_network is True
