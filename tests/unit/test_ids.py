"""Identifiers of domain.md §2, with the W1 vectors of domain-sources.md §9 and hand-computed values."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from barq import ids
from barq.errors import ValidationError

DIGITS = "0123456789"


def _substitutions(code: str, positions: range | None = None) -> list[str]:
    """Every string that differs from ``code`` in exactly one digit."""
    result = []
    for i in positions if positions is not None else range(len(code)):
        for d in DIGITS:
            if d != code[i]:
                result.append(code[:i] + d + code[i + 1 :])
    return result


# ------------------------------------------------------------------------------------------ digits


def test_normalize_digits_persian_and_arabic_indic() -> None:
    assert ids.normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert ids.normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert ids.normalize_digits("کد ۱۲a٣") == "کد 12a3"


@given(st.text())
def test_normalize_digits_is_idempotent_and_leaves_no_eastern_digit(s: str) -> None:
    once = ids.normalize_digits(s)
    assert ids.normalize_digits(once) == once
    assert not any(c in once for c in "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩")


# ------------------------------------------------------------------------------------- check digit


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        # reversed 2,1,4,0,5,9,3,6,4,7,1,9 · weights 2,3,4,5,6,7,2,3,4,5,6,7 = 260; 260 mod 11 = 7 → 11 − 7
        ("917463950412", 4),
        ("0", 0),  # r = 0
        ("6", 0),  # 6·2 = 12, r = 1 → 0
        ("5", 1),  # 5·2 = 10, r = 10 → 1
        ("1", 9),  # r = 2 → 9
        ("12908", 9),  # check digit 1 of payment ID 12908190 (its 7th digit)
        ("000000012908", 9),  # leading zeros never change the check digit
    ],
)
def test_check_digit_known_values(digits: str, expected: int) -> None:
    assert ids.check_digit(digits) == expected


@pytest.mark.parametrize("bad", ["", "12a", "۱۲", " 12"])
def test_check_digit_refuses_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.check_digit(bad)


# ----------------------------------------------------------------------------------- national code


@pytest.mark.parametrize(
    "code",
    ["0076229645", "1583250689", "0499370899", "0790419904", "0084575948", "0067749828", "0013542419"],
)
def test_valid_national_codes(code: str) -> None:
    assert ids.validate_national_code(code) == code
    assert ids.is_valid_national_code(code)


def test_national_code_hand_computed() -> None:
    # 0·10 + 0·9 + 1·8 + 3·7 + 5·6 + 4·5 + 2·4 + 4·3 + 1·2 = 101; 101 mod 11 = 2 → 11 − 2 = 9
    assert ids.national_code_check_digit("001354241") == 9
    # r < 2 keeps r itself: 6·2 = 12, r = 1 → 1 (a bill-style check digit would be 0 here)
    assert ids.national_code_check_digit("000000006") == 1
    assert ids.national_code_check_digit("000000000") == 0


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("۰۰۷۶۲۲۹۶۴۵", "0076229645"),
        ("٠٠٧٦٢٢٩٦٤٥", "0076229645"),
        ("007-622964-5", "0076229645"),
        (" 007 622 9645 ", "0076229645"),
        ("\u200f0076229645\u200e", "0076229645"),
    ],
)
def test_national_code_normalisation(value: str, normalised: str) -> None:
    assert ids.validate_national_code(value) == normalised


@pytest.mark.parametrize(
    ("value", "message", "detail"),
    [
        ("", "کد ملی وارد نشده است", "empty"),
        ("00762a9645", "کد ملی فقط می‌تواند رقم داشته باشد", "non-digits"),
        ("007622964", "کد ملی باید ۱۰ رقم باشد؛ ۹ رقم وارد شده است", "10 digits, got 9"),
        ("00762296450", "کد ملی باید ۱۰ رقم باشد؛ ۱۱ رقم وارد شده است", "10 digits, got 11"),
        ("0076229646", "رقم کنترل کد ملی درست نیست", "check digit"),
        ("1111111111", "کد ملی با ده رقم یکسان پذیرفته نیست", "repeated digit"),
        ("0000000000", "کد ملی با ده رقم یکسان پذیرفته نیست", "repeated digit"),
    ],
)
def test_invalid_national_codes_say_why(value: str, message: str, detail: str) -> None:
    with pytest.raises(ValidationError) as info:
        ids.validate_national_code(value)
    assert info.value.message_fa == message
    assert info.value.field == "national_code"
    assert info.value.errors == {"national_code": message}
    assert detail in info.value.detail
    assert not ids.is_valid_national_code(value)


def test_identical_digit_codes_pass_the_checksum_but_are_refused() -> None:
    # The rule exists because these pass the mod-11 check: Σ d·(10..2) = 54·d ≡ 10·d (mod 11).
    for d in DIGITS:
        code = d * 10
        assert ids.national_code_check_digit(code[:9]) == int(code[9])
        assert not ids.is_valid_national_code(code)


nine_digits = st.text(alphabet=DIGITS, min_size=9, max_size=9)


@given(nine_digits)
def test_national_code_single_substitution_is_caught_unless_check_digit_is_1(first9: str) -> None:
    """The check digit c ≠ 1 fixes r = Σ mod 11, and any one-digit change moves r (weights 2..10 are units
    mod 11). c = 1 stands for both r = 1 and r = 10, so those codes are excepted (see the next test)."""
    code = first9 + str(ids.national_code_check_digit(first9))
    assume(len(set(code)) > 1)
    positions = range(10) if code[9] != "1" else range(9, 10)
    for changed in _substitutions(code, positions):
        assert not ids.is_valid_national_code(changed), changed


def test_national_code_substitution_blind_spot_is_real() -> None:
    # r = 1 and r = 10 share check digit 1: 0000395951 (r = 10) and 9000395951 (r = 10 + 90 ≡ 1).
    assert ids.is_valid_national_code("0000395951")
    assert ids.is_valid_national_code("9000395951")


@given(st.integers(min_value=0, max_value=2**32))
def test_made_national_codes_are_valid(seed: int) -> None:
    code = ids.make_national_code(random.Random(seed))
    assert ids.validate_national_code(code) == code


# ---------------------------------------------------------------------------------------- legal ID


def test_legal_id_known_values() -> None:
    assert ids.validate_legal_id("10380284790") == "10380284790"
    assert ids.validate_legal_id("۱۰۳۸۰۲۸۴۷۹۰") == "10380284790"
    # k = 0 + 2; (1+2)·29 + 2·(27+23+19+17) + 2·(29+27+23+19+17) = 87 + 172 + 230 = 489 ≡ 5 (mod 11)
    assert ids.legal_id_check_digit("1000000000") == 5
    assert ids.is_valid_legal_id("10000000005")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10380284791", "رقم کنترل شناسه ملی درست نیست"),
        ("11111111111", "رقم کنترل شناسه ملی درست نیست"),
        ("1038028479", "شناسه ملی باید ۱۱ رقم باشد؛ ۱۰ رقم وارد شده است"),
        ("", "شناسه ملی وارد نشده است"),
    ],
)
def test_invalid_legal_ids_say_why(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ids.validate_legal_id(value)
    assert info.value.message_fa == message
    assert info.value.field == "legal_id"


@given(st.text(alphabet=DIGITS, min_size=10, max_size=10))
def test_legal_id_single_substitution_is_caught_unless_check_digit_is_0(first10: str) -> None:
    """s mod 11 = 0 and 10 share the check digit 0; otherwise every one-digit change is caught (a change of
    d[i], i < 9, moves s by δ·w with w ≢ 0; a change of d[9] also moves k and s by 247·δ ≡ 5·δ)."""
    legal = first10 + str(ids.legal_id_check_digit(first10))
    positions = range(11) if legal[10] != "0" else range(10, 11)
    for changed in _substitutions(legal, positions):
        assert not ids.is_valid_legal_id(changed), changed


@given(st.integers(min_value=0, max_value=2**32))
def test_made_legal_ids_are_valid(seed: int) -> None:
    legal = ids.make_legal_id(random.Random(seed))
    assert ids.validate_legal_id(legal) == legal


# ------------------------------------------------------------------------------------- postal code


def test_postal_codes() -> None:
    assert ids.validate_postal_code("1234567890") == "1234567890"
    assert ids.validate_postal_code("۱۳۸۱۷-۴۳۱۱۱") == "1381743111"
    cases = {
        "0123456789": "کد پستی نمی‌تواند با صفر شروع شود",
        "5555555555": "کد پستی با ده رقم یکسان پذیرفته نیست",
        "123456789": "کد پستی باید ۱۰ رقم باشد؛ ۹ رقم وارد شده است",
    }
    for value, message in cases.items():
        with pytest.raises(ValidationError) as info:
            ids.validate_postal_code(value)
        assert info.value.message_fa == message
        assert info.value.field == "postal_code"


@given(st.integers(min_value=0, max_value=2**32))
def test_made_postal_codes_are_valid(seed: int) -> None:
    code = ids.make_postal_code(random.Random(seed))
    assert ids.validate_postal_code(code) == code


# ------------------------------------------------------------------------------------------ mobile


@pytest.mark.parametrize(
    "value",
    [
        "09121234567",
        "9121234567",
        "989121234567",
        "+989121234567",
        "+98 912 123 4567",
        "00989121234567",
        "0912-123-4567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "(0912) 123 4567",
    ],
)
def test_mobile_forms_normalise_to_09(value: str) -> None:
    assert ids.validate_mobile(value) == "09121234567"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0912123456", "شماره همراه باید ۱۱ رقم باشد؛ ۱۰ رقم وارد شده است"),
        ("08121234567", "شماره همراه باید با ۰۹ شروع شود"),
        ("+19121234567", "شماره همراه باید شماره‌ای در ایران (+۹۸) باشد"),
        ("0912x234567", "شماره همراه فقط می‌تواند رقم داشته باشد"),
        ("", "شماره همراه وارد نشده است"),
    ],
)
def test_invalid_mobiles_say_why(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ids.validate_mobile(value)
    assert info.value.message_fa == message
    assert info.value.field == "mobile"


@given(st.integers(min_value=0, max_value=2**32))
def test_made_mobiles_are_valid_in_every_form(seed: int) -> None:
    mobile = ids.make_mobile(random.Random(seed))
    assert ids.validate_mobile(mobile) == mobile
    assert ids.validate_mobile("+98" + mobile[1:]) == mobile
    assert ids.validate_mobile(mobile[1:]) == mobile


# ----------------------------------------------------------------------------------------- bill ID

W1_VALID_BILLS = [
    "9174639504124",
    "9985235404124",
    "9000796904120",
    "7748317800142",
    "2050327604613",
    "1117753200140",
    "3300959004310",
    "1234567804121",
    "857372322320",
]


@pytest.mark.parametrize("bill_id", W1_VALID_BILLS)
def test_w1_bill_ids_are_valid(bill_id: str) -> None:
    assert ids.validate_bill_id(bill_id) == bill_id


def test_w1_bad_bill_id_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        ids.validate_bill_id("2234322344613")
    assert info.value.message_fa == "رقم کنترل شناسه قبض درست نیست"
    assert info.value.field == "bill_id"


@pytest.mark.parametrize(
    ("bill_id", "parts"),
    [
        ("9174639504124", ids.BillId("91746395", "041", 2, 4)),
        ("7748317800142", ids.BillId("77483178", "001", 4, 2)),
        ("2050327604613", ids.BillId("20503276", "046", 1, 3)),
        ("857372322320", ids.BillId("8573723", "223", 2, 0)),
    ],
)
def test_parse_bill_id(bill_id: str, parts: ids.BillId) -> None:
    assert ids.parse_bill_id(bill_id) == parts


@pytest.mark.parametrize(
    ("file_number", "company", "service", "expected"),
    [
        (91746395, 41, 2, "9174639504124"),
        ("12345678", "041", 2, "1234567804121"),
        (8573723, 223, 2, "857372322320"),
        (77483178, 1, 4, "7748317800142"),
        ("۹۱۷۴۶۳۹۵", "۰۴۱", 2, "9174639504124"),
    ],
)
def test_build_bill_id(file_number: int | str, company: int | str, service: int, expected: str) -> None:
    assert ids.build_bill_id(file_number, company, service) == expected


def test_bill_id_leading_zeros_and_lengths() -> None:
    assert ids.validate_bill_id("0009174639504124") == "9174639504124"
    with pytest.raises(ValidationError) as info:
        ids.validate_bill_id("12345")
    assert info.value.message_fa == "شناسه قبض باید بین ۶ و ۱۳ رقم باشد؛ ۵ رقم وارد شده است"
    with pytest.raises(ValidationError):
        ids.validate_bill_id("91746395041241")  # 14 digits


def test_build_bill_id_refuses_bad_parts() -> None:
    with pytest.raises(ValidationError) as info:
        ids.build_bill_id(123456789, 41)
    assert info.value.field == "file_number"
    with pytest.raises(ValidationError):
        ids.build_bill_id(0, 41)
    with pytest.raises(ValidationError) as info:
        ids.build_bill_id(1, 1041)
    assert info.value.field == "company_code"


file_numbers = st.integers(min_value=1, max_value=99_999_999)
company_codes = st.integers(min_value=0, max_value=999)
service_types = st.integers(min_value=1, max_value=9)


@given(file_numbers, company_codes, service_types)
def test_built_bill_ids_validate_and_parse_back(file_number: int, company: int, service: int) -> None:
    bill = ids.build_bill_id(file_number, company, service)
    assert ids.validate_bill_id(bill) == bill
    assert ids.parse_bill_id(bill)[:3] == (str(file_number), f"{company:03d}", service)


@given(file_numbers, company_codes)
def test_bill_id_single_substitution_is_caught_unless_check_digit_is_0(file_number: int, company: int) -> None:
    """Check digit 0 stands for both r = 0 and r = 1; any other check digit fixes r, and changing one digit
    changes the weighted sum by δ·w with w ∈ 2..7, never a multiple of 11."""
    bill = ids.build_bill_id(file_number, company)
    positions = range(len(bill)) if bill[-1] != "0" else range(len(bill) - 1, len(bill))
    for changed in _substitutions(bill, positions):
        assert not ids.is_valid_bill_id(changed), changed


def test_bill_id_substitution_blind_spot_is_real() -> None:
    # r = 0 → r = 1 after the change: both have check digit 0.
    assert ids.is_valid_bill_id("1000007704120")
    assert ids.is_valid_bill_id("9000007704120")


# -------------------------------------------------------------------------------------- payment ID

W1_VALID_PAYMENTS = [
    ("9174639504124", "12908190", (129, 0, 81)),
    ("9985235404124", "880000568", (8800, 0, 5)),
    ("7748317800142", "1770160", (17, 7, 1)),
    ("2050327604613", "1070189", (10, 7, 1)),
    ("1117753200140", "12070160", (120, 7, 1)),
    ("3300959004310", "385620969", (3856, 2, 9)),
    ("1234567804121", "15140320", (151, 4, 3)),
    ("857372322320", "430070176", (4300, 7, 1)),
]


@pytest.mark.parametrize(("bill_id", "payment_id", "decoded"), W1_VALID_PAYMENTS)
def test_w1_payment_ids(bill_id: str, payment_id: str, decoded: tuple[int, int, int]) -> None:
    assert ids.validate_payment_id(payment_id, bill_id) == payment_id
    assert ids.is_valid_payment_id(payment_id, bill_id)
    assert ids.parse_payment_id(payment_id) == decoded


def test_w1_payment_id_with_wrong_check_digit_2() -> None:
    # Check digit 1 is right, so the payment ID alone passes; against its bill it does not.
    assert ids.validate_payment_id("12908197") == "12908197"
    with pytest.raises(ValidationError) as info:
        ids.validate_payment_id("12908197", "9174639504124")
    assert info.value.message_fa == "شناسه پرداخت با شناسه قبض همخوانی ندارد (رقم کنترل دوم درست نیست)"
    assert info.value.field == "payment_id"


def test_payment_id_zero_padded_and_decoded_amount() -> None:
    assert ids.validate_payment_id("0000880000568", "9985235404124") == "880000568"
    decoded = ids.parse_payment_id("0000880000568")
    assert decoded.amount == 8_800_000
    amount_thousands, year_digit, period = decoded
    assert (amount_thousands, year_digit, period) == (8800, 0, 5)


def test_payment_id_errors() -> None:
    with pytest.raises(ValidationError) as info:
        ids.validate_payment_id("12908180")
    assert info.value.message_fa == "رقم کنترل اول شناسه پرداخت درست نیست"
    with pytest.raises(ValidationError) as info:
        ids.validate_payment_id("12345")
    assert info.value.message_fa == "شناسه پرداخت باید بین ۶ و ۱۳ رقم باشد؛ ۵ رقم وارد شده است"
    with pytest.raises(ValidationError) as info:
        ids.validate_payment_id("12908190", "2234322344613")
    assert info.value.field == "bill_id"


@pytest.mark.parametrize(
    ("bill_id", "amount", "year", "period", "expected"),
    [
        ("1234567804121", 151_000, 1404, 3, "15140320"),
        ("857372322320", 4_300_000, 7, 1, "430070176"),
        ("9985235404124", 8_800_000, 1400, 5, "880000568"),
        ("7748317800142", 17_000, 1397, 1, "1770160"),
        ("2050327604613", 10_000, 1397, 1, "1070189"),
    ],
)
def test_build_payment_id(bill_id: str, amount: int, year: int, period: int, expected: str) -> None:
    assert ids.build_payment_id(bill_id=bill_id, amount=amount, year=year, period=period) == expected


@pytest.mark.parametrize(
    ("amount", "period", "field"),
    [
        (151_500, 3, "amount"),
        (0, 3, "amount"),
        (10**11, 3, "amount"),
        (151_000, 0, "period"),
        (1000, 100, "period"),
    ],
)
def test_build_payment_id_refuses(amount: int, period: int, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ids.build_payment_id(bill_id="1234567804121", amount=amount, year=1404, period=period)
    assert info.value.field == field


@given(
    file_numbers,
    company_codes,
    st.integers(min_value=1, max_value=99_999_999),
    st.integers(min_value=1300, max_value=1499),
    st.integers(min_value=1, max_value=99),
)
def test_built_payment_ids_validate_against_their_bill(
    file_number: int, company: int, thousands: int, year: int, period: int
) -> None:
    bill = ids.build_bill_id(file_number, company)
    payment = ids.build_payment_id(bill_id=bill, amount=thousands * 1000, year=year, period=period)
    assert ids.validate_payment_id(payment, bill) == payment
    assert ids.parse_payment_id(payment, bill) == (thousands, year % 10, period)
    barcode = ids.bill_barcode(bill, payment)
    assert len(barcode) == 26
    assert barcode.isdigit()
    assert ids.validate_bill_id(barcode[:13]) == bill
    assert ids.validate_payment_id(barcode[13:], bill) == payment


# ----------------------------------------------------------------------------------------- barcode


@pytest.mark.parametrize(
    ("bill_id", "payment_id", "barcode"),
    [
        ("7748317800142", "1770160", "77483178001420000001770160"),
        ("3300959004310", "385620969", "33009590043100000385620969"),
        ("857372322320", "430070176", "08573723223200000430070176"),
    ],
)
def test_w1_barcodes(bill_id: str, payment_id: str, barcode: str) -> None:
    assert ids.bill_barcode(bill_id, payment_id) == barcode


def test_barcode_refuses_a_mismatched_pair() -> None:
    with pytest.raises(ValidationError):
        ids.bill_barcode("9174639504124", "12908197")


# ------------------------------------------------------------------------------------- idempotence


@given(st.integers(min_value=0, max_value=2**32))
def test_validators_accept_their_own_output(seed: int) -> None:
    rng = random.Random(seed)
    for make, validate in (
        (ids.make_national_code, ids.validate_national_code),
        (ids.make_legal_id, ids.validate_legal_id),
        (ids.make_postal_code, ids.validate_postal_code),
        (ids.make_mobile, ids.validate_mobile),
    ):
        value = make(rng)
        persian = value.translate(str.maketrans(DIGITS, "۰۱۲۳۴۵۶۷۸۹"))
        assert validate(persian) == validate(value) == value
