"""Cron schedule math (app/runs/cron_schedule.py): which schedules and zones are valid, with
LangGraph's 422 texts, and when a schedule fires next, time zones and DST included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from threadwatch.errors import InvalidInputError
from threadwatch.runs.cron_schedule import NeverFires, check_schedule, check_timezone, next_firing

AT = datetime(2026, 12, 7, 20, 37, 12, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["* * * * *", "*/5 * * * *", "0 9 * * 1-5", "@hourly"])
def test_standard_schedules_are_valid(schedule: str) -> None:
    assert check_schedule(schedule) == schedule


def test_a_sixth_field_counts_seconds_as_on_langgraph() -> None:
    assert next_firing("* * * * * */10", AT) == datetime(2026, 12, 7, 20, 37, 20, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["bad", "* * * *", "60 * * * *", "* * 32 * *", ""])
def test_invalid_schedules_get_langgraphs_text(schedule: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_schedule(schedule)
    assert caught.value.detail == (
        f"Invalid cron schedule: '{schedule}'. Reason: Invalid cron schedule. Ensure the "
        "schedule uses the standard cron format (minute hour day_of_month month "
        "day_of_week). Example: '*/5 * * * *' for every 5 minutes."
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "UTC+1"])
def test_unknown_zones_get_langgraphs_text(zone: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_timezone(zone)
    assert caught.value.detail == (
        f"Invalid timezone: '{zone}'. Use IANA timezone format (e.g. 'America/New_York')."
    )


def test_no_zone_is_utc() -> None:
    assert check_timezone(None) is None
    assert next_firing("0 9 * * *", AT) == datetime(2026, 12, 8, 9, tzinfo=UTC)


def test_the_next_firing_is_strictly_after() -> None:
    on_the_minute = datetime(2026, 12, 7, 20, 40, tzinfo=UTC)
    assert next_firing("*/5 * * * *", on_the_minute) == datetime(2026, 12, 7, 20, 45, tzinfo=UTC)


def test_a_zone_reads_the_schedule_in_local_time_across_dst() -> None:
    """9:00 in Paris is 8:00 UTC in winter and 7:00 UTC in summer."""
    assert next_firing("0 9 * * *", AT, "Europe/Paris") == datetime(2026, 12, 8, 8, tzinfo=UTC)
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    assert next_firing("0 9 * * *", summer, "Europe/Paris") == datetime(2026, 7, 1, 7, tzinfo=UTC)


def test_weekly_schedule_in_a_zone() -> None:
    """LangGraph's answer for the same cron: Monday 9:00 Paris -> 2026-12-14T08:00Z."""
    assert next_firing("0 9 * * 1", AT, "Europe/Paris") == datetime(2026, 12, 14, 8, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *"])
def test_a_schedule_no_date_matches_is_refused(schedule: str) -> None:
    """croniter accepts its syntax, but it never fires (LangGraph answers 500)."""
    assert check_schedule(schedule) == schedule
    with pytest.raises(NeverFires) as caught:
        next_firing(schedule, AT)
    assert caught.value.status_code == 422
    assert caught.value.detail.startswith(f"Invalid cron schedule: '{schedule}'. Reason: no date")
