"""Payments one at a time: matching, duplicates, suspense and its resolution, overpayment, bounces, inquiry."""

from __future__ import annotations

from datetime import date

import pytest

from barq.connections.models import Subscription
from barq.errors import InvalidTransition, ValidationError
from barq.ledger.service import balances, verify
from barq.payments.service import (
    BadAmount,
    BadCheckDigit,
    PaymentIn,
    inquiry,
    receive_payment,
    refund_suspense,
    resolve_suspense,
    reverse_payment,
)
from tests.factories import World
from tests.ledger_factories import issue_bills

CYCLE = 140508
PAID = date(2026, 11, 20)


@pytest.fixture
def billed(world: World) -> dict[int, object]:
    subs = world.subscription_ids
    return issue_bills(world, CYCLE, {subs[0]: 180, subs[1]: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))


def _bill_id(world: World, sid: int) -> str:
    with world.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        return sub.bill_id


def test_a_matched_payment_settles_the_bill_once(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    sid = world.subscription_ids[0]
    bill = billed[sid]
    bank = world.principal("admin")
    pay = PaymentIn("melli", "T-1", _bill_id(world, sid), bill.payment_id, bill.payable, PAID)
    with world.session() as s:
        asked = inquiry(s, principal=bank, bill_id=pay.bill_id)
        assert [(b.payment_id, b.payable) for b in asked.open_bills] == [(bill.payment_id, bill.payable)]
        assert asked.amount_due == bill.payable
        first = receive_payment(s, principal=bank, clock=world.clock, payment=pay)
        again = receive_payment(s, principal=bank, clock=world.clock, payment=pay)
        s.commit()
        assert (first.duplicate, again.duplicate, again.payment.id) == (False, True, first.payment.id)
        assert first.payment.status == "posted" and first.payment.bill_ref == bill.id
        assert balances(s, sid).receivable == 0
        assert inquiry(s, principal=bank, bill_id=pay.bill_id).open_bills == []
        # the same bill paid again under another trace matches no open bill: suspense, then given back
        second = receive_payment(
            s, principal=bank, clock=world.clock, payment=PaymentIn(**{**pay.__dict__, "trace": "T-2"})
        )
        assert (second.payment.status, second.payment.reason) == ("suspense", "no_open_bill")
        refund_suspense(s, principal=bank, clock=world.clock, payment_row=second.payment.id)
        s.commit()
        assert verify(s).ok


def test_suspense_reasons_resolution_overpayment_and_bounce(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    s1 = world.subscription_ids[1]
    b1 = billed[s1]
    admin = world.principal("admin")
    with world.session() as s:
        wrong_amount = receive_payment(
            s,
            principal=admin,
            clock=world.clock,
            payment=PaymentIn("mellat", "A1", _bill_id(world, s1), b1.payment_id, b1.payable + 5_000, PAID),
        ).payment
        assert (wrong_amount.status, wrong_amount.reason) == ("suspense", "amount_mismatch")
        resolved = resolve_suspense(
            s, principal=admin, clock=world.clock, payment_row=wrong_amount.id, subscription_id=s1
        )
        assert resolved.status == "resolved" and resolved.to_credit == 5_000
        assert (balances(s, s1).receivable, balances(s, s1).credit) == (0, 5_000)
        with pytest.raises(InvalidTransition):
            resolve_suspense(s, principal=admin, clock=world.clock, payment_row=wrong_amount.id, subscription_id=s1)
        bounced = reverse_payment(s, principal=admin, clock=world.clock, payment_row=wrong_amount.id)
        assert bounced.status == "reversed"
        assert (balances(s, s1).receivable, balances(s, s1).credit) == (b1.payable, 0)
        s.commit()
        assert verify(s).ok


def test_refused_payments_name_the_field(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    sid = world.subscription_ids[0]
    bill = billed[sid]
    good = PaymentIn("melli", "X", _bill_id(world, sid), bill.payment_id, bill.payable, PAID)
    admin = world.principal("admin")
    cases = [
        ({"bill_id": good.bill_id[:-1] + str((int(good.bill_id[-1]) + 1) % 10)}, BadCheckDigit, "bill_id"),
        ({"payment_id": good.payment_id[:-1] + str((int(good.payment_id[-1]) + 1) % 10)}, BadCheckDigit, "payment_id"),
        ({"amount": 0}, BadAmount, "amount"),
        ({"amount": -1000}, BadAmount, "amount"),
        ({"channel": "nobank"}, ValidationError, "bank"),
        ({"paid_on": date(2027, 1, 1)}, ValidationError, "paid_on"),
    ]
    with world.session() as s:
        for change, kind, field in cases:
            with pytest.raises(kind) as caught:
                receive_payment(s, principal=admin, clock=world.clock, payment=PaymentIn(**{**good.__dict__, **change}))
            assert caught.value.field == field
        assert balances(s, sid).receivable == bill.payable
