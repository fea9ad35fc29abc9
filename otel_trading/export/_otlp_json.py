"""OTLP/JSON encoding: the line format the Collector's file exporter writes and its
``otlp_json_file`` receiver reads (one Export*ServiceRequest per line).

OTLP/JSON differs from protobuf's canonical JSON mapping in two ways we handle here:
trace and span ids are lowercase hex (not base64) and enums are integers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

Signal = Literal["traces", "logs"]
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _walk_ids(node: Any, convert: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = convert(value)
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


def spans_to_json_line(spans: Sequence[ReadableSpan]) -> str:
    return message_to_json_line(encode_spans(spans))


def logs_to_json_line(records: Sequence[ReadableLogRecord]) -> str:
    return message_to_json_line(encode_logs(records))


def parse_json_line(line: str, signal: Signal) -> ExportTraceServiceRequest | ExportLogsServiceRequest:
    """Parses one OTLP/JSON line back into its protobuf request. Raises ValueError if malformed."""
    try:
        document = json.loads(line)
        _walk_ids(document, _hex_to_b64)
        target: Message = ExportTraceServiceRequest() if signal == "traces" else ExportLogsServiceRequest()
        json_format.ParseDict(document, target)
    except (json.JSONDecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise ValueError(f"not an OTLP/JSON {signal} line: {exc}") from exc
    return target  # type: ignore[return-value]  # chosen by signal above
