from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from server.accounts import services

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str


class TechnicianRef(Schema):
    id: int
    name: str


class TokenOut(Schema):
    token: str
    technician: TechnicianRef | None


class Message(Schema):
    message: str


@router.post("/token", response={200: TokenOut, 401: Message}, auth=None)
def api_token_issue(request: HttpRequest, payload: TokenIn) -> dict:
    key, user = services.api_token_issue(request=request, username=payload.username, password=payload.password)
    technician = getattr(user, "technician", None)
    return {
        "token": key,
        "technician": {"id": technician.pk, "name": technician.name} if technician else None,
    }
