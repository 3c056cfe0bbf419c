"""The tariff book pages: the list of loaded versions and one version's tables, rates and rules, for staff
with ``tariffs.view`` only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from barq.calendar import fa_digits, fa_number
from barq.rating.book import load_default_library
from barq.web.routes import tariffs
from tests.factories import World
from tests.web.helpers import login, make_app_client


def client_for(world: World, username: str | None) -> TestClient:
    """A test client on the app as ``make_app_client`` makes it, signed in as ``username`` if given."""
    client = make_app_client(world)
    if username is not None:
        login(client, username)
    return client


def section(html: str, anchor: str) -> str:
    """The HTML of the element with id ``anchor`` up to the next rate table (or the end of its group)."""
    start = html.index(f'id="{anchor}"')
    end = html.find("</article>", start)
    return html[start:end]


def test_list_shows_every_version_with_jalali_dates_and_the_example_flag(world: World) -> None:
    page = client_for(world, "admin").get("/tariffs")
    assert page.status_code == 200, page.text
    html = page.text
    for version in ("1400", "1401"):
        assert f'href="/tariffs/{version}"' in html
        assert fa_digits(version) in html
    # 1400 runs to its effective_to, 1401 until the next book; both are example books.
    assert "۱۴۰۰/۰۱/۰۱" in html and "۱۴۰۰/۱۲/۲۹" in html and "۱۴۰۱/۰۱/۰۱" in html
    assert "تا نسخه بعدی" in html
    assert html.count(tariffs.EXAMPLE_LABEL) == 2
    # the test clock stands in 1405, so 1401 (open-ended) is the book in force
    assert html.count("در حال اجرا") == 1
    assert html.index("در حال اجرا") > html.index('href="/tariffs/1401"')
    assert html.index('href="/tariffs/1401"') < html.index('href="/tariffs/1400"')  # newest first


def test_detail_1400_shows_the_residential_tables_with_conditions_in_persian_digits(world: World) -> None:
    page = client_for(world, "admin").get("/tariffs/1400")
    assert page.status_code == 200, page.text
    html = page.text
    assert tariffs.EXAMPLE_LABEL in html
    within = section(html, "g1-within_pattern")
    assert [fa_number(r) for r in (600, 700, 1500)] == re.findall(r'<td class="num">([^<]+)</td>', within)
    assert "۰ تا ۱۰۰" in within and "۲۰۰ تا ۳۰۰" in within
    assert "منطقه عادی" in within and "ماه‌های غیرگرم" in within and "متعارف" in within
    high = section(html, "g1-high_user")
    rates = [913, 1061, 2278, 4100, 4710, 5025, 6534]
    assert [fa_number(r) for r in rates] == re.findall(r'<td class="num">([^<]+)</td>', high)
    assert "بیش از ۶۰۰" in high and "پرمصرف" in high
    warm = section(html, "g1-tropical4_warm_within")
    assert "منطقه گرمسیر ۴" in warm and "ماه‌های گرم" in warm and "۴۸۲" in warm
    assert "600" not in within and "913" not in high  # no Latin digits in the rates


def test_detail_shows_zones_tou_demand_and_add_ons(world: World) -> None:
    html = client_for(world, "admin").get("/tariffs/1400").text
    zones = html[html.index('id="zones"') : html.index('id="tou"')]
    assert "خرداد، تیر، مرداد، شهریور" in zones  # the normal zone's warm months
    assert "اردیبهشت، خرداد، تیر، مرداد، شهریور، مهر" in zones  # tropical 1 (example window)
    assert "۲۰۰" in zones and "۳٬۰۰۰" in zones  # patterns
    tou = html[html.index('id="tou"') : html.index('id="g1"')]
    assert "۱۹:۰۰ تا ۲۳:۰۰" in tou and "۲۳:۰۰ تا ۰۷:۰۰" in tou
    assert "فروردین، اردیبهشت، خرداد، تیر، مرداد، شهریور" in tou
    charges = html[html.index('id="charges"') : html.index('id="zones"')]
    assert "۱۱٬۷۷۰ ریال" in charges  # fixed charge per 30 days
    assert "۱۰٪" in charges and "۹٪" in charges  # levy, VAT
    assert "۱۰۰/۳ ریال در روز" in charges and "۱٬۰۰۰ ریال در ۳۰ روز" in charges  # insurance
    assert "f = min(۵, ۱ + (N − ۱) × ۰٫۵)" in html  # household factor
    assert "گواهی پزشکی" in html
    group4 = html[html.index('id="g4"') : html.index('id="g5"')]
    assert "۴-الف-۲" in group4 and "دیماندی" in group4 and "۳۶٬۰۰۰ ریال بر کیلووات" in group4
    assert "۱٬۱۴۸" in group4 and "۲٬۲۹۶" in group4  # base rate and its peak rate (× 2)
    assert 'href="#g4-industry_demand"' in group4  # a sub-code links to the rates that price it
    assert 'id="g4-industry_demand"' in group4


def test_detail_1401_is_1400_plus_46(world: World) -> None:
    html = client_for(world, "clerk").get("/tariffs/1401").text
    high = section(html, "g1-high_user")
    book = load_default_library().get("1401")
    expected = [fa_number(int(s.rate)) for s in book.groups[1].tables["high_user"].steps]
    assert expected[:2] == ["۹۵۹", "۱٬۱۰۷"]
    assert expected == re.findall(r'<td class="num">([^<]+)</td>', high)
    assert "تا آغاز نسخه بعدی" in html


def test_unknown_version_is_not_found(world: World) -> None:
    page = client_for(world, "admin").get("/tariffs/1399")
    assert page.status_code == 404
    assert "۱۳۹۹" in page.text


@pytest.mark.parametrize("url", ["/tariffs", "/tariffs/1400"])
def test_field_worker_without_the_permission_is_refused(world: World, url: str) -> None:
    page = client_for(world, "field").get(url)
    assert page.status_code == 403
    assert "۶۰۰" not in page.text


def test_anonymous_is_sent_to_sign_in(world: World) -> None:
    page = client_for(world, None).get("/tariffs/1400", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
