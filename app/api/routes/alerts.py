"""GET /alerts/rules: the stuck-thread alert rules this server was started with, for the
status page and for operators. Webhook URLs are left out (they may carry a token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from threadwatch.domain import ThreadStatus

router = APIRouter(prefix="/alerts", tags=["alerts"])


class AlertRuleView(BaseModel):
    """A rule as the API shows it: threads in ``status`` for more than ``older_than``
    seconds whose metadata contains ``metadata`` are stuck."""

    name: str
    status: ThreadStatus
    older_than: float
    metadata: dict[str, Any]


@router.get("/rules")
def alert_rules(request: Request) -> list[AlertRuleView]:
    """Every configured rule, in configuration order (an empty list when there are none).
    Search ``{status, metadata, min_status_age_seconds: older_than}`` lists its threads."""
    rules = getattr(request.app.state, "alert_rules", None) or []
    return [
        AlertRuleView(
            name=rule.name,
            status=rule.status,
            older_than=rule.older_than,
            metadata=rule.metadata or {},
        )
        for rule in rules
    ]
