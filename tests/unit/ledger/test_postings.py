"""Pure ledger rules: exact postings per builder, aging edges, and ledger invariants under random histories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barq.errors import ValidationError
from barq.ledger.postings import (
    CHART,
    ENERGY_REVENUE,
    INSURANCE_PAYABLE,
    LEVY_PAYABLE,
    SERVICE_FEE_REVENUE,
    SUSPENSE,
    VAT_PAYABLE,
    Account,
    AgingBucket,
    Allocation,
    Entry,
    EntryKind,
    OpenItem,
    Posting,
    adjustment_entry,
    aging,
    aging_bucket,
    allocate,
    balanced,
    balances,
    bank_clearing,
    bill_entry,
    check,
    credit_entry,
    customer_credit,
    payment_entry,
    receivable,
    reverse,
    rounding_carry,
    suspense_entry,
    suspense_resolution_entry,
)
from barq.money import split_thousands


def _lines(entry: Entry) -> dict[Account, int]:
    return {p.account: p.amount for p in entry.postings}


# ------------------------------------------------------------------------------------- chart and entries


def test_chart_has_every_account_of_domain_section_6_with_a_persian_name() -> None:
    assert set(CHART) == {
        "receivable",
        "energy_revenue",
        "levy_payable",
        "vat_payable",
        "insurance_payable",
        "connection_revenue",
        "service_fee_revenue",
        "bank_clearing",
        "customer_credit",
        "suspense",
        "rounding_carry",
    }
    assert all(t.name_fa and not t.name_fa.isascii() for t in CHART.values())
    assert receivable(7) == ("receivable", 7)
    assert bank_clearing("mellat").name_fa == "حساب واسط بانک"


def test_check_refuses_empty_unbalanced_and_zero_postings_in_persian() -> None:
    cases = [
        Entry(EntryKind.ADJUSTMENT, ()),
        Entry(EntryKind.ADJUSTMENT, (Posting(receivable(1), 100), Posting(ENERGY_REVENUE, -99))),
        Entry(EntryKind.ADJUSTMENT, (Posting(receivable(1), 0), Posting(ENERGY_REVENUE, 0))),
        Entry(EntryKind.ADJUSTMENT, (Posting(Account("nope"), 5), Posting(ENERGY_REVENUE, -5))),
        Entry(EntryKind.ADJUSTMENT, (Posting(Account("receivable"), 5), Posting(ENERGY_REVENUE, -5))),
        Entry(EntryKind.ADJUSTMENT, (Posting(receivable(1), 5), Posting(Account("energy_revenue", 1), -5))),
    ]
    for entry in cases:
        assert not balanced(entry)
        with pytest.raises(ValidationError) as caught:
            check(entry)
        assert not caught.value.message_fa.isascii()
    ok = Entry(EntryKind.ADJUSTMENT, (Posting(receivable(1), 100), Posting(ENERGY_REVENUE, -100)))
    assert balanced(ok)
    assert check(ok) is ok


def test_reverse_negates_every_posting_and_nets_to_zero() -> None:
    bill = bill_entry(3, 1_000_000, 100_000, 90_000, 1_000, 0, memo="قبض ۱")
    undo = reverse(bill)
    assert undo.kind is EntryKind.REVERSAL
    assert undo.memo == "برگشت: قبض ۱"
    assert [(p.account, p.amount) for p in undo.postings] == [(p.account, -p.amount) for p in bill.postings]
    assert all(v == 0 for v in balances([bill, undo]).values())


# ------------------------------------------------------------------------------------- builders


def test_bill_entry_receivable_is_the_payable_and_the_carry_goes_to_rounding_carry() -> None:
    # total 1,234,567 with 300 carried in: 1,234,867 → payable 1,234,000, carry out 867, delta 567
    energy, levy, vat, insurance = 1_000_000, 100_000, 133_567, 1_000
    total = energy + levy + vat + insurance
    payable, carry_out = split_thousands(total + 300)
    assert (payable, carry_out) == (1_234_000, 867)
    entry = bill_entry(9, energy, levy, vat, insurance, carry_out - 300)
    assert entry.kind is EntryKind.BILL
    assert _lines(entry) == {
        receivable(9): 1_234_000,
        rounding_carry(9): 567,
        ENERGY_REVENUE: -1_000_000,
        LEVY_PAYABLE: -100_000,
        VAT_PAYABLE: -133_567,
        INSURANCE_PAYABLE: -1_000,
    }


def test_bill_entry_with_a_shrinking_carry_credits_rounding_carry() -> None:
    # total 500,700 + carry in 800 = 501,500 → payable 501,000, carry out 500: delta −300
    entry = bill_entry(4, 400_000, 40_000, 60_000, 700, 500 - 800)
    assert _lines(entry) == {
        receivable(4): 501_000,
        rounding_carry(4): -300,
        ENERGY_REVENUE: -400_000,
        LEVY_PAYABLE: -40_000,
        VAT_PAYABLE: -60_000,
        INSURANCE_PAYABLE: -700,
    }


def test_bill_entry_leaves_out_zero_lines_and_refuses_a_negative_payable_or_an_empty_bill() -> None:
    # a tiny bill: 600 rial, nothing carried in → payable 0, all 600 carried
    assert _lines(bill_entry(2, 600, 0, 0, 0, 600)) == {rounding_carry(2): 600, ENERGY_REVENUE: -600}
    with pytest.raises(ValidationError):
        bill_entry(2, 1_000, 0, 0, 0, 1_001)
    with pytest.raises(ValidationError):
        bill_entry(2, 0, 0, 0, 0, 0)


def test_payment_entry_splits_the_overpayment_to_customer_credit() -> None:
    assert _lines(payment_entry(5, 250_000, "mellat")) == {bank_clearing("mellat"): 250_000, receivable(5): -250_000}
    assert _lines(payment_entry(5, 250_000, "counter", to_credit=50_000)) == {
        bank_clearing("counter"): 250_000,
        receivable(5): -200_000,
        customer_credit(5): -50_000,
    }
    assert _lines(payment_entry(5, 250_000, "portal", to_credit=250_000)) == {
        bank_clearing("portal"): 250_000,
        customer_credit(5): -250_000,
    }
    for amount, to_credit in [(0, 0), (-5, 0), (100, 101), (100, -1)]:
        with pytest.raises(ValidationError):
            payment_entry(5, amount, "mellat", to_credit=to_credit)


def test_credit_adjustment_and_suspense_entries() -> None:
    assert _lines(credit_entry(6, 40_000)) == {customer_credit(6): 40_000, receivable(6): -40_000}
    assert _lines(adjustment_entry(6, -12_000)) == {receivable(6): -12_000, ENERGY_REVENUE: 12_000}
    assert _lines(adjustment_entry(6, 3_000, against=SERVICE_FEE_REVENUE)) == {
        receivable(6): 3_000,
        SERVICE_FEE_REVENUE: -3_000,
    }
    assert _lines(suspense_entry(77_000, "saman")) == {bank_clearing("saman"): 77_000, SUSPENSE: -77_000}
    assert _lines(suspense_resolution_entry(6, 77_000)) == {SUSPENSE: 77_000, receivable(6): -77_000}
    with pytest.raises(ValidationError):
        adjustment_entry(6, 0)
    with pytest.raises(ValidationError):
        credit_entry(6, 0)


# ------------------------------------------------------------------------------------- allocation


def test_allocate_settles_the_oldest_debt_first_and_returns_the_overpayment() -> None:
    items = [
        OpenItem("b3", date(2022, 3, 10), 300_000),
        OpenItem("b1", date(2022, 1, 10), 100_000),
        OpenItem("b2", date(2022, 2, 10), 200_000),
    ]
    assert allocate(250_000, items) == ((Allocation("b1", 100_000), Allocation("b2", 150_000)), 0)
    assert allocate(100_000, items) == ((Allocation("b1", 100_000),), 0)
    assert allocate(700_000, items) == (
        (Allocation("b1", 100_000), Allocation("b2", 200_000), Allocation("b3", 300_000)),
        100_000,
    )
    assert allocate(5_000, []) == ((), 5_000)
    assert allocate(0, items) == ((), 0)
    with pytest.raises(ValidationError):
        allocate(-1, items)
    with pytest.raises(ValidationError):
        allocate(1, [OpenItem("x", date(2022, 1, 1), 0)])


def test_allocate_keeps_the_given_order_for_the_same_due_date() -> None:
    due = date(2022, 5, 1)
    items = [OpenItem("adj", due, 10_000), OpenItem("bill", due, 50_000)]
    assert allocate(20_000, items) == ((Allocation("adj", 10_000), Allocation("bill", 10_000)), 0)


# ------------------------------------------------------------------------------------- aging

TODAY = date(2023, 6, 30)


@pytest.mark.parametrize(
    ("days_past_due", "bucket"),
    [
        (-10, AgingBucket.NOT_DUE),
        (0, AgingBucket.NOT_DUE),
        (1, AgingBucket.D1_30),
        (30, AgingBucket.D1_30),
        (31, AgingBucket.D31_60),
        (60, AgingBucket.D31_60),
        (61, AgingBucket.D61_90),
        (90, AgingBucket.D61_90),
        (91, AgingBucket.D91_180),
        (180, AgingBucket.D91_180),
        (181, AgingBucket.D181_365),
        (365, AgingBucket.D181_365),
        (366, AgingBucket.OVER_365),
        (2_000, AgingBucket.OVER_365),
    ],
)
def test_aging_bucket_edges(days_past_due: int, bucket: AgingBucket) -> None:
    assert aging_bucket(TODAY - timedelta(days=days_past_due), TODAY) is bucket


def test_aging_sums_amounts_per_bucket_with_every_bucket_present() -> None:
    items = [
        OpenItem("a", TODAY + timedelta(days=5), 1_000),
        OpenItem("b", TODAY, 2_000),
        OpenItem("c", TODAY - timedelta(days=30), 30_000),
        OpenItem("d", TODAY - timedelta(days=31), 31_000),
        OpenItem("e", TODAY - timedelta(days=400), 400_000),
        OpenItem("f", TODAY - timedelta(days=366), 6_000),
    ]
    result = aging(items, TODAY)
    assert list(result) == list(AgingBucket)
    assert result == {
        AgingBucket.NOT_DUE: 3_000,
        AgingBucket.D1_30: 30_000,
        AgingBucket.D31_60: 31_000,
        AgingBucket.D61_90: 0,
        AgingBucket.D91_180: 0,
        AgingBucket.D181_365: 0,
        AgingBucket.OVER_365: 406_000,
    }
    assert AgingBucket.OVER_365.label_fa == "بیش از ۳۶۵ روز"


# ------------------------------------------------------------------------------------- invariants

SUBS = (1, 2, 3)
CHANNELS = ("mellat", "counter", "portal")
_amounts = st.integers(min_value=1, max_value=5_000_000)

_ops = st.one_of(
    st.tuples(st.just("bill"), st.sampled_from(SUBS), _amounts, st.integers(0, 500_000), st.integers(0, 5_000)),
    st.tuples(st.just("pay"), st.sampled_from(SUBS), _amounts, st.sampled_from(CHANNELS)),
    st.tuples(st.just("credit"), st.sampled_from(SUBS)),
    st.tuples(st.just("adjust"), st.sampled_from(SUBS), st.integers(-500_000, 500_000).filter(bool)),
    st.tuples(st.just("reverse"), st.integers(min_value=0)),
)


class _Effect(NamedTuple):
    """An entry's expected effect on one subscription's accounts, and the debt it opens (if any)."""

    sub: int
    receivable: int
    credit: int
    carry: int
    item: OpenItem | None


@dataclass
class _Model:
    """What the ledger must say, computed from the operations, never from the postings."""

    entries: list[Entry] = field(default_factory=list)
    # per entry: (subscription, receivable effect, credit effect, carry effect, debit item or None)
    effects: list[_Effect] = field(default_factory=list)
    reversed: set[int] = field(default_factory=set)
    day: int = 0

    def live(self) -> list[int]:
        return [i for i, e in enumerate(self.entries) if e.kind is not EntryKind.REVERSAL and i not in self.reversed]

    def mine(self, sub: int) -> list[_Effect]:
        return [self.effects[i] for i in self.live() if self.effects[i].sub == sub]

    def total(self, sub: int, pick: Callable[[_Effect], int]) -> int:
        return sum(pick(e) for e in self.mine(sub))

    def open_items(self, sub: int) -> list[OpenItem]:
        """Live debits of the subscription, settled oldest first by every live credit to its receivable."""
        debits = [e.item for e in self.mine(sub) if e.item is not None]
        settled = sum(-e.receivable for e in self.mine(sub) if e.receivable < 0)
        out = []
        for item in debits:
            take = min(settled, item.amount)
            settled -= take
            if item.amount > take:
                out.append(OpenItem(item.ref, item.due, item.amount - take))
        return out

    def add(self, entry: Entry, effect: _Effect) -> None:
        self.entries.append(entry)
        self.effects.append(effect)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ops, max_size=40))
def test_ledger_invariants_hold_after_every_step(ops: list[tuple[object, ...]]) -> None:
    m = _Model()
    for op in ops:
        m.day += 1
        due = date(2022, 1, 1) + timedelta(days=m.day)
        kind = op[0]
        if kind == "bill":
            _, sub, energy, vat, insurance = op
            assert isinstance(sub, int) and isinstance(energy, int) and isinstance(vat, int)
            assert isinstance(insurance, int)
            levy = energy // 10
            carry_in = m.total(sub, lambda e: e.carry)
            payable, carry_out = split_thousands(energy + levy + vat + insurance + carry_in)
            entry = bill_entry(sub, energy, levy, vat, insurance, carry_out - carry_in)
            item = OpenItem(f"bill{len(m.entries)}", due, payable) if payable else None
            m.add(entry, _Effect(sub, payable, 0, carry_out - carry_in, item))
        elif kind == "pay":
            _, sub, amount, channel = op
            assert isinstance(sub, int) and isinstance(amount, int) and isinstance(channel, str)
            items = m.open_items(sub)
            allocations, over = allocate(amount, items)
            settled = sum(a.amount for a in allocations)
            assert settled <= amount
            assert settled + over == amount
            assert settled == min(amount, sum(i.amount for i in items))
            owed = {i.ref: i.amount for i in items}
            assert all(0 < a.amount <= owed[a.ref] for a in allocations)
            m.add(payment_entry(sub, amount, channel, to_credit=over), _Effect(sub, -settled, -over, 0, None))
        elif kind == "credit":
            _, sub = op
            assert isinstance(sub, int)
            available = -m.total(sub, lambda e: e.credit)
            open_debt = sum(i.amount for i in m.open_items(sub))
            amount = min(available, open_debt)
            if amount <= 0:
                continue
            m.add(credit_entry(sub, amount), _Effect(sub, -amount, amount, 0, None))
        elif kind == "adjust":
            _, sub, amount = op
            assert isinstance(sub, int) and isinstance(amount, int)
            item = OpenItem(f"adj{len(m.entries)}", due, amount) if amount > 0 else None
            m.add(adjustment_entry(sub, amount), _Effect(sub, amount, 0, 0, item))
        else:
            live = m.live()
            if not live:
                continue
            assert isinstance(op[1], int)
            target = live[op[1] % len(live)]
            m.reversed.add(target)
            m.add(reverse(m.entries[target]), _Effect(0, 0, 0, 0, None))

        # invariants after every step, from the postings
        for entry in m.entries:
            assert check(entry) is entry
        assert sum(p.amount for e in m.entries for p in e.postings) == 0
        bal = balances(m.entries)
        for sub in SUBS:
            assert bal.get(receivable(sub), 0) == m.total(
                sub, lambda e: e.receivable
            )  # bills (and debits) minus payments (and credits)
            assert bal.get(customer_credit(sub), 0) == m.total(sub, lambda e: e.credit)
            assert bal.get(rounding_carry(sub), 0) == m.total(sub, lambda e: e.carry)
        paid = sum(
            -(m.effects[i].receivable + m.effects[i].credit) for i in m.live() if m.entries[i].kind is EntryKind.PAYMENT
        )
        assert sum(bal.get(bank_clearing(c), 0) for c in CHANNELS) == paid
