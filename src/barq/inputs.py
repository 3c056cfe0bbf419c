"""Reading raw input (forms, JSON, files) into typed values, collecting every field's error in Persian.

Services use an ``Inputs`` to parse their arguments; at the end ``done()`` raises one ValidationError
naming every field at fault, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from barq.calendar import parse_jalali
from barq.errors import ValidationError
from barq.ids import normalize_digits

T = TypeVar("T")


class Inputs:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def _raw(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        return normalize_digits(str(value)).strip()

    def _present(self, name: str, label: str, required: bool, *, ask: str = "وارد کنید") -> str | None:
        """The raw value, or None when it is empty (an error if it was required)."""
        raw = self._raw(name)
        if not raw:
            if required:
                self.errors[name] = f"«{label}» را {ask}"
            return None
        return raw

    def text(self, name: str, label: str, *, required: bool = True, max_len: int = 200) -> str | None:
        value = " ".join(str(self.data.get(name) or "").split())
        if not value:
            if required:
                self.errors[name] = f"«{label}» را وارد کنید"
            return None
        if len(value) > max_len:
            self.errors[name] = f"«{label}» از {max_len} نویسه بلندتر است"
            return None
        return value

    def integer(
        self,
        name: str,
        label: str,
        *,
        required: bool = True,
        min_value: int | None = None,
        max_value: int | None = None,
    ) -> int | None:
        raw = self._present(name, label, required)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = f"«{label}» باید عدد صحیح باشد"
            return None
        return value if self._in_range(name, label, value, min_value, max_value) else None

    def decimal(
        self, name: str, label: str, *, required: bool = True, min_value: Decimal | None = None
    ) -> Decimal | None:
        raw = self._present(name, label, required)
        if raw is None:
            return None
        try:
            value = Decimal(raw.replace("٫", "."))
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.errors[name] = f"«{label}» باید عدد باشد"
            return None
        return value if self._in_range(name, label, value, min_value, None) else None

    def _in_range(self, name: str, label: str, value: Any, low: Any, high: Any) -> bool:
        if low is not None and value < low:
            self.errors[name] = f"«{label}» نباید کمتر از {low} باشد"
            return False
        if high is not None and value > high:
            self.errors[name] = f"«{label}» نباید بیشتر از {high} باشد"
            return False
        return True

    def boolean(self, name: str) -> bool:
        return self._raw(name).lower() in ("1", "true", "on", "yes", "بله")

    def choice(
        self, name: str, label: str, choices: Mapping[str, Any] | tuple[str, ...], *, required: bool = True
    ) -> str | None:
        raw = self._present(name, label, required, ask="انتخاب کنید")
        if raw is not None and raw not in choices:
            self.errors[name] = f"«{label}» یکی از گزینه‌های مجاز نیست"
            return None
        return raw

    def jalali_date(self, name: str, label: str, *, required: bool = True) -> date | None:
        raw = self._present(name, label, required)
        if raw is None:
            return None
        try:
            return parse_jalali(raw)
        except ValidationError as exc:
            self.errors[name] = f"«{label}»: {exc.message_fa}"
            return None

    def identifier(
        self, name: str, label: str, validator: Callable[[str], str], *, required: bool = True
    ) -> str | None:
        raw = self._present(name, label, required)
        if raw is None:
            return None
        try:
            return validator(raw)
        except ValidationError as exc:
            self.errors[name] = exc.message_fa
            return None

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def done(self) -> None:
        if self.errors:
            first = next(iter(self.errors.values()))
            raise ValidationError(first, errors=dict(self.errors))
