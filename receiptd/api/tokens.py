"""``/v1/tokens``: the admin's token management (``receiptctl token add|list|revoke``).

A new token's secret is in the answer to ``POST /v1/tokens`` and nowhere else: the journal
keeps only its salted scrypt hash (``receiptd.auth``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from receiptd.api.app import ERRORS, Admin
from receiptd.api.auth import TOKEN_NAME, Authenticator
from receiptd.journal import ApiToken, format_ts

Role = Literal["pos", "cashier", "admin"]
TokenName = Annotated[str, Path(pattern=TOKEN_NAME.pattern, max_length=64)]


class TokenCreate(BaseModel):
    name: str = Field(pattern=TOKEN_NAME.pattern, max_length=64,
                      description="recorded on every receipt and reprint it makes",
                      examples=["till-1"])
    role: Role = Field(description="pos < cashier < admin")


class TokenOut(BaseModel):
    name: str
    role: Role
    source: Literal["config", "journal"] = Field(
        description="config: from the config file or --token (manage it there)")
    key_id: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None


class TokenCreated(TokenOut):
    secret: str = Field(description="the bearer token; shown only this once")


class TokenList(BaseModel):
    tokens: list[TokenOut]


def _out(t: ApiToken) -> TokenOut:
    return TokenOut(name=t.name, role=t.role, source="journal",
                    key_id=t.key_id, created_at=format_ts(t.created_at),
                    created_by=t.created_by,
                    revoked_at=format_ts(t.revoked_at) if t.revoked_at else None,
                    revoked_by=t.revoked_by)


def token_router() -> APIRouter:
    router = APIRouter(tags=["tokens"])

    def auth(request: Request) -> Authenticator:
        found: Authenticator = request.app.state.authenticator
        return found

    @router.post("/v1/tokens", status_code=201, response_model=TokenCreated, responses=ERRORS)
    def add_token(body: TokenCreate, request: Request, caller: Admin) -> TokenCreated:
        row, secret = auth(request).add(body.name, body.role, by=caller.name)
        return TokenCreated(**_out(row).model_dump(), secret=secret)

    @router.get("/v1/tokens", response_model=TokenList, responses=ERRORS)
    def list_tokens(request: Request, caller: Admin, include_revoked: bool = False) -> TokenList:
        a = auth(request)
        configured = [TokenOut(name=n, role=r, source="config")
                      for n, r in sorted(a.configured_names.items())]
        stored = a.journal().tokens(include_revoked=include_revoked)
        return TokenList(tokens=[*configured, *(_out(t) for t in stored)])

    @router.post("/v1/tokens/{name}/revoke", response_model=TokenOut, responses=ERRORS)
    def revoke_token(name: TokenName, request: Request, caller: Admin) -> TokenOut:
        return _out(auth(request).revoke(name, by=caller.name))

    return router
