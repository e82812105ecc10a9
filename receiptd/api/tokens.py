"""``/v1/tokens``: the admin's token management (``receiptctl token add|list|revoke``).

A new token's secret is in the answer to ``POST /v1/tokens`` and nowhere else: the journal
keeps only its salted scrypt hash (``receiptd.api.auth``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from starlette.requests import Request

from receiptd.api.auth import TOKEN_NAME
from receiptd.api.deps import Caller, authenticator
from receiptd.api.models import (
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    token_out,
)
from receiptd.api.routing import REQUIRED, Param, Route

TokenName = Annotated[str, Field(pattern=TOKEN_NAME.pattern, max_length=64)]


def token_routes() -> list[Route]:
    def add_token(body: TokenCreate, request: Request, caller: Caller) -> TokenCreated:
        row, secret = authenticator(request).add(body.name, body.role, by=caller.name)
        return TokenCreated(**token_out(row).model_dump(), secret=secret)

    def list_tokens(request: Request, include_revoked: bool) -> TokenList:
        auth = authenticator(request)
        configured = [TokenOut(name=n, role=r, source="config")
                      for n, r in sorted(auth.configured_names.items())]
        stored = auth.journal().tokens.list(include_revoked=include_revoked)
        return TokenList(tokens=[*configured, *(token_out(t) for t in stored)])

    def revoke_token(name: str, request: Request, caller: Caller) -> TokenOut:
        return token_out(authenticator(request).revoke(name, by=caller.name))

    tags = ("tokens",)
    return [
        Route("POST", "/v1/tokens", add_token, role="admin", body=TokenCreate,
              answer=TokenCreated, status=201, tags=tags),
        Route("GET", "/v1/tokens", list_tokens, role="admin", answer=TokenList, tags=tags,
              params=(Param("include_revoked", bool, False),)),
        Route("POST", "/v1/tokens/{name}/revoke", revoke_token, role="admin", answer=TokenOut,
              tags=tags, params=(Param("name", TokenName, REQUIRED, "path"),)),
    ]
