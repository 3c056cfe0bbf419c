from __future__ import annotations

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
