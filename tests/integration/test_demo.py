"""The demo province (``barq.demo.generator.build_demo``) on SQLite, and on PostgreSQL when
``BARQ_TEST_DATABASE_URL`` is set (a schema of its own in that database is dropped and re-created)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, make_url, select, text
from sqlalchemy.orm import Session

from barq import ids
from barq.auth.models import User
from barq.billing.models import ISSUED_BILLS_SQL
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.contractors.models import Contractor
from barq.customers.models import Customer, Premises
from barq.db import make_engine
from barq.demo.generator import DemoSummary, build_demo, demo_logins, is_built
from barq.demo.history import build_history
from barq.ledger.service import verify
from barq.metering.models import Meter, MeterInstallation
from barq.network.models import District, Route
from barq.tables import metadata
from barq.workorders.models import WorkOrder

ACCOUNTS = 2_000
SEED = 1405
PG_URL = os.environ.get("BARQ_TEST_DATABASE_URL")


def _sqlite(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, DemoSummary]]:
    engine = _sqlite(tmp_path_factory.mktemp("demo") / "demo.db")
    summary = build_demo(engine, accounts=ACCOUNTS, seed=SEED)
    yield engine, summary
    engine.dispose()


@pytest.fixture(scope="module")
def pg_demo() -> Iterator[tuple[Engine, DemoSummary]]:
    if not PG_URL:
        pytest.skip("BARQ_TEST_DATABASE_URL is not set")
    # a schema of this module and pytest-xdist worker: two workers may build this fixture at once
    schema = "demo_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    metadata.create_all(engine)
    summary = build_demo(engine, accounts=ACCOUNTS, seed=SEED)
    yield engine, summary
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def demo(request: pytest.FixtureRequest) -> tuple[Engine, DemoSummary]:
    name = "sqlite_demo" if request.param == "sqlite" else "pg_demo"
    result: tuple[Engine, DemoSummary] = request.getfixturevalue(name)
    return result


def _rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    t = metadata.tables[table]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]


# ------------------------------------------------------------------------------------------- tests


def test_summary_counts(demo: tuple[Engine, DemoSummary]) -> None:
    engine, summary = demo
    counts = summary.counts
    assert counts["subscription"] == ACCOUNTS
    assert counts["premises"] == ACCOUNTS
    assert counts["district"] == 11
    assert counts["climate_zone"] == 5
    # about 3 % of customers hold 2–3 subscriptions, so there are fewer customers than subscriptions
    assert 0.93 * ACCOUNTS < counts["customer"] < 0.99 * ACCOUNTS
    assert counts["meter_installation"] >= ACCOUNTS
    assert counts["meter"] > counts["meter_installation"]  # spare meters in the store
    assert counts["work_order"] >= 150
    assert len(summary.logins) == 10
    with Session(engine) as s:
        # every route has a reader (a user with the reader role), reading at most four routes each
        readers = s.execute(select(Route.reader_id, func.count()).group_by(Route.reader_id)).all()
        assert all(r is not None and 1 <= n <= 4 for r, n in readers)
        made = s.scalar(
            select(func.count()).select_from(User).where(User.username.like("reader%"), User.username != "reader1")
        )
        assert counts["user_account"] == 10 + made
        assert made <= len(readers)  # every reader made for the routes reads at least one
        assert s.scalar(select(func.count()).where(Route.window_end - Route.window_start != 9)) == 0
    assert summary.elapsed_seconds > 0
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Route)) == counts["route"]


def test_identifiers_validate(demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = demo
    with Session(engine) as s:
        people = s.execute(select(Customer.national_code, Customer.mobile).where(Customer.kind == "person")).all()
        org_ids = s.scalars(select(Customer.legal_id).where(Customer.kind == "organisation")).all()
        contractor_ids = s.scalars(select(Contractor.legal_id)).all()
        postal = s.scalars(select(Premises.postal_code)).all()
        bills = s.execute(select(Subscription.bill_id, Subscription.file_number)).all()
    assert people and org_ids and contractor_ids
    for code, mobile in people:
        assert code is not None and ids.validate_national_code(code) == code
        if mobile is not None:
            assert ids.validate_mobile(mobile) == mobile
    for legal in [*org_ids, *contractor_ids]:
        assert legal is not None and ids.validate_legal_id(legal) == legal
    assert len(set(org_ids) | set(contractor_ids)) == len(org_ids) + len(contractor_ids)
    for code in postal:
        assert ids.validate_postal_code(code) == code
    assert len(set(postal)) == len(postal)
    for bill_id, file_number in bills:
        assert ids.validate_bill_id(bill_id) == bill_id
        parts = ids.parse_bill_id(bill_id)
        assert parts.file_number == file_number.lstrip("0")
        assert parts.service_type == ids.SERVICE_ELECTRICITY
        assert len(file_number) <= 8


def test_districts_routes_and_numbers(demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = demo
    with Session(engine) as s:
        districts = {d.id: d for d in s.scalars(select(District))}
        assert sorted(d.code for d in districts.values()) == [str(c) for c in range(11, 22)]
        assert {d.code: d.default_zone for d in districts.values()}["19"] == "tropical4"
        per_district = dict(
            s.execute(select(Subscription.district_id, func.count()).group_by(Subscription.district_id)).all()
        )
        assert set(per_district) == set(districts)
        khorramabad = next(d for d in districts.values() if d.code == "11")
        assert 0.30 < per_district[khorramabad.id] / ACCOUNTS < 0.40
        for number, district_id in s.execute(select(Subscription.subscription_number, Subscription.district_id)):
            assert number.startswith(districts[district_id].code)
        sizes = s.execute(
            select(Subscription.route_id, func.count(), func.max(Subscription.route_sequence)).group_by(
                Subscription.route_id
            )
        ).all()
        assert all(count == top for _, count, top in sizes)  # sequences 1..n on every route
        assert max(count for _, count, _ in sizes) <= 450
        routes = s.scalars(select(Route)).all()
        assert {r.cycle_days for r in routes} <= {30, 60}
        assert any(r.contractor_id is not None for r in routes)
        assert any(r.contractor_id is None for r in routes)


def test_tariff_mix(demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = demo
    with Session(engine) as s:
        subs = s.execute(
            select(
                Subscription.tariff_group,
                Subscription.tariff_sub_code,
                Subscription.contract_kw,
                Subscription.phase,
                Subscription.households,
                Subscription.medical_certificate,
                Subscription.medical_valid_from,
                Subscription.medical_valid_to,
            )
        ).all()
    groups = Counter(g for g, *_ in subs)
    expected = {1: (0.85, 0.03), 5: (0.08, 0.02), 2: (0.03, 0.015), 3: (0.03, 0.015), 4: (0.01, 0.008)}
    for group, (share, tolerance) in expected.items():
        assert abs(groups[group] / ACCOUNTS - share) <= tolerance, (group, groups[group])
    allowed = {
        1: {"1"},
        2: {"2-الف-1", "2-الف-2", "2-ب"},
        3: {"3-الف", "3-ب", "3-ج-1"},
        4: {"4-الف-1", "4-ب"},
        5: {"5-الف", "5-ب"},
    }
    for group, sub_code, kw, phase, *_ in subs:
        assert sub_code in allowed[group]
        if group == 5:
            assert (sub_code == "5-ب") == (kw >= 30)
        if kw >= 30:
            assert phase == 3
    demand = sum(1 for _, _, kw, *_ in subs if kw >= 30)
    assert 0.004 <= demand / ACCOUNTS <= 0.025
    several = sum(1 for *_, h, _, _, _ in subs if h > 1)
    assert 0.03 <= several / ACCOUNTS <= 0.10
    assert all(h == 1 for g, _, _, _, h, *_ in subs if g != 1)
    medical = [(f, t) for *_, cert, f, t in subs if cert is not None]
    assert 1 <= len(medical) <= 0.015 * ACCOUNTS
    for valid_from, valid_to in medical:
        assert isinstance(valid_from, date) and isinstance(valid_to, date) and valid_from <= valid_to


def test_customers_and_organisations(demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = demo
    with Session(engine) as s:
        orgs = s.execute(
            select(Customer.is_government, Customer.org_category, Customer.org_name).where(
                Customer.kind == "organisation"
            )
        ).all()
        holdings = Counter(s.scalars(select(Subscription.customer_id)).all())
        persons = s.execute(
            select(Customer.first_name, Customer.last_name, Customer.father_name).where(Customer.kind == "person")
        ).all()
    government = {"education", "health", "water", "municipality", "military", "religious", "other_government"}
    assert any(g for g, _, _ in orgs) and any(not g for g, _, _ in orgs)
    for is_gov, category, name in orgs:
        assert name
        assert is_gov == (category in government), (category, is_gov)
        assert category in government | {"company", "shop"}
    assert {"education", "health", "water"} <= {c for _, c, _ in orgs}
    multi = [n for n in holdings.values() if n > 1]
    assert max(holdings.values()) <= 3
    assert 0.01 <= len(multi) / len(holdings) <= 0.06
    assert all(first and last and father for first, last, father in persons)
    assert len({last for _, last, _ in persons}) > 150


def test_meters_and_installations(demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = demo
    with Session(engine) as s:
        meters = {m.id: m for m in s.scalars(select(Meter))}
        installs = s.scalars(select(MeterInstallation)).all()
        subs = {sub.id: sub for sub in s.scalars(select(Subscription))}
    open_by_sub: Counter[int] = Counter()
    per_sub: Counter[int] = Counter()
    for inst in installs:
        per_sub[inst.subscription_id] += 1
        meter = meters[inst.meter_id]
        assert 0 <= inst.initial_read < 10**meter.digits
        if inst.removed_on is None:
            open_by_sub[inst.subscription_id] += 1
            assert meter.state == "installed"
        else:
            assert inst.installed_on <= inst.removed_on
            assert inst.final_read is not None and 0 <= inst.final_read < 10**meter.digits
            assert meter.state == "retired"
        sub = subs[inst.subscription_id]
        assert (meter.kind == "demand") == (sub.contract_kw >= 30) or inst.removed_on is not None
    for sub in subs.values():
        assert open_by_sub[sub.id] == (0 if sub.supply_state == "removed" else 1)
    assert set(per_sub.values()) == {1, 2}  # some meters were replaced once
    assert {m.kind for m in meters.values()} == {"single", "tou", "demand"}
    assert {m.state for m in meters.values()} >= {"installed", "retired", "in_stock"}
    assert {m.digits for m in meters.values()} <= {5, 6, 7, 8}
    assert {m.accuracy_class for m in meters.values()} >= {"1", "2", "0.5S"}
    assert all(1995 <= m.manufacture_year <= 2025 for m in meters.values())
    assert any(m.multiplier > 1 for m in meters.values() if m.kind == "demand")
    assert Counter(sub.supply_state for sub in subs.values())["active"] > 0.9 * ACCOUNTS


def test_work_orders_and_logins(demo: tuple[Engine, DemoSummary]) -> None:
    engine, summary = demo
    logins = {login.username: login for login in summary.logins}
    assert set(logins) == {
        "admin", "clerk", "revenue", "head", "cashier", "manager", "reader1", "contractor1", "contractor2",
        "inspector",
    }  # fmt: skip
    assert all(login.password == "barq1234" for login in logins.values())
    with Session(engine) as s:
        users = {
            row.username: row
            for row in s.execute(text("SELECT username, district_id, contractor_id FROM user_account"))
        }
        orders = s.scalars(select(WorkOrder)).all()
    assert users["contractor1"].contractor_id != users["contractor2"].contractor_id
    assert users["reader1"].contractor_id is not None
    assert users["manager"].district_id is not None
    for username in ("contractor1", "contractor2"):
        own = [wo for wo in orders if wo.contractor_id == users[username].contractor_id]
        assert own, username
    assert {wo.state for wo in orders} == {
        "created",
        "assigned",
        "in_progress",
        "done",
        "failed",
        "cancelled",
    }
    for wo in orders:
        assert wo.number.startswith("WO-") and wo.due_at > wo.created_at
        assert not (wo.contractor_id is not None and wo.assignee_team is not None)
        if wo.state == "created":
            assert wo.contractor_id is None and wo.assignee_team is None
        if wo.state in ("done", "failed"):
            assert wo.started_at is not None and wo.finished_at is not None
            assert wo.created_at <= wo.started_at <= wo.finished_at


def test_logins_listed_and_is_built(demo: tuple[Engine, DemoSummary], tmp_path: Path) -> None:
    engine, summary = demo
    assert [username for _, username in demo_logins()] == [login.username for login in summary.logins]
    assert is_built(engine)
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    assert not is_built(bare)  # no tables at all
    metadata.create_all(bare)
    assert not is_built(bare)  # tables, but no province
    bare.dispose()


def test_foreign_keys_hold_on_sqlite(sqlite_demo: tuple[Engine, DemoSummary]) -> None:
    engine, _ = sqlite_demo
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []


def test_same_seed_same_rows(sqlite_demo: tuple[Engine, DemoSummary], tmp_path: Path) -> None:
    engine, _ = sqlite_demo
    again = _sqlite(tmp_path / "again.db")
    build_demo(again, accounts=ACCOUNTS, seed=SEED)
    other = _sqlite(tmp_path / "other.db")
    build_demo(other, accounts=ACCOUNTS, seed=SEED + 1)
    for table in (
        "customer",
        "subscription",
        "premises",
        "meter",
        "meter_installation",
        "route",
        "work_order",
    ):
        assert _rows(again, table) == _rows(engine, table), table
    assert _rows(other, "customer") != _rows(engine, "customer")
    again.dispose()
    other.dispose()


@pytest.mark.pg
def test_postgresql_matches_sqlite_and_sequences_move_on(
    pg_demo: tuple[Engine, DemoSummary], sqlite_demo: tuple[Engine, DemoSummary]
) -> None:
    pg, _ = pg_demo
    lite, _ = sqlite_demo
    for table in ("customer", "subscription", "premises", "meter_installation", "work_order"):
        assert _rows(pg, table) == _rows(lite, table), table
    # the demo wrote explicit ids; a row added afterwards must get the next one
    with Session(pg) as s:
        district = s.scalars(select(District).limit(1)).one()
        premises = Premises(district_id=district.id, zone="normal", address="x", postal_code="1234567891")
        s.add(premises)
        s.flush()
        assert premises.id == ACCOUNTS + 1
        s.rollback()


# ------------------------------------------------------------------------------------------- payments

PAID_ACCOUNTS = 1_200
PAID_MONTHS = 6  # five billed runs: late bills paid, last month's suspense worked, government bodies behind


@pytest.fixture(scope="module")
def paid_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A province with five months of bills and their payments (``demo.payments``), on SQLite: the services
    that make them run on PostgreSQL in their own tests."""
    engine = _sqlite(tmp_path_factory.mktemp("paid") / "demo.db")
    clock = FixedClock()
    build_demo(engine, accounts=PAID_ACCOUNTS, seed=SEED, clock=clock)
    build_history(engine, clock=clock, months=PAID_MONTHS, seed=SEED)
    yield engine
    engine.dispose()


def _all(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def test_most_bills_are_paid_through_the_banks_files(paid_demo: Engine) -> None:
    runs = _all(paid_demo, "SELECT id, issued_on, due_on FROM bill_run WHERE state = 'issued' ORDER BY id")
    assert len(runs) == PAID_MONTHS - 1
    bills = _all(paid_demo, "SELECT COUNT(*) FROM bill b WHERE b.payable > 0 AND " + ISSUED_BILLS_SQL)[0][0]
    by_bank = _all(
        paid_demo,
        "SELECT p.channel, COUNT(*) FROM payment p WHERE p.batch_id IS NOT NULL AND p.status <> 'suspense' "
        "GROUP BY p.channel",
    )
    assert len(by_bank) >= 6  # the payments are split among the banks, the big ones taking most
    assert 0.8 * bills < sum(n for _, n in by_bank) < bills
    assert _all(paid_demo, "SELECT COUNT(*) FROM payment_batch WHERE state <> 'posted'")[0][0] == 0
    # a bill paid in its own month is paid between its issue and a few days after its due date; a good
    # share of bills are paid one or two months late
    paid = _all(
        paid_demo,
        "SELECT p.paid_on, r.issued_on, r.due_on, r.id FROM payment p JOIN bill b ON b.id = p.bill_ref "
        "JOIN bill_run r ON r.id = b.run_id WHERE p.batch_id IS NOT NULL",
    )
    later = [_day(r.paid_on) - _day(r.due_on) for r in paid if _day(r.paid_on) > _day(r.due_on) + timedelta(days=6)]
    assert all(_day(r.paid_on) > _day(r.issued_on) for r in paid)
    assert 0.04 * len(paid) < len(later) < 0.25 * len(paid)
    assert max(later) > timedelta(days=30)


def test_counter_payments_on_account_part_and_more_than_owed(paid_demo: Engine) -> None:
    counter = _all(paid_demo, "SELECT payment_id, status, to_credit FROM payment WHERE channel = 'counter'")
    assert counter and all(pid == "" and status == "posted" for pid, status, _ in counter)
    assert any(to_credit > 0 for *_, to_credit in counter)  # paid more than owed: credit
    assert any(to_credit == 0 for *_, to_credit in counter)  # part of a bill
    # held credit exists, and bill runs applied credit to the new bills
    assert _all(paid_demo, "SELECT COUNT(*) FROM ledger_balance WHERE account = 'customer_credit' AND amount < 0")[0][0]
    assert _all(paid_demo, "SELECT COUNT(*) FROM ledger_entry WHERE kind = 'credit'")[0][0] >= PAID_MONTHS - 2


def test_suspense_bounces_and_refunds(paid_demo: Engine) -> None:
    states = dict(
        ((status, reason), n)
        for status, reason, n in _all(paid_demo, "SELECT status, reason, COUNT(*) FROM payment GROUP BY 1, 2")
    )
    assert states[("suspense", "amount_mismatch")] > 0  # still waiting for the office
    assert states[("resolved", "amount_mismatch")] > states[("suspense", "amount_mismatch")]  # most are resolved
    assert states[("refunded", "no_open_bill")] > 0  # a bill paid twice: the second payment given back
    assert states[("reversed", None)] > 0  # bounced
    reversals = _all(
        paid_demo,
        "SELECT COUNT(*) FROM ledger_entry e JOIN payment p ON e.source_type = 'payment' AND e.source_id = p.id "
        "WHERE e.kind = 'reversal' AND p.status = 'reversed'",
    )
    assert reversals[0][0] == states[("reversed", None)]


def test_government_bodies_fall_months_behind(paid_demo: Engine) -> None:
    rows = _all(
        paid_demo,
        "WITH last2 AS (SELECT subscription_id, SUM(payable) AS owed FROM bill "
        "WHERE run_id IN (SELECT id FROM bill_run ORDER BY id DESC LIMIT 2) GROUP BY subscription_id) "
        "SELECT c.is_government, l.owed, COALESCE(r.amount, 0) FROM last2 l "
        "JOIN subscription s ON s.id = l.subscription_id JOIN customer c ON c.id = s.customer_id "
        "LEFT JOIN ledger_balance r ON r.subscription_id = l.subscription_id AND r.account = 'receivable'",
    )
    government = [(owed, receivable) for gov, owed, receivable in rows if gov]
    others = [(owed, receivable) for gov, owed, receivable in rows if not gov]
    assert len(government) >= 10
    # a government body owes more than its last two bills (it pays months late, or not at all) …
    assert sum(receivable > owed for owed, receivable in government) > 0.9 * len(government)
    # … which only a few others do
    assert sum(receivable > owed for owed, receivable in others) < 0.05 * len(others)


def test_the_paid_demo_ledger_verifies(paid_demo: Engine) -> None:
    with Session(paid_demo) as s:
        report = verify(s)
    assert report.ok, report
    assert report.entries > 3 * (PAID_MONTHS - 1)


def test_same_seed_same_payments(tmp_path: Path) -> None:
    def build(name: str) -> Engine:
        engine = _sqlite(tmp_path / name)
        clock = FixedClock()
        build_demo(engine, accounts=300, seed=SEED, clock=clock)
        build_history(engine, clock=clock, months=4, seed=SEED)
        return engine

    one, two = build("one.db"), build("two.db")
    for table in ("payment", "payment_batch", "ledger_posting", "ledger_balance"):
        key = "subscription_id, account" if table == "ledger_balance" else "id"
        sql = f"SELECT * FROM {table} ORDER BY {key}"
        assert _all(one, sql) == _all(two, sql), table
    assert _all(one, "SELECT COUNT(*) FROM payment")[0][0] > 300
    one.dispose()
    two.dispose()


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
