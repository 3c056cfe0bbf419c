"""Receivables reports on a real database: aging first in, first out, the collection rate by district and
month, debt by organisation (government, other organisations, persons), a subscription's statement, and the
district scope. Bills come from real bill runs, payments through ``receive_payment``, on a fixed clock."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select

from barq.billing.models import Bill
from barq.billing.posting import post_fee
from barq.connections.models import Subscription
from barq.connections.service import open_subscription
from barq.customers.service import create_customer, create_premises
from barq.errors import NotFound, PermissionDenied
from barq.ids import make_legal_id, make_postal_code
from barq.ledger import postings as L
from barq.ledger.postings import AgingBucket as B
from barq.ledger.service import balances, post, verify
from barq.payments.models import Payment
from barq.payments.service import PaymentIn, receive_payment, reverse_payment
from barq.reports.receivables import (
    fifo_open,
    no_buckets,
    organisation_export,
    organisation_report,
    receivables_dashboard,
    recent_cycles,
    subscription_statement,
)
from tests.factories import COMPANY_CODE, World
from tests.ledger_factories import issue_bills

TODAY = date(2026, 11, 28)  # FixedClock's day: 1405/09/07
# (cycle, first read, last read, issue day): due = issue + 10 days, so each bill falls in its own bucket today
RUNS = (
    (140407, date(2025, 9, 24), date(2025, 10, 20), date(2025, 10, 25)),  # due 2025-11-04: > 365
    (140410, date(2025, 12, 22), date(2026, 1, 18), date(2026, 1, 23)),  # due 2026-02-02: 181–365
    (140502, date(2026, 4, 21), date(2026, 5, 19), date(2026, 5, 24)),  # due 2026-06-03: 91–180
    (140505, date(2026, 7, 23), date(2026, 8, 20), date(2026, 8, 25)),  # due 2026-09-04: 61–90
    (140506, date(2026, 8, 23), date(2026, 9, 20), date(2026, 9, 25)),  # due 2026-10-05: 31–60
    (140507, date(2026, 9, 23), date(2026, 10, 20), date(2026, 10, 25)),  # due 2026-11-04: 1–30
    (140508, date(2026, 10, 23), date(2026, 11, 19), date(2026, 11, 24)),  # due 2026-12-04: not due
)
BUCKET_OF_RUN = (B.OVER_365, B.D181_365, B.D91_180, B.D61_90, B.D31_60, B.D1_30, B.NOT_DUE)
KWH = {"a": (420, 380, 300, 260, 240, 120, 200), "b": (150, 170, 160, 180, 190, 200, 210), "c": (90,) * 7}
ORG_KWH = {"g11": (310, 450), "n11": (330, 470), "g12": (290, 520)}  # billed in the last two runs only


def at(day: date) -> datetime:
    return datetime.combine(day, time(6, 0), tzinfo=UTC)


@dataclass
class Scenario:
    world: World
    subs: dict[str, int]  # a, c (district 11), b (district 12); g11, n11 (district 11), g12 (district 12)
    customers: dict[str, int]
    bills: dict[str, list[Bill]]  # by subscription key, in run order
    on_account: int  # what b paid at the counter
    districts: dict[str, int]


def add_organisation(world: World, key: str, district: str, government: bool, rng: random.Random) -> tuple[int, int]:
    """An organisation customer with one subscription in ``district``: (customer id, subscription id)."""
    admin = world.principal("admin")
    district_id = world.district_ids[district]
    with world.session() as s:
        customer = create_customer(
            s,
            principal=admin,
            clock=world.clock,
            data={
                "kind": "organisation",
                "org_name": f"سازمان {key}",
                "legal_id": make_legal_id(rng),
                "is_government": "1" if government else "",
                "org_category": "education" if government else "company",
                "district_id": district_id,
            },
        )
        premises = create_premises(
            s,
            principal=admin,
            clock=world.clock,
            data={
                "district_id": district_id,
                "zone": "normal",
                "address": f"خرم‌آباد، خیابان {key}",
                "postal_code": make_postal_code(rng),
            },
        )
        sub = open_subscription(
            s,
            principal=admin,
            clock=world.clock,
            company_code=COMPANY_CODE,
            data={
                "customer_id": customer.id,
                "premises_id": premises.id,
                "tariff_group": 2,
                "tariff_sub_code": "2-الف-1",
                "phase": 3,
                "amperage": 32,
                "contract_kw": "15",
                "households": 1,
            },
        )
        s.commit()
        return customer.id, sub.id


def _bill_id(world: World, sid: int) -> str:
    with world.session() as s:
        return s.get_one(Subscription, sid).bill_id


def pay(world: World, sid: int, amount: int, payment_id: str, channel: str, trace: str, on: date) -> None:
    world.clock.moment = at(on)  # type: ignore[attr-defined]
    with world.session() as s:
        got = receive_payment(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            payment=PaymentIn(channel, trace, _bill_id(world, sid), payment_id, amount, on),
        )
        assert got.payment.status == "posted", got.payment.reason
        s.commit()


@pytest.fixture
def scenario(world: World) -> Scenario:
    rng = random.Random(11)
    a, b, c = world.subscription_ids  # districts 11, 12, 11
    subs = {"a": a, "b": b, "c": c}
    customers = {"a": world.customer_ids[0], "b": world.customer_ids[1], "c": world.customer_ids[2]}
    for key, district, gov in (("g11", "11", True), ("n11", "11", False), ("g12", "12", True)):
        customers[key], subs[key] = add_organisation(world, key, district, gov, rng)
    bills: dict[str, list[Bill]] = {k: [] for k in subs}
    on_account = 0
    for i, (cycle, prev, cur, issue) in enumerate(RUNS):
        kwh = {subs[k]: KWH[k][i] for k in "abc"}
        if i >= len(RUNS) - 2:
            kwh.update({subs[k]: ORG_KWH[k][i - len(RUNS) + 2] for k in ORG_KWH})
        world.clock.moment = at(issue)  # type: ignore[attr-defined]
        issued = issue_bills(world, cycle, kwh, prev=prev, cur=cur)
        for key, sid in subs.items():
            if sid in kwh:
                bills[key].append(issued[sid])
        if cycle == 140507:
            # a pays its newest overdue bill by its payment ID; first in, first out, that money settles its
            # oldest debt, so the 1–30 bucket keeps the bill it paid
            a6 = bills["a"][5]
            pay(world, a, a6.payable, a6.payment_id or "", "melli", "A-140507", date(2026, 10, 30))
            # g11 pays its first bill
            g6 = bills["g11"][0]
            pay(world, subs["g11"], g6.payable, g6.payment_id or "", "mellat", "G-140507", date(2026, 11, 2))
            # b pays everything it owes and 50,000 rials more at the counter, on account
            with world.session() as s:
                on_account = balances(s, b).receivable + 50_000
            pay(world, b, on_account, "", "counter", "C" + "1" * 22, date(2026, 11, 10))
    world.clock.moment = at(TODAY)  # type: ignore[attr-defined]
    return Scenario(world, subs, customers, bills, on_account, dict(world.district_ids))


def _payables(bills: list[Bill]) -> list[int]:
    return [x.payable for x in bills]


def test_aging_settles_the_oldest_debt_first(scenario: Scenario) -> None:
    sc = scenario
    a = _payables(sc.bills["a"])
    b = _payables(sc.bills["b"])
    c = _payables(sc.bills["c"])
    g11, n11, g12 = (_payables(sc.bills[k]) for k in ("g11", "n11", "g12"))
    assert all(x > 0 for x in a + b + c + g11 + n11 + g12)
    assert a[5] < a[0], "a's payment must be smaller than its oldest bill"
    # a: its payment of bill 6 settled that much of bill 1 (the oldest); everything newer is wholly open
    a_age = {bucket: a[i] for i, bucket in enumerate(BUCKET_OF_RUN)}
    a_age[B.OVER_365] = a[0] - a[5]
    # c pays nothing: every bill open in its bucket
    c_age = {bucket: c[i] for i, bucket in enumerate(BUCKET_OF_RUN)}
    # n11 pays nothing: its two bills are 1–30 and not due; g11 paid its first (1–30) bill
    d11 = no_buckets()
    for ages in (a_age, c_age):
        for bucket, amount in ages.items():
            d11[bucket] += amount
    d11[B.D1_30] += n11[0]
    d11[B.NOT_DUE] += n11[1] + g11[1]
    # b paid all it owed and 50,000 more: the credit went to its last bill as it was posted; g12 pays nothing
    d12 = no_buckets()
    d12[B.NOT_DUE] = b[6] - 50_000 + g12[1]
    d12[B.D1_30] = g12[0]

    with sc.world.session() as s:
        assert verify(s).ok
        board = receivables_dashboard(s, principal=sc.world.principal("admin"), clock=sc.world.clock)
    lines = {x.district_id: x for x in board.lines}
    one, two = lines[sc.districts["11"]], lines[sc.districts["12"]]
    assert one.aging == d11
    assert two.aging == d12
    assert (one.owed, two.owed) == (sum(d11.values()), sum(d12.values()))
    assert (one.debtors, two.debtors) == (4, 2)  # a, c, g11, n11 | b, g12
    assert (one.subscriptions, two.subscriptions) == (4, 2)
    assert (one.credit, two.credit) == (0, 0)  # b's 50,000 was used on its last bill
    assert board.total.aging == {k: d11[k] + d12[k] for k in d11}
    assert board.total.owed == one.owed + two.owed
    assert one.overdue == one.owed - d11[B.NOT_DUE]
    # districts without subscriptions are listed with nothing
    assert all(x.owed == 0 and x.subscriptions == 0 for x in board.lines if x not in (one, two))


def test_collection_rate_by_district_and_month(scenario: Scenario) -> None:
    sc = scenario
    bills = {k: _payables(v) for k, v in sc.bills.items()}
    with sc.world.session() as s:
        board = receivables_dashboard(s, principal=sc.world.principal("admin"), clock=sc.world.clock)
    assert board.cycles == recent_cycles(TODAY) == [*range(140410, 140413), *range(140501, 140510)]
    lines = {x.district_id: x for x in board.lines}
    one = {m.cycle: m for m in lines[sc.districts["11"]].months}
    two = {m.cycle: m for m in lines[sc.districts["12"]].months}
    # bills are counted in the Jalali month their run was issued: 1404/11, 1405/03, /06, /07, /08, /09;
    # the 1404/08 run is older than the twelve months
    issued_in = {140411: 1, 140503: 2, 140506: 3, 140507: 4, 140508: 5, 140509: 6}
    for cycle, i in issued_in.items():
        d11 = bills["a"][i] + bills["c"][i] + (bills["g11"][i - 5] + bills["n11"][i - 5] if i >= 5 else 0)
        d12 = bills["b"][i] + (bills["g12"][i - 5] if i >= 5 else 0)
        assert (one[cycle].billed, two[cycle].billed) == (d11, d12), cycle
    assert all(one[c].billed == 0 for c in board.cycles if c not in issued_in)
    # Aban 1405 (140508): a paid its bill 6 and g11 its first; b paid at the counter what it owed (its
    # 50,000 rials more went to credit, not yet collected)
    a6, g6 = bills["a"][5], bills["g11"][0]
    assert one[140508].collected == a6 + g6
    assert one[140508].rate == Fraction(a6 + g6, bills["a"][5] + bills["c"][5] + g6 + bills["n11"][0])
    assert two[140508].collected == sc.on_account - 50_000 == sum(bills["b"][:6])
    # Azar 1405 (140509): b's credit was applied to its new bill: collected 50,000
    assert two[140509].collected == 50_000
    assert two[140509].rate == Fraction(50_000, bills["b"][6] + bills["g12"][1])
    assert one[140509].collected == 0 and one[140509].rate == 0
    assert one[140410].rate is None  # nothing billed
    total = {m.cycle: m for m in board.total.months}
    assert total[140508].collected == a6 + g6 + sc.on_account - 50_000
    twelve = lines[sc.districts["12"]]
    assert twelve.collected == sc.on_account - 50_000 + 50_000
    assert twelve.billed == sum(bills["b"][1:]) + sum(bills["g12"])
    assert twelve.rate == Fraction(twelve.collected, twelve.billed)


def test_debt_by_organisation_government_apart(scenario: Scenario) -> None:
    sc = scenario
    bills = {k: _payables(v) for k, v in sc.bills.items()}
    admin = sc.world.principal("admin")
    with sc.world.session() as s:
        report = organisation_report(s, principal=admin, clock=sc.world.clock)
        only_gov = organisation_report(s, principal=admin, clock=sc.world.clock, government=True, sort="name")
        owing = organisation_report(s, principal=admin, clock=sc.world.clock, owing_only=True, sort="debt_asc")
        summary, every = organisation_export(s, principal=admin, clock=sc.world.clock)
    gov, org, person = report.classes
    g11_owed, g12_owed, n11_owed = bills["g11"][1], sum(bills["g12"]), sum(bills["n11"])
    a_owed = sum(bills["a"]) - bills["a"][5]
    c_owed = sum(bills["c"])
    b_owed = bills["b"][6] - 50_000
    assert (gov.code, gov.customers, gov.subscriptions, gov.debtors, gov.owed) == (
        "government",
        2,
        2,
        2,
        g11_owed + g12_owed,
    )
    assert gov.aging[B.D1_30] == bills["g12"][0]
    assert gov.aging[B.NOT_DUE] == bills["g11"][1] + bills["g12"][1]
    assert (org.code, org.customers, org.owed, org.aging[B.D1_30]) == ("organisation", 1, n11_owed, bills["n11"][0])
    assert (person.code, person.customers, person.subscriptions, person.owed) == (
        "person",
        3,
        3,
        a_owed + b_owed + c_owed,
    )
    assert person.aging[B.OVER_365] == bills["a"][0] - bills["a"][5] + bills["c"][0]
    assert report.non_government.owed == org.owed + person.owed
    assert report.total.owed == gov.owed + org.owed + person.owed
    assert report.total.aging == {k: gov.aging[k] + org.aging[k] + person.aging[k] for k in gov.aging}
    # the organisations, most debt first; each with its own aging
    by_debt = sorted([("g12", g12_owed), ("n11", n11_owed), ("g11", g11_owed)], key=lambda x: -x[1])
    assert [(o.customer_id, o.owed) for o in report.page.items] == [(sc.customers[k], v) for k, v in by_debt]
    assert report.page.total == 3
    row = {o.customer_id: o for o in report.page.items}
    assert row[sc.customers["g12"]].aging[B.D1_30] == bills["g12"][0]
    assert row[sc.customers["g11"]].is_government and not row[sc.customers["n11"]].is_government
    assert [o.name for o in only_gov.page.items] == ["سازمان g11", "سازمان g12"]
    assert [o.owed for o in owing.page.items] == sorted(v for _, v in by_debt)
    assert [(o.customer_id, o.owed, o.aging) for o in every] == [
        (o.customer_id, o.owed, o.aging) for o in report.page.items
    ]
    assert [c.owed for c in summary] == [gov.owed, org.owed, person.owed, report.non_government.owed, report.total.owed]


def test_statement_shows_each_document_and_fifo_aging(scenario: Scenario) -> None:
    sc = scenario
    a = sc.subs["a"]
    bills = sc.bills["a"]
    admin = sc.world.principal("admin")
    with sc.world.session() as s:
        st = subscription_statement(s, principal=admin, clock=sc.world.clock, subscription_id=a)
        c = subscription_statement(s, principal=admin, clock=sc.world.clock, subscription_id=sc.subs["c"])
        board = receivables_dashboard(s, principal=admin, clock=sc.world.clock)
    assert [r.description for r in st.rows] == [
        "صورتحساب مهر ۱۴۰۴",
        "صورتحساب دی ۱۴۰۴",
        "صورتحساب اردیبهشت ۱۴۰۵",
        "صورتحساب مرداد ۱۴۰۵",
        "صورتحساب شهریور ۱۴۰۵",
        "صورتحساب مهر ۱۴۰۵",
        "پرداخت بانک ملی ایران، پیگیری A-140507",
        "صورتحساب آبان ۱۴۰۵",
    ]
    assert [(r.doc_type, r.doc_id) for r in st.rows[:6]] == [("bill", x.id) for x in bills[:6]]
    assert st.rows[6].doc_type == "payment" and st.rows[6].credit == bills[5].payable
    assert [r.debit for r in st.rows if r.doc_type == "bill"] == [x.payable for x in bills]
    running = 0
    for r in st.rows:
        running += r.debit - r.credit
        assert r.balance == running
    assert st.balances.receivable == running == sum(x.payable for x in bills) - bills[5].payable
    assert st.rows[0].posted_on == date(2025, 10, 25) and st.rows[0].due_on == date(2025, 11, 4)
    # the oldest bill is partly open, the rest wholly
    assert [r.open for r in st.rows if r.doc_type == "bill"] == [
        bills[0].payable - bills[5].payable,
        *(x.payable for x in bills[1:]),
    ]
    assert st.aging[B.OVER_365] == bills[0].payable - bills[5].payable
    assert st.aging[B.D1_30] == bills[5].payable
    # the same rules as the dashboard's SQL: a's aging plus c's is district 11's persons
    line = next(x for x in board.lines if x.district_id == sc.districts["11"])
    orgs = {B.D1_30: sc.bills["n11"][0].payable, B.NOT_DUE: sc.bills["n11"][1].payable + sc.bills["g11"][1].payable}
    assert {k: st.aging[k] + c.aging[k] + orgs.get(k, 0) for k in st.aging} == line.aging


def test_statement_of_overpayment_shows_the_credit(scenario: Scenario) -> None:
    sc = scenario
    with sc.world.session() as s:
        st = subscription_statement(
            s, principal=sc.world.principal("admin"), clock=sc.world.clock, subscription_id=sc.subs["b"]
        )
    texts = [r.description for r in st.rows]
    payment = "پرداخت صندوق امور، پیگیری C" + "1" * 22
    assert payment in texts[6] and texts[7] == texts[6] + " — مازاد به بستانکاری"
    assert texts[-2:] == ["برداشت از بستانکاری برای تسویه بدهی", "تسویه بدهی از بستانکاری مشترک"]
    assert st.rows[7].credit == 50_000 and st.rows[7].balance == -50_000
    assert st.rows[-1].balance == sc.bills["b"][6].payable - 50_000 == st.balances.net
    assert (st.balances.credit, st.aging[B.NOT_DUE]) == (0, st.balances.receivable)
    assert st.rows[-3].open == sc.bills["b"][6].payable - 50_000


def test_district_scope(scenario: Scenario) -> None:
    sc = scenario
    clerk11 = sc.world.principal("clerk11")  # bound to district 11
    with sc.world.session() as s:
        board = receivables_dashboard(s, principal=clerk11, clock=sc.world.clock)
        assert [x.district_id for x in board.lines] == [sc.districts["11"]]
        assert board.total.owed == board.lines[0].owed > 0
        assert board.district_id == sc.districts["11"]
        with pytest.raises(PermissionDenied):
            receivables_dashboard(s, principal=clerk11, clock=sc.world.clock, district_id=sc.districts["12"])
        report = organisation_report(s, principal=clerk11, clock=sc.world.clock)
        assert {o.customer_id for o in report.page.items} == {sc.customers["g11"], sc.customers["n11"]}
        assert report.classes[2].customers == 2  # a and c
        with pytest.raises(NotFound):
            subscription_statement(s, principal=clerk11, clock=sc.world.clock, subscription_id=sc.subs["b"])
        assert subscription_statement(s, principal=clerk11, clock=sc.world.clock, subscription_id=sc.subs["a"]).rows
        # an unbound user may choose a district
        admin = sc.world.principal("admin")
        chosen = receivables_dashboard(s, principal=admin, clock=sc.world.clock, district_id=sc.districts["12"])
        assert [x.district_id for x in chosen.lines] == [sc.districts["12"]]
        # a user without ledger.view sees nothing
        with pytest.raises(PermissionDenied):
            receivables_dashboard(s, principal=sc.world.principal("field"), clock=sc.world.clock)
        with pytest.raises(PermissionDenied):
            subscription_statement(
                s, principal=sc.world.principal("field"), clock=sc.world.clock, subscription_id=sc.subs["a"]
            )


def test_bucket_edges_match_aging_bucket(world: World) -> None:
    """Debits due exactly on each bucket's edges land where ``aging_bucket`` puts them; a debit without a due
    date (an adjustment) is due the day it was posted; a credit settles the oldest first."""
    sid = world.subscription_ids[0]
    admin = world.principal("admin")
    days = (0, 1, 30, 31, 60, 61, 90, 91, 180, 181, 365, 366, -1, 800)
    with world.session() as s:
        for k, d in enumerate(days):
            due = TODAY - timedelta(days=d)
            post_fee(
                s,
                subscription_id=sid,
                kind="service",
                amount=1_000 * (k + 1),
                doc_id=k + 1,
                on=due - timedelta(days=5),
                due=due,
                actor="t",
                at=at(TODAY),
                memo=f"هزینه {k + 1}",
            )
        # an adjustment, no due date, posted 45 days ago: 31–60
        post(s, entry=L.adjustment_entry(sid, 7), actor="t", at=at(TODAY), on=TODAY - timedelta(days=45))
        s.commit()
        board = receivables_dashboard(s, principal=admin, clock=world.clock)
    expected = no_buckets()
    for k, d in enumerate(days):
        expected[L.aging_bucket(TODAY - timedelta(days=d), TODAY)] += 1_000 * (k + 1)
    expected[B.D31_60] += 7
    assert expected == {
        B.NOT_DUE: 1_000 + 13_000,
        B.D1_30: 2_000 + 3_000,
        B.D31_60: 4_000 + 5_000 + 7,
        B.D61_90: 6_000 + 7_000,
        B.D91_180: 8_000 + 9_000,
        B.D181_365: 10_000 + 11_000,
        B.OVER_365: 12_000 + 14_000,
    }
    line = next(x for x in board.lines if x.district_id == world.district_ids["11"])
    assert line.aging == expected
    # a credit adjustment of 20,000 settles the oldest first: 14,000 due 800 days ago, then 6,000 of the
    # 12,000 due 366 days ago (the window sees the two as one row of 26,000 > 365 days)
    with world.session() as s:
        post(s, entry=L.adjustment_entry(sid, -20_000), actor="t", at=at(TODAY), on=TODAY)
        s.commit()
        line = next(
            x
            for x in receivables_dashboard(s, principal=admin, clock=world.clock).lines
            if x.district_id == world.district_ids["11"]
        )
        st = subscription_statement(s, principal=admin, clock=world.clock, subscription_id=sid)
    expected[B.OVER_365] = 6_000
    assert line.aging == expected == st.aging
    # the statement reads by business date (the fees were posted newest first), its balance running with it
    assert [r.debit for r in st.rows[:2]] == [14_000, 12_000]  # due 800 and 366 days ago
    assert [r.posted_on for r in st.rows] == sorted(r.posted_on for r in st.rows)
    assert [r.balance for r in st.rows][:3] == [14_000, 26_000, 37_000]
    assert st.rows[-1].balance == st.balances.receivable
    still = {r.debit: r.open for r in st.rows if r.debit}  # each debit's amount is distinct
    assert (still[14_000], still[12_000], still[11_000], still[13_000], still[7]) == (0, 6_000, 11_000, 13_000, 7)
    # 8,000 more: the rest of > 365 and 2,000 of the oldest 181–365 debit (11,000, due 365 days ago)
    with world.session() as s:
        post(s, entry=L.adjustment_entry(sid, -8_000), actor="t", at=at(TODAY), on=TODAY)
        s.commit()
        line = next(
            x
            for x in receivables_dashboard(s, principal=admin, clock=world.clock).lines
            if x.district_id == world.district_ids["11"]
        )
        st = subscription_statement(s, principal=admin, clock=world.clock, subscription_id=sid)
    expected[B.OVER_365] = 0
    expected[B.D181_365] -= 2_000
    assert line.aging == expected == st.aging


def test_fifo_open_takes_the_newest_debits() -> None:
    d = date(2026, 1, 1)
    debits = [(1, d, 100), (2, d + timedelta(days=30), 50), (3, d + timedelta(days=30), 70), (4, d, 10)]
    # newest first: due desc, then posting desc: 3, 2, 4, 1
    assert fifo_open(debits, 0) == {}
    assert fifo_open(debits, 100) == {3: 70, 2: 30}
    assert fifo_open(debits, 125) == {3: 70, 2: 50, 4: 5}
    assert fifo_open(debits, 230) == {3: 70, 2: 50, 4: 10, 1: 100}
    assert fifo_open(debits, -5) == {}


def test_a_bounced_payment_is_owed_again_and_collected_less(world: World) -> None:
    """Reversing a payment debits the receivable again: the statement says so, the debt is open again and
    the month of the bounce collects that much less."""
    sid = world.subscription_ids[0]
    world.clock.moment = at(date(2026, 9, 25))  # type: ignore[attr-defined]
    bill = issue_bills(world, 140506, {sid: 200}, prev=date(2026, 8, 23), cur=date(2026, 9, 20))[sid]
    pay(world, sid, bill.payable, bill.payment_id or "", "sepah", "S-1", date(2026, 10, 10))  # Mehr 1405
    world.clock.moment = at(date(2026, 11, 25))  # type: ignore[attr-defined]  # Azar 1405
    admin = world.principal("admin")
    with world.session() as s:
        payment_row = s.scalars(select(Payment.id).where(Payment.trace == "S-1")).one()
        reverse_payment(s, principal=admin, clock=world.clock, payment_row=payment_row)
        s.commit()
    world.clock.moment = at(TODAY)  # type: ignore[attr-defined]
    with world.session() as s:
        st = subscription_statement(s, principal=admin, clock=world.clock, subscription_id=sid)
        board = receivables_dashboard(s, principal=admin, clock=world.clock)
    assert [(r.description, r.debit, r.credit, r.balance) for r in st.rows] == [
        ("صورتحساب شهریور ۱۴۰۵", bill.payable, 0, bill.payable),
        ("پرداخت بانک سپه، پیگیری S-1", 0, bill.payable, 0),
        ("برگشت پرداخت بانک سپه، پیگیری S-1", bill.payable, 0, bill.payable),
    ]
    assert [(r.doc_type, r.doc_id) for r in st.rows[1:]] == [("payment", payment_row)] * 2
    # the newest debit, the bounce, is what is open; it is due as the payments service dated it
    bounce = st.rows[2]
    assert bounce.due_on is not None and (bounce.open, st.rows[0].open) == (bill.payable, 0)
    expected = no_buckets()
    expected[L.aging_bucket(bounce.due_on, TODAY)] = bill.payable
    line = next(x for x in board.lines if x.district_id == world.district_ids["11"])
    assert line.aging == st.aging == expected
    months = {m.cycle: m for m in line.months}
    assert (months[140507].billed, months[140507].collected) == (bill.payable, bill.payable)
    assert (months[140509].billed, months[140509].collected, months[140509].rate) == (0, -bill.payable, None)
    assert line.collected == 0 and line.rate == 0
