"""msgpack <-> message models. The size cap and protocol version are checked here, once.

No pickle anywhere: a message is a msgpack map with string keys, validated by the
models of ``messages``.
"""

from __future__ import annotations

from typing import Any

import msgpack
from pydantic import BaseModel, TypeAdapter, ValidationError

from tunefleet.errors import BadMessage
from tunefleet.protocol.messages import PROTOCOL_VERSION, Reply, Request

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_REQUEST: TypeAdapter[Any] = TypeAdapter(Request)
_REPLY: TypeAdapter[Any] = TypeAdapter(Reply)


def encode(message: BaseModel) -> bytes:
    data: bytes = msgpack.packb(message.model_dump(mode="python"), use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise BadMessage(
            f"a {getattr(message, 'kind', 'message')} of {len(data)} bytes is over the "
            f"{MAX_MESSAGE_BYTES}-byte limit; report fewer values or smaller user attrs"
        )
    return data


def _unpack(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message of {len(data)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise BadMessage(f"message is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise BadMessage(f"message must be a map, got {type(obj).__name__}")
    v = obj.get("v")
    if type(v) is not int or v != PROTOCOL_VERSION:  # True and 1.0 equal 1 in Python
        raise BadMessage(
            f"protocol version {v!r} is not supported; this side speaks version {PROTOCOL_VERSION}"
        )
    return obj


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "message"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode_request(data: bytes) -> Any:
    obj = _unpack(data)
    try:
        return _REQUEST.validate_python(obj)
    except ValidationError as exc:
        raise BadMessage(f"invalid {obj.get('kind', 'message')!s}: {_explain(exc)}") from None


def decode_reply(data: bytes) -> Any:
    obj = _unpack(data)
    try:
        return _REPLY.validate_python(obj)
    except ValidationError as exc:
        raise BadMessage(f"invalid reply {obj.get('kind', '')!s}: {_explain(exc)}") from None


def peek(data: bytes) -> tuple[str | None, str | None, str | None]:
    """(kind, request_id, study) of a message that may not validate, for error replies."""
    try:
        obj = msgpack.unpackb(data[:MAX_MESSAGE_BYTES], raw=False, strict_map_key=True)
    except Exception:
        return None, None, None
    if not isinstance(obj, dict):
        return None, None, None

    def text(key: str) -> str | None:
        v = obj.get(key)
        return v if isinstance(v, str) and 0 < len(v) <= 200 else None

    return text("kind"), text("request_id"), text("study")
