"""Stuck-thread alert rules: their model, durations, and loading them from settings.

Rules come from a YAML file (setting ``alert_rules_file``, a top-level ``rules:`` list) and
from the ``alert_rules`` setting (a JSON list in THREADWATCH_ALERT_RULES). Every problem is an
AlertRuleError naming the source, the rule and the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from threadwatch.domain import ThreadStatus
from threadwatch.errors import WebhookUrlRejected
from threadwatch.settings import Settings
from threadwatch.store.metadata_index import CompiledFilter, compile_filter
from threadwatch.webhooks.policy import parse_webhook_url

# A rule's name becomes part of a Redis key (alert:{name}) and of metric fields.
RULE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
MAX_DURATION = 10 * 365 * 86_400  # ten years


class AlertRuleError(ValueError):
    """A rule (or the rules file) that cannot be used; the message says where and why."""


def parse_duration(value: Any) -> float:
    """Seconds of a duration: a number of seconds, or text like "90s", "15m", "2h", "1d"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 15m, 2h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match[1]) * UNIT_SECONDS[match[2] or "s"]
    else:
        raise ValueError(
            f"invalid duration {value!r}: a number of seconds or text like 90s, 15m, 2h, 1d"
        )
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} must be between 0 and ten years")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class AlertRule(BaseModel):
    """Alert when a thread has been in ``status`` for longer than ``older_than``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME)
    status: ThreadStatus
    older_than: Duration
    # Postgres-style containment on the thread's metadata, as in search.
    metadata: dict[str, Any] | None = None
    webhook: str
    # Seconds between re-notifications while the thread stays stuck; None notifies once.
    renotify_every: Duration | None = None

    @field_validator("webhook")
    @classmethod
    def _check_webhook(cls, url: str, info: ValidationInfo) -> str:
        """The URL policy of run webhooks (no DNS lookup here: each delivery checks it)."""
        allow_private = bool((info.context or {}).get("allow_private", False))
        try:
            return parse_webhook_url(url, allow_private).url
        except WebhookUrlRejected as exc:
            raise ValueError(exc.detail) from None

    @field_validator("renotify_every")
    @classmethod
    def _positive(cls, seconds: float | None) -> float | None:
        if seconds is not None and seconds <= 0:
            raise ValueError("must be more than 0 seconds (leave it out to notify once)")
        return seconds

    @property
    def older_than_us(self) -> int:
        return round(self.older_than * 1_000_000)

    @property
    def renotify_us(self) -> int:
        """The re-notify interval in µs; 0 notifies once."""
        return round(self.renotify_every * 1_000_000) if self.renotify_every else 0

    @cached_property
    def compiled_filter(self) -> CompiledFilter:
        return compile_filter(self.metadata or {})


def load_rules(settings: Settings) -> list[AlertRule]:
    """Every rule of the rules file and of the ``alert_rules`` setting, validated."""
    entries: list[tuple[str, int, Any]] = []
    if settings.alert_rules_file:
        path = settings.alert_rules_file
        entries += [(path, i, entry) for i, entry in enumerate(read_rules_file(path))]
    entries += [("THREADWATCH_ALERT_RULES", i, e) for i, e in enumerate(settings.alert_rules)]
    return validate_rules(entries, allow_private=settings.webhook_allow_private)


def read_rules_file(path: str | Path) -> list[Any]:
    """The ``rules:`` list of a YAML file (a bare list is accepted too; empty: none)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertRuleError(f"alert rules file {path}: cannot read it: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AlertRuleError(f"alert rules file {path}: invalid YAML: {exc}") from None
    rules = document.get("rules") if isinstance(document, dict) else document
    if isinstance(document, dict) and set(document) - {"rules"}:
        extra = ", ".join(sorted(map(str, set(document) - {"rules"})))
        raise AlertRuleError(f"alert rules file {path}: unknown top-level keys: {extra}")
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise AlertRuleError(f"alert rules file {path}: `rules` must be a list of rules")
    return rules


def validate_rules(
    entries: Iterable[tuple[str, int, Any]], *, allow_private: bool
) -> list[AlertRule]:
    """Rules from (source, index, raw rule); names must be unique across every source."""
    rules: list[AlertRule] = []
    seen: dict[str, str] = {}
    for source, index, raw in entries:
        where = _where(source, index, raw)
        if not isinstance(raw, dict):
            raise AlertRuleError(f"{where}: a rule is a mapping of name, status, older_than, ...")
        try:
            rule = AlertRule.model_validate(raw, context={"allow_private": allow_private})
        except ValidationError as exc:
            raise AlertRuleError(f"{where}: {_describe(exc)}") from None
        if rule.name in seen:
            raise AlertRuleError(f"{where}: duplicate rule name (also {seen[rule.name]})")
        seen[rule.name] = where
        rules.append(rule)
    return rules


def _where(source: str, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f"{name!r}" if isinstance(name, str) else f"#{index + 1}"
    return f"alert rule {label} ({source}, rule {index + 1})"


def _describe(exc: ValidationError) -> str:
    """'older_than: invalid duration ...; webhook: ...' (one part per field)."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "rule"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
