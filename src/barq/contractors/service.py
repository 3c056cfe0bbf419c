"""Contractors and their contracts: who may be given which work in which district on a day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from barq.contractors.models import Contract, Contractor


def list_contractors(session: Session, *, district_id: int | None = None) -> list[Contractor]:
    stmt = select(Contractor).where(Contractor.active.is_(True)).order_by(Contractor.name)
    if district_id is not None:
        stmt = stmt.where(Contractor.id.in_(select(Contract.contractor_id).where(Contract.district_id == district_id)))
    return list(session.scalars(stmt))


def has_contract(session: Session, *, contractor_id: int, district_id: int, work_type: str, on: date) -> bool:
    stmt = select(Contract.id).where(
        Contract.contractor_id == contractor_id,
        Contract.district_id == district_id,
        Contract.work_type == work_type,
        Contract.valid_from <= on,
        Contract.valid_to >= on,
    )
    return session.scalar(stmt.limit(1)) is not None


def get_contractor(session: Session, contractor_id: int) -> Contractor | None:
    return session.get(Contractor, contractor_id)
