"""Tariff books: the example books load as documented, and malformed books are refused by field."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import jdatetime
import pytest

from barq.errors import ValidationError
from barq.rating.book import (
    TariffBook,
    TariffLibrary,
    default_books_dir,
    load_book,
    load_books,
    load_default_library,
    parse_book,
)


def jd(y: int, m: int, d: int) -> date:
    g = jdatetime.date(y, m, d).togregorian()
    return date(g.year, g.month, g.day)


def raw(version: str = "1400") -> dict[str, Any]:
    with (default_books_dir() / f"{version}.toml").open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def book1400() -> TariffBook:
    return load_book(default_books_dir() / "1400.toml")


@pytest.fixture(scope="module")
def book1401() -> TariffBook:
    return load_book(default_books_dir() / "1401.toml")


# ------------------------------------------------------------------------------- the example books


def test_1400_header_and_charges(book1400: TariffBook) -> None:
    assert book1400.version == "1400"
    assert book1400.example is True
    assert (book1400.effective_from, book1400.effective_to) == (jd(1400, 1, 1), jd(1400, 12, 29))
    c = book1400.charges
    assert (c.fixed_charge, c.fixed_charge_days) == (Fraction(11_770), 30)
    assert (c.levy_rate, c.vat_rate, c.insurance_per_day) == (
        Fraction(1, 10),
        Fraction(9, 100),
        Fraction(100, 3),
    )
    assert (book1400.household.k, book1400.household.cap) == (Fraction(1, 2), Fraction(5))
    assert book1400.household.factor(1) == 1
    assert book1400.household.factor(3) == 2
    assert book1400.household.factor(9) == 5
    assert book1400.household.factor(30) == 5
    assert book1400.rounding.payable_unit == 1000
    assert book1400.medical.never_high_user is True
    tou = book1400.tou
    assert (tou.residential_peak_surcharge, tou.residential_offpeak_discount) == (Fraction(1), Fraction(1, 2))
    assert (tou.general_peak_factor, tou.general_offpeak_factor) == (Fraction(2), Fraction(1, 2))
    assert sorted(m for h in tou.hours for m in h.months) == list(range(1, 13))


def test_1400_zones(book1400: TariffBook) -> None:
    normal = book1400.zone("normal")
    assert normal.warm_months == frozenset({3, 4, 5, 6})
    assert (normal.pattern("non_warm"), normal.pattern("warm")) == (200, 300)
    assert {z: book1400.zone(z).pattern("warm") for z in ("tropical1", "tropical2", "tropical3", "tropical4")} == {
        "tropical1": 3000,
        "tropical2": 2000,
        "tropical3": 1000,
        "tropical4": 400,
    }
    assert book1400.zone("tropical1").tou_scale("warm") == Fraction(1, 3)
    assert book1400.zone("tropical2").tou_scale("warm") == Fraction(2, 3)
    assert book1400.zone("tropical2").tou_scale("non_warm") == 1


def test_1400_residential_tables_match_domain_md(book1400: TariffBook) -> None:
    g = book1400.group(1)
    within = g.table("1", "normal", "non_warm", "within_pattern")
    high = g.table("1", "normal", "warm", "high_user")
    assert [(s.upto, int(s.rate)) for s in within.steps] == [(100, 600), (200, 700), (300, 1500)]
    assert [(s.upto, int(s.rate)) for s in high.steps] == [
        (100, 913),
        (200, 1061),
        (300, 2278),
        (400, 4100),
        (500, 4710),
        (600, 5025),
        (None, 6534),
    ]
    # tropical zones use the normal tables outside their warm months, their own tables inside
    assert g.table("1", "tropical3", "non_warm", "within_pattern") is within
    t3 = g.table("1", "tropical3", "warm", "high_user")
    assert [(s.upto, int(s.rate)) for s in t3.steps] == [
        (1000, 759),
        (1500, 1978),
        (2000, 3494),
        (3500, 3801),
        (4500, 4100),
        (6000, 4407),
        (None, 4710),
    ]
    assert [s.rate for s in g.table("1", "tropical1", "warm", "within_pattern").steps] == [200, 223, 241]
    assert [s.rate for s in g.table("1", "tropical2", "warm", "within_pattern").steps] == [441, 999]
    assert [s.rate for s in g.table("1", "tropical4", "warm", "within_pattern").steps] == [
        482,
        561,
        999,
        1599,
    ]


def test_medical_bands(book1400: TariffBook) -> None:
    bands = book1400.group(1).medical_bands("1", "normal", "non_warm")
    assert [(b.number, b.lo, b.hi, int(b.rate)) for b in bands] == [
        (1, 0, 100, 600),
        (2, 100, 200, 700),
        (3, 200, 300, 1500),
        (4, 300, 400, 4100),
        (5, 400, 500, 4710),
        (6, 500, 600, 5025),
        (7, 600, None, 6534),
    ]
    t1 = book1400.group(1).medical_bands("1", "tropical1", "warm")
    assert [(b.lo, b.hi, int(b.rate)) for b in t1[3:]] == [
        (3000, 3500, 1519),
        (3500, 4500, 2736),
        (4500, 6000, 3494),
        (6000, None, 4100),
    ]


def test_groups_and_sub_codes(book1400: TariffBook) -> None:
    assert sorted(book1400.groups) == [1, 2, 3, 4, 5]
    assert book1400.find_sub_code("5-ب")[0].number == 5
    assert book1400.sub_code(5, "5-ب").demand is True
    assert book1400.sub_code(5, None).code == "5-الف"
    assert book1400.group(4).demand is not None


def energy_rates(book: TariffBook) -> dict[tuple[int, str, int], Fraction]:
    return {
        (g.number, t.name, i): s.rate
        for g in book.groups.values()
        for t in g.tables.values()
        for i, s in enumerate(t.steps)
    }


def test_1401_is_every_energy_rate_of_1400_plus_46(book1400: TariffBook, book1401: TariffBook) -> None:
    old, new = energy_rates(book1400), energy_rates(book1401)
    assert old.keys() == new.keys()
    assert len(old) == 60
    assert all(new[k] == old[k] + 46 for k in old)
    assert book1401.effective_from == jd(1401, 1, 1)
    assert book1401.effective_to is None
    assert book1401.charges == book1400.charges
    assert book1401.zones == book1400.zones
    assert book1401.group(4).demand == book1400.group(4).demand


def test_library_picks_the_book_by_date() -> None:
    lib = load_default_library()
    assert [b.version for b in lib] == ["1400", "1401"]
    assert lib.version_for(jd(1400, 1, 1)).version == "1400"
    assert lib.version_for(jd(1400, 12, 29)).version == "1400"
    assert lib.version_for(jd(1401, 1, 1)).version == "1401"
    assert lib.version_for(jd(1405, 6, 1)).version == "1401"  # open-ended
    with pytest.raises(ValidationError) as err:
        lib.version_for(jd(1399, 12, 30))
    assert err.value.field == "date"


def test_open_ended_book_is_closed_by_the_next(book1400: TariffBook, book1401: TariffBook) -> None:
    data = raw("1400")
    del data["book"]["effective_to"]
    open1400 = parse_book(data)
    lib = TariffLibrary([book1401, open1400])
    assert lib.effective_range(open1400) == (jd(1400, 1, 1), jd(1400, 12, 29))
    assert lib.effective_range(book1401) == (jd(1401, 1, 1), None)


# ------------------------------------------------------------------------------- refusals


def mutate(change: Callable[[dict[str, Any]], None]) -> ValidationError:
    data = copy.deepcopy(raw())
    change(data)
    with pytest.raises(ValidationError) as err:
        parse_book(data)
    return err.value


def step(data: dict[str, Any], table: str, i: int) -> dict[str, Any]:
    result: dict[str, Any] = data["groups"]["1"]["tables"][table]["steps"][i]
    return result


def test_negative_rate_names_the_field() -> None:
    err = mutate(lambda d: step(d, "high_user", 2).update(rate=-5))
    assert err.field == "groups.1.tables.high_user.steps[2].rate"
    assert err.message_fa == "باید عدد نامنفی باشد"
    assert str(err) == "groups.1.tables.high_user.steps[2].rate: باید عدد نامنفی باشد"


@pytest.mark.parametrize("value", [0.09, "abc", "-1", "1/0", True, "1e3", [9]])
def test_rates_must_be_exact_non_negative_numbers(value: object) -> None:
    err = mutate(lambda d: d["charges"].update(vat_rate=value))
    assert err.field == "charges.vat_rate"


def test_decimal_and_fraction_strings_are_exact() -> None:
    data = raw()
    data["charges"]["vat_rate"] = "0.09"
    data["charges"]["insurance_per_day"] = "33.5"
    book = parse_book(data)
    assert book.charges.vat_rate == Fraction(9, 100)
    assert book.charges.insurance_per_day == Fraction(67, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["charges"].pop("levy_rate"), "charges.levy_rate"),
        (lambda d: d.pop("household"), "household"),
        (lambda d: d["book"].pop("version"), "book.version"),
        (lambda d: d["groups"]["1"].pop("kind"), "groups.1.kind"),
        (lambda d: step(d, "within_pattern", 0).pop("rate"), "groups.1.tables.within_pattern.steps[0].rate"),
        (lambda d: d["zones"]["normal"]["pattern"].pop("warm"), "zones.normal.pattern.warm"),
    ],
)
def test_missing_keys(change: Callable[[dict[str, Any]], None], field: str) -> None:
    err = mutate(change)
    assert err.field == field
    assert err.message_fa == "الزامی است"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["zones"]["normal"].update(warm_months="3"), "zones.normal.warm_months"),
        (lambda d: d["zones"]["normal"].update(warm_months=[3, 13]), "zones.normal.warm_months[1]"),
        (lambda d: d["zones"]["normal"].update(warm_months=[3, 3]), "zones.normal.warm_months[1]"),
        (lambda d: d["zones"]["normal"]["pattern"].update(warm=300.0), "zones.normal.pattern.warm"),
        (lambda d: d["book"].update(title_fa=5), "book.title_fa"),
        (lambda d: d["book"].update(example="yes"), "book.example"),
        (lambda d: d["rounding"].update(payable_unit=0), "rounding.payable_unit"),
        (lambda d: d["rounding"].update(line="bankers"), "rounding.line"),
        (lambda d: d["groups"]["1"].update(kind="industrial"), "groups.1.kind"),
        (lambda d: d["groups"]["1"]["tables"].update(high_user=[1]), "groups.1.tables.high_user"),
        (
            lambda d: d["groups"]["1"]["tables"]["high_user"].update(steps=[]),
            "groups.1.tables.high_user.steps",
        ),
        (lambda d: step(d, "high_user", 1).update(upto=100.5), "groups.1.tables.high_user.steps[1].upto"),
        (lambda d: d["book"].update(effective_from="1400/12/30"), "book.effective_from"),
        (lambda d: d["book"].update(effective_from="21-03-2021"), "book.effective_from"),
        (lambda d: d["book"].update(effective_to="1399/12/01"), "book.effective_to"),
        (lambda d: d["tou"]["hours"][0].update(peak="19-23"), "tou.hours[0].peak"),
        (lambda d: d["tou"]["hours"][1].update(months=[6, 7]), "tou.hours[1].months"),
    ],
)
def test_wrong_types_and_values(change: Callable[[dict[str, Any]], None], field: str) -> None:
    assert mutate(change).field == field


def test_step_limits_must_increase() -> None:
    err = mutate(lambda d: step(d, "within_pattern", 1).update(upto=100))
    assert err.field == "groups.1.tables.within_pattern.steps[1].upto"
    assert err.message_fa == "حد پله‌ها باید صعودی باشد"


def test_only_the_last_step_may_be_open() -> None:
    err = mutate(lambda d: step(d, "high_user", 3).pop("upto"))
    assert err.field == "groups.1.tables.high_user.steps[3].upto"


def test_high_user_table_must_end_open() -> None:
    err = mutate(lambda d: step(d, "high_user", 6).update(upto=700))
    assert err.field == "groups.1.tables.high_user.steps[6].upto"


def test_unknown_zone_reference() -> None:
    err = mutate(lambda d: d["groups"]["1"]["tables"]["high_user"]["when"][0].update(zones=["nromal"]))
    assert err.field == "groups.1.tables.high_user.when[0].zones[0]"
    assert "nromal" in err.message_fa


def test_unknown_season_and_sub_code_references() -> None:
    err = mutate(lambda d: d["groups"]["5"]["tables"]["large"]["when"][0].update(seasons=["summer"]))
    assert err.field == "groups.5.tables.large.when[0].seasons[0]"
    err = mutate(lambda d: d["groups"]["5"]["tables"]["large"]["when"][0].update(sub_codes=["5-ج"]))
    assert err.field == "groups.5.tables.large.when[0].sub_codes[0]"


def test_unknown_keys_are_refused() -> None:
    err = mutate(lambda d: d["charges"].update(levy=5))
    assert err.field == "charges.levy"
    err = mutate(lambda d: step(d, "high_user", 0).update(up_to=5))
    assert err.field == "groups.1.tables.high_user.steps[0].up_to"


def test_every_zone_and_season_needs_exactly_one_table() -> None:
    err = mutate(lambda d: d["groups"]["1"]["tables"].pop("tropical3_warm_within"))
    assert err.field == "groups.1.tables"
    assert "tropical3" in err.message_fa
    err = mutate(lambda d: d["groups"]["1"]["tables"]["tropical1_warm_high_user"].update(when=[{"zones": ["normal"]}]))
    assert err.field == "groups.1.tables"
    assert "بیش از یک جدول" in err.message_fa


def test_within_table_must_reach_the_pattern() -> None:
    err = mutate(lambda d: d["zones"]["normal"]["pattern"].update(warm=350))
    assert err.field == "groups.1.tables.within_pattern.steps"


def test_table_class_and_shape_follow_the_group_kind() -> None:
    assert mutate(lambda d: d["groups"]["2"]["tables"]["public_small"].update(**{"class": "high_user"})).field == (
        "groups.2.tables.public_small.class"
    )
    err = mutate(lambda d: d["groups"]["2"]["tables"]["public_small"].update(steps=[{"rate": 1}]))
    assert err.field == "groups.2.tables.public_small.steps"


def test_demand_sub_code_needs_demand_rules() -> None:
    err = mutate(lambda d: d["groups"]["4"].pop("demand"))
    assert err.field == "groups.4.demand"
    err = mutate(lambda d: d["groups"]["1"]["sub_codes"]["1"].update(demand=True))
    assert err.field == "groups.1.sub_codes.1.demand"


def test_default_sub_code_must_exist() -> None:
    assert mutate(lambda d: d["groups"]["3"].update(default_sub_code="3-د")).field == "groups.3.default_sub_code"


def write(tmp: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A tiny TOML writer for the test data (tables, inline tables, strings, ints, bools, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        raise TypeError(v)

    scalars = [f'"{k}" = {value(v)}' for k, v in data.items() if not isinstance(v, dict)]
    out = ""
    if scalars:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(scalars) + "\n\n"
    for k, v in data.items():
        if isinstance(v, dict):
            out += to_toml(v, f'{prefix}."{k}"' if prefix else f'"{k}"')
    return out


def test_tiny_writer_round_trips() -> None:
    assert tomllib.loads(to_toml(raw())) == raw()


def test_overlapping_books_are_refused(tmp_path: Path) -> None:
    a = raw("1400")
    a["book"]["effective_to"] = "1401/01/05"
    write(tmp_path, "1400.toml", a)
    write(tmp_path, "1401.toml", raw("1401"))
    with pytest.raises(ValidationError) as err:
        load_books(tmp_path)
    assert err.value.field == "book.effective_from"
    assert "1400.toml" in (err.value.detail or "") and "1401.toml" in (err.value.detail or "")


def test_same_start_or_same_version_is_refused(book1400: TariffBook) -> None:
    b = raw("1400")
    b["book"]["version"] = "1400-bis"
    with pytest.raises(ValidationError) as err:
        TariffLibrary([book1400, parse_book(b)])
    assert err.value.field == "book.effective_from"
    c = raw("1401")
    c["book"]["version"] = "1400"
    with pytest.raises(ValidationError) as err:
        TariffLibrary([book1400, parse_book(c)])
    assert err.value.field == "book.version"


def test_load_books_from_a_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", raw("1400"))
    write(tmp_path, "b.toml", raw("1401"))
    lib = load_books(tmp_path)
    assert [b.version for b in lib] == ["1400", "1401"]
    assert lib.get("1401").source.endswith("b.toml")


def test_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[book\nversion = 1", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_book(bad)
    assert err.value.field == "file"
    with pytest.raises(ValidationError) as err:
        load_book(tmp_path / "missing.toml")
    assert err.value.field == "file"
    with pytest.raises(ValidationError) as err:
        load_books(tmp_path / "nowhere")
    assert err.value.field == "directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError) as err:
        load_books(empty)
    assert err.value.field == "directory"
