"""What a run takes from its assistant: its config, context and metadata merged under the
run's own, as langgraph-api merges them when it creates a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadwatch.errors import BadRequestError
from threadwatch.graphs.assistants import BOTH_CONFIGURABLE_AND_CONTEXT
from threadwatch.store.assistants import StoredAssistant


@dataclass(frozen=True)
class RunSettings:
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]


def run_settings(
    assistant: StoredAssistant,
    config: dict[str, Any] | None,
    context: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    thread_metadata: dict[str, Any] | None = None,
) -> RunSettings:
    """A run's config, context and metadata over its assistant's, merged as LangGraph merges
    them: the run's context and ``configurable`` mirror each other (its 400 when both are
    given), then top-level keys merge, ``configurable`` one level down, and the run's values
    win. The metadata: the assistant's, an existing thread's, the config's, the run's, and
    the assistant's id."""
    a, config = assistant.assistant, dict(config or {})
    own_configurable = _mapping(config.get("configurable"))
    if own_configurable and context:
        raise BadRequestError(BOTH_CONFIGURABLE_AND_CONTEXT)
    own_context = dict(context) if context else dict(own_configurable)
    configurable = {
        **_mapping(a["config"].get("configurable")),
        **(dict(context) if context else own_configurable),
    }
    run_metadata = {
        **a["metadata"],
        **(thread_metadata or {}),
        **_mapping(config.get("metadata")),
        **(metadata or {}),
        "assistant_id": a["assistant_id"],
    }
    return RunSettings(
        config={**a["config"], **config, "configurable": configurable},
        context={**a["context"], **own_context},
        metadata=run_metadata,
    )


def _mapping(value: Any) -> dict[str, Any]:
    """A config part that should be an object; anything else counts as empty."""
    return dict(value) if isinstance(value, dict) else {}
