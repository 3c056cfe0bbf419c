"""The public bill calculator: the page ``/quote`` and ``POST /api/v1/quote``, both without signing in.

The worked example of domain.md §3 and ``barq.rating.engine``: book 1400, normal zone, Aban (30 days), 180 kWh,
one household: step 1 60,000 + step 2 56,000; fixed charge 11,770; levy 11,600; VAT 11,499; insurance 1,000;
total 151,869, payable 151,000, carry 869.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from barq.rating.book import load_default_library
from barq.rating.quote import quote
from barq.web.routes import tariffs
from tests.factories import World
from tests.web.helpers import login, make_app_client

PROBLEM = "application/problem+json"
ABAN = {"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": "180"}


@pytest.fixture
def client(world: World) -> TestClient:
    """A client on the app as ``make_app_client`` makes it, not signed in."""
    return make_app_client(world)


def field_html(html: str, name: str) -> str:
    """The markup of the form field ``name`` (its wrapper, input and error)."""
    start = html.index(f'<label for="f-{name}"')
    start = html.rindex('<div class="field', 0, start)
    end = html.index("</div>", html.index(f'id="f-{name}"'))
    return html[start:end]


# ------------------------------------------------------------------------------------------------ the page


def test_form_opens_without_signing_in(client: TestClient) -> None:
    page = client.get("/quote")
    assert page.status_code == 200, page.text
    html = page.text
    assert "محاسبه‌گر قبض برق" in html and "خروج" not in html
    for name in ("group", "zone", "from", "to", "kwh", "peak", "offpeak", "households", "demand_kw"):
        assert f'name="{name}"' in html, name
    assert 'name="medical"' in html and 'type="checkbox"' in html
    for code in ("1", "2-الف-1", "2-الف-2", "3-ب", "4-ب", "5-الف", "5-ب"):
        assert f'<option value="{code}"' in html, code
    assert 'data-demand="1"' in field_html(html, "group")
    assert "گرمسیر ۴" in field_html(html, "zone")
    for name in ("from", "to"):
        assert "data-jdp" in field_html(html, name)
    # the test clock stands on 1405/09/07: the form offers the last whole month
    assert 'value="1405/08/01"' in field_html(html, "from") and 'value="1405/09/01"' in field_html(html, "to")
    assert tariffs.EXAMPLE_LABEL in html
    assert 'class="field-error"' not in html


def test_quote_shows_the_lines_in_persian_digits(client: TestClient) -> None:
    page = client.get("/quote", params=ABAN)
    assert page.status_code == 200, page.text
    html = page.text
    result = html[html.index("quote-result") :]
    rows = re.findall(
        r"<tr class=\"[^\"]*\">\s*<td>([^<]+)</td>.*?<td class=\"num\">([^<]+)</td>\s*</tr>", result, re.S
    )
    assert rows == [
        ("بهای انرژی پله ۱", "۶۰٬۰۰۰"),
        ("بهای انرژی پله ۲", "۵۶٬۰۰۰"),
        ("آبونمان", "۱۱٬۷۷۰"),
        ("عوارض برق", "۱۱٬۶۰۰"),
        ("مالیات بر ارزش افزوده", "۱۱٬۴۹۹"),
        ("بیمه مشترکین", "۱٬۰۰۰"),
        ("کسر هزار ریال", "\u202a-۸۶۹\u202c"),
    ]
    assert '<td class="num">۱۰۰ <span class="u">کیلووات‌ساعت</span></td>' in result
    assert '<td class="num">۶۰۰</td>' in result and '<td class="num">۹٪</td>' in result
    assert "۱۵۱٬۸۶۹" in result and "۱۵۱٬۰۰۰" in result and ">۸۶۹<" in result
    assert "تعرفه ۱۴۰۰" in result and "۳۰ روز" in result
    assert tariffs.EXAMPLE_LABEL in result
    assert 'value="180"' in field_html(html, "kwh")  # the form keeps what was typed


def test_persian_digits_and_separators_are_read(client: TestClient) -> None:
    params = {**ABAN, "kwh": "۱۸۰", "from": "۱۴۰۰/۰۸/۰۱", "to": "۱۴۰۰-۰۹-۰۱"}
    page = client.get("/quote", params=params)
    assert page.status_code == 200, page.text
    assert "۱۵۱٬۰۰۰" in page.text
    assert client.get("/quote", params={**ABAN, "kwh": "1,800"}).status_code == 200


def test_a_period_across_two_versions_is_shown_in_parts(client: TestClient) -> None:
    page = client.get("/quote", params={**ABAN, "from": "1400/12/15", "to": "1401/01/15"})
    assert page.status_code == 200, page.text
    parts = re.findall(r'<tr class="part"><th colspan="4">([^<]+)</th></tr>', page.text)
    assert len(parts) == 2
    assert "تعرفه ۱۴۰۰" in parts[0] and "تعرفه ۱۴۰۱" in parts[1]
    assert "تعرفه ۱۴۰۰ و ۱۴۰۱" in page.text


def test_a_signed_in_user_keeps_the_menu(world: World, client: TestClient) -> None:
    login(client, "admin")
    page = client.get("/quote", params=ABAN)
    assert page.status_code == 200
    assert "خروج" in page.text and "۱۵۱٬۰۰۰" in page.text


BAD_INPUTS: list[tuple[dict[str, str], str, str]] = [
    ({"kwh": "-5"}, "kwh", "منفی"),
    ({"kwh": ""}, "kwh", "وارد کنید"),
    ({"kwh": "یکصد"}, "kwh", "عدد صحیح"),
    ({"kwh": "12345678901"}, "kwh", "بزرگ"),
    ({"peak": "150", "offpeak": "50"}, "peak", "بیشتر"),
    ({"offpeak": "-1"}, "offpeak", "منفی"),
    ({"from": "1400/09/01", "to": "1400/08/01"}, "to", "بعد از"),
    ({"to": "1400/08/01"}, "to", "بعد از"),
    ({"to": "1400/13/01"}, "to", "وجود ندارد"),
    ({"from": "1400/12/30", "to": "1401/01/30"}, "from", "وجود ندارد"),  # 1400 is not a leap year
    ({"from": "14000801"}, "from", "۱۴۰۰/۰۸/۰۱"),
    ({"from": "1399/08/01", "to": "1399/09/01"}, "from", "کتاب تعرفه"),
    ({"to": "1401/09/02"}, "to", "۳۶۶"),
    ({"group": "9"}, "group", "گروه تعرفه"),
    ({"group": "6-ز"}, "group", "زیرگروه"),
    ({"zone": "arctic"}, "zone", "منطقه"),
    ({"households": "0"}, "households", "خانوار"),
    ({"demand_kw": "50"}, "demand_kw", "دیماندی نیست"),
    ({"group": "5-ب"}, "demand_kw", "قدرت"),
    ({"group": "2", "medical": "1"}, "medical", "خانگی"),
]


@pytest.mark.parametrize(("changes", "field", "words"), BAD_INPUTS, ids=[f"{c}" for c, _, _ in BAD_INPUTS])
def test_bad_input_on_the_page_is_422_with_the_message_beside_the_field(
    client: TestClient, changes: dict[str, str], field: str, words: str
) -> None:
    page = client.get("/quote", params={**ABAN, **changes})
    assert page.status_code == 422, page.text
    html = page.text
    assert "quote-result" in html and "صورتحساب فرضی" not in html  # no lines
    errors = dict(re.findall(r'<small class="field-error" id="e-([a-z_]+)" role="alert">([^<]+)</small>', html))
    assert list(errors) == [field]
    assert words in errors[field]
    assert re.search("[\u0600-\u06ff]", errors[field])  # Persian
    assert 'aria-invalid="true"' in field_html(html, field)


# ------------------------------------------------------------------------------------------------- the API


def test_api_quote_needs_no_key_and_equals_the_quote_function(client: TestClient) -> None:
    body = {"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": 180}
    response = client.post("/api/v1/quote", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    bill = quote(
        load_default_library(), group="1", zone="normal", from_date="1400/08/01", to_date="1400/09/01", kwh=180
    )
    assert got["lines"] == [
        {
            "code": ln.code,
            "title": ln.title_fa,
            "quantity": str(ln.quantity),
            "rate": str(ln.rate),
            "amount": ln.amount,
            "version": ln.version,
        }
        for ln in bill.lines
    ]
    assert (
        (got["total"], got["payable"], got["carry"]) == (bill.total, bill.payable, bill.carry) == (151869, 151000, 869)
    )
    assert got["version"] == "1400" and got["days"] == 30 and got["example"] is True
    assert got["lines"][0] == {
        "code": "energy_step_1",
        "title": "بهای انرژی پله ۱",
        "quantity": "100",
        "rate": "600",
        "amount": 60000,
        "version": "1400",
    }
    assert all(isinstance(line["amount"], int) for line in got["lines"])
    assert sum(line["amount"] for line in got["lines"]) == got["payable"]


def test_api_quote_with_tou_demand_and_a_group_number(client: TestClient) -> None:
    body: dict[str, Any] = {
        "group": 4,
        "zone": "tropical1",
        "from": "۱۴۰۱/۰۴/۰۱",
        "to": "1401/05/01",
        "kwh": 52000,
        "peak": 9000,
        "offpeak": 15000,
    }
    response = client.post("/api/v1/quote", json=body)
    assert response.status_code == 200, response.text
    codes = [line["code"] for line in response.json()["lines"]]
    assert codes[:3] == ["energy_mid", "energy_peak", "energy_offpeak"] and "demand_charge" not in codes
    demand = client.post("/api/v1/quote", json={**body, "group": "4-الف-2", "demand_kw": 150})
    assert demand.status_code == 200, demand.text
    assert "demand_charge" in [line["code"] for line in demand.json()["lines"]]
    assert demand.json()["version"] == "1401"


API_BAD: list[tuple[dict[str, Any], str]] = [
    ({"kwh": -5}, "kwh"),
    ({"peak": 150, "offpeak": 50}, "peak"),
    ({"from": "1400/09/01", "to": "1400/08/01"}, "to"),
    ({"to": "1400/02/31x"}, "to"),
    ({"from": "1400/12/30"}, "from"),
    ({"group": "9"}, "group"),
    ({"group": "ن"}, "group"),
    ({"zone": "arctic"}, "zone"),
    ({"households": 0}, "households"),
    ({"demand_kw": 10}, "demand_kw"),
    ({"medical": True, "group": "3"}, "medical"),
]


@pytest.mark.parametrize(("changes", "field"), API_BAD, ids=[f"{c}" for c, _ in API_BAD])
def test_api_bad_input_is_a_problem_naming_the_field(client: TestClient, changes: dict[str, Any], field: str) -> None:
    body = {"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": 180, **changes}
    response = client.post("/api/v1/quote", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["code"] == "validation_error" and problem["instance"] == "/api/v1/quote"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert re.search("[\u0600-\u06ff]", problem["errors"][0]["message_fa"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01"}, "kwh"),
        ({"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": 180.5}, "kwh"),
        ({"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": 10**12}, "kwh"),
        ({"group": "1", "zone": "normal", "from": "1400/08/01", "to": "1400/09/01", "kwh": 1, "mid": 1}, "mid"),
        ({"group": "1", "zone": "normal", "to": "1400/09/01", "kwh": 1}, "from"),
    ],
)
def test_api_malformed_body_is_a_problem_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/quote", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in response.json()["errors"]]


def test_openapi_says_the_quote_is_public(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/quote"]["post"]
    assert op["security"] == [] and op["tags"] == ["quote"]
    assert "no API key" in op["description"]
    assert PROBLEM in op["responses"]["422"]["content"]
    assert "401" not in op["responses"]
    body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][body]
    assert {"group", "zone", "from", "to", "kwh"} <= set(schema["required"])
    assert schema["examples"][0]["kwh"] == 180
    out = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][out]["examples"][0]["payable"] == 151000


def test_typed_text_comes_back_escaped(client: TestClient) -> None:
    page = client.get("/quote", params={**ABAN, "zone": "<script>x</script>", "group": '"><b>g'})
    assert page.status_code == 422
    assert "<script>x</script>" not in page.text and '"><b>g' not in page.text
    assert "&lt;script&gt;" in page.text
