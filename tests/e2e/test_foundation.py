"""Issue 2 in a real browser: sign in, find a customer by national code, open the subscription, create a
customer (first with a wrong national code), and take a work order from created to done."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from barq.connections.models import Subscription
from barq.customers.models import Customer
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, World


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="ورود").click()
    expect(page.get_by_role("heading", name="پیشخوان")).to_be_visible()


def test_clerk_day_in_the_browser(live_world: tuple[str, World], page: Page) -> None:
    base, world = live_world
    with world.session() as s:
        customer = s.get_one(Customer, world.customer_ids[0])
        sub = s.scalars(select(Subscription).where(Subscription.customer_id == customer.id)).one()
        national_code, bill_id, number = customer.national_code, sub.bill_id, sub.subscription_number
    assert national_code
    _login(page, base, "admin")
    assert page.evaluate("document.dir") == "rtl"

    # find the customer by national code (typed with Persian digits) and open the subscription
    page.fill("input[name=q]", national_code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    page.get_by_role("button", name="جستجو").click()
    expect(page.get_by_role("heading", name=customer.display_name)).to_be_visible()
    page.get_by_role("link", name=number.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))).click()
    expect(page.locator("main")).to_contain_text(bill_id.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))

    # a new customer: a wrong national code is refused beside the field, a right one is saved
    page.goto(f"{base}/customers/new")
    page.fill("#f-first_name", "مریم")
    page.fill("#f-last_name", "سپهوند")
    page.fill("#f-national_code", "1234567890")
    page.get_by_role("button", name="ذخیره").click()
    expect(page.locator("#e-national_code")).to_have_text("رقم کنترل کد ملی درست نیست")
    page.fill("#f-national_code", "0013542419")
    page.get_by_role("button", name="ذخیره").click()
    expect(page.get_by_role("heading", name="مریم سپهوند")).to_be_visible()
    expect(page.locator("main")).to_contain_text("۰۰۱۳۵۴۲۴۱۹")

    # a work order through its states
    page.goto(f"{base}/work-orders/new")
    page.select_option("#f-type_code", "inspection")
    page.select_option("#f-district_id", str(world.district_ids["11"]))
    page.fill("#f-subscription_number", number)
    page.get_by_role("button", name="صدور").click()
    expect(page.locator("h1 .badge")).to_have_text("ایجاد شده")
    page.select_option("#f-contractor_id", str(world.contractor_ids["a"]))
    page.locator("form.wo-assign button[type=submit]").click()
    expect(page.locator("h1 .badge")).to_have_text("واگذار شده")
    page.locator("form.wo-start button[type=submit]").click()
    expect(page.locator("h1 .badge")).to_have_text("در حال انجام")
    page.locator("form.wo-complete button[type=submit]").click()  # findings missing: refused
    expect(page.locator("#e-findings")).to_be_visible()
    page.check("form.wo-complete input[name=feasible]")
    page.fill("form.wo-complete #f-findings", "محل آماده برق‌رسانی است")
    page.locator("form.wo-complete button[type=submit]").click()
    expect(page.locator("h1 .badge")).to_have_text("انجام شده")
    expect(page.locator("main")).to_contain_text("محل آماده برق‌رسانی است")
    page.screenshot(path=str(ARTIFACTS / "work-order-done.png"), full_page=True)
