"""Cron schedule math: which schedules and time zones are valid, and when one fires next.

croniter does the parsing and the stepping, as on LangGraph's server, so that a schedule
means the same thing on both: five fields (minute hour day-of-month month day-of-week), an
optional sixth for seconds, and the ``@hourly``-style aliases. Schedules are read in their
IANA time zone (UTC when none), so that ``0 9 * * *`` in Europe/Paris is 9:00 in Paris
across daylight-saving changes; every time here is an aware datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from threadwatch.errors import InvalidInputError


def check_schedule(schedule: str) -> str:
    """``schedule`` if croniter can step it; else LangGraph's 422 text."""
    if not croniter.is_valid(schedule):
        raise InvalidInputError(
            f"Invalid cron schedule: '{schedule}'. Reason: Invalid cron schedule. Ensure the "
            "schedule uses the standard cron format (minute hour day_of_month month "
            "day_of_week). Example: '*/5 * * * *' for every 5 minutes."
        )
    return schedule


def check_timezone(timezone: str | None) -> str | None:
    """``timezone`` if it names an IANA zone (None stays None: UTC); else LangGraph's 422."""
    if timezone is None:
        return None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, KeyError):
        raise InvalidInputError(
            f"Invalid timezone: '{timezone}'. Use IANA timezone format (e.g. 'America/New_York')."
        ) from None
    return timezone


class NeverFires(InvalidInputError):
    """A schedule croniter accepts that no time matches (``0 0 31 2 *``), or none after a
    given time: a 422 at create or patch (LangGraph answers 500), no more firings later."""

    def __init__(self, schedule: str) -> None:
        super().__init__(
            f"Invalid cron schedule: '{schedule}'. Reason: no date matches it. Ensure the "
            "schedule uses the standard cron format (minute hour day_of_month month "
            "day_of_week). Example: '*/5 * * * *' for every 5 minutes."
        )


def next_firing(schedule: str, after: datetime, timezone: str | None = None) -> datetime:
    """The first time strictly after ``after`` that ``schedule`` fires, in UTC; NeverFires
    when there is none."""
    base = after.astimezone(ZoneInfo(timezone) if timezone else UTC)
    try:
        following: datetime = croniter(schedule, base).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError):
        raise NeverFires(schedule) from None
    return following.astimezone(UTC)
