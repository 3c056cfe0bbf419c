"""Per-request dependencies of the JSON API: the unit of work and the principal of the API key.

A key comes in the header ``X-API-Key`` or as ``Authorization: Bearer <key>``; both are declared as
security schemes so the OpenAPI document shows them. A missing or invalid key is a 401 problem
(``not_authenticated``). The key acts as its user: the services apply that user's roles and scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from barq.auth.service import Principal, principal_from_api_key
from barq.clock import Clock
from barq.errors import NotAuthenticated
from barq.settings import Settings
from barq.web.deps import get_clock, get_db, get_settings_dep

API_KEY_HEADER = "X-API-Key"
_MAX_KEY_LENGTH = 200

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="The key given once when it was created (`barq_xxxxxxxx.…`). It acts as its user.",
    auto_error=False,
)
bearer_key = HTTPBearer(
    scheme_name="BearerApiKey",
    description="The same API key, sent as `Authorization: Bearer <key>`.",
    auto_error=False,
)

# Function scope: the transaction commits when the handler returns, before the response is sent, so a
# failed commit is a 500 and never a 201 for something that was not saved. (FastAPI's default "request"
# scope would commit only after the response had gone out.)
DB = Annotated[Session, Depends(get_db, scope="function")]


def api_principal(
    request: Request,
    db: DB,
    header_key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_key)],
) -> Principal:
    key = (header_key or (bearer.credentials if bearer is not None else "") or "").strip()
    if not key:
        raise NotAuthenticated(
            "کلید API لازم است", detail=f"missing API key: send {API_KEY_HEADER} or Authorization: Bearer"
        )
    if len(key) > _MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise NotAuthenticated("کلید API نامعتبر است", detail="invalid API key")
    principal = principal_from_api_key(db, key=key)
    request.state.principal = principal
    return principal


@dataclass(frozen=True)
class Api:
    """Everything an API handler needs: the session (one transaction), the key's principal, clock, settings."""

    db: Session
    principal: Principal
    clock: Clock
    settings: Settings


def get_api(
    db: DB,
    principal: Annotated[Principal, Depends(api_principal)],
    clock: Annotated[Clock, Depends(get_clock)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> Api:
    return Api(db=db, principal=principal, clock=clock, settings=settings)


ApiDep = Annotated[Api, Depends(get_api)]
