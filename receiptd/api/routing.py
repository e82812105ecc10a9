"""The API's route table: each route says once what it is, and both the Starlette route that
serves it and its operation in the OpenAPI document (``receiptd.api.openapi``) are made from
that one entry, so the two cannot disagree.

A ``Route`` names its method and path, the role it needs (checked by ``deps.authorize``
before anything else is read), its path, query and header parameters (``Param``: a type,
pydantic constraints included, and a default), its JSON body model, and what it answers. The
handler is called with keyword arguments: each parameter by name, ``body``, and ``caller``
and ``request`` when it takes them. A plain ``def`` handler runs in a worker thread (it reads
the journal), an ``async def`` one on the event loop.

A handler returns a ``Response`` as it is, a pydantic model serialized by the model itself,
or plain data (dicts, lists) serialized as JSON, with the route's status.

Requests that do not fit (a parameter of the wrong type, a body that is not the model) raise
``RequestInvalid`` with pydantic's error list, each located as ``("query", name)``,
``("body", ...)`` and so on; ``receiptd.api.app`` turns it into the error answer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from receiptd.api.deps import authorize

__all__ = ["REQUIRED", "Param", "RequestInvalid", "Route", "starlette_route"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a parameter that must be given (every path parameter).
REQUIRED: Any = _Required()

JSON_MEDIA = "application/json"


class RequestInvalid(Exception):
    """A request whose parameters or body do not validate: pydantic's errors, located."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self.errors = list(errors)


@dataclass(frozen=True)
class Param:
    """One path, query or header parameter."""

    name: str
    type: Any
    default: Any = REQUIRED
    where: Literal["path", "query", "header"] = "query"
    alias: str | None = None  # the name on the wire, when it is not ``name``
    description: str | None = None
    adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.type))

    @property
    def key(self) -> str:
        return self.alias or self.name

    def read(self, request: Request, errors: list[dict[str, Any]]) -> Any:
        """The validated value; appends to ``errors`` (and returns None) if it is not one."""
        if self.where == "path":
            raw = request.path_params.get(self.name)
        elif self.where == "query":
            raw = request.query_params.get(self.key)
        else:
            raw = request.headers.get(self.key)
        if raw is None:
            if self.default is REQUIRED:
                errors.append({"type": "missing", "loc": (self.where, self.key),
                               "msg": "Field required", "input": None})
                return None
            return self.default
        try:
            return self.adapter.validate_python(raw)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.append({**error, "loc": (self.where, self.key, *error["loc"])})
            return None


@dataclass(frozen=True)
class Route:
    """One operation of the API."""

    method: str
    path: str  # Starlette's form: ``{name}`` or ``{name:path}``
    handler: Callable[..., Any]
    role: str | None = None  # pos, cashier, admin, metrics; None: public
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    #: What a success answers with, for the document: a model, a type (its JSON schema), or
    #: None (no schema: a stream, a file, an empty answer).
    answer: Any = None
    #: The success answer's content types when it is not JSON (e.g. ``{"image/png": {}}``).
    answer_content: dict[str, Any] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    #: Whether the document lists the error answers with their ``ErrorOut`` body.
    errors: bool = True
    in_schema: bool = True

    @property
    def name(self) -> str:
        return self.handler.__name__


def starlette_route(route: Route) -> StarletteRoute:
    """The Starlette route serving ``route``."""
    wants = set(inspect.signature(route.handler).parameters)
    threaded = not inspect.iscoroutinefunction(route.handler)
    body_adapter: TypeAdapter[Any] | None = None
    if route.body is not None and not route.body_required:
        optional: Any = route.body | None
        body_adapter = TypeAdapter(optional)

    async def endpoint(request: Request) -> Response:
        kwargs: dict[str, Any] = {}
        if route.role is not None:
            caller = await authorize(request, route.role)
            if "caller" in wants:
                kwargs["caller"] = caller
        errors: list[dict[str, Any]] = []
        for param in route.params:
            kwargs[param.name] = param.read(request, errors)
        if route.body is not None:
            kwargs["body"] = await _read_body(request, route, body_adapter, errors)
        if errors:
            raise RequestInvalid(errors)
        if "request" in wants:
            kwargs["request"] = request
        if threaded:
            result = await run_in_threadpool(functools.partial(route.handler, **kwargs))
        else:
            result = await route.handler(**kwargs)
        return _response(result, route.status)

    endpoint.__name__ = route.name
    served = StarletteRoute(route.path, endpoint, methods=[route.method], name=route.name)
    if route.method != "HEAD":
        served.methods.discard("HEAD")  # type: ignore[union-attr]  # only what is declared
    return served


async def _read_body(request: Request, route: Route, adapter: TypeAdapter[Any] | None,
                     errors: list[dict[str, Any]]) -> Any:
    """The body validated against the route's model (JSON bodies only, as declared)."""
    assert route.body is not None
    data = await request.body()
    if not data:
        if route.body_required:
            errors.append({"type": "missing", "loc": ("body",), "msg": "Field required",
                           "input": None})
        return None
    if not _is_json(request.headers.get("content-type")):
        errors.append(_NOT_AN_OBJECT)
        return None
    try:
        if adapter is not None:
            return adapter.validate_json(data)
        return route.body.model_validate_json(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "json_invalid":
                errors.insert(0, {**error, "loc": ("body",), "reason": _json_reason(
                    data, error["msg"])})
            elif error["type"] == "model_type" and not error["loc"]:
                errors.append(_NOT_AN_OBJECT)
            else:
                errors.append({**error, "loc": ("body", *error["loc"])})
        return None


#: A body that is not a JSON object (or not JSON by its content type).
_NOT_AN_OBJECT: dict[str, Any] = {
    "type": "model_attributes_type", "loc": ("body",), "input": None,
    "msg": "Input should be a valid dictionary or object to extract fields from"}


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``; a body without a content
    type is not taken for JSON."""
    if content_type is None:
        return False
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _json_reason(data: bytes, message: str) -> str | None:
    """Why a body is not JSON, where that is not a syntax error: not UTF-8, or nested
    deeper than the parser goes."""
    if "recursion limit" in message:
        return "RecursionError"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "UnicodeDecodeError"
    return None


def _response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        return Response(result.model_dump_json(), status_code=status, media_type=JSON_MEDIA)
    return Response(pydantic_core.to_json(result), status_code=status, media_type=JSON_MEDIA)
