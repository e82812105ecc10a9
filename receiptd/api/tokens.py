"""``/v1/tokens``: the admin's token management (``receiptctl token add|list|revoke``).

A new token's secret is in the answer to ``POST /v1/tokens`` and nowhere else: the journal
keeps only its salted scrypt hash (``receiptd.api.auth``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from receiptd.api.auth import TOKEN_NAME
from receiptd.api.deps import Admin, authenticator
from receiptd.api.models import (
    ERRORS,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    token_out,
)

TokenName = Annotated[str, Path(pattern=TOKEN_NAME.pattern, max_length=64)]


def token_router() -> APIRouter:
    router = APIRouter(tags=["tokens"])

    @router.post("/v1/tokens", status_code=201, response_model=TokenCreated, responses=ERRORS)
    def add_token(body: TokenCreate, request: Request, caller: Admin) -> TokenCreated:
        row, secret = authenticator(request).add(body.name, body.role, by=caller.name)
        return TokenCreated(**token_out(row).model_dump(), secret=secret)

    @router.get("/v1/tokens", response_model=TokenList, responses=ERRORS)
    def list_tokens(request: Request, caller: Admin, include_revoked: bool = False) -> TokenList:
        auth = authenticator(request)
        configured = [TokenOut(name=n, role=r, source="config")
                      for n, r in sorted(auth.configured_names.items())]
        stored = auth.journal().tokens.list(include_revoked=include_revoked)
        return TokenList(tokens=[*configured, *(token_out(t) for t in stored)])

    @router.post("/v1/tokens/{name}/revoke", response_model=TokenOut, responses=ERRORS)
    def revoke_token(name: TokenName, request: Request, caller: Admin) -> TokenOut:
        return token_out(authenticator(request).revoke(name, by=caller.name))

    return router
