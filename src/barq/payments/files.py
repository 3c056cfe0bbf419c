"""Bank files: a million payments validated, matched and posted, exactly once (domain.md §6).

A bank file is CSV in UTF-8 with a header naming the columns ``trace, bill_id, payment_id, amount, paid_on``
(any order; ``paid_on`` is ``YYYY-MM-DD`` or a Jalali ``YYYY/MM/DD``). The whole file is checked first: a
wrong encoding, a missing or unknown column, or any bad row (a wrong check digit, an amount that is not a
positive number of rials, a date in the future) refuses the file whole, with every bad row's line and field,
and nothing is posted.

A good file is matched with the rules of ``payments.service`` (set-based: check digits in numpy, bills and
balances fetched column-wise) and posted in chunks, one transaction each: the chunk's payment rows, then one
ledger entry (``Dr bank clearing``, ``Cr receivable`` and ``Cr customer credit`` per payment, ``Cr
suspense``) selected from those rows inside the database. The file's batch row remembers its SHA-256: the
same file again posts nothing, and a run killed half way is finished by running the same file again,
because a trace already stored for this bank is never posted twice.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date
from operator import methodcaller

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import ISSUED_BILLS_SQL
from barq.bulk import without_gc
from barq.calendar import parse_jalali, to_jalali
from barq.clock import Clock
from barq.db import Nullable, bulk_insert, fetch_int_columns, insert_columns
from barq.errors import ValidationError
from barq.ledger import postings as L
from barq.ledger.service import lock_ledger_for_bulk, post_selected
from barq.payments.channels import channel as find_channel
from barq.payments.models import PaymentBatch
from barq.payments.service import MAX_TRACE, PAID_STATES

I64 = NDArray[np.int64]
COLUMNS = ("trace", "bill_id", "payment_id", "amount", "paid_on")
CHUNK = 2_000_000  # each chunk matches against whole tables and joins the balance table once: few, large chunks
MAX_REPORTED = 1000
_WIDTH = 13  # bill and payment IDs have at most 13 digits
_ID_MIN = 6


@dataclass
class RowError:
    line: int
    field: str
    message_fa: str


class BankFileRefused(ValidationError):
    """The file is refused whole; ``rows`` lists the bad rows (the first ``MAX_REPORTED``), ``bad_rows``
    counts them all."""

    code = "bad_file"

    def __init__(self, message_fa: str, *, rows: Sequence[RowError] = (), bad_rows: int = 0, field: str | None = None):
        super().__init__(message_fa, field=field or "file", detail=message_fa)
        self.rows = list(rows)
        self.bad_rows = bad_rows or len(self.rows)


@dataclass(frozen=True)
class FileResult:
    batch_id: int
    rows_total: int
    rows_posted: int
    rows_suspense: int
    rows_duplicate: int
    amount_total: int
    already: bool  # the same file had been posted before: nothing was posted now


@dataclass
class Parsed:
    """A checked bank file as columns, in file order."""

    lines: I64
    trace: list[str]
    amount: I64
    paid_on: list[str]  # ISO dates
    bill_int: I64  # the IDs' digits as integers (the stored IDs are their digits without leading zeros)
    payment_int: I64


# ------------------------------------------------------------------------------------- parsing


@without_gc
def parse_bank_file(data: bytes, *, today: date) -> Parsed:
    """Check a whole file; return its columns or raise :class:`BankFileRefused` naming every bad row."""
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BankFileRefused("کدگذاری فایل باید UTF-8 باشد", field="file") from exc
    text_lines = body.splitlines()
    # a plain file (no quotes) is split with str.split, several times faster than the csv module
    reader = csv.reader(text_lines) if '"' in body else (line.split(",") for line in text_lines)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if not header or missing or unknown or len(set(header)) != len(header):
        parts = []
        if missing:
            parts.append("ستون‌های " + "، ".join(missing) + " در سطر عنوان نیست")
        if unknown:
            parts.append("ستون‌های " + "، ".join(unknown) + " شناخته نیست")
        if not parts:
            parts.append("سطر عنوان تکراری یا خالی است")
        raise BankFileRefused(
            "فایل بانک پذیرفته نشد: " + "؛ ".join(parts) + f". ستون‌ها باید این‌ها باشند: {', '.join(COLUMNS)}",
            field="header",
        )
    pos = [header.index(c) for c in COLUMNS]
    width = len(header)
    errors: list[RowError] = []
    bad = 0

    def refuse(line: int, column: str, message: str) -> None:
        nonlocal bad
        bad += 1
        if len(errors) < MAX_REPORTED:
            errors.append(RowError(line, column, message))

    body_lines = text_lines[1:]
    plain = '"' not in body
    if plain and all(n == width - 1 for n in map(methodcaller("count", ","), body_lines)):
        # every line has its fields: the whole body is split at once and the columns sliced out of it
        fields = ",".join(body_lines).split(",")
        columns: list[Sequence[str]] = [fields[k::width] for k in range(width)]
        lines = list(range(2, len(body_lines) + 2))
    else:
        rows = list(reader)
        sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        keep = np.flatnonzero(sizes == width)
        for i in np.flatnonzero(sizes != width).tolist():
            if sizes[i] > 1 or (sizes[i] == 1 and rows[i][0].strip()):
                refuse(i + 2, "row", f"{sizes[i]} ستون دارد؛ {width} ستون لازم است")
        good = rows if len(keep) == len(rows) else [rows[i] for i in keep.tolist()]
        lines = (keep + 2).tolist()
        columns = list(zip(*good, strict=True)) if good else [() for _ in range(width)]
    spaced = " " in body or "\t" in body  # usually not: then no value needs stripping
    traces, bills, pays, amounts_s, dates_s = (
        [v.strip() for v in columns[p]] if spaced else list(columns[p]) for p in pos
    )
    t_len = np.fromiter(map(len, traces), dtype=np.int64, count=len(traces))
    joined = " ".join(traces)
    if not (joined.isascii() and joined.isprintable()) or t_len.min(initial=1) < 1 or t_len.max(initial=1) > MAX_TRACE:
        for i, t in enumerate(traces):
            if not t or len(t) > MAX_TRACE or not t.isascii() or not t.isprintable():
                refuse(lines[i], "trace", f"شماره پیگیری باید ۱ تا {MAX_TRACE} نویسه لاتین باشد")
    bill_ok = _digit_strings(bills, lines, "bill_id", "شناسه قبض", refuse)
    pay_ok = _digit_strings(pays, lines, "payment_id", "شناسه پرداخت", refuse)
    amount = np.zeros(len(lines), dtype=np.int64)
    a_len = np.fromiter(map(len, amounts_s), dtype=np.int64, count=len(amounts_s))
    joined = ",".join(amounts_s)
    if (
        joined.replace(",", "").isdigit()
        and joined.isascii()
        and a_len.min(initial=1) >= 1
        and a_len.max(initial=1) <= 15
    ):
        amount = np.fromstring(joined, dtype=np.int64, sep=",") if joined else amount
        for i in np.flatnonzero(amount <= 0).tolist():
            refuse(lines[i], "amount", "مبلغ باید عدد صحیح مثبت ریال باشد")
    else:
        for i, a in enumerate(amounts_s):
            value = int(a) if a.isascii() and a.isdigit() and len(a) <= 15 else 0
            if value <= 0:
                refuse(lines[i], "amount", "مبلغ باید عدد صحیح مثبت ریال باشد")
            else:
                amount[i] = value
    paid_on = _dates(dates_s, lines, today, refuse)
    ok = bill_ok & pay_ok
    bill_int = np.zeros(len(lines), dtype=np.int64)
    pay_int = np.zeros(len(lines), dtype=np.int64)
    if ok.any():
        idx = np.flatnonzero(ok)
        every = len(idx) == len(lines)
        bm = _digit_matrix(bills if every else [bills[i] for i in idx])
        pm = _digit_matrix(pays if every else [pays[i] for i in idx])
        plen = _WIDTH - np.argmax(pm != 0, axis=1)  # digits after the leading zeros
        wrong_bill = ~bill_check(bm)
        wrong_pay1, wrong_pay2 = payment_checks(pm, plen, bm)
        for k in np.flatnonzero(wrong_bill).tolist():
            refuse(lines[idx[k]], "bill_id", "رقم کنترل شناسه قبض درست نیست")
        for k in np.flatnonzero(~wrong_bill & wrong_pay1).tolist():
            refuse(lines[idx[k]], "payment_id", "رقم کنترل اول شناسه پرداخت درست نیست")
        for k in np.flatnonzero(~wrong_bill & ~wrong_pay1 & wrong_pay2).tolist():
            refuse(lines[idx[k]], "payment_id", "شناسه پرداخت با شناسه قبض همخوانی ندارد (رقم کنترل دوم)")
        bill_int[idx] = _as_int(bm)
        pay_int[idx] = _as_int(pm)
    if bad:
        errors.sort(key=lambda e: e.line)
        raise BankFileRefused(
            f"فایل بانک پذیرفته نشد: {bad} سطر نادرست است و هیچ پرداختی از آن ثبت نشد", rows=errors, bad_rows=bad
        )
    if not lines:
        raise BankFileRefused("فایل بانک هیچ پرداختی ندارد", field="file")
    return Parsed(
        lines=np.array(lines, dtype=np.int64),
        trace=traces,
        amount=amount,
        paid_on=paid_on,
        bill_int=bill_int,
        payment_int=pay_int,
    )


def _digit_strings(
    values: Sequence[str], lines: list[int], column: str, label: str, refuse: Callable[[int, str, str], None]
) -> NDArray[np.bool_]:
    """Which values are 6–13 digits after their leading zeros; the others are refused. A column of plain
    digits without leading zeros is checked at once on the joined string."""
    ok = np.ones(len(values), dtype=bool)
    size = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    joined = ",".join(values)
    if (
        joined.replace(",", "").isdigit()
        and joined.isascii()
        and ",0" not in "," + joined
        and size.min(initial=_ID_MIN) >= _ID_MIN
        and size.max(initial=_WIDTH) <= _WIDTH
    ):
        return ok
    for i, v in enumerate(values):
        n = len(v.lstrip("0"))
        if not (v.isascii() and v.isdigit()) or not _ID_MIN <= n <= _WIDTH:
            refuse(lines[i], column, f"{label} باید {_ID_MIN} تا {_WIDTH} رقم باشد")
            ok[i] = False
    return ok


def _dates(values: list[str], lines: list[int], today: date, refuse: Callable[[int, str, str], None]) -> list[str]:
    """Each payment date as ISO, refusing bad and future ones; a file has few distinct dates: each is read once."""
    iso: dict[str, str] = {}
    for v in set(values):
        try:
            when = date.fromisoformat(v) if "-" in v else parse_jalali(v)
        except (ValueError, ValidationError):
            break
        if when > today:
            break
        iso[v] = when.isoformat()
    else:
        return list(map(iso.__getitem__, values))
    seen: dict[str, date | None] = {}
    out: list[str] = []
    for i, v in enumerate(values):
        if v not in seen:
            try:
                seen[v] = date.fromisoformat(v) if "-" in v else parse_jalali(v)
            except (ValueError, ValidationError):
                seen[v] = None
        d = seen[v]
        if d is None:
            refuse(lines[i], "paid_on", "تاریخ پرداخت نادرست است (YYYY-MM-DD یا تاریخ شمسی YYYY/MM/DD)")
        elif d > today:
            refuse(lines[i], "paid_on", "تاریخ پرداخت در آینده است")
        else:
            if v not in iso:
                iso[v] = d.isoformat()
            out.append(iso[v])
            continue
        out.append("")
    return out


# ------------------------------------------------------------------------------------- check digits, vectorised


def _digit_matrix(values: Sequence[str]) -> I64:
    """Digit strings (checked: at most 13 digits after their leading zeros) right-aligned in a (n, 13) matrix
    of digits, zero-padded on the left: numpy reads the joined column as integers and takes their digits."""
    number = np.fromstring(",".join(values), dtype=np.int64, sep=",") if values else np.zeros(0, dtype=np.int64)
    digits = np.empty((len(number), _WIDTH), dtype=np.int64)
    for k in range(_WIDTH - 1, -1, -1):
        number, digits[:, k] = np.divmod(number, 10)
    return digits


def _weights(n: int, shift: int = 0) -> I64:
    """Check-digit weights 2, 3, 4, 5, 6, 7, 2, … from the rightmost of ``n`` right-aligned digits."""
    return np.array([2 + (n - 1 - j + shift) % 6 for j in range(n)], dtype=np.int64)


def _mod11(total: I64) -> I64:
    r = total % 11
    return np.where(r < 2, 0, 11 - r)


def bill_check(b: I64) -> NDArray[np.bool_]:
    """Whether each bill ID's last digit is the check digit of the digits before it (``ids.check_digit``)."""
    return np.asarray(_mod11(b[:, :-1] @ _weights(_WIDTH - 1)) == b[:, -1], dtype=bool)


def payment_checks(p: I64, length: I64, b: I64) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(check digit 1 wrong, check digit 2 wrong) for each payment ID ``p`` of ``length`` digits and its bill
    ID ``b``: digit 1 covers the payment ID's digits before it; digit 2 covers the bill ID followed by the
    payment ID's digits before it."""
    wrong1 = _mod11(p[:, :-2] @ _weights(_WIDTH - 2)) != p[:, -2]
    own = p[:, :-1] @ _weights(_WIDTH - 1)
    wrong2 = np.zeros(len(p), dtype=bool)
    for n in np.unique(length).tolist():
        rows = length == n
        total = own[rows] + b[rows] @ _weights(_WIDTH, shift=n - 1)
        wrong2[rows] = _mod11(total) != p[rows, -1]
    return wrong1, wrong2


def _as_int(m: I64) -> I64:
    return m @ (10 ** np.arange(_WIDTH - 1, -1, -1, dtype=np.int64))


# ------------------------------------------------------------------------------------- matching


def _lookup(keys: I64, values: I64, wanted: I64) -> tuple[I64, NDArray[np.bool_]]:
    """values[keys == wanted] for each wanted key (keys unique; 0 where none), and whether it was found."""
    (out,), hit = _lookup_many(keys, [values], wanted)
    return out, hit


def _lookup_many(keys: I64, columns: Sequence[I64], wanted: I64) -> tuple[list[I64], NDArray[np.bool_]]:
    """:func:`_lookup` of several columns of one key at once (the keys are sorted once, and the wanted ones
    too: a search for sorted values stays in the cache)."""
    if not len(keys):
        return [np.zeros(len(wanted), dtype=np.int64) for _ in columns], np.zeros(len(wanted), dtype=bool)
    order = np.argsort(keys)
    k = keys[order]
    ask = np.argsort(wanted)
    pos = np.empty(len(wanted), dtype=np.int64)
    pos[ask] = np.minimum(np.searchsorted(k, wanted[ask]), len(k) - 1)
    hit = k[pos] == wanted
    found = order[pos[hit]]
    outs = []
    for values in columns:
        out = np.zeros(len(wanted), dtype=np.int64)
        out[hit] = values[found]
        outs.append(out)
    return outs, hit


def _key(cycle: I64, subscription: I64) -> I64:
    return cycle * 10_000_000_000 + subscription


@dataclass
class _Matched:
    subscription: I64  # 0 where the bill ID names none
    bill_ref: I64  # 0 where no open bill matched
    reason: list[str | None]
    to_credit: I64


def _match(session: Session, f: Parsed, rows: I64, *, today: date) -> _Matched:
    """Match the file's ``rows`` (positions in file order), as if posted in that order."""
    n = len(rows)
    bill_int, payment_int, amount = f.bill_int[rows], f.payment_int[rows], f.amount[rows]
    thousands = payment_int // 100_000
    amount_ok = thousands * 1000 == amount
    year_digit = payment_int // 10_000 % 10
    jy = int(to_jalali(today).year)
    cycle = (jy - (jy - year_digit) % 10) * 100 + payment_int // 100 % 100
    cycles = sorted(set(cycle[amount_ok].tolist()))
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the subscriptions and their debts are read meanwhile on a second connection: under the chunk's lock
        # nothing it reads can change, and this transaction has written nothing yet
        side = pool.submit(_subscriptions_and_debts, session.get_bind().engine)
        bills = (
            fetch_int_columns(
                session,
                ["b.subscription_id", "b.id", "CAST(b.payment_id AS BIGINT)", "b.cycle"],
                f"FROM bill b WHERE b.cycle IN ({', '.join(str(int(c)) for c in cycles)}) AND {ISSUED_BILLS_SQL} "
                "AND b.payment_id IS NOT NULL",
            )
            if cycles
            else None
        )
        sub_keys, sub_ids, bal_sub, bal_amount = side.result()
    sub, known = _lookup(sub_keys, sub_ids, bill_int)
    bill_ref = np.zeros(n, dtype=np.int64)
    wanted = known & amount_ok
    if bills is not None:
        b_sub, b_id, b_pay, b_cycle = bills
        (found, pay_of), hit = _lookup_many(_key(b_cycle, b_sub), [b_id, b_pay], _key(cycle, sub))
        hit &= wanted & (pay_of == payment_int)
        bill_ref[hit] = found[hit]
        if hit.any():
            lo, hi = int(bill_ref[hit].min()), int(bill_ref[hit].max())
            states = ", ".join(f"'{s}'" for s in PAID_STATES)
            (paid,) = fetch_int_columns(
                session,
                ["bill_ref"],
                f"FROM payment WHERE bill_ref BETWEEN {lo} AND {hi} AND status IN ({states})",
            )
            bill_ref[np.isin(bill_ref, paid)] = 0
        # a bill paid twice in the same file: the first payment pays it
        taken = np.flatnonzero(bill_ref)
        _, first = np.unique(bill_ref[taken], return_index=True)
        again = np.ones(len(taken), dtype=bool)
        again[first] = False
        bill_ref[taken[again]] = 0
    reason: list[str | None] = [
        None if r else ("unknown_bill" if not k else "amount_mismatch" if not a else "no_open_bill")
        for r, k, a in zip(bill_ref.tolist(), known.tolist(), amount_ok.tolist(), strict=True)
    ]
    # what exceeds the debt becomes credit: payments to one subscription in file order
    to_credit = np.zeros(n, dtype=np.int64)
    posted = np.flatnonzero(bill_ref)
    if len(posted):
        owed, _ = _lookup(bal_sub, bal_amount, sub[posted])
        order = np.lexsort((posted, sub[posted]))
        s_sorted = sub[posted][order]
        a_sorted = amount[posted][order]
        cum = np.cumsum(a_sorted)
        start = np.r_[0, np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1]
        group_start_cum = np.repeat(cum[start] - a_sorted[start], np.diff(np.r_[start, len(s_sorted)]))
        paid_before = cum - a_sorted - group_start_cum
        room = np.maximum(np.maximum(owed[order], 0) - paid_before, 0)
        credit = a_sorted - np.minimum(a_sorted, room)
        to_credit[posted[order]] = credit
    return _Matched(subscription=np.where(known, sub, 0), bill_ref=bill_ref, reason=reason, to_credit=to_credit)


def _subscriptions_and_debts(engine: Engine) -> list[I64]:
    """Every subscription's bill ID and id, and every receivable balance (subscription, amount)."""
    with Session(engine) as s:
        sub_keys, sub_ids = fetch_int_columns(s, ["CAST(bill_id AS BIGINT)", "id"], "FROM subscription")
        bal_sub, bal_amount = fetch_int_columns(
            s, ["subscription_id", "amount"], f"FROM ledger_balance WHERE account = '{L.RECEIVABLE}'"
        )
    return [sub_keys, sub_ids, bal_sub, bal_amount]


# ------------------------------------------------------------------------------------- posting


def _existing_traces(session: Session, bank: str, traces: list[str]) -> dict[str, int | None]:
    """Traces of this bank already stored, with the batch that stored each.

    Banks number their traces in sequence, so the stored traces between the file's smallest and largest are
    usually few: they are read with one range scan of the (channel, trace) index (in byte order: the column
    has the C collation on PostgreSQL). When the range holds many more traces than the file, the file's
    traces are joined in a temporary table instead."""
    if not traces:
        return {}
    cap = 2 * len(traces) + 1
    rows = session.execute(
        text("SELECT trace, batch_id FROM payment WHERE channel = :bank AND trace >= :lo AND trace <= :hi LIMIT :cap"),
        {"bank": bank, "lo": min(traces), "hi": max(traces), "cap": cap},
    ).all()
    if len(rows) < cap:
        wanted = set(traces)
        return {t: b for t, b in rows if t in wanted}
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS incoming_trace (trace TEXT)"))
        session.execute(text("DELETE FROM incoming_trace"))
    else:
        session.execute(text('CREATE TEMP TABLE IF NOT EXISTS incoming_trace (trace varchar(40) COLLATE "C")'))
        session.execute(text("TRUNCATE incoming_trace"))
    bulk_insert(session, "incoming_trace", ("trace",), [(t,) for t in traces])
    if not sqlite:
        session.execute(text("ANALYZE incoming_trace"))
    rows = session.execute(
        text(
            "SELECT p.trace, p.batch_id FROM incoming_trace t JOIN payment p ON p.channel = :bank AND p.trace = t.trace"
        ),
        {"bank": bank},
    ).all()
    return {t: b for t, b in rows}


@dataclass(frozen=True)
class OpenedFile:
    """A checked file and its batch row, ready for :func:`post_bank_file`; ``parsed`` is None when the same
    file had been posted before (``result`` then says what it did)."""

    batch_id: int
    bank: str
    parsed: Parsed | None
    result: FileResult | None


def open_bank_file(
    factory: sessionmaker[Session],
    *,
    principal: Principal,
    clock: Clock,
    bank: str,
    data: bytes,
    filename: str | None = None,
) -> OpenedFile:
    """Check a whole file (refusing it with every bad row) and record its batch; nothing is posted yet. A page
    calls this in the request and :func:`post_bank_file` in the background."""
    principal.require(P.PAYMENTS_RECEIVE)
    find_channel(bank, kind="bank")
    digest = hashlib.sha256(data).hexdigest()
    with factory() as s:
        batch = s.scalar(select(PaymentBatch).where(PaymentBatch.sha256 == digest))
        if batch is not None and batch.bank != bank:
            raise ValidationError(
                "این فایل پیش‌تر برای بانک دیگری ثبت شده است", field="bank", detail=f"file was sent as {batch.bank}"
            )
        if batch is not None and batch.state == "posted":
            return OpenedFile(batch.id, bank, None, _result(batch, already=True))
    parsed = parse_bank_file(data, today=clock.today())
    with factory() as s, s.begin():
        batch = s.scalar(select(PaymentBatch).where(PaymentBatch.sha256 == digest))
        if batch is None:
            batch = PaymentBatch(
                bank=bank,
                filename=(filename or "")[:200] or None,
                sha256=digest,
                state="posting",
                created_by=principal.username,
                created_at=clock.now(),
                rows_total=len(parsed.lines),
                rows_posted=0,
                rows_suspense=0,
                rows_duplicate=0,
                amount_total=0,
            )
            s.add(batch)
            s.flush()
        return OpenedFile(batch.id, bank, parsed, None)


def post_bank_file(
    factory: sessionmaker[Session],
    *,
    principal: Principal,
    clock: Clock,
    opened: OpenedFile,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = CHUNK,
) -> FileResult:
    """Match and post an opened file in chunks (see the module docstring); resumes an earlier attempt."""
    if opened.parsed is None:
        assert opened.result is not None
        return opened.result
    parsed, batch_id, bank = opened.parsed, opened.batch_id, opened.bank
    n = len(parsed.lines)
    with factory() as s, s.begin():
        earlier = _existing_traces(s, bank, parsed.trace)
    # rows to post now: the first of each trace (a trace repeated within the file is a duplicate), unless it
    # was stored before: by another file or an API notification (a duplicate), or by an earlier attempt of
    # this file (already posted)
    first = dict(zip(reversed(parsed.trace), range(n - 1, -1, -1), strict=True))
    duplicates = n - len(first)
    for t, b in earlier.items():
        i = first.pop(t, None)
        if i is not None and b != batch_id:
            duplicates += 1
    idx = np.sort(np.fromiter(first.values(), dtype=np.int64, count=len(first)))
    done = n - len(idx)
    if progress:
        progress(done, n)
    for start in range(0, len(idx), chunk_size):
        rows = idx[start : start + chunk_size]
        with factory() as s, s.begin():
            # matched inside the chunk's transaction with the balances held still, so a payment that arrived
            # meanwhile (an API notification, the counter) is seen: its bill is no longer open, its debt paid
            lock_ledger_for_bulk(s)
            s.execute(text("UPDATE payment_batch SET state = state WHERE id = :id"), {"id": batch_id})  # SQLite
            matched = _match(s, parsed, rows, today=clock.today())
            _post_chunk(s, parsed, matched, rows, batch_id=batch_id, bank=bank, principal=principal, clock=clock)
        done += len(rows)
        if progress:
            progress(done, n)
    with factory() as s, s.begin():
        batch = s.get_one(PaymentBatch, batch_id)
        batch.rows_duplicate = duplicates
        batch.state = "posted"
        batch.finished_at = clock.now()
        s.flush()
        return _result(batch, already=False)


def receive_bank_file(
    factory: sessionmaker[Session],
    *,
    principal: Principal,
    clock: Clock,
    bank: str,
    data: bytes,
    filename: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = CHUNK,
) -> FileResult:
    """Validate, match and post a bank file (see the module docstring); returns what it did."""
    opened = open_bank_file(factory, principal=principal, clock=clock, bank=bank, data=data, filename=filename)
    return post_bank_file(
        factory, principal=principal, clock=clock, opened=opened, progress=progress, chunk_size=chunk_size
    )


def _post_chunk(
    s: Session,
    f: Parsed,
    m: _Matched,
    rows: I64,
    *,
    batch_id: int,
    bank: str,
    principal: Principal,
    clock: Clock,
) -> None:
    """Post the file's ``rows`` (positions in file order), matched as ``m``, in the caller's transaction."""
    # stored in the order of subscriptions (stable): the ledger's postings then follow its index on
    # (subscription, id), and the bills (numbered in that order by their run) the payments' index on bill_ref
    order = np.argsort(m.subscription, kind="stable")
    reason = [m.reason[k] for k in order.tolist()]
    status = ["suspense" if r else "posted" for r in reason]
    stored = rows[order]
    amounts = f.amount[stored]
    suspense_total = int(sum(a for a, r in zip(amounts.tolist(), reason, strict=True) if r))
    posted = len(rows) - sum(1 for r in reason if r)
    s.execute(
        text(
            "UPDATE payment_batch SET rows_posted = rows_posted + :posted, rows_suspense = rows_suspense + :susp, "
            "amount_total = amount_total + :amount WHERE id = :id"
        ),
        {"posted": posted, "susp": len(rows) - posted, "amount": int(amounts.sum()), "id": batch_id},
    )
    # the rows' ids come from the database; they are all above the largest before them (a sequence on
    # PostgreSQL, max + 1 on SQLite), and the batch id keeps out a concurrent notification's row among them
    before = int(s.scalar(text("SELECT COALESCE(MAX(id), 0) FROM payment")) or 0)
    now = clock.now()
    # SQLite keeps UTC datetimes as text: format once, not once a row through the driver's adapter
    stamp: object = now if s.get_bind().dialect.name != "sqlite" else str(now.astimezone(UTC).replace(tzinfo=None))
    sub, ref = m.subscription[order], m.bill_ref[order]
    insert_columns(
        s,
        "payment",
        {
            "channel": bank,
            "trace": np.asarray(f.trace, dtype=object)[stored].tolist(),
            "bill_id": f.bill_int[stored],  # the digits without leading zeros, as the column keeps them
            "payment_id": f.payment_int[stored],
            "amount": amounts,
            "paid_on": np.asarray(f.paid_on, dtype=object)[stored].tolist(),
            "received_at": stamp,
            "actor": principal.username,
            "status": status,
            "reason": reason,
            "subscription_id": Nullable(sub, sub == 0),
            "bill_ref": Nullable(ref, ref == 0),
            "to_credit": m.to_credit[order],
            "batch_id": batch_id,
        },
        len(rows),
    )
    chunk = f"FROM payment WHERE id > {before} AND batch_id = {int(batch_id)}"
    post_selected(
        s,
        kind=L.EntryKind.PAYMENT,
        select_sql=(
            f"SELECT '{L.RECEIVABLE}' AS account, subscription_id, to_credit - amount AS amount, "
            f"'payment' AS doc_type, id AS doc_id, CAST(NULL AS DATE) AS due_on {chunk} AND status = 'posted' "
            f"UNION ALL SELECT '{L.CUSTOMER_CREDIT}', subscription_id, -to_credit, 'payment', id, NULL "
            f"{chunk} AND status = 'posted'"
        ),
        params={},
        others=[L.Posting(L.bank_clearing(bank), int(amounts.sum())), L.Posting(L.SUSPENSE, -suspense_total)],
        actor=principal.username,
        at=now,
        on=clock.today(),
        memo=f"فایل بانک {bank}",
        source=("payment_batch", batch_id),
    )


def _result(batch: PaymentBatch, *, already: bool) -> FileResult:
    return FileResult(
        batch_id=batch.id,
        rows_total=batch.rows_total,
        rows_posted=batch.rows_posted,
        rows_suspense=batch.rows_suspense,
        rows_duplicate=batch.rows_duplicate,
        amount_total=batch.amount_total,
        already=already,
    )
