"""OTLP/JSON encoding: the line format the Collector's file exporter writes and its
``otlp_json_file`` receiver reads (one Export*ServiceRequest per line).

OTLP/JSON differs from protobuf's canonical JSON mapping in two ways we handle here:
trace and span ids are lowercase hex (not base64) and enums are integers.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any, Final, Literal

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_trading._lazy import lazy_attributes

# The store's encoders: straight from the records to the line (no proto messages on the way).
# Loaded on first use: they need the SDK's span and log classes, which reading the store does not.
if TYPE_CHECKING:
    from otel_trading.export._otlp_json_encode import logs_to_json_line, spans_to_json_line

__getattr__, __dir__ = lazy_attributes(
    globals(),
    {
        "logs_to_json_line": "otel_trading.export._otlp_json_encode",
        "spans_to_json_line": "otel_trading.export._otlp_json_encode",
    },
)

__all__ = ["Signal", "logs_to_json_line", "message_to_json_line", "parse_json_line", "spans_to_json_line"]

Signal = Literal["traces", "logs"]
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _walk_ids(node: Any, convert: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = convert(value)
                except ValueError:
                    raise ValueError(key) from None  # which id field could not be converted
            else:
                _walk_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            _walk_ids(item, convert)


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def message_to_json_line(message: Message) -> str:
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _walk_ids(document, _b64_to_hex)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


_TOP_LEVEL: Final = {"traces": "resourceSpans", "logs": "resourceLogs"}
_FIELD_IN_PATH: Final = re.compile(r"Failed to parse (\w+) field")
_UNKNOWN_FIELD: Final = re.compile(r'has no field named "([^"]*)"')


def parse_json_line(line: str, signal: Signal) -> ExportTraceServiceRequest | ExportLogsServiceRequest:
    """Parses one OTLP/JSON line back into its protobuf request.

    Raises ValueError ``not an OTLP/JSON record: <reason>``, the reason in our words (a stored
    line is read by people who never met protobuf's error messages)."""
    try:
        document = json.loads(line)
    except RecursionError:
        raise ValueError(_not_a_record("nested too deeply")) from None
    except json.JSONDecodeError as exc:
        reason = "binary data (NUL bytes)" if "\x00" in line else f"not JSON ({exc.msg} at column {exc.colno})"
        raise ValueError(_not_a_record(reason)) from None
    if not isinstance(document, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(document), "number")
        raise ValueError(_not_a_record(f"a JSON {kind}, not an object with {_TOP_LEVEL[signal]}"))
    try:
        _walk_ids(document, _hex_to_b64)
    except ValueError as exc:
        raise ValueError(_not_a_record(f"{exc}: not hex")) from None
    except RecursionError:
        raise ValueError(_not_a_record("nested too deeply")) from None
    target: Message = ExportTraceServiceRequest() if signal == "traces" else ExportLogsServiceRequest()
    try:
        json_format.ParseDict(document, target)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise ValueError(_not_a_record(_schema_problem(str(exc)))) from None
    return target  # type: ignore[return-value]  # chosen by signal above


def _not_a_record(reason: str) -> str:
    return f"not an OTLP/JSON record: {reason}"


def _schema_problem(message: str) -> str:
    """Protobuf's ``Failed to parse a field: Failed to parse b field: ...`` as ``a.b: wrong type or value``."""
    path = ".".join(_FIELD_IN_PATH.findall(message))
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return f'unknown field "{unknown.group(1)}"' + (f" in {path}" if path else "")
    if "recursion" in message.lower() or "nest" in message.lower():
        return "nested too deeply"
    return f"{path or 'a field'}: wrong type or value"
