"""Reference data of the company's organisation: districts, climate zones, routes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from barq.network.models import ClimateZone, Company, District

ZONES = {
    "normal": "عادی",
    "tropical1": "گرمسیر ۱",
    "tropical2": "گرمسیر ۲",
    "tropical3": "گرمسیر ۳",
    "tropical4": "گرمسیر ۴",
}


def list_districts(session: Session) -> list[District]:
    return list(session.scalars(select(District).order_by(District.code)))


def district_names(session: Session) -> dict[int, str]:
    return {d.id: d.name for d in list_districts(session)}


def get_district(session: Session, district_id: int) -> District | None:
    return session.get(District, district_id)


# The eleven district offices of the Lorestan company (domain.md §1), with their two-digit codes.
# Poldokhtar, the lowest and hottest county, is placed in tropical zone 4 until the company confirms it.
LORESTAN_DISTRICTS = (
    ("11", "خرم‌آباد", "Khorramabad", "normal"),
    ("12", "بروجرد", "Borujerd", "normal"),
    ("13", "دورود", "Dorud", "normal"),
    ("14", "ازنا", "Azna", "normal"),
    ("15", "الیگودرز", "Aligudarz", "normal"),
    ("16", "کوهدشت", "Kuhdasht", "normal"),
    ("17", "دلفان", "Delfan", "normal"),
    ("18", "سلسله", "Selseleh", "normal"),
    ("19", "پلدختر", "Poldokhtar", "tropical4"),
    ("20", "چگنی", "Chegeni", "normal"),
    ("21", "رومشکان", "Rumeshkan", "normal"),
)


def seed_reference_data(session: Session, *, company_code: str, company_name: str) -> None:
    """Company, climate zones and the district offices, where missing (idempotent)."""
    company = session.scalar(select(Company).where(Company.code == company_code))
    if company is None:
        company = Company(code=company_code, name=company_name)
        session.add(company)
    existing_zones = set(session.scalars(select(ClimateZone.code)))
    session.add_all(ClimateZone(code=c, name=n) for c, n in ZONES.items() if c not in existing_zones)
    session.flush()
    existing = set(session.scalars(select(District.code)))
    session.add_all(
        District(company_id=company.id, code=code, name=name, name_en=en, default_zone=zone)
        for code, name, en, zone in LORESTAN_DISTRICTS
        if code not in existing
    )
    session.flush()
