"""Quote: price a hypothetical consumption, as the public bill calculator does (domain.md §3).

``quote(library, group=..., zone=..., from_date=..., to_date=..., kwh=...)`` checks every input and
refuses a bad one with a ``ValidationError`` naming the field (``group``, ``zone``, ``from_date``,
``to_date``, ``kwh``, ``peak``, ``offpeak``, ``households``, ``medical``, ``demand_kw``), then prices it
with the scalar engine. Shared by the CLI (``barq tariff quote``), the API and the public page.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

import jdatetime

from barq.errors import ValidationError
from barq.rating.book import TariffBook, TariffLibrary
from barq.rating.engine import DemandInput, RatedBill, RatingInput, rate_bill

MAX_QUOTE_DAYS: Final = 366
MAX_HOUSEHOLDS: Final = 100
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_JALALI_RE = re.compile(r"^\s*([0-9]{4})[/-]([0-9]{1,2})[/-]([0-9]{1,2})\s*$")


def _bad(field: str, message_fa: str) -> ValidationError:
    return ValidationError(message_fa, field=field, detail=f"{field}: {message_fa}")


def parse_jalali_date(text: str, *, field: str = "date") -> date:
    """``1400/08/01`` (Latin, Persian or Arabic-Indic digits; ``/`` or ``-``) → Gregorian ``date``."""
    m = _JALALI_RE.match(text.translate(_DIGITS))
    if m is None:
        raise _bad(field, "تاریخ شمسی باید به شکل ۱۴۰۰/۰۸/۰۱ باشد")
    try:
        g = jdatetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).togregorian()
    except ValueError:
        raise _bad(field, "چنین تاریخ شمسی وجود ندارد") from None
    return date(g.year, g.month, g.day)


def _as_date(value: str | date, field: str) -> date:
    if isinstance(value, date):
        return value
    return parse_jalali_date(value, field=field)


def _resolve_group(book: TariffBook, group: str | int) -> tuple[int, str | None]:
    """``"1"`` or ``1`` → (1, default sub-code); ``"5-ب"`` → (5, "5-ب")."""
    text = str(group).strip().translate(_DIGITS)
    if text.isdigit():
        number = int(text)
        if number not in book.groups:
            raise _bad("group", f"گروه تعرفه {text} در کتاب {book.version} نیست")
        return number, None
    for g in book.groups.values():
        if text in g.sub_codes:
            return g.number, text
    raise _bad("group", f"گروه یا زیرگروه تعرفه «{text}» در کتاب {book.version} نیست")


def quote(
    library: TariffLibrary,
    *,
    group: str | int,
    zone: str,
    from_date: str | date,
    to_date: str | date,
    kwh: int,
    peak: int | None = None,
    offpeak: int | None = None,
    households: int = 1,
    medical: bool = False,
    demand_kw: int | None = None,
) -> RatedBill:
    """Validate a quote request and price it. Jalali strings or Gregorian ``date`` for the dates."""
    start = _as_date(from_date, "from_date")
    end = _as_date(to_date, "to_date")
    if end <= start:
        raise _bad("to_date", "تاریخ پایان باید بعد از تاریخ آغاز باشد")
    if (end - start).days > MAX_QUOTE_DAYS:
        raise _bad("to_date", f"دوره نمی‌تواند بیش از {MAX_QUOTE_DAYS} روز باشد")
    book = library.find(start)
    last_book = library.find(end - timedelta(days=1))
    if book is None:
        raise _bad("from_date", "برای این تاریخ کتاب تعرفه‌ای نیست")
    if last_book is None:
        raise _bad("to_date", "برای این تاریخ کتاب تعرفه‌ای نیست")
    if kwh < 0:
        raise _bad("kwh", "مصرف نمی‌تواند منفی باشد")
    if peak is not None and peak < 0:
        raise _bad("peak", "مصرف اوج بار نمی‌تواند منفی باشد")
    if offpeak is not None and offpeak < 0:
        raise _bad("offpeak", "مصرف کم باری نمی‌تواند منفی باشد")
    if (peak or 0) + (offpeak or 0) > kwh:
        raise _bad("peak", "مجموع مصرف اوج بار و کم باری از کل مصرف بیشتر است")
    if not 1 <= households <= MAX_HOUSEHOLDS:
        raise _bad("households", f"تعداد خانوار باید از ۱ تا {MAX_HOUSEHOLDS} باشد")

    number, sub_code = _resolve_group(book, group)
    if zone not in book.zones:
        known = "، ".join(book.zones)
        raise _bad("zone", f"منطقه اقلیمی «{zone}» نیست؛ یکی از این‌ها: {known}")
    grp = book.groups[number]
    sub = book.sub_code(number, sub_code)
    if medical and grp.kind != "residential":
        raise _bad("medical", "معافیت پزشکی فقط برای تعرفه خانگی است")
    demand: DemandInput | None = None
    if sub.demand:
        if demand_kw is None or demand_kw <= 0:
            raise _bad("demand_kw", f"تعرفه {sub.code} دیماندی است: قدرت (کیلووات) را بدهید")
        demand = DemandInput(contract_kw=demand_kw, maximeter_kw=Decimal(demand_kw))
    elif demand_kw is not None:
        raise _bad("demand_kw", f"تعرفه {sub.code} دیماندی نیست؛ برای قدرت از زیرگروه دیماندی استفاده کنید")

    inp = RatingInput(
        group=number,
        sub_code=sub_code,
        zone=zone,
        prev_date=start,
        cur_date=end,
        kwh=kwh,
        peak_kwh=peak,
        offpeak_kwh=offpeak,
        households=households,
        medical=medical,
        demand=demand,
    )
    try:
        return rate_bill(library, inp)
    except ValidationError as exc:  # e.g. the later book lacks the zone or the sub-code
        field = {"sub_code": "group", "cur_date": "to_date", "date": "to_date"}.get(exc.field or "", exc.field)
        raise ValidationError(exc.message_fa, field=field, detail=exc.detail) from exc
