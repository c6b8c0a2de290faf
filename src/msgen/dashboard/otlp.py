"""The OTLP/HTTP trace receiver's decoding: protobuf (what the services' exporter sends) or JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from msgen.dashboard.store import Span

__all__ = ["OtlpError", "decode"]

_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


class OtlpError(ValueError):
    """The body is not an OTLP trace export."""


def decode(body: bytes, content_type: str) -> list[Span]:
    """The spans of an ExportTraceServiceRequest, sent as application/x-protobuf or application/json."""
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OtlpError(f"not JSON: {exc}") from None
        return _spans(data, ids="hex")  # OTLP/JSON: trace and span ids in hex
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError, and whatever a malformed body makes it raise
        raise OtlpError(f"not an OTLP protobuf message: {exc}") from None
    return _spans(MessageToDict(request), ids="base64")  # bytes fields come out base64-encoded


def _id(value: Any, ids: str) -> str | None:
    if not value or not isinstance(value, str):
        return None
    if ids == "hex":
        return value.lower()
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        return None


def _value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    return None


def _attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(a.get("key")): _value(a.get("value")) for a in items if isinstance(a, dict) and "key" in a}


def _kind(value: Any) -> str:
    if isinstance(value, int):
        return _KINDS.get(value, "UNSPECIFIED")
    if isinstance(value, str):
        return value.removeprefix("SPAN_KIND_") or "UNSPECIFIED"
    return "UNSPECIFIED"


def _spans(data: Any, *, ids: str) -> list[Span]:
    if not isinstance(data, dict):
        raise OtlpError("expected an object with resourceSpans")
    spans: list[Span] = []
    for resource_spans in data.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            raise OtlpError("resourceSpans: expected objects")
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name") or "unknown")
        for scope in resource_spans.get("scopeSpans") or []:
            for raw in (scope or {}).get("spans") or []:
                if not isinstance(raw, dict):
                    raise OtlpError("spans: expected objects")
                trace_id, span_id = _id(raw.get("traceId"), ids), _id(raw.get("spanId"), ids)
                if not trace_id or not span_id:
                    raise OtlpError("a span without traceId or spanId")
                try:
                    start, end = int(raw.get("startTimeUnixNano") or 0), int(raw.get("endTimeUnixNano") or 0)
                except (TypeError, ValueError):
                    raise OtlpError("startTimeUnixNano/endTimeUnixNano: expected integers") from None
                status = raw.get("status") or {}
                code = status.get("code") if isinstance(status, dict) else None
                spans.append(
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_id=_id(raw.get("parentSpanId"), ids),
                        service=service,
                        name=str(raw.get("name") or ""),
                        kind=_kind(raw.get("kind")),
                        start_ns=start,
                        end_ns=max(end, start),
                        error=code in (2, "STATUS_CODE_ERROR"),
                        attributes=_attributes(raw.get("attributes")),
                    )
                )
    return spans
