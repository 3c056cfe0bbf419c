"""Permissions and the default roles of domain.md §1. Roles and their permissions live in the database
(seeded from here by ``ensure_roles``) so a company can change them without code."""

from __future__ import annotations

CUSTOMERS_VIEW = "customers.view"
CUSTOMERS_EDIT = "customers.edit"
SUBSCRIPTIONS_VIEW = "subscriptions.view"
SUBSCRIPTIONS_EDIT = "subscriptions.edit"
METERS_VIEW = "meters.view"
METERS_EDIT = "meters.edit"
WORKORDERS_VIEW = "workorders.view"
WORKORDERS_CREATE = "workorders.create"
WORKORDERS_ASSIGN = "workorders.assign"
WORKORDERS_WORK = "workorders.work"
WORKORDERS_CANCEL = "workorders.cancel"
CONTRACTORS_VIEW = "contractors.view"
TARIFFS_VIEW = "tariffs.view"
USERS_MANAGE = "users.manage"
AUDIT_VIEW = "audit.view"
BILLS_VIEW = "bills.view"
BILLING_RUN = "billing.run"
BILLING_APPROVE = "billing.approve"
READING_VIEW = "reading.view"
READING_ENTER = "reading.enter"
READING_MANAGE = "reading.manage"
LEDGER_VIEW = "ledger.view"
PAYMENTS_RECEIVE = "payments.receive"
PAYMENTS_MANAGE = "payments.manage"

ALL_PERMISSIONS: dict[str, str] = {
    CUSTOMERS_VIEW: "دیدن مشترکان",
    CUSTOMERS_EDIT: "ثبت و ویرایش مشترکان",
    SUBSCRIPTIONS_VIEW: "دیدن اشتراک‌ها",
    SUBSCRIPTIONS_EDIT: "ثبت و ویرایش اشتراک‌ها",
    METERS_VIEW: "دیدن کنتورها",
    METERS_EDIT: "ثبت و ویرایش کنتورها",
    WORKORDERS_VIEW: "دیدن دستورکارها",
    WORKORDERS_CREATE: "صدور دستورکار",
    WORKORDERS_ASSIGN: "واگذاری دستورکار",
    WORKORDERS_WORK: "انجام دستورکار",
    WORKORDERS_CANCEL: "ابطال دستورکار",
    CONTRACTORS_VIEW: "دیدن پیمانکاران",
    TARIFFS_VIEW: "دیدن تعرفه‌ها",
    USERS_MANAGE: "مدیریت کاربران",
    AUDIT_VIEW: "دیدن سوابق تغییرات",
    BILLS_VIEW: "دیدن صورتحساب‌ها",
    BILLING_RUN: "اجرای صورتحساب دوره",
    BILLING_APPROVE: "تأیید و صدور صورتحساب‌ها",
    READING_VIEW: "دیدن مسیرها، قرائت‌ها و کارنامهٔ ماموران",
    READING_ENTER: "ثبت قرائت",
    READING_MANAGE: "مدیریت مسیرها، بارگذاری قرائت و رسیدگی به استثناها",
    LEDGER_VIEW: "دیدن صورت‌حساب مشترک، مطالبات و گزارش‌های وصول",
    PAYMENTS_RECEIVE: "دریافت پرداخت (صندوق، فایل و اعلام بانک)",
    PAYMENTS_MANAGE: "رسیدگی به وجوه معلق و برگشت پرداخت",
}

_OFFICE_VIEW = {
    CUSTOMERS_VIEW,
    SUBSCRIPTIONS_VIEW,
    METERS_VIEW,
    WORKORDERS_VIEW,
    TARIFFS_VIEW,
    BILLS_VIEW,
    READING_VIEW,
    LEDGER_VIEW,
}
_MANAGER = _OFFICE_VIEW | {
    CUSTOMERS_EDIT,
    SUBSCRIPTIONS_EDIT,
    METERS_EDIT,
    WORKORDERS_CREATE,
    WORKORDERS_ASSIGN,
    WORKORDERS_CANCEL,
    CONTRACTORS_VIEW,
    AUDIT_VIEW,
    BILLING_RUN,
    BILLING_APPROVE,
    READING_MANAGE,
    READING_ENTER,
    PAYMENTS_RECEIVE,
    PAYMENTS_MANAGE,
}

DEFAULT_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "admin": ("مدیر سامانه", frozenset(ALL_PERMISSIONS)),
    "clerk": (
        "کارشناس خدمات مشترکین",
        frozenset(_OFFICE_VIEW | {CUSTOMERS_EDIT, SUBSCRIPTIONS_EDIT, METERS_EDIT, WORKORDERS_CREATE}),
    ),
    "revenue_clerk": (
        "کارشناس درآمد",
        frozenset(
            _OFFICE_VIEW
            | {WORKORDERS_CREATE, BILLING_RUN, READING_MANAGE, READING_ENTER, PAYMENTS_RECEIVE, PAYMENTS_MANAGE}
        ),
    ),
    "head_of_unit": ("رئیس امور مشترکین", frozenset(_MANAGER)),
    "district_manager": ("مدیر امور برق", frozenset(_MANAGER)),
    "cashier": ("صندوقدار", frozenset({SUBSCRIPTIONS_VIEW, BILLS_VIEW, LEDGER_VIEW, PAYMENTS_RECEIVE})),
    "bank": ("بانک عامل (کلید API)", frozenset({PAYMENTS_RECEIVE})),
    "reader": ("مامور قرائت", frozenset({WORKORDERS_VIEW, WORKORDERS_WORK, READING_ENTER, READING_VIEW})),
    "contractor": ("پیمانکار", frozenset({WORKORDERS_VIEW, WORKORDERS_WORK, READING_VIEW, READING_ENTER})),
    "field_staff": (
        "بازرس / نصاب / آزمایشگر",
        frozenset({WORKORDERS_VIEW, WORKORDERS_WORK, SUBSCRIPTIONS_VIEW, METERS_VIEW}),
    ),
}
