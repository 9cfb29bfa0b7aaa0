"""All settings in one typed class; environment prefix THREADWATCH_, `.env` supported."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADWATCH_", env_file=".env", extra="ignore")

    # REDIS_URL is the name every PaaS and compose file uses; THREADWATCH_REDIS_URL also works.
    # None means "start an embedded Redis" (threadwatch dev only).
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "THREADWATCH_REDIS_URL")
    )
    key_prefix: str = "tw:"
    host: str = "127.0.0.1"
    port: int = 8123
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Seconds a client has to send a request's whole body (a slow sender gets 408).
    max_body_seconds: float = Field(default=30, gt=0, le=3600)
    # Bytes a request's line and headers may take (more gets 431: app/api/http_protocol.py).
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    # Where `threadwatch dev` keeps the embedded Redis's data between restarts.
    data_dir: str = ".threadwatch"
    log_level: str = "info"
    # Search planner: walk the sort index when it is expected to read fewer ids than this
    # many times the intersection would; the walk gives up after walk_budget ids.
    search_walk_budget: int = Field(default=20_000, ge=100)
    # The langgraph.json whose graphs run here (a file, or a folder holding one); None looks
    # for ./langgraph.json and runs without graphs when there is none. CLI: --config.
    graphs_config: str | None = None
    # Runs one `threadwatch worker` process executes at once (LangGraph's default: 10).
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    # A run still going after this many seconds ends as `timeout` (LangGraph: 86400).
    run_timeout_seconds: float = Field(default=86_400, gt=0)
    # Webhook targets on loopback or private networks (127/8, ::1, 10/8, 172.16/12,
    # 192.168/16, 100.64/10, fc00::/7, localhost, *.svc.cluster.local) are refused unless
    # this is set: an SSRF guard (LangGraph refuses loopback by default, private networks
    # only with webhooks.url.disable_private_ips). Link-local (cloud metadata), multicast and
    # reserved addresses are refused even then. Env THREADWATCH_WEBHOOK_ALLOW_PRIVATE.
    webhook_allow_private: bool = False
    # Standard Webhooks signing secret for run webhooks: "whsec_<base64>" or a raw string;
    # None sends them unsigned (LangGraph does not sign).
    webhook_secret: str | None = None

    # -- liveness (leases and the sweeper) ---------------------------------------------
    # A running run's lease: its worker renews it every third of this; a run whose lease
    # ran out is lost (its worker died) and the sweeper ends it. External runtimes may
    # send their own `lease_seconds` with run.started / run.heartbeat.
    lease_seconds: float = Field(default=30, ge=1, le=86_400)
    # Seconds between sweeps (lost runs, expired TTLs, stuck-thread alerts).
    sweep_interval_seconds: float = Field(default=15, ge=1, le=3600)
    # API processes sweep, and deliver webhooks, when no worker does (app/ops/watchdog.py).
    api_watchdog: bool = True
    # A lost run of our workers is queued again this many times before it ends as
    # `error` {"error": "WorkerLost"}; 0 never re-runs a run (it may not be idempotent).
    run_retries: int = Field(default=0, ge=0, le=10)
    # Seconds between the workers' checks for due crons (LangGraph's scheduler: 5). A cron
    # fires within this much (plus about a second, RQ's scheduler's own tick) of its time.
    cron_interval_seconds: float = Field(default=5, ge=1, le=60)
    # Status changes kept per thread (GET /threads/{id}/transitions).
    status_history_limit: int = Field(default=100, ge=1, le=10_000)
    # Run records kept per thread, the newest; the sweep deletes older ended ones. 0 keeps
    # every run for as long as its thread (LangGraph's own server keeps them all).
    runs_kept_per_thread: int = Field(default=100, ge=0, le=100_000)
    # Seconds an ended run's record is kept after its end; the sweep deletes it then. 0 keeps
    # it as long as its thread and runs_kept_per_thread let it (LangGraph's own server keeps
    # runs until their thread goes). Applies to runs that end while it is set.
    ended_run_ttl_seconds: float = Field(default=0, ge=0, le=10 * 365 * 86_400)

    # -- stuck-thread alerts (app/ops/alerts) ----------------------------------------------
    # A YAML file with a top-level `rules:` list (docs/guides/alerts.md), and/or rules as a JSON
    # list in THREADWATCH_ALERT_RULES; rule names are unique across both.
    alert_rules_file: str | None = None
    alert_rules: list[dict[str, object]] = Field(default_factory=list)

    # -- security (app/api/security.py) ------------------------------------------------
    # API keys, comma-separated in THREADWATCH_API_KEYS ("key1,key2": several are accepted,
    # for rotation). When any is set, every request but GET /ok (and CORS preflights) needs
    # one in the `x-api-key` header, as the LangGraph SDKs send it (LANGGRAPH_API_KEY or
    # `api_key=`): 401 without it, 403 with a wrong one. Empty: no auth (`threadwatch dev`
    # always runs without). Kept out of the settings' repr.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    # Serve GET /metrics without a key even when api_keys is set (a Prometheus scraper on
    # a private network). Env THREADWATCH_METRICS_PUBLIC.
    metrics_public: bool = False
    # Browser origins allowed to call the API (CORS), comma-separated, e.g.
    # "https://ui.example.com,http://localhost:5173"; "*" allows any. Empty: CORS off.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Answer the Private Network Access preflight (`Access-Control-Request-Private-Network:
    # true` -> `Access-Control-Allow-Private-Network: true`) that Chrome sends before a
    # public page (Studio) calls a server on a private address. On under `threadwatch dev`,
    # as LangGraph's ALLOW_PRIVATE_NETWORK under `langgraph dev`. Only with cors_origins.
    cors_allow_private_network: bool = False

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """`a, b` -> ["a", "b"] (blank items dropped); lists pass through."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
