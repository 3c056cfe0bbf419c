"""The bank file page: a refused file lists its bad rows and posts nothing; a good one is posted in the
background with a progress page; the same file again posts nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from barq import jobs
from barq.connections.models import Subscription
from barq.ledger.service import balances
from barq.payments.models import Payment
from tests.factories import World
from tests.ledger_factories import issue_bills
from tests.web.helpers import csrf, signed_in


@pytest.fixture
def billed(world: World) -> dict[int, object]:
    s0, s1 = world.subscription_ids[:2]
    return issue_bills(world, 140508, {s0: 180, s1: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))


def _csv(world: World, billed, *, bad: bool = False) -> bytes:  # type: ignore[no-untyped-def]
    with world.session() as s:
        ids = dict(s.execute(select(Subscription.id, Subscription.bill_id)).all())  # type: ignore[arg-type]
    lines = ["trace,bill_id,payment_id,amount,paid_on"]
    for n, (sid, bill) in enumerate(billed.items()):
        amount = "12a" if bad and n == 1 else bill.payable
        lines.append(f"W{n},{ids[sid]},{bill.payment_id},{amount},1405/08/29")
    return ("\n".join(lines) + "\n").encode()


def _post(client, data: bytes, bank: str = "tejarat"):  # type: ignore[no-untyped-def]
    token = csrf(client, "/payments/files")
    return client.post(
        "/payments/files",
        data={"csrf_token": token, "bank": bank},
        files={"file": ("tejarat-1405-08-29.csv", data, "text/csv")},
        follow_redirects=False,
    )


def test_a_refused_file_names_its_rows_and_posts_nothing(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(world, "revenue")
    refused = _post(client, _csv(world, billed, bad=True))
    assert refused.status_code == 422
    assert "پرونده پذیرفته نشد" in refused.text and "مبلغ باید عدد صحیح مثبت ریال باشد" in refused.text
    assert "<td>۳</td>" in refused.text  # the bad row's line, in Persian digits
    unknown = _post(client, _csv(world, billed), bank="nobank")
    assert unknown.status_code == 422 and "شناخته نیست" in unknown.text
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_good_file_is_posted_once_with_progress(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(world, "revenue")
    data = _csv(world, billed)
    posted = _post(client, data)
    assert posted.status_code == 303
    page_url = posted.headers["location"]
    batch_id = int(page_url.rsplit("/", 1)[1])
    jobs.wait(f"bank-file-{batch_id}", timeout=60)
    page = client.get(page_url)
    assert page.status_code == 200 and "ثبت شده" in page.text and "۱۰۰٪" in page.text
    with world.session() as s:
        assert [balances(s, sid).receivable for sid in billed] == [0, 0]
    again = _post(client, data)
    assert again.status_code == 303 and again.headers["location"].endswith("?already=1")
    assert "پیش‌تر ثبت شده بود" in client.get(again.headers["location"]).text
    listing = client.get("/payments/files")
    assert "tejarat-1405-08-29.csv" in listing.text and "بانک تجارت" in listing.text
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 2


def test_the_page_needs_the_permission(world: World) -> None:
    client = signed_in(world, "clerk")
    assert client.get("/payments/files").status_code == 403
