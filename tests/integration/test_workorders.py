"""The work-order engine on a real database: every verb from every state, the audit rows, scopes and the
verbs a page offers to each principal."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from barq.audit import AuditEntry
from barq.auth.service import Principal
from barq.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from barq.workorders.models import WorkOrder
from barq.workorders.service import create_work_order, get_work_order, transition, verbs_for
from tests.factories import World

STATES = ("created", "assigned", "in_progress", "done", "failed", "cancelled")
VERBS = ("assign", "start", "complete", "fail", "cancel")

# Written out by hand from domain.md §8 (not read from TRANSITIONS), so a wrong table fails here.
EXPECTED: dict[tuple[str, str], str] = {
    ("created", "assign"): "assigned",
    ("created", "cancel"): "cancelled",
    ("assigned", "assign"): "assigned",
    ("assigned", "start"): "in_progress",
    ("assigned", "cancel"): "cancelled",
    ("in_progress", "complete"): "done",
    ("in_progress", "fail"): "failed",
    ("in_progress", "cancel"): "cancelled",
}

# the steps that take a fresh order to each state
PATH: dict[str, tuple[str, ...]] = {
    "created": (),
    "assigned": ("assign",),
    "in_progress": ("assign", "start"),
    "done": ("assign", "start", "complete"),
    "failed": ("assign", "start", "fail"),
    "cancelled": ("cancel",),
}


def _do(s: Session, world: World, who: Principal, wo_id: int, verb: str) -> WorkOrder:
    return transition(
        s,
        principal=who,
        clock=world.clock,
        work_order_id=wo_id,
        verb=verb,
        contractor_id=world.contractor_ids["a"] if verb == "assign" else None,
        result={"feasible": "1", "findings": "سالم"} if verb == "complete" else None,
        reason="علت آزمایشی" if verb in ("fail", "cancel") else None,
    )


def _order_in(s: Session, world: World, state: str) -> WorkOrder:
    admin = world.principal("admin")
    wo = create_work_order(
        s,
        principal=admin,
        clock=world.clock,
        type_code="inspection",
        district_id=world.district_ids["11"],
        subscription_id=world.subscription_ids[0],
    )
    for verb in PATH[state]:
        _do(s, world, admin, wo.id, verb)
    assert wo.state == state
    s.commit()
    return wo


def _audit_count(s: Session, wo_id: int) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.subject_type == "work_order", AuditEntry.subject_id == wo_id)
        )
        or 0
    )


@pytest.mark.parametrize("state", STATES)
def test_every_verb_from_every_state(world: World, state: str) -> None:
    admin = world.principal("admin")
    for verb in VERBS:
        with world.session() as s:
            wo = _order_in(s, world, state)
            audits = _audit_count(s, wo.id)
            target = EXPECTED.get((state, verb))
            if target is None:
                with pytest.raises(InvalidTransition) as info:
                    _do(s, world, admin, wo.id, verb)
                assert info.value.code == "invalid_transition" and info.value.http_status == 409
                s.rollback()
                fresh = s.get_one(WorkOrder, wo.id)
                assert fresh.state == state, verb
                assert _audit_count(s, wo.id) == audits, verb
            else:
                _do(s, world, admin, wo.id, verb)
                s.commit()
                fresh = s.get_one(WorkOrder, wo.id)
                assert fresh.state == target, verb
                entries = list(
                    s.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.subject_type == "work_order", AuditEntry.subject_id == wo.id)
                        .order_by(AuditEntry.id)
                    )
                )
                assert len(entries) == audits + 1
                last = entries[-1]
                assert last.action == f"work_order.{verb}" and last.actor == "admin"
                assert last.before is not None and last.before["state"] == state
                assert last.after is not None and last.after["state"] == target


def test_unknown_verb_raises_invalid_transition(world: World) -> None:
    with world.session() as s:
        wo = _order_in(s, world, "created")
        with pytest.raises(InvalidTransition):
            transition(s, principal=world.principal("admin"), clock=world.clock, work_order_id=wo.id, verb="approve")


def test_a_refused_input_leaves_the_order_and_the_trail_untouched(world: World) -> None:
    admin = world.principal("admin")
    with world.session() as s:
        wo = _order_in(s, world, "in_progress")
        audits = _audit_count(s, wo.id)
        with pytest.raises(ValidationError) as info:
            transition(
                s, principal=admin, clock=world.clock, work_order_id=wo.id, verb="complete", result={"feasible": "1"}
            )
        assert info.value.errors == {"findings": "«یافته‌ها» را وارد کنید"}
        with pytest.raises(ValidationError):
            transition(s, principal=admin, clock=world.clock, work_order_id=wo.id, verb="fail", reason=" ")
        s.commit()
        fresh = s.get_one(WorkOrder, wo.id)
        assert (fresh.state, fresh.result, fresh.failure_reason) == ("in_progress", None, None)
        assert _audit_count(s, wo.id) == audits


def test_assign_needs_exactly_one_assignee_and_a_valid_contract(world: World) -> None:
    admin = world.principal("admin")
    with world.session() as s:
        wo = _order_in(s, world, "created")
        for kwargs in ({}, {"team": "گروه ۱", "contractor_id": world.contractor_ids["a"]}):
            with pytest.raises(ValidationError) as info:
                transition(s, principal=admin, clock=world.clock, work_order_id=wo.id, verb="assign", **kwargs)  # type: ignore[arg-type]
            assert "assignee" in info.value.errors
        with pytest.raises(ValidationError) as info:
            transition(
                s,
                principal=admin,
                clock=world.clock,
                work_order_id=wo.id,
                verb="assign",
                contractor_id=world.contractor_ids["c"],
            )
        assert "قرارداد معتبر ندارد" in info.value.errors["contractor_id"]
        assert s.get_one(WorkOrder, wo.id).state == "created"


def test_contractors_and_districts_see_only_their_own(world: World) -> None:
    with world.session() as s:
        wo = _order_in(s, world, "assigned")  # district 11, contractor a
        for username, visible in (
            ("contra", True),
            ("contrb", False),
            ("manager12", False),
            ("clerk11", True),
            ("head", True),
        ):
            who = world.principal(username)
            if visible:
                assert get_work_order(s, principal=who, work_order_id=wo.id).id == wo.id
            else:
                with pytest.raises(NotFound):
                    get_work_order(s, principal=who, work_order_id=wo.id)
        with pytest.raises(NotFound):
            transition(s, principal=world.principal("contrb"), clock=world.clock, work_order_id=wo.id, verb="start")
        with pytest.raises(PermissionDenied):
            transition(
                s,
                principal=world.principal("contrb"),
                clock=world.clock,
                work_order_id=wo.id,
                verb="assign",
                contractor_id=world.contractor_ids["b"],
            )
        assert s.get_one(WorkOrder, wo.id).state == "assigned"


@pytest.mark.parametrize(
    ("state", "username", "expected"),
    [
        ("created", "head", ["assign", "cancel"]),
        ("created", "contra", []),
        ("assigned", "head", ["assign", "cancel"]),
        ("assigned", "contra", ["start"]),
        ("assigned", "contrb", []),
        ("assigned", "clerk", []),
        ("in_progress", "contra", ["complete", "fail"]),
        ("in_progress", "admin", ["complete", "fail", "cancel"]),
        ("done", "admin", []),
    ],
)
def test_verbs_offered_to_each_principal(world: World, state: str, username: str, expected: list[str]) -> None:
    with world.session() as s:
        wo = _order_in(s, world, state)
        assert verbs_for(world.principal(username), wo) == expected
