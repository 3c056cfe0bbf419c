from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from barq.auth.models import User, UserSession
from barq.auth.service import (
    authenticate,
    create_api_key,
    create_user,
    end_session,
    principal_from_api_key,
    principal_from_session,
    start_session,
)
from barq.errors import NotAuthenticated, PermissionDenied, TooManyAttempts, ValidationError
from tests.factories import PASSWORD, World


def test_password_is_hashed_with_argon2_and_checked(world: World) -> None:
    with world.session() as s:
        user = s.scalars(select(User).where(User.username == "clerk")).one()
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash
        assert authenticate(s, username="CLERK ", password=PASSWORD, client="t", clock=world.clock).id == user.id
        with pytest.raises(NotAuthenticated):
            authenticate(s, username="clerk", password="wrong-pass", client="t", clock=world.clock)


def test_user_is_locked_after_repeated_failures_and_unlocks_later(world: World) -> None:
    with world.session() as s:
        for _ in range(5):
            with pytest.raises(NotAuthenticated):
                authenticate(s, username="clerk", password="nope-nope", client="t", clock=world.clock)
        with pytest.raises(TooManyAttempts):
            authenticate(s, username="clerk", password=PASSWORD, client="t2", clock=world.clock)
        world.clock.advance(timedelta(seconds=301))  # type: ignore[attr-defined]
        assert authenticate(s, username="clerk", password=PASSWORD, client="t2", clock=world.clock)


def test_client_guessing_many_usernames_is_throttled(world: World) -> None:
    with world.session() as s:
        for i in range(20):
            with pytest.raises(NotAuthenticated):
                authenticate(s, username=f"ghost{i}", password="x", client="10.0.0.9", clock=world.clock)
        with pytest.raises(TooManyAttempts):
            authenticate(s, username="clerk", password=PASSWORD, client="10.0.0.9", clock=world.clock)
        assert authenticate(s, username="clerk", password=PASSWORD, client="10.0.0.10", clock=world.clock)


def test_session_token_is_stored_hashed_expires_and_can_be_ended(world: World) -> None:
    with world.session() as s:
        user = s.scalars(select(User).where(User.username == "contra")).one()
        token, csrf = start_session(s, user=user, clock=world.clock, max_age_seconds=60)
        assert s.scalar(select(func.count()).select_from(UserSession).where(UserSession.token_hash == token)) == 0
        p = principal_from_session(s, token=token, clock=world.clock)
        assert p.username == "contra" and p.contractor_id == world.contractor_ids["a"] and p.csrf_token == csrf
        end_session(s, token=token)
        with pytest.raises(NotAuthenticated):
            principal_from_session(s, token=token, clock=world.clock)
        token2, _ = start_session(s, user=user, clock=world.clock, max_age_seconds=60)
        world.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
        with pytest.raises(NotAuthenticated):
            principal_from_session(s, token=token2, clock=world.clock)


def test_api_key_acts_as_its_user_and_wrong_keys_fail(world: World) -> None:
    with world.session() as s:
        user = s.scalars(select(User).where(User.username == "contrb")).one()
        key = create_api_key(s, name="handheld", user=user, clock=world.clock, actor="test")
        p = principal_from_api_key(s, key=key)
        assert p.contractor_id == world.contractor_ids["b"]
        with pytest.raises(NotAuthenticated):
            principal_from_api_key(s, key=key[:-1] + ("A" if key[-1] != "A" else "B"))
        with pytest.raises(NotAuthenticated):
            principal_from_api_key(s, key="garbage")


def test_create_user_refuses_bad_input_with_field_messages(world: World) -> None:
    with world.session() as s:
        with pytest.raises(ValidationError) as exc:
            create_user(
                s,
                username="clerk",
                full_name="x",
                password="short",
                roles=["nope"],
                clock=world.clock,
                actor="t",
            )
        assert set(exc.value.errors) == {"username", "password", "roles"}


def test_permissions_come_from_roles(world: World) -> None:
    contractor = world.principal("contra")
    clerk = world.principal("clerk")
    with pytest.raises(PermissionDenied):
        contractor.require("customers.view")
    clerk.require("customers.edit")
    assert not clerk.can("workorders.assign")
