"""Schemathesis over the API's GET operations: generated from the OpenAPI document, never a server error,
and every response as the document says (status, content type, body schema).

Valid and invalid inputs (schemathesis' positive and negative modes), with the keys of three users.
Bounded and deterministic (derandomised, 10 examples per operation, mode and key) so it runs in
seconds and fails the same way every time. Writes are left to the hand-written tests in ``test_api.py``.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from barq.settings import Settings
from barq.web.app import create_app
from tests.factories import COMPANY_CODE, World
from tests.web.test_api import make_key

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import Case  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.modes import GenerationMode  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
USERS = ("admin", "clerk11", "contrb")  # everything; one district; one contractor
GETS = {
    ("GET", "/api/v1" + path)
    for path in (
        "/customers",
        "/customers/{customer_id}",
        "/premises/{premises_id}",
        "/subscriptions",
        "/subscriptions/{subscription_id}",
        "/meters",
        "/meters/{meter_id}",
        "/work-orders",
        "/work-orders/{work_order_id}",
    )
}


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(
        Settings(database_url="sqlite://", company_code=COMPANY_CODE), engine=world.engine, clock=world.clock
    )


def test_get_operations_conform_and_never_fail(app: FastAPI, world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app).include(method="GET")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in operations} >= GETS
    for username in USERS:
        headers = {"X-API-Key": make_key(world, username)}
        for operation, mode in [(o, m) for o in operations for m in GenerationMode]:

            @settings(
                max_examples=10,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)  # noqa: B023 (run at once)

            run()
