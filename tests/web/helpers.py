"""Helpers for page tests: an app on the test world, signing in, and reading a form's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from barq.settings import Settings
from barq.web.app import create_app
from tests.factories import COMPANY_CODE, PASSWORD, World

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app_client(world: World) -> TestClient:
    url = world.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, company_code=COMPANY_CODE), engine=world.engine, clock=world.clock)
    return TestClient(app)


def form_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf(client: TestClient, url: str) -> str:
    """Open a page with a form and return the form's CSRF token."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    return form_token(page.text)


def signed_in(world: World, username: str) -> TestClient:
    client = make_app_client(world)
    login(client, username)
    return client
