"""Use cases of access: users, roles, sign-in with throttling, sessions with CSRF tokens, API keys.

``Principal`` is who is acting; every other capability's service takes one and applies its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth.models import ApiKey, LoginFailure, Role, RolePermission, User, UserRole, UserSession
from barq.auth.permissions import DEFAULT_ROLES
from barq.clock import Clock
from barq.errors import NotAuthenticated, PermissionDenied, TooManyAttempts, ValidationError

_hasher = PasswordHasher()
CLIENT_MAX_FAILURES = 20


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    full_name: str
    roles: frozenset[str]
    permissions: frozenset[str]
    district_id: int | None = None
    contractor_id: int | None = None
    channel: str | None = None  # an API key bound to a bank acts for that bank only
    csrf_token: str = field(default="", repr=False)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied("شما اجازه این کار را ندارید", detail=f"missing permission {permission}")


SYSTEM = Principal(
    user_id=0,
    username="system",
    full_name="سامانه",
    roles=frozenset({"admin"}),
    permissions=frozenset(p for _, perms in DEFAULT_ROLES.values() for p in perms),
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_roles(session: Session) -> None:
    """Create the default roles and give them every default permission they lack. A company narrows
    access by giving users its own roles, not by removing permissions from a default role."""
    existing = set(session.scalars(select(Role.code)))
    have = {(r, p) for r, p in session.execute(select(RolePermission.role_code, RolePermission.permission))}
    for code, (name, perms) in DEFAULT_ROLES.items():
        if code not in existing:
            session.add(Role(code=code, name=name))
            session.flush()
        session.add_all(RolePermission(role_code=code, permission=p) for p in sorted(perms) if (code, p) not in have)
    session.flush()


def create_user(
    session: Session,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: list[str],
    clock: Clock,
    actor: str,
    district_id: int | None = None,
    contractor_id: int | None = None,
) -> User:
    errors: dict[str, str] = {}
    username = username.strip().lower()
    if not username or not username.replace("_", "").replace(".", "").isalnum() or not username.isascii():
        errors["username"] = "نام کاربری فقط حروف و ارقام لاتین می‌پذیرد"
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = "این نام کاربری پیش‌تر ثبت شده است"
    if len(password) < 8:
        errors["password"] = "گذرواژه دست‌کم ۸ نویسه باشد"
    known = set(session.scalars(select(Role.code)))
    unknown = [r for r in roles if r not in known]
    if unknown or not roles:
        errors["roles"] = "نقش ناشناخته: " + "، ".join(unknown) if unknown else "دست‌کم یک نقش لازم است"
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    user = User(
        username=username,
        full_name=full_name,
        password_hash=hash_password(password),
        district_id=district_id,
        contractor_id=contractor_id,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    session.add_all(UserRole(user_id=user.id, role_code=r) for r in roles)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        subject_type="user",
        subject_id=user.id,
        at=clock.now(),
        after={
            "username": username,
            "roles": roles,
            "district_id": district_id,
            "contractor_id": contractor_id,
        },
    )
    session.flush()
    return user


def principal_for(session: Session, user: User, csrf_token: str = "") -> Principal:
    roles = frozenset(session.scalars(select(UserRole.role_code).where(UserRole.user_id == user.id)))
    perms = frozenset(session.scalars(select(RolePermission.permission).where(RolePermission.role_code.in_(roles))))
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=roles,
        permissions=perms,
        district_id=user.district_id,
        contractor_id=user.contractor_id,
        csrf_token=csrf_token,
    )


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    client: str,
    clock: Clock,
    max_failures: int = 5,
    lock_seconds: int = 300,
) -> User:
    """Check a password. Locks a user after ``max_failures`` failures, and a client address that fails
    too often across usernames. Failures are committed by the caller even though this raises."""
    now = clock.now()
    window_start = now - timedelta(seconds=lock_seconds)
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.client == client, LoginFailure.at >= window_start)
    )
    if (recent or 0) >= CLIENT_MAX_FAILURES:
        raise TooManyAttempts("تلاش‌های ناموفق زیاد بود؛ چند دقیقه دیگر دوباره بکوشید")
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise TooManyAttempts("این حساب به سبب تلاش‌های ناموفق موقتاً قفل است؛ چند دقیقه دیگر بکوشید")
    ok = False
    if user is not None and user.is_active:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        session.add(LoginFailure(client=client[:64], username=username[:60], at=now))
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + timedelta(seconds=lock_seconds)
                user.failed_logins = 0
        session.flush()
        raise NotAuthenticated("نام کاربری یا گذرواژه نادرست است")
    assert user is not None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


def start_session(session: Session, *, user: User, clock: Clock, max_age_seconds: int) -> tuple[str, str]:
    """Returns (cookie token, CSRF token). Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = clock.now()
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age_seconds),
        )
    )
    session.flush()
    return token, csrf


def principal_from_session(session: Session, *, token: str, clock: Clock) -> Principal:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _token_hash(token)))
    if row is None or row.revoked or row.expires_at <= clock.now():
        raise NotAuthenticated("نشست شما پایان یافته است؛ دوباره وارد شوید")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("حساب کاربری غیرفعال است")
    return principal_for(session, user, csrf_token=row.csrf_token)


def end_session(session: Session, *, token: str) -> None:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _token_hash(token)))
    if row is not None:
        row.revoked = True
        session.flush()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected, given)


def create_api_key(
    session: Session, *, name: str, user: User, clock: Clock, actor: str, channel: str | None = None
) -> str:
    """Returns the key once; it cannot be recovered later. A key with a ``channel`` (a bank's code) notifies
    payments for that bank only."""
    prefix = secrets.token_hex(4)
    key = f"barq_{prefix}.{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name, prefix=prefix, key_hash=_token_hash(key), user_id=user.id, channel=channel, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.create",
        subject_type="api_key",
        subject_id=row.id,
        at=clock.now(),
        after={"name": name, "user": user.username, "prefix": prefix, "channel": channel},
    )
    return key


def principal_from_api_key(session: Session, *, key: str) -> Principal:
    prefix = key.removeprefix("barq_").split(".", 1)[0]
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _token_hash(key)):
        raise NotAuthenticated("کلید API نامعتبر است", detail="invalid API key")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("کلید API نامعتبر است", detail="API key user inactive")
    principal = principal_for(session, user)
    return replace(principal, channel=row.channel) if row.channel else principal


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))
