"""The registry of work-order types. Later capabilities add their own with ``register``.

A type says how long the job may take (clock hours, or working days on the Jalali working calendar),
which roles may do it, and which fields its result records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResultField:
    name: str
    label: str
    kind: str  # "text" | "int" | "bool"
    required: bool = True


@dataclass(frozen=True)
class WorkOrderType:
    code: str
    name: str
    target_amount: int
    target_unit: str  # "hours" (clock hours) or "working_days"
    roles: frozenset[str]
    result_fields: tuple[ResultField, ...]

    @property
    def target_label(self) -> str:
        unit = "ساعت" if self.target_unit == "hours" else "روز کاری"
        return f"{self.target_amount} {unit}"


_REGISTRY: dict[str, WorkOrderType] = {}
_FIELD_ROLES = frozenset({"field_staff", "contractor"})


def register(wo_type: WorkOrderType) -> None:
    if wo_type.target_unit not in ("hours", "working_days"):
        raise ValueError(f"unknown target unit {wo_type.target_unit}")
    _REGISTRY[wo_type.code] = wo_type


def get_type(code: str) -> WorkOrderType | None:
    return _REGISTRY.get(code)


def all_types() -> list[WorkOrderType]:
    return list(_REGISTRY.values())


_READ = ResultField("read", "رقم کنتور", "int")
_NOTE = ResultField("note", "توضیحات", "text", required=False)

for _t in (
    WorkOrderType(
        "inspection",
        "بازدید محل",
        3,
        "working_days",
        _FIELD_ROLES,
        (ResultField("feasible", "امکان‌پذیر است", "bool"), ResultField("findings", "یافته‌ها", "text")),
    ),
    WorkOrderType(
        "installation",
        "نصب انشعاب و کنتور",
        5,
        "working_days",
        _FIELD_ROLES,
        (
            ResultField("meter_serial", "سریال کنتور", "text"),
            ResultField("initial_read", "رقم اولیه", "int"),
            _NOTE,
        ),
    ),
    WorkOrderType(
        "meter_replacement",
        "تعویض کنتور",
        5,
        "working_days",
        _FIELD_ROLES,
        (
            ResultField("old_final_read", "رقم پایانی کنتور قبلی", "int"),
            ResultField("meter_serial", "سریال کنتور جدید", "text"),
            ResultField("initial_read", "رقم اولیه کنتور جدید", "int"),
            _NOTE,
        ),
    ),
    WorkOrderType(
        "reread",
        "قرائت مجدد",
        2,
        "working_days",
        frozenset({"reader", "contractor", "field_staff"}),
        (_READ, _NOTE),
    ),
    WorkOrderType("disconnection", "قطع انشعاب", 3, "working_days", _FIELD_ROLES, (_READ, _NOTE)),
    WorkOrderType("reconnection", "وصل مجدد", 24, "hours", _FIELD_ROLES, (_READ, _NOTE)),
    WorkOrderType(
        "meter_test",
        "آزمایش کنتور",
        10,
        "working_days",
        _FIELD_ROLES,
        (ResultField("error_percent", "خطای کنتور (درصد، با یک رقم اعشار ×۱۰)", "int"), _NOTE),
    ),
    WorkOrderType(
        "removal",
        "جمع‌آوری انشعاب",
        10,
        "working_days",
        _FIELD_ROLES,
        (ResultField("final_read", "رقم پایانی", "int"), _NOTE),
    ),
):
    register(_t)
