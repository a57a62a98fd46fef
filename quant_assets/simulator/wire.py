"""Protocol-neutral request/response objects passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import orjson


@dataclass
class Request:
    method: str
    path: str  # path below the source prefix, e.g. "/comm/bldAttendant/getJsonData.cmd"
    query: dict[str, str]
    form: dict[str, str]
    json: dict | None
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to sleep before answering (timeout fault)


def json_bytes(obj) -> bytes:
    """Compact UTF-8 JSON, as KRX and KIS send it. orjson: the simulator stands in for remote hosts,
    yet on one machine its encoding competes with the platform it serves (json.dumps was ~28 % of
    its CPU for a whole-market day); what orjson cannot encode goes through json."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(obj, status: int = 200, content_type: str = "application/json; charset=utf-8",
                  headers: list | None = None) -> Response:
    return Response(status, json_bytes(obj), [("Content-Type", content_type)] + (headers or []))


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
                  headers: list | None = None) -> Response:
    return Response(status, text.encode("utf-8"), [("Content-Type", content_type)] + (headers or []))
