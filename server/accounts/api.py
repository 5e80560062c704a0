from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status as HttpStatus
from pydantic import Field

from server.accounts import services
from server.accounts.auth import TokenRequest, token_auth
from server.common.schemas import BODY_ERRORS, CleanText, errors

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: CleanText = Field(max_length=150)  # User.username
    # Long enough for any passphrase, short enough that hashing it is no denial of service.
    password: CleanText = Field(max_length=4096)


class TechnicianRef(Schema):
    id: int
    name: str


class TokenOut(Schema):
    token: str
    expires_at: dt.datetime
    technician: TechnicianRef | None


@router.post("/token", response={200: TokenOut, **errors(401, 429, *BODY_ERRORS)}, auth=None)
def api_token_issue(request: HttpRequest, payload: TokenIn) -> dict[str, Any]:
    """Log in: a bearer token for ``Authorization: Bearer <token>``, good until ``expires_at``.

    401 for wrong credentials; 429 (with Retry-After) once too many failed for this username
    from this address.
    """
    key, token = services.api_token_issue(request=request, username=payload.username, password=payload.password)
    technician = getattr(token.user, "technician", None)
    return {
        "token": key,
        "expires_at": token.expires_at,
        "technician": {"id": technician.pk, "name": technician.name} if technician else None,
    }


@router.post("/logout", response={204: None, **errors(401)}, auth=token_auth)
def api_token_revoke(request: TokenRequest) -> HttpStatus:
    """Log out: the token this request used stops working at once."""
    services.api_token_revoke(token=request.api_token)
    return HttpStatus(204, None)
