"""Identifiers of domain.md §2: national code, legal-entity ID, postal code, mobile, bill ID, payment ID.

Every ``validate_<kind>`` normalises its input (Persian and Arabic-Indic digits to Latin, spaces, dashes and
direction marks removed) and returns the canonical value, or raises :class:`barq.errors.ValidationError`
whose Persian message says why the value is refused. ``is_valid_<kind>`` answers the same question as a
bool. Pure module: no database, no framework.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

from barq.errors import ValidationError

__all__ = [
    "SERVICE_ELECTRICITY",
    "SERVICE_TYPES",
    "BillId",
    "PaymentId",
    "bill_barcode",
    "build_bill_id",
    "build_payment_id",
    "check_digit",
    "is_valid_bill_id",
    "is_valid_legal_id",
    "is_valid_mobile",
    "is_valid_national_code",
    "is_valid_payment_id",
    "is_valid_postal_code",
    "legal_id_check_digit",
    "make_legal_id",
    "make_mobile",
    "make_national_code",
    "make_postal_code",
    "national_code_check_digit",
    "normalize_digits",
    "parse_bill_id",
    "parse_payment_id",
    "validate_bill_id",
    "validate_legal_id",
    "validate_mobile",
    "validate_national_code",
    "validate_payment_id",
    "validate_postal_code",
]

# ------------------------------------------------------------------------------------------ digits

_TO_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
# Separators people type or paste inside identifiers: dashes of every kind, and bidi/zero-width marks.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def normalize_digits(s: str) -> str:
    """Return ``s`` with Persian (۰-۹) and Arabic-Indic (٠-٩) digits replaced by Latin digits."""
    return s.translate(_TO_LATIN)


def _fa(n: int) -> str:
    return str(n).translate(_FA_DIGITS)


def _clean(value: str) -> str:
    return _SEPARATORS.sub("", normalize_digits(value))


def _digits_only(value: str, *, field: str, label: str) -> str:
    """Normalise ``value`` and check that it is a non-empty string of Latin digits."""
    cleaned = _clean(value)
    if not cleaned:
        raise ValidationError(f"{label} وارد نشده است", field=field, detail=f"{field} is empty")
    if not _ASCII_DIGITS.fullmatch(cleaned):
        raise ValidationError(f"{label} فقط می‌تواند رقم داشته باشد", field=field, detail=f"{field} contains non-digits")
    return cleaned


def _exact_length(digits: str, length: int, *, field: str, label: str) -> None:
    if len(digits) != length:
        raise ValidationError(
            f"{label} باید {_fa(length)} رقم باشد؛ {_fa(len(digits))} رقم وارد شده است",
            field=field,
            detail=f"{field} must have {length} digits, got {len(digits)}",
        )


def _not_all_identical(digits: str, *, field: str, label: str) -> None:
    if len(set(digits)) == 1:
        raise ValidationError(
            f"{label} با ده رقم یکسان پذیرفته نیست",
            field=field,
            detail=f"{field} made of one repeated digit is refused",
        )


# ------------------------------------------------------------------------------------ check digits


def check_digit(digits: str) -> int:
    """Check digit of bill and payment IDs.

    Weights 2, 3, 4, 5, 6, 7, 2, 3, … from the rightmost digit; r = sum mod 11; 0 when r < 2, else 11 − r.
    """
    if not _ASCII_DIGITS.fullmatch(digits):
        raise ValueError(f"check_digit needs a non-empty string of digits, got {digits!r}")
    total = sum(int(c) * (2 + i % 6) for i, c in enumerate(reversed(digits)))
    r = total % 11
    return 0 if r < 2 else 11 - r


def national_code_check_digit(first9: str) -> int:
    """Check digit of a national code from its first nine digits.

    r = Σ d[i]·(10−i) for i = 0..8, mod 11; the digit is r when r < 2, else 11 − r.
    """
    if len(first9) != 9 or not _ASCII_DIGITS.fullmatch(first9):
        raise ValueError(f"national_code_check_digit needs 9 digits, got {first9!r}")
    r = sum(int(c) * (10 - i) for i, c in enumerate(first9)) % 11
    return r if r < 2 else 11 - r


_LEGAL_WEIGHTS = (29, 27, 23, 19, 17)


def legal_id_check_digit(first10: str) -> int:
    """Check digit of a legal-entity national ID from its first ten digits.

    k = d[9] + 2; s = Σ (d[i] + k)·w[i mod 5] with w = 29, 27, 23, 19, 17; s mod 11, with 10 read as 0.
    """
    if len(first10) != 10 or not _ASCII_DIGITS.fullmatch(first10):
        raise ValueError(f"legal_id_check_digit needs 10 digits, got {first10!r}")
    k = int(first10[9]) + 2
    s = sum((int(c) + k) * _LEGAL_WEIGHTS[i % 5] for i, c in enumerate(first10)) % 11
    return 0 if s == 10 else s


# ----------------------------------------------------------------------------------- national code

_NC = "national_code"
_NC_LABEL = "کد ملی"


def validate_national_code(value: str) -> str:
    """Return the 10-digit national code (کد ملی) or raise ValidationError saying why it is refused."""
    digits = _digits_only(value, field=_NC, label=_NC_LABEL)
    _exact_length(digits, 10, field=_NC, label=_NC_LABEL)
    _not_all_identical(digits, field=_NC, label=_NC_LABEL)
    if national_code_check_digit(digits[:9]) != int(digits[9]):
        raise ValidationError(
            "رقم کنترل کد ملی درست نیست", field=_NC, detail="national code check digit does not match"
        )
    return digits


def is_valid_national_code(value: str) -> bool:
    try:
        validate_national_code(value)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------------------- legal ID

_LI = "legal_id"
_LI_LABEL = "شناسه ملی"


def validate_legal_id(value: str) -> str:
    """Return the 11-digit legal-entity national ID (شناسه ملی) or raise ValidationError saying why."""
    digits = _digits_only(value, field=_LI, label=_LI_LABEL)
    _exact_length(digits, 11, field=_LI, label=_LI_LABEL)
    if legal_id_check_digit(digits[:10]) != int(digits[10]):
        raise ValidationError("رقم کنترل شناسه ملی درست نیست", field=_LI, detail="legal ID check digit does not match")
    return digits


def is_valid_legal_id(value: str) -> bool:
    try:
        validate_legal_id(value)
    except ValidationError:
        return False
    return True


# ------------------------------------------------------------------------------------- postal code

_PC = "postal_code"
_PC_LABEL = "کد پستی"


def validate_postal_code(value: str) -> str:
    """Return the 10-digit postal code: not ten identical digits, not starting with 0."""
    digits = _digits_only(value, field=_PC, label=_PC_LABEL)
    _exact_length(digits, 10, field=_PC, label=_PC_LABEL)
    _not_all_identical(digits, field=_PC, label=_PC_LABEL)
    if digits[0] == "0":
        raise ValidationError("کد پستی نمی‌تواند با صفر شروع شود", field=_PC, detail="postal code starts with 0")
    return digits


def is_valid_postal_code(value: str) -> bool:
    try:
        validate_postal_code(value)
    except ValidationError:
        return False
    return True


# ------------------------------------------------------------------------------------------ mobile

_MO = "mobile"
_MO_LABEL = "شماره همراه"


def validate_mobile(value: str) -> str:
    """Return the mobile number as ``09xxxxxxxxx``.

    Accepts ``09…``, ``9…`` (10 digits), ``989…``, ``+989…`` and ``00989…``.
    """
    cleaned = _clean(value).replace("(", "").replace(")", "")
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
        if not cleaned.startswith("98"):
            raise ValidationError(
                "شماره همراه باید شماره‌ای در ایران (+۹۸) باشد",
                field=_MO,
                detail="international mobile number outside Iran",
            )
    digits = _digits_only(cleaned, field=_MO, label=_MO_LABEL)
    if digits.startswith("0098"):
        digits = "0" + digits[4:]
    elif digits.startswith("98") and len(digits) == 12:
        digits = "0" + digits[2:]
    elif digits.startswith("9") and len(digits) == 10:
        digits = "0" + digits
    _exact_length(digits, 11, field=_MO, label=_MO_LABEL)
    if not digits.startswith("09"):
        raise ValidationError("شماره همراه باید با ۰۹ شروع شود", field=_MO, detail="mobile number must start with 09")
    return digits


def is_valid_mobile(value: str) -> bool:
    try:
        validate_mobile(value)
    except ValidationError:
        return False
    return True


# ----------------------------------------------------------------------------------------- bill ID

_BI = "bill_id"
_BI_LABEL = "شناسه قبض"

SERVICE_ELECTRICITY = 2
#: Service-type digit of a bill ID → Persian name (the national bill-ID scheme shared by utilities).
SERVICE_TYPES: dict[int, str] = {
    1: "آب",
    2: "برق",
    3: "گاز",
    4: "تلفن ثابت",
    5: "تلفن همراه",
    6: "عوارض شهرداری",
    8: "سازمان امور مالیاتی",
    9: "جرائم راهنمایی و رانندگی",
}

_FILE_NUMBER_MAX_DIGITS = 8
_BILL_MIN, _BILL_MAX = 6, 13  # file number (1..8 digits) + company (3) + service (1) + check (1)


class BillId(NamedTuple):
    """The parts of a bill ID (شناسه قبض)."""

    file_number: str
    company_code: str
    service_type: int
    check_digit: int


def _length_between(digits: str, low: int, high: int, *, field: str, label: str) -> None:
    if not low <= len(digits) <= high:
        raise ValidationError(
            f"{label} باید بین {_fa(low)} و {_fa(high)} رقم باشد؛ {_fa(len(digits))} رقم وارد شده است",
            field=field,
            detail=f"{field} must have {low}..{high} digits, got {len(digits)}",
        )


def validate_bill_id(value: str) -> str:
    """Return the bill ID without leading zeros (a barcode pads it to 13), or raise ValidationError."""
    digits = _digits_only(value, field=_BI, label=_BI_LABEL).lstrip("0")
    _length_between(digits, _BILL_MIN, _BILL_MAX, field=_BI, label=_BI_LABEL)
    if check_digit(digits[:-1]) != int(digits[-1]):
        raise ValidationError("رقم کنترل شناسه قبض درست نیست", field=_BI, detail="bill ID check digit does not match")
    return digits


def is_valid_bill_id(value: str) -> bool:
    try:
        validate_bill_id(value)
    except ValidationError:
        return False
    return True


def parse_bill_id(bill_id: str) -> BillId:
    """Validate ``bill_id`` and split it into file number, company code, service type and check digit."""
    digits = validate_bill_id(bill_id)
    return BillId(
        file_number=digits[:-5],
        company_code=digits[-5:-2],
        service_type=int(digits[-2]),
        check_digit=int(digits[-1]),
    )


def build_bill_id(file_number: int | str, company_code: int | str, service_type: int = SERVICE_ELECTRICITY) -> str:
    """Build a bill ID: file number (≤ 8 digits) ‖ company code (3 digits) ‖ service type ‖ check digit."""
    file_digits = _digits_only(str(file_number), field="file_number", label="شماره پرونده").lstrip("0")
    if not file_digits:
        raise ValidationError("شماره پرونده نمی‌تواند صفر باشد", field="file_number", detail="file number is zero")
    if len(file_digits) > _FILE_NUMBER_MAX_DIGITS:
        raise ValidationError(
            "شماره پرونده حداکثر ۸ رقم است", field="file_number", detail="file number has more than 8 digits"
        )
    company = _digits_only(str(company_code), field="company_code", label="کد شرکت")
    if len(company) > 3:
        raise ValidationError(
            "کد شرکت حداکثر ۳ رقم است", field="company_code", detail="company code has more than 3 digits"
        )
    if not 0 <= service_type <= 9:
        raise ValidationError(
            "نوع خدمت باید یک رقم باشد", field="service_type", detail="service type must be one digit"
        )
    body = f"{file_digits}{company.zfill(3)}{service_type}"
    return body + str(check_digit(body))


# -------------------------------------------------------------------------------------- payment ID

_PI = "payment_id"
_PI_LABEL = "شناسه پرداخت"
_PAY_MIN, _PAY_MAX = 6, 13  # amount (≥ 1 digit) + year (1) + period (2) + check 1 + check 2
_AMOUNT_MAX_DIGITS = _PAY_MAX - 5


class PaymentId(NamedTuple):
    """The decoded parts of a payment ID (شناسه پرداخت)."""

    amount_thousands: int
    year_digit: int
    period: int

    @property
    def amount(self) -> int:
        """The payable amount in rials."""
        return self.amount_thousands * 1000


def validate_payment_id(payment_id: str, bill_id: str | None = None) -> str:
    """Return the payment ID without leading zeros, or raise ValidationError saying why it is refused.

    Check digit 1 is always verified. Check digit 2 ties the payment ID to its bill and is verified only when
    ``bill_id`` is given (a bank must always give it); an invalid ``bill_id`` raises its own error.
    """
    digits = _digits_only(payment_id, field=_PI, label=_PI_LABEL).lstrip("0")
    _length_between(digits, _PAY_MIN, _PAY_MAX, field=_PI, label=_PI_LABEL)
    if check_digit(digits[:-2]) != int(digits[-2]):
        raise ValidationError(
            "رقم کنترل اول شناسه پرداخت درست نیست",
            field=_PI,
            detail="payment ID check digit 1 does not match",
        )
    if bill_id is not None:
        bill = validate_bill_id(bill_id)
        if check_digit(bill + digits[:-1]) != int(digits[-1]):
            raise ValidationError(
                "شناسه پرداخت با شناسه قبض همخوانی ندارد (رقم کنترل دوم درست نیست)",
                field=_PI,
                detail="payment ID check digit 2 does not match the bill ID",
            )
    return digits


def is_valid_payment_id(payment_id: str, bill_id: str | None = None) -> bool:
    try:
        validate_payment_id(payment_id, bill_id)
    except ValidationError:
        return False
    return True


def parse_payment_id(payment_id: str, bill_id: str | None = None) -> PaymentId:
    """Validate and decode a payment ID into (amount ÷ 1000, last digit of the Jalali year, period)."""
    digits = validate_payment_id(payment_id, bill_id)
    return PaymentId(
        amount_thousands=int(digits[:-5]),
        year_digit=int(digits[-5]),
        period=int(digits[-4:-2]),
    )


def build_payment_id(*, bill_id: str, amount: int, year: int, period: int) -> str:
    """Build the payment ID of a bill.

    ``amount`` is the payable amount in rials, a positive multiple of 1000; ``year`` is the Jalali year (only
    its last digit is kept, so 1403 and 3 are the same); ``period`` is 1..99.
    """
    bill = validate_bill_id(bill_id)
    if amount <= 0 or amount % 1000:
        raise ValidationError(
            "مبلغ قابل پرداخت باید مضرب مثبتی از ۱۰۰۰ ریال باشد",
            field="amount",
            detail=f"payable amount must be a positive multiple of 1000 rials, got {amount}",
        )
    thousands = str(amount // 1000)
    if len(thousands) > _AMOUNT_MAX_DIGITS:
        raise ValidationError(
            "مبلغ برای شناسه پرداخت بیش از اندازه است",
            field="amount",
            detail="amount does not fit in a 13-digit payment ID",
        )
    if year < 0:
        raise ValidationError("سال نادرست است", field="year", detail=f"negative year {year}")
    if not 1 <= period <= 99:
        raise ValidationError("دوره باید بین ۱ و ۹۹ باشد", field="period", detail=f"period must be 1..99, got {period}")
    body = f"{thousands}{year % 10}{period:02d}"
    body += str(check_digit(body))
    return body + str(check_digit(bill + body))


def bill_barcode(bill_id: str, payment_id: str) -> str:
    """The 26-digit barcode string: bill ID and payment ID, each left-padded with zeros to 13 digits."""
    bill = validate_bill_id(bill_id)
    payment = validate_payment_id(payment_id, bill)
    return bill.zfill(13) + payment.zfill(13)


# -------------------------------------------------------------------------------------- generators

_MOBILE_PREFIXES = ("910", "911", "912", "913", "915", "919", "901", "902", "935", "936", "939", "990")


def make_national_code(rng: random.Random) -> str:
    """A random valid national code (for tests and the demo)."""
    while True:
        first9 = "".join(rng.choice("0123456789") for _ in range(9))
        code = first9 + str(national_code_check_digit(first9))
        if len(set(code)) > 1:
            return code


def make_legal_id(rng: random.Random) -> str:
    """A random valid legal-entity national ID, shaped like real ones (starting 10)."""
    first10 = "10" + "".join(rng.choice("0123456789") for _ in range(8))
    return first10 + str(legal_id_check_digit(first10))


def make_postal_code(rng: random.Random) -> str:
    """A random valid postal code."""
    while True:
        code = rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(9))
        if len(set(code)) > 1:
            return code


def make_mobile(rng: random.Random) -> str:
    """A random valid mobile number ``09xxxxxxxxx`` with a real operator prefix."""
    return "0" + rng.choice(_MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(7))
