"""``barq check-id``, driven through typer's CliRunner on an app built here."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from barq.cli.check_id import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A callback makes typer treat the app as a group, as the real ``barq`` app is."""

    register(app)
    return app


runner = CliRunner()


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check-id", *args])
    return result.exit_code, result.output


def test_valid_national_code_prints_the_normalised_value(app: typer.Typer) -> None:
    code, out = run(app, "national-code", "۰۰۷-۶۲۲۹۶۴-۵")
    assert code == 0
    assert "کد ملی معتبر است." in out
    assert "مقدار: 0076229645" in out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("national-code", "1111111111"), "کد ملی با ده رقم یکسان پذیرفته نیست"),
        (("national-code", "0076229646"), "رقم کنترل کد ملی درست نیست"),
        (("national-code", "12345"), "کد ملی باید ۱۰ رقم باشد؛ ۵ رقم وارد شده است"),
        (("legal-id", "10380284791"), "رقم کنترل شناسه ملی درست نیست"),
        (("bill", "2234322344613"), "رقم کنترل شناسه قبض درست نیست"),
        (
            ("payment", "12908197", "--bill", "9174639504124"),
            "شناسه پرداخت با شناسه قبض همخوانی ندارد (رقم کنترل دوم درست نیست)",
        ),
        (("payment", "12908190", "--bill", "2234322344613"), "رقم کنترل شناسه قبض درست نیست"),
    ],
)
def test_invalid_values_exit_1_with_the_reason(app: typer.Typer, args: tuple[str, ...], reason: str) -> None:
    code, out = run(app, *args)
    assert code == 1
    assert "نامعتبر است" in out
    assert reason in out


def test_legal_id(app: typer.Typer) -> None:
    code, out = run(app, "legal-id", "10380284790")
    assert code == 0
    assert "شناسه ملی معتبر است." in out


def test_bill_is_decoded(app: typer.Typer) -> None:
    code, out = run(app, "bill", "0009174639504124")
    assert code == 0
    assert "مقدار: 9174639504124" in out
    assert "شماره پرونده: 91746395" in out
    assert "کد شرکت: 041" in out
    assert "نوع خدمت: 2 (برق)" in out


def test_payment_is_decoded(app: typer.Typer) -> None:
    code, out = run(app, "payment", "0000880000568", "--bill", "9985235404124")
    assert code == 0
    assert "مقدار: 880000568" in out
    assert "مبلغ: 8,800,000 ریال" in out
    assert "رقم سال: 0" in out
    assert "دوره: 05" in out
    assert "بارکد: 99852354041240000880000568" in out


def test_payment_needs_bill(app: typer.Typer) -> None:
    code, out = run(app, "payment", "12908190")
    assert code == 2
    assert "--bill" in out


def test_unknown_kind_is_a_usage_error(app: typer.Typer) -> None:
    code, _ = run(app, "passport", "123")
    assert code == 2


def test_kind_is_case_insensitive(app: typer.Typer) -> None:
    code, out = run(app, "MOBILE", "+98 912 123 4567")
    assert code == 0
    assert "مقدار: 09121234567" in out
