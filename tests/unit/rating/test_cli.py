"""``barq tariff check`` and ``barq tariff quote``, and the ``quote()`` validation behind them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from barq.cli.tariff import register
from barq.errors import ValidationError
from barq.rating.book import default_books_dir, load_default_library
from barq.rating.quote import parse_jalali_date, quote

BOOKS = default_books_dir()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["tariff", *args])
    return result.exit_code, result.stdout, result.stderr


QUOTE_W4 = ("quote", "--group", "1", "--zone", "normal", "--from", "1400/08/01", "--to", "1400/09/01")


# ------------------------------------------------------------------------------- check


def test_check_a_valid_book(app: typer.Typer) -> None:
    code, out, err = run(app, "check", str(BOOKS / "1400.toml"))
    assert code == 0, err
    assert "1400" in out and "(نمونه)" in out and "1400/01/01" in out and "1400/12/29" in out
    assert "5 گروه" in out


def test_check_a_folder_shows_each_books_dates(app: typer.Typer) -> None:
    code, out, _ = run(app, "check", str(BOOKS))
    assert code == 0
    assert "1401/01/01" in out and "تا کتاب بعدی" in out


def test_check_a_malformed_book_names_the_field(app: typer.Typer, tmp_path: Path) -> None:
    text = (BOOKS / "1400.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("{ upto = 300, rate = 2278 }", "{ upto = 300, rate = -2278 }"), encoding="utf-8")
    assert tomllib.loads(bad.read_text(encoding="utf-8"))  # still valid TOML
    code, out, err = run(app, "check", str(bad))
    assert code == 1
    assert out == ""
    assert "groups.1.tables.high_user.steps[2].rate" in err
    assert "باید عدد نامنفی باشد" in err


def test_check_broken_toml_and_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[book\n", encoding="utf-8")
    code, _, err = run(app, "check", str(broken))
    assert code == 1 and "file" in err
    code, _, err = run(app, "check", str(tmp_path / "none.toml"))
    assert code == 1 and "پیدا نشد" in err


# ------------------------------------------------------------------------------- quote


def test_quote_text(app: typer.Typer) -> None:
    code, out, err = run(app, *QUOTE_W4, "--kwh", "180")
    assert code == 0, err
    assert "energy_step_1" in out and "60,000" in out
    assert "151,869" in out and "151,000" in out


def test_quote_json_w4(app: typer.Typer) -> None:
    code, out, _ = run(app, *QUOTE_W4, "--kwh", "180", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["total"], data["payable"], data["carry"]) == (151_869, 151_000, 869)
    assert [(line["code"], line["amount"]) for line in data["lines"]] == [
        ("energy_step_1", 60_000),
        ("energy_step_2", 56_000),
        ("fixed_charge", 11_770),
        ("levy", 11_600),
        ("vat", 11_499),
        ("insurance", 1_000),
        ("carry_out", -869),
    ]
    first = data["lines"][0]
    assert (first["quantity"], first["rate"], first["title"]) == ("100", "600", "بهای انرژی پله ۱")
    assert data["lines"][2]["rate"] == "392.333"
    assert all(isinstance(line["amount"], int) for line in data["lines"])


def test_quote_json_tou_households_medical(app: typer.Typer) -> None:
    code, out, _ = run(app, *QUOTE_W4, "--kwh", "180", "--peak", "40", "--offpeak", "60", "--json")
    assert code == 0 and json.loads(out)["total"] == 159_009
    code, out, _ = run(app, *QUOTE_W4, "--kwh", "380", "--households", "3", "--json")
    assert code == 0 and json.loads(out)["total"] == 306_569  # f = 2, within pattern
    code, out, _ = run(app, *QUOTE_W4, "--kwh", "450", "--medical", "--json")
    assert code == 0
    energy = sum(x["amount"] for x in json.loads(out)["lines"] if x["code"].startswith("energy_step"))
    assert energy == 925_500


def test_quote_across_the_book_change(app: typer.Typer) -> None:
    args = ("quote", "--group", "1", "--zone", "normal", "--from", "1400/12/15", "--to", "1401/01/15")
    code, out, _ = run(app, *args, "--kwh", "174", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["total"] == 151_407
    assert {line["version"] for line in data["lines"]} == {"1400", "1401"}


def test_quote_demand_sub_code(app: typer.Typer) -> None:
    args = ("quote", "--group", "4-ب", "--zone", "normal", "--from", "1400/08/01", "--to", "1400/09/01")
    code, out, _ = run(app, *args, "--kwh", "5000", "--demand-kw", "120", "--json")
    assert code == 0
    lines = {x["code"]: x["amount"] for x in json.loads(out)["lines"]}
    assert lines["energy_base"] == 5_740_000  # 5,000 × 1,148
    assert lines["demand_charge"] == 4_320_000  # 120 kW × 36,000 × 30/30


def test_quote_persian_digits_in_dates(app: typer.Typer) -> None:
    args = ("quote", "--group", "۱", "--zone", "normal", "--from", "۱۴۰۰/۰۸/۰۱", "--to", "۱۴۰۰/۰۹/۰۱")
    code, out, _ = run(app, *args, "--kwh", "180", "--json")
    assert code == 0 and json.loads(out)["total"] == 151_869


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((*QUOTE_W4, "--kwh", "-5"), "kwh"),
        ((*QUOTE_W4, "--kwh", "100", "--peak", "60", "--offpeak", "50"), "peak"),
        ((*QUOTE_W4, "--kwh", "100", "--offpeak", "-1"), "offpeak"),
        ((*QUOTE_W4, "--kwh", "100", "--households", "0"), "households"),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "normal",
                "--from",
                "1400/09/01",
                "--to",
                "1400/08/01",
                "--kwh",
                "5",
            ),
            "to_date",
        ),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "normal",
                "--from",
                "1400/12/30",
                "--to",
                "1401/01/20",
                "--kwh",
                "5",
            ),
            "from_date",
        ),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "normal",
                "--from",
                "1400/08/01",
                "--to",
                "1400-13-01",
                "--kwh",
                "5",
            ),
            "to_date",
        ),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "normal",
                "--from",
                "yesterday",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
            ),
            "from_date",
        ),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "normal",
                "--from",
                "1390/01/01",
                "--to",
                "1390/02/01",
                "--kwh",
                "5",
            ),
            "from_date",
        ),
        (
            (
                "quote",
                "--group",
                "8",
                "--zone",
                "normal",
                "--from",
                "1400/08/01",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
            ),
            "group",
        ),
        (
            (
                "quote",
                "--group",
                "9-x",
                "--zone",
                "normal",
                "--from",
                "1400/08/01",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
            ),
            "group",
        ),
        (
            (
                "quote",
                "--group",
                "1",
                "--zone",
                "arctic",
                "--from",
                "1400/08/01",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
            ),
            "zone",
        ),
        (
            (
                "quote",
                "--group",
                "2",
                "--zone",
                "normal",
                "--from",
                "1400/08/01",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
                "--medical",
            ),
            "medical",
        ),
        (
            (
                "quote",
                "--group",
                "5-ب",
                "--zone",
                "normal",
                "--from",
                "1400/08/01",
                "--to",
                "1400/09/01",
                "--kwh",
                "5",
            ),
            "demand_kw",
        ),
        ((*QUOTE_W4, "--kwh", "100", "--demand-kw", "40"), "demand_kw"),
    ],
)
def test_quote_errors_go_to_stderr_with_exit_1(app: typer.Typer, args: tuple[str, ...], field: str) -> None:
    code, out, err = run(app, *args)
    assert code == 1
    assert out == ""
    assert err.startswith(f"خطا: {field}: ")


# ------------------------------------------------------------------------------- quote() for the API


def test_quote_function_accepts_dates_and_sub_codes() -> None:
    from datetime import date

    lib = load_default_library()
    bill = quote(lib, group=1, zone="normal", from_date=date(2021, 10, 23), to_date="1400/09/01", kwh=180)
    assert bill.total == 151_869
    bill = quote(lib, group="5-الف", zone="tropical1", from_date="1400/04/01", to_date="1400/04/31", kwh=100)
    assert bill.lines[0].amount == 193_600  # 100 × 1,936 (small commercial, tropical warm)


def test_quote_period_limit() -> None:
    lib = load_default_library()
    with pytest.raises(ValidationError) as err:
        quote(lib, group=1, zone="normal", from_date="1400/01/01", to_date="1401/06/01", kwh=1)
    assert err.value.field == "to_date"


def test_parse_jalali_date() -> None:
    from datetime import date

    assert parse_jalali_date("1400/08/01") == date(2021, 10, 23)
    assert parse_jalali_date("1400-8-1") == date(2021, 10, 23)
    assert parse_jalali_date("١٤٠٠/٠٨/٠١") == date(2021, 10, 23)
    with pytest.raises(ValidationError):
        parse_jalali_date("1400/02/32")
