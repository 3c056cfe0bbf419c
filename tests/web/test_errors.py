from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tests.factories import World
from tests.web.helpers import make_app_client


def test_unknown_paths_and_methods_are_problems_under_api_and_persian_pages_elsewhere(world: World) -> None:
    client = make_app_client(world)
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    wrong = client.delete("/api/v1/quote")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and 'dir="rtl"' in page.text and "نشانی پیدا نشد" in page.text


# the API description is public (it documents, it serves no data); /logout ends nothing without a session
PUBLIC = {
    "/login",
    "/health",
    "/quote",
    "/self-read",
    "/pay",
    "/pay/start",
    "/pay/callback",
    "/pay/result/{token}",
    "/dev-gateway/{token}",
    "/api/v1/quote",
    "/api/v1/openapi.json",
    "/api/docs",
    "/docs/oauth2-redirect",
    "/logout",
}


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, with those of included routers (FastAPI keeps an included router as one entry)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from (_flat(included.routes) if included is not None else [route])


def test_every_page_and_endpoint_needs_a_login_except_the_public_ones(world: World) -> None:
    client = make_app_client(world)
    checked = 0
    for route in _flat(client.app.routes):  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if not path or path in PUBLIC or path.startswith("/static") or path.startswith("/api/docs"):
            continue
        url = path.replace("{", "").replace("}", "")
        for name in (
            "customer_id",
            "subscription_id",
            "meter_id",
            "work_order_id",
            "premises_id",
            "bill_id",
            "run_id",
            "version",
            "verb",
            "action",
        ):
            url = url.replace(name, "1")
        for method in methods & {"GET", "POST", "PUT", "DELETE"}:
            response = client.request(method, url, follow_redirects=False)
            if path.startswith("/api/"):
                assert response.status_code in (401, 422), (method, path, response.status_code)
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/login"), (method, path)
            checked += 1
    assert checked > 40
