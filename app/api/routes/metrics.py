"""GET /metrics: Prometheus exposition of what every process wrote to Redis."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from threadwatch.api.deps import StoresDep
from threadwatch.ops.metrics import MetricsCollector
from threadwatch.queues import MAINTENANCE_QUEUE, RUNS_QUEUE, WEBHOOKS_QUEUE

router = APIRouter(tags=["metrics"])

QUEUES = (RUNS_QUEUE, WEBHOOKS_QUEUE, MAINTENANCE_QUEUE)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, stores: StoresDep) -> Response:
    """Gauges, counters and histograms read from Redis in one round trip (no process-local
    metrics: the answer is the same from any API process)."""
    rules = getattr(request.app.state, "alert_rules", None) or []
    collector = MetricsCollector(
        stores.redis,
        stores.threads.keys,
        queues=QUEUES,
        rules=[getattr(rule, "name", rule) for rule in rules],
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
