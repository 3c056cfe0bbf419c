from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from barq import jobs
from barq.billing.models import Bill, BillRun, issued_bills
from barq.metering.models import MeterRead
from tests.factories import World
from tests.web.helpers import csrf, signed_in

CYCLE = 140508


def _reads(world: World) -> None:
    with world.session() as s:
        for i, sid in enumerate(world.subscription_ids[:2]):
            s.add(
                MeterRead(
                    subscription_id=sid,
                    read_on=date(2026, 10, 25),
                    prev_read_on=date(2026, 9, 25),
                    kwh=150 + 100 * i,
                    code="read",
                    source="test",
                    status="valid",
                )
            )
        s.commit()


def test_run_started_from_the_page_rates_in_the_background_and_is_approved(world: World) -> None:
    _reads(world)
    client = signed_in(world, "admin")
    token = csrf(client, "/bill-runs")
    r = client.post("/bill-runs", data={"csrf_token": token, "cycle": str(CYCLE)}, follow_redirects=False)
    assert r.status_code == 303
    run_url = r.headers["location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    jobs.wait(f"bill-run-{run_id}", timeout=60)
    page = client.get(run_url)
    assert page.status_code == 200 and "بازبینی" in page.text
    assert "بدون قرائت معتبر در دوره" in page.text  # the third subscription has no read
    assert client.get(f"{run_url}/progress").headers.get("HX-Refresh") == "true"
    token = csrf(client, run_url)
    r = client.post(f"{run_url}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with world.session() as s:
        assert s.get_one(BillRun, run_id).state == "issued"
        assert s.scalar(select(func.count()).select_from(Bill).where(issued_bills())) == 2


def test_bad_cycle_is_refused_beside_the_field_and_nothing_starts(world: World) -> None:
    client = signed_in(world, "admin")
    token = csrf(client, "/bill-runs")
    r = client.post("/bill-runs", data={"csrf_token": token, "cycle": "abc"})
    assert r.status_code == 422 and "«دوره» باید عدد صحیح باشد" in r.text
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(BillRun)) == 0


def test_a_field_worker_cannot_open_bill_runs(world: World) -> None:
    client = signed_in(world, "field")
    assert client.get("/bill-runs").status_code == 403


def test_a_run_can_be_limited_to_routes_by_their_codes(world: World) -> None:
    from barq.connections.models import Subscription
    from barq.network.models import Route

    _reads(world)
    with world.session() as s:
        route = Route(district_id=world.district_ids["11"], code="11-R0007", name="مسیر ۷", cycle_days=30)
        s.add(route)
        s.flush()
        s.get_one(Subscription, world.subscription_ids[0]).route_id = route.id
        s.commit()
    client = signed_in(world, "admin")
    token = csrf(client, "/bill-runs")
    bad = client.post("/bill-runs", data={"csrf_token": token, "cycle": str(CYCLE), "route_codes": "11-R9999"})
    assert bad.status_code == 422 and "مسیر «11-R9999» پیدا نشد" in bad.text
    r = client.post(
        "/bill-runs",
        data={"csrf_token": token, "cycle": str(CYCLE), "route_codes": "۱۱-r0007"},
        follow_redirects=False,
    )
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    jobs.wait(f"bill-run-{run_id}", timeout=60)
    with world.session() as s:
        run = s.get_one(BillRun, run_id)
        assert run.route_ids == [route.id] and run.due_count == 1 and run.rated_count == 1
