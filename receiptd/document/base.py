"""What every submission model shares: strict shape and one way to read base64."""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Unknown fields are refused, and a validated model is never changed afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def b64decode(value: str, what: str) -> bytes:
    """Decode base64 that may be wrapped over lines; ``ValueError`` naming ``what`` if bad."""
    compact = "".join(value.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc
