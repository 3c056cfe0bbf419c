"""Pure ledger rules (domain.md §6): the chart of accounts, entries and postings, their builders, settlement
of the oldest debt first, and aging.

Money is an integer number of rials; a posting is a debit when positive and a credit when negative; every
entry's postings sum to zero. Nothing here touches a database: a later ``post()`` writes what these
functions build, after :func:`check` has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal, NamedTuple

from barq.errors import ValidationError
from barq.money import Rial

# ------------------------------------------------------------------------------------- chart of accounts

Scope = Literal["subscription", "channel", "company"]


@dataclass(frozen=True, slots=True)
class AccountType:
    """One line of the chart: a stable code, its Persian name, and what one account of it is kept per.

    ``scope`` is ``subscription`` (one account per subscription, key = subscription id), ``channel`` (one per
    payment channel, key = the channel's code) or ``company`` (a single account, no key).
    """

    code: str
    name_fa: str
    scope: Scope


RECEIVABLE = "receivable"
ENERGY_REVENUE_CODE = "energy_revenue"
LEVY_PAYABLE_CODE = "levy_payable"
VAT_PAYABLE_CODE = "vat_payable"
INSURANCE_PAYABLE_CODE = "insurance_payable"
CONNECTION_REVENUE_CODE = "connection_revenue"
SERVICE_FEE_REVENUE_CODE = "service_fee_revenue"
BANK_CLEARING = "bank_clearing"
CUSTOMER_CREDIT = "customer_credit"
SUSPENSE_CODE = "suspense"
ROUNDING_CARRY = "rounding_carry"

CHART: dict[str, AccountType] = {
    t.code: t
    for t in (
        AccountType(RECEIVABLE, "مطالبات از مشترک", "subscription"),
        AccountType(ENERGY_REVENUE_CODE, "درآمد فروش انرژی", "company"),
        AccountType(LEVY_PAYABLE_CODE, "عوارض برق پرداختنی", "company"),
        AccountType(VAT_PAYABLE_CODE, "مالیات بر ارزش افزوده پرداختنی", "company"),
        AccountType(INSURANCE_PAYABLE_CODE, "حق بیمه مشترکین پرداختنی", "company"),
        AccountType(CONNECTION_REVENUE_CODE, "درآمد فروش انشعاب", "company"),
        AccountType(SERVICE_FEE_REVENUE_CODE, "درآمد خدمات پس از فروش", "company"),
        AccountType(BANK_CLEARING, "حساب واسط بانک", "channel"),
        AccountType(CUSTOMER_CREDIT, "بستانکاری مشترک", "subscription"),
        AccountType(SUSPENSE_CODE, "وجوه معلق", "company"),
        AccountType(ROUNDING_CARRY, "کسر هزار ریال", "subscription"),
    )
}


class Account(NamedTuple):
    """An account: a chart code and, for per-subscription or per-channel accounts, its key.

    A named tuple, so ``Account("receivable", 7) == ("receivable", 7)`` and it sorts and hashes as a tuple.
    """

    code: str
    key: int | str | None = None

    @property
    def type(self) -> AccountType:
        return CHART[self.code]

    @property
    def name_fa(self) -> str:
        return CHART[self.code].name_fa


ENERGY_REVENUE = Account(ENERGY_REVENUE_CODE)
LEVY_PAYABLE = Account(LEVY_PAYABLE_CODE)
VAT_PAYABLE = Account(VAT_PAYABLE_CODE)
INSURANCE_PAYABLE = Account(INSURANCE_PAYABLE_CODE)
CONNECTION_REVENUE = Account(CONNECTION_REVENUE_CODE)
SERVICE_FEE_REVENUE = Account(SERVICE_FEE_REVENUE_CODE)
SUSPENSE = Account(SUSPENSE_CODE)


def receivable(subscription_id: int) -> Account:
    """What one subscription owes (a debit balance) for energy, connection and fees."""
    return Account(RECEIVABLE, subscription_id)


def customer_credit(subscription_id: int) -> Account:
    """A subscription's overpayments, held (a credit balance) for its next bill."""
    return Account(CUSTOMER_CREDIT, subscription_id)


def rounding_carry(subscription_id: int) -> Account:
    """The sub-thousand remainder a subscription's last bill carried to its next one (debit = still owed)."""
    return Account(ROUNDING_CARRY, subscription_id)


def bank_clearing(channel: str) -> Account:
    """Money received through one channel (a bank, the counter, the portal) not yet settled with the bank."""
    return Account(BANK_CLEARING, channel)


def _check_account(account: Account) -> None:
    kind = CHART.get(account.code)
    if kind is None:
        raise ValidationError("حساب در سرفصل حساب‌ها نیست", field="account", detail=f"unknown account {account!r}")
    if kind.scope == "company":
        ok = account.key is None
    elif kind.scope == "subscription":
        ok = isinstance(account.key, int) and not isinstance(account.key, bool)
    else:
        ok = isinstance(account.key, str) and account.key != ""
    if not ok:
        raise ValidationError("کلید حساب نادرست است", field="account", detail=f"bad key for {kind.scope}: {account!r}")


# ------------------------------------------------------------------------------------- entries


class EntryKind(StrEnum):
    BILL = "bill"
    PAYMENT = "payment"
    CREDIT = "credit"  # customer credit applied to the receivable
    ADJUSTMENT = "adjustment"  # تعدیل: a debit or credit line with a reason
    SUSPENSE = "suspense"  # a payment that matched nothing, or its later resolution
    REVERSAL = "reversal"
    FEE = "fee"  # connection and after-sales fees


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an entry: an account and an amount in rials, debit positive, credit negative."""

    account: Account
    amount: Rial
    doc_type: str | None = None  # the line's source document: "bill", "payment", "fee", …
    doc_id: int | None = None
    due_on: date | None = None  # on receivable debits: when the debt falls due (aging)


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry: its postings sum to zero. Entries are never changed; :func:`reverse` undoes one."""

    kind: EntryKind
    postings: tuple[Posting, ...]
    memo: str = ""


def balanced(entry: Entry) -> bool:
    """Whether the entry is postable: not empty, no zero or non-integer posting, and the postings sum to zero."""
    try:
        check(entry)
    except ValidationError:
        return False
    return True


def check(entry: Entry) -> Entry:
    """Return the entry unchanged if it may be posted, else raise :class:`ValidationError` saying why."""
    if not entry.postings:
        raise ValidationError("سند حسابداری بدون ردیف است", field="postings", detail="empty entry")
    for p in entry.postings:
        _check_account(p.account)
        if not isinstance(p.amount, int) or isinstance(p.amount, bool):
            raise ValidationError(
                "مبلغ ردیف سند باید عدد صحیح ریال باشد", field="amount", detail=f"non-integer amount {p.amount!r}"
            )
        if p.amount == 0:
            raise ValidationError("ردیف سند با مبلغ صفر مجاز نیست", field="amount", detail=f"zero posting {p.account}")
    total = sum(p.amount for p in entry.postings)
    if total != 0:
        raise ValidationError(
            "سند حسابداری تراز نیست: جمع بدهکار و بستانکار برابر نیست",
            field="postings",
            detail=f"entry does not balance: off by {total}",
        )
    return entry


def _entry(kind: EntryKind, lines: Iterable[tuple[Account, Rial]], memo: str) -> Entry:
    """Build and check an entry from (account, amount) lines; zero lines are left out."""
    return check(Entry(kind, tuple(Posting(a, amt) for a, amt in lines if amt != 0), memo))


def reverse(entry: Entry, *, memo: str | None = None) -> Entry:
    """The entry that undoes ``entry``: the same accounts with every amount negated."""
    check(entry)
    return Entry(
        EntryKind.REVERSAL,
        tuple(Posting(p.account, -p.amount, p.doc_type, p.doc_id) for p in entry.postings),
        memo if memo is not None else f"برگشت: {entry.memo}".strip(),
    )


def with_document(entry: Entry, doc_type: str, doc_id: int) -> Entry:
    """The same entry with every per-subscription posting naming ``doc_type``/``doc_id`` as its source."""
    return Entry(
        entry.kind,
        tuple(
            Posting(p.account, p.amount, doc_type, doc_id, p.due_on) if p.account.type.scope == "subscription" else p
            for p in entry.postings
        ),
        entry.memo,
    )


def balances(entries: Iterable[Entry]) -> dict[Account, Rial]:
    """Every account's balance (debit positive) from the postings; accounts that net to zero are kept."""
    out: dict[Account, Rial] = {}
    for entry in entries:
        for p in entry.postings:
            out[p.account] = out.get(p.account, 0) + p.amount
    return out


# ------------------------------------------------------------------------------------- builders


def _positive(amount: Rial, field: str) -> None:
    if amount <= 0:
        raise ValidationError("مبلغ باید بیشتر از صفر باشد", field=field, detail=f"{field} must be > 0: {amount}")


def bill_entry(
    subscription_id: int,
    energy: Rial,
    levy: Rial,
    vat: Rial,
    insurance: Rial,
    carry_delta: Rial,
    *,
    memo: str = "",
) -> Entry:
    """The entry that issues a bill.

    A bill has the period's lines and a carried remainder (domain.md §3): ``total = energy + levy + vat +
    insurance``; ``payable, carry_out = split_thousands(total + carry_in)`` so ``payable + carry_out = total +
    carry_in``. Pass ``carry_delta = carry_out - carry_in``. The postings are::

        Dr receivable(subscription)     payable  = total - carry_delta
        Dr rounding_carry(subscription) carry_delta   (a credit when the carry shrinks)
        Cr energy_revenue               energy   (the energy amount, demand charges and the fixed charge)
        Cr levy_payable                 levy
        Cr vat_payable                  vat
        Cr insurance_payable            insurance

    So the receivable grows by exactly what the customer must pay now, the revenue and the payables by the
    bill's lines, and ``rounding_carry(subscription)`` holds the remainder still owed but not yet asked for:
    its balance is always the last bill's ``carry_out``. Zero lines are left out. A payable below zero is
    refused (``split_thousands`` never produces one: a credit bill has payable 0 and a negative carry).
    """
    total = energy + levy + vat + insurance
    payable = total - carry_delta
    if payable < 0:
        raise ValidationError(
            "مبلغ قابل پرداخت صورتحساب منفی است",
            field="carry_delta",
            detail=f"payable {payable} = total {total} - carry_delta {carry_delta} < 0",
        )
    return _entry(
        EntryKind.BILL,
        [
            (receivable(subscription_id), payable),
            (rounding_carry(subscription_id), carry_delta),
            (ENERGY_REVENUE, -energy),
            (LEVY_PAYABLE, -levy),
            (VAT_PAYABLE, -vat),
            (INSURANCE_PAYABLE, -insurance),
        ],
        memo,
    )


def payment_entry(subscription_id: int, amount: Rial, channel: str, *, to_credit: Rial = 0, memo: str = "") -> Entry:
    """A payment received through ``channel`` for a subscription.

    ``Dr bank_clearing(channel) amount``, ``Cr receivable(subscription) amount - to_credit`` and ``Cr
    customer_credit(subscription) to_credit``. ``to_credit`` is the overpayment that :func:`allocate` returns,
    so the receivable is never credited beyond what was open and the rest waits as credit for the next bill.
    """
    _positive(amount, "amount")
    if not 0 <= to_credit <= amount:
        raise ValidationError(
            "مبلغ بستانکاری از مبلغ پرداخت بیشتر است",
            field="to_credit",
            detail=f"to_credit {to_credit} not in [0, {amount}]",
        )
    return _entry(
        EntryKind.PAYMENT,
        [
            (bank_clearing(channel), amount),
            (receivable(subscription_id), -(amount - to_credit)),
            (customer_credit(subscription_id), -to_credit),
        ],
        memo,
    )


def credit_entry(subscription_id: int, amount: Rial, *, memo: str = "") -> Entry:
    """Apply a subscription's held credit to its receivable: ``Dr customer_credit``, ``Cr receivable``."""
    _positive(amount, "amount")
    return _entry(
        EntryKind.CREDIT, [(customer_credit(subscription_id), amount), (receivable(subscription_id), -amount)], memo
    )


def adjustment_entry(subscription_id: int, amount: Rial, *, against: Account = ENERGY_REVENUE, memo: str = "") -> Entry:
    """An adjustment (تعدیل): ``amount`` > 0 debits the receivable, < 0 credits it; ``against`` takes the rest."""
    if amount == 0:
        raise ValidationError("مبلغ تعدیل نباید صفر باشد", field="amount", detail="zero adjustment")
    return _entry(EntryKind.ADJUSTMENT, [(receivable(subscription_id), amount), (against, -amount)], memo)


def suspense_entry(amount: Rial, channel: str, *, memo: str = "") -> Entry:
    """A payment that matched no open bill (or whose amount differs from its payment ID): to suspense."""
    _positive(amount, "amount")
    return _entry(EntryKind.SUSPENSE, [(bank_clearing(channel), amount), (SUSPENSE, -amount)], memo)


def suspense_resolution_entry(subscription_id: int, amount: Rial, *, memo: str = "") -> Entry:
    """A suspended payment resolved to a subscription: ``Dr suspense``, ``Cr receivable``."""
    _positive(amount, "amount")
    return _entry(EntryKind.SUSPENSE, [(SUSPENSE, amount), (receivable(subscription_id), -amount)], memo)


# ------------------------------------------------------------------------------------- settlement


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An open debt: a reference (a bill, an adjustment), its due date, and what is still owed on it."""

    ref: str
    due: date
    amount: Rial


@dataclass(frozen=True, slots=True)
class Allocation:
    ref: str
    amount: Rial


def allocate(payment: Rial, open_items: Sequence[OpenItem]) -> tuple[tuple[Allocation, ...], Rial]:
    """Settle the oldest debt first: returns (allocations, overpayment).

    Items are taken by due date, ties in the given order; each is settled in full before the next one is
    touched. The allocations never exceed the payment nor any item, and allocations + overpayment = payment;
    the overpayment becomes customer credit (pass it as ``payment_entry(..., to_credit=overpayment)``).
    """
    if payment < 0:
        raise ValidationError("مبلغ پرداخت منفی است", field="payment", detail=f"negative payment {payment}")
    for item in open_items:
        _positive(item.amount, "open_items")
    left = payment
    out: list[Allocation] = []
    for item in sorted(open_items, key=lambda i: i.due):
        if left == 0:
            break
        take = min(left, item.amount)
        out.append(Allocation(item.ref, take))
        left -= take
    return tuple(out), left


# ------------------------------------------------------------------------------------- aging


class AgingBucket(StrEnum):
    NOT_DUE = "not_due"
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    D91_180 = "91-180"
    D181_365 = "181-365"
    OVER_365 = ">365"

    @property
    def label_fa(self) -> str:
        return _BUCKET_FA[self]


_BUCKET_FA: dict[AgingBucket, str] = {
    AgingBucket.NOT_DUE: "سررسید نشده",
    AgingBucket.D1_30: "۱ تا ۳۰ روز",
    AgingBucket.D31_60: "۳۱ تا ۶۰ روز",
    AgingBucket.D61_90: "۶۱ تا ۹۰ روز",
    AgingBucket.D91_180: "۹۱ تا ۱۸۰ روز",
    AgingBucket.D181_365: "۱۸۱ تا ۳۶۵ روز",
    AgingBucket.OVER_365: "بیش از ۳۶۵ روز",
}

# (last day past due that falls in the bucket, bucket), in order
_BUCKET_LIMITS: tuple[tuple[int, AgingBucket], ...] = (
    (0, AgingBucket.NOT_DUE),
    (30, AgingBucket.D1_30),
    (60, AgingBucket.D31_60),
    (90, AgingBucket.D61_90),
    (180, AgingBucket.D91_180),
    (365, AgingBucket.D181_365),
)


def aging_bucket(due: date, today: date) -> AgingBucket:
    """The bucket of a debt due on ``due``: not due through the due date itself, then days past due."""
    days = (today - due).days
    for limit, bucket in _BUCKET_LIMITS:
        if days <= limit:
            return bucket
    return AgingBucket.OVER_365


def aging(items: Iterable[OpenItem], today: date) -> dict[AgingBucket, Rial]:
    """Open amounts summed by aging bucket; every bucket is present, in order, zero when empty."""
    out = dict.fromkeys(AgingBucket, 0)
    for item in items:
        out[aging_bucket(item.due, today)] += item.amount
    return out
