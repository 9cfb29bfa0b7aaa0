"""The settings table of the docs (docs/operations/settings.md) lists every field of
app/settings.py, exactly once, with its environment variable and its default, and nothing
that is not a setting: a setting added, renamed or given another default without the table
fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from tests.support import REPO_ROOT
from threadwatch.settings import Settings

SETTINGS_PAGE = Path(REPO_ROOT) / "docs" / "operations" / "settings.md"
HEADER = "| setting | environment variable | default | meaning |"


def table_rows() -> dict[str, list[str]]:
    """The rows of the settings page's one settings table, by setting name."""
    text = SETTINGS_PAGE.read_text()
    assert text.count("\n| setting ") == 1, "one settings table"
    lines = text[text.index(HEADER) :].splitlines()
    assert re.fullmatch(r"\|(---\|)+", lines[1]), lines[1]
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        assert len(cells) == 4, line
        name = cells[0].strip("`")
        assert name not in rows, f"{name} twice"
        rows[name] = cells
    return rows


def env_var(name: str) -> str:
    return "REDIS_URL" if name == "redis_url" else f"THREADWATCH_{name.upper()}"


def default_cell(field: FieldInfo) -> str:
    """How the table writes a default: `value` (booleans in lower case, whole floats without
    .0), "unset" for None and "empty" for an empty list."""
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == []:
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def test_every_setting_is_in_the_table_and_only_settings() -> None:
    assert set(table_rows()) == set(Settings.model_fields)


def test_each_row_names_the_environment_variable_and_the_default() -> None:
    rows = table_rows()
    for name, field in Settings.model_fields.items():
        _, variable, default, meaning = rows[name]
        assert variable.split()[0] == f"`{env_var(name)}`", (name, variable)
        assert default == default_cell(field), (name, default)
        assert meaning, name


def test_the_environment_variables_are_the_ones_settings_reads(monkeypatch: Any) -> None:
    """env_var() is right: the prefix, one alias (REDIS_URL), and both work."""
    assert Settings.model_config["env_prefix"] == "THREADWATCH_"
    aliased = {name for name, field in Settings.model_fields.items() if field.validation_alias}
    assert aliased == {"redis_url"}
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/3")
    monkeypatch.setenv("THREADWATCH_SEARCH_WALK_BUDGET", "1234")
    settings = Settings(_env_file=None)
    assert (settings.redis_url, settings.search_walk_budget) == ("redis://example:6379/3", 1234)
