"""The OpenAPI document (``/v1/openapi.json``), made from the route table.

Every operation comes from its ``Route``: parameters with their pydantic schemas, the body
model, the success answer, the error answers, the role it needs (``x-required-role``;
``none`` for public routes) and the bearer scheme on each operation that needs one. Schemas
of the models are pydantic's own JSON schemas, under ``#/components/schemas``: bodies as
they are validated, answers as they are serialized. Built on first request, then kept.
"""

from __future__ import annotations

import http
import inspect
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from receiptd.api.deps import SECURITY_SCHEMES
from receiptd.api.models import ERRORS, ErrorOut
from receiptd.api.routing import REQUIRED, Param, Route

REF = "#/components/schemas/{model}"
_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")
_SUCCESS = "Successful Response"


def build_openapi(routes: Sequence[Route], *, title: str, version: str,
                  description: str) -> dict[str, Any]:
    served = [r for r in routes if r.in_schema]
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorOut, "serialization")]
    for route in served:
        if route.body is not None:
            models.append((route.body, "validation"))
        if _is_model(route.answer):
            models.append((route.answer, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, defs = models_json_schema(unique, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in served:
        path = _CONVERTER.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, path, refs)
    document: dict[str, Any] = _without_nulls({
        "openapi": "3.1.0",
        "info": {"title": title, "description": description, "version": version},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    })
    return document


def _without_nulls(value: Any) -> Any:
    """The document without ``null`` members (a ``"default": null`` says nothing a client
    needs: the field is optional either way)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _operation(route: Route, path: str, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {}
    if route.tags:
        op["tags"] = list(route.tags)
    op["summary"] = route.name.replace("_", " ").title()
    doc = inspect.cleandoc(route.handler.__doc__ or "").split("\f")[0]
    if doc:
        op["description"] = doc
    op["operationId"] = operation_id(route, path)
    if route.params:
        op["parameters"] = [_parameter(p) for p in route.params]
    if route.body is not None:
        ref = refs[(route.body, "validation")]
        if route.body_required:
            op["requestBody"] = {"content": {"application/json": {"schema": ref}},
                                 "required": True}
        else:
            op["requestBody"] = {"content": {"application/json": {"schema": {
                "anyOf": [ref, {"type": "null"}], "title": "Body"}}}}
    op["responses"] = {str(route.status): _success(route, refs, op["operationId"])}
    if route.errors or route.role is not None:
        for status in ERRORS:
            answer: dict[str, Any] = {"description": http.HTTPStatus(int(status)).phrase}
            if route.errors:
                answer["content"] = {"application/json": {
                    "schema": refs[(ErrorOut, "serialization")]}}
            op["responses"][str(status)] = answer
    op["x-required-role"] = route.role or "none"
    if route.role is not None:
        op["security"] = [{"bearer": []}]
    return op


def operation_id(route: Route, path: str) -> str:
    """The handler's name and the path, as one identifier (Swagger UI's anchors use it)."""
    return re.sub(r"\W", "_", f"{route.name}{path}") + f"_{route.method.lower()}"


def _success(route: Route, refs: dict[Any, Any], op_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _SUCCESS}
    if route.status == 204:
        return answer
    if route.answer_content is not None:
        answer["content"] = route.answer_content
    elif _is_model(route.answer):
        answer["content"] = {"application/json": {
            "schema": refs[(route.answer, "serialization")]}}
    elif route.answer is not None:
        schema = TypeAdapter(route.answer).json_schema(ref_template=REF, mode="serialization")
        schema["title"] = f"Response_{op_id}".replace("_", " ").title()
        answer["content"] = {"application/json": {"schema": schema}}
    return answer


def _parameter(param: Param) -> dict[str, Any]:
    schema = param.adapter.json_schema(ref_template=REF)
    schema["title"] = param.alias or param.name.replace("_", " ").title()
    if param.default is not REQUIRED and param.default is not None:
        schema["default"] = param.default
    out: dict[str, Any] = {"name": param.key, "in": param.where,
                           "required": param.default is REQUIRED, "schema": schema}
    if param.description:
        schema["description"] = param.description
        out["description"] = param.description
    return out
