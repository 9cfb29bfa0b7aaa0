"""schemathesis over every operation of the served OpenAPI document, in process on
fakeredis: no answer is a 5xx. The operations that wait for a run to end (streams, joins,
waits) are left out: no worker runs here, so they would wait for their timeout."""

from __future__ import annotations

import fakeredis
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import make_client

WAITING = r".*(/stream|/join|/wait|/commands).*"

_client = make_client(
    fakeredis.FakeRedis(), graphs=load_project_graphs(FIXTURES / "graphs" / "project")
)
# The document as served; the calls go through the client, which has no lifespan (no
# Redis connection: the stores are fakeredis's).
schema = schemathesis.openapi.from_dict(_client.app.openapi()).exclude(path_regex=WAITING)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: schemathesis.Case) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("cookies", None)  # the API reads none
    if isinstance(kwargs.get("data"), str | bytes):  # raw bodies: httpx's own name for them
        kwargs["content"] = kwargs.pop("data")
    response = _client.request(**kwargs)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
