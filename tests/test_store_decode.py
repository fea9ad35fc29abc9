"""The fast OTLP/JSON decoder: the same records as the protobuf path for every line, valid or not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from otel_trading.export import StoredLog, parse_json_line
from otel_trading.export._follow import StoreFollower
from otel_trading.export._otlp_decode import decode_line, decode_records, logs_of, spans_of

Signal = Literal["traces", "logs"]


def _protobuf_path(line: str, signal: Signal) -> list[Any]:
    request = parse_json_line(line, signal)
    return list(spans_of(request) if signal == "traces" else logs_of(request))  # type: ignore[arg-type]


def _outcome(line: str, signal: Signal, decode: Any) -> Any:
    try:
        return decode(line, signal)
    except ValueError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_the_demo_store_decodes_to_the_same_records_as_protobuf(demo_store: Path, signal: Signal) -> None:
    lines = (demo_store / f"{signal}.jsonl").read_text().splitlines()
    fast = [record for line in lines for record in decode_line(line, signal)]
    assert fast == [record for line in lines for record in _protobuf_path(line, signal)]
    assert len(fast) > 50


def _span_line(**span: Any) -> str:
    base = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "trade",
            "kind": 1, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}
    document = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                                 "value": {"stringValue": "bot"}}]},
                                   "scopeSpans": [{"scope": {"name": "s"}, "spans": [base | span]}]}]}
    return json.dumps(document)


ODD_BUT_VALID = [
    _span_line(attributes=[{"key": "b", "value": {"bytesValue": "AAEC"}}]),  # base64 bytes
    _span_line(traceId="0AF7651916CD43DD8448EB211C80319C"),  # upper-case hex
    _span_line(start_time_unix_nano="5"),  # protobuf's own field name
    _span_line(kind="SPAN_KIND_SERVER"),  # enum by name
    _span_line(startTimeUnixNano=5, attributes=[{"key": "i", "value": {"intValue": -3}}]),  # numbers, not strings
    _span_line(attributes=[{"key": "d", "value": {"doubleValue": 2}},
                           {"key": "n", "value": {"doubleValue": "Infinity"}}]),
    _span_line(attributes=[{"key": "a", "value": {"arrayValue": {"values": [{"boolValue": True}, {}]}}},
                           {"key": "k", "value": {"kvlistValue": {"values": [{"key": "x", "value": {}}]}}}]),
    _span_line(links=[{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}]),
    _span_line(parentSpanId="0000000000000000", status={"code": 2, "message": "boom"}),
    _span_line(status=[], kind=99),  # protobuf takes these: an empty status, an unknown kind
    _span_line(name="caf\\u00e9 \\ud83d\\ude00"),
]
DAMAGED = [
    _span_line(name=5),
    _span_line(traceId="zz"),
    _span_line(startTimeUnixNano="-1"),
    _span_line(attributes=[{"key": "i", "value": {"intValue": str(2**63)}}]),
    _span_line(attributes=[{"key": "t", "value": {"stringValue": "a", "intValue": "1"}}]),
    _span_line(unknown=1),
    '{"resourceSpans": 5}',
    "[1, 2]",
    "{not json",
]

# Around the attribute pairs the fast path reads at once (a string or a double): each of these is
# decided as protobuf decides it, not taken for one.
ATTRIBUTE_PAIRS = [
    _span_line(attributes=[{"key": "a", "value": {"stringValue": "1"}}, {"key": "a", "value": {"doubleValue": 2.5}}]),
    _span_line(attributes=[{"key": 5, "value": {"stringValue": "a"}}]),
    _span_line(attributes=[{"key": "k", "value": {"stringValue": 5}}]),
    _span_line(attributes=[{"key": "k", "value": {"doubleValue": True}}]),
    _span_line(attributes=[{"key": "k", "value": {"stringValue": "a"}, "extra": 1}]),
    _span_line(attributes=[{"key": "k", "extra": {"stringValue": "a"}}]),
    _span_line(attributes=[{"key": "k"}, {"value": {"stringValue": "no key"}}]),
]

# Around the fast path's checks of ids (even length, lowercase hex) and times (1 to 20 ASCII digits).
IDS_AND_TIMES = [
    _span_line(traceId="0af7651916cd43dd8448eb211c80319"),  # odd length
    _span_line(spanId="b7ad6b716920333g"),
    _span_line(parentSpanId="b7ad6b71 9203331"),
    _span_line(startTimeUnixNano="\u0661\u0662"),  # Arabic-Indic digits: int() reads them
    _span_line(startTimeUnixNano="\u00b2"),  # isdigit(), not a digit int() reads
    _span_line(startTimeUnixNano="1" * 21),
    _span_line(startTimeUnixNano=str(2**64)),
    _span_line(startTimeUnixNano="+5"),
    _span_line(startTimeUnixNano=" 5"),
    _span_line(startTimeUnixNano="5_000"),
    _span_line(startTimeUnixNano=""),
    _span_line(endTimeUnixNano=True),
]


# Around what the fast path reads inline (a short intValue text, a span's usual fields and its rare
# ones, an empty status, events, a text body): each decided as protobuf decides it.
INLINE_READS = [
    _span_line(attributes=[{"key": "i", "value": {"intValue": "007"}}, {"key": "z", "value": {"intValue": "0"}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": "9" * 18}},
                           {"key": "j", "value": {"intValue": "9" * 19}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": "\u00b2"}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": "\u0661"}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": ""}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": "-0"}}, {"key": "j", "value": {"intValue": "+1"}}]),
    _span_line(attributes=[{"key": "i", "value": {"intValue": "1 "}}]),
    _span_line(startTimeUnixNano="9" * 19, endTimeUnixNano="1" + "0" * 19),
    _span_line(startTimeUnixNano="\u00b2"),
    _span_line(traceState="a=b", droppedAttributesCount=1, droppedEventsCount="2", droppedLinksCount=3, flags=1),
    _span_line(traceState=5),
    _span_line(droppedEventsCount=-1),
    _span_line(droppedLinksCount="x"),
    _span_line(flags="x"),
    _span_line(flags=-1),
    _span_line(flags=True, kind=True),
    _span_line(flags=2**64),
    _span_line(kind=-1),
    _span_line(kind=5, parentSpanId="00000000000000000000000000000001"),
    _span_line(status={}),
    _span_line(status={"code": 1}),
    _span_line(status={"message": 5}),
    _span_line(status={"code": 3}),
    _span_line(status=5),
    _span_line(status=None, parentSpanId=None, events=None, name=None),
    _span_line(parentSpanId=""),
    _span_line(parentSpanId="ABCD"),
    _span_line(spanId=5),
    _span_line(traceId=None),
    _span_line(name=["x"]),
    _span_line(events=[{"timeUnixNano": "5", "name": "e", "attributes": [{"key": "k", "value": {"intValue": "3"}}],
                        "droppedAttributesCount": 2}]),
    _span_line(events=[{"timeUnixNano": 5, "name": None}]),
    _span_line(events=[{"timeUnixNano": "9" * 20}]),
    _span_line(events=[{"timeUnixNano": "5", "droppedAttributesCount": "x"}]),
    _span_line(events=[{"name": 5}]),
    _span_line(events={}),
    _span_line(events=[5]),
]

# UTF-16 surrogate escapes: orjson reads a pair as json.loads does and refuses a lone one (then
# protobuf judges the line), so no line needs looking for them first.
SURROGATES = [  # json.dumps writes these characters as \u escapes
    _span_line(name="\ud800"),
    _span_line(name="\udc00 low first"),
    _span_line(name="\ude00\ud83d"),
    _span_line(name="\ud800A"),
    _span_line(name="\ud800x\udfff"),
    _span_line(name="\U0010ffff \U0001f600"),
    _span_line(attributes=[{"key": "\U0001f600", "value": {"stringValue": "\ud83d"}}]),
    _span_line(attributes=[{"key": "k", "value": {"stringValue": "\\ud800"}}]),  # a backslash, then "ud800"
]


def _log_line(**record: Any) -> str:
    base = {"timeUnixNano": "1700000000000000000", "severityNumber": 9, "severityText": "INFO",
            "body": {"stringValue": "hello"}, "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331"}
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"scope": {"name": "s"}, "logRecords": [base | record]}]}]})


LOG_READS = [
    _log_line(),
    _log_line(timeUnixNano="0", observedTimeUnixNano="7"),
    _log_line(timeUnixNano=None, observedTimeUnixNano="x"),
    _log_line(timeUnixNano="5", observedTimeUnixNano="x"),  # protobuf reads every field
    _log_line(timeUnixNano="\u00b2"),
    _log_line(timeUnixNano="9" * 19),
    _log_line(body={"stringValue": 5}),
    _log_line(body={"stringValue": "a", "intValue": "1"}),
    _log_line(body={"intValue": "12"}),
    _log_line(body=None, severityText=None, traceId=None, spanId=None),
    _log_line(body="text"),
    _log_line(severityText=5),
    _log_line(severityNumber=99),
    _log_line(traceId="00000000000000000000000000000000", spanId="0000000000000000"),
    _log_line(traceId="ABCD"),
    _log_line(spanId=7),
    _log_line(eventName="e", flags=1, droppedAttributesCount="3"),
    _log_line(eventName=5),
    _log_line(flags="x"),
    _log_line(droppedAttributesCount=-2),
    _log_line(attributes=[{"key": "code.line.number", "value": {"intValue": "355"}}]),
]


@pytest.mark.parametrize("line", ODD_BUT_VALID + DAMAGED + ATTRIBUTE_PAIRS + IDS_AND_TIMES + INLINE_READS
                         + SURROGATES)
def test_every_line_decodes_as_protobuf_reads_it(line: str) -> None:
    assert _outcome(line, "traces", decode_line) == _outcome(line, "traces", _protobuf_path)


@pytest.mark.parametrize("line", LOG_READS)
def test_every_log_line_decodes_as_protobuf_reads_it(line: str) -> None:
    assert _outcome(line, "logs", decode_line) == _outcome(line, "logs", _protobuf_path)


@pytest.mark.parametrize("line", DAMAGED)
def test_damaged_lines_are_errors_in_our_words(line: str) -> None:
    with pytest.raises(ValueError, match=r"^not an OTLP/JSON record: "):
        decode_line(line, "traces")


def test_a_log_line_with_a_non_string_body_reads_as_text() -> None:
    line = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"observedTimeUnixNano": "7", "severityNumber": 9, "body": {"intValue": "42"},
         "traceId": "00000000000000000000000000000000"}]}]}]})
    [record] = decode_line(line, "logs")
    assert isinstance(record, StoredLog)
    assert (record.body, record.time_ns, record.trace_id) == ("42", 7, None)
    assert [record] == _protobuf_path(line, "logs")


def _raw_span_line(attributes: str) -> str:
    """A span line with ``attributes`` as raw JSON text (numbers ``json.dumps`` would not write)."""
    return _span_line(attributes=[]).replace('"attributes": []', f'"attributes": {attributes}')


# Where orjson.loads (the fast path's parser) and json.loads (protobuf's) could read a line apart:
# numbers beyond 64 bits or a double's range, NaN and the infinities, duplicate keys, deep nesting.
JSON_EDGES = [
    _raw_span_line('[{"key": "d", "value": {"doubleValue": 123456789012345678901234567}}]'),
    _raw_span_line('[{"key": "d", "value": {"doubleValue": -18446744073709553665}}]'),
    _raw_span_line('[{"key": "d", "value": {"doubleValue": 18446744073709551616}}]'),
    _raw_span_line('[{"key": "i", "value": {"intValue": 18446744073709551616}}]'),
    _raw_span_line('[{"key": "i", "value": {"intValue": -9223372036854775809}}]'),
    _raw_span_line('[{"key": "d", "value": {"doubleValue": NaN}}, {"key": "e", "value": {"doubleValue": -Infinity}}]'),
    _raw_span_line('[{"key": "d", "value": {"doubleValue": 1e400}}]'),
    _raw_span_line('[{"key": "d", "value": {"doubleValue": 5e-324}}, {"key": "f", "value": {"doubleValue": 0.1}}]'),
    _raw_span_line('[{"key": "d", "value": {"stringValue": "a", "stringValue": "b"}}]'),
    _raw_span_line('[{"key": "d", "key": "e", "value": {"stringValue": "caf\u00e9 \U0001f600 \\u0000"}}]'),
    _raw_span_line('[{"key": "d", "value": ' + '{"arrayValue": {"values": [' * 600 + "{}" + "]}}" * 600 + "}]"),
]


@pytest.mark.parametrize("line", JSON_EDGES)
def test_json_edges_decode_as_protobuf_reads_them(line: str) -> None:
    # repr: NaN equals nothing, not even itself
    assert repr(_outcome(line, "traces", decode_line)) == repr(_outcome(line, "traces", _protobuf_path))


def test_only_lines_orjson_read_are_marked_finite() -> None:
    """The index writes a record's row with orjson only when its line was read by orjson: orjson
    writes NaN and the infinities as null."""
    assert decode_records(JSON_EDGES[0], "traces")[1]
    records, finite = decode_records(ODD_BUT_VALID[5], "traces")  # protobuf reads "Infinity"
    assert records[0].attributes["n"] == float("inf")
    assert not finite


@pytest.mark.parametrize("line", [JSON_EDGES[5], JSON_EDGES[6]])
def test_unquoted_nan_and_infinity_are_damaged_lines_as_protobuf_reads_them(line: str) -> None:
    with pytest.raises(ValueError, match=r"^not an OTLP/JSON record: .*attributes\.value: wrong type or value"):
        decode_line(line, "traces")


def test_a_line_read_as_bytes_decodes_as_its_text_with_bad_bytes_replaced(tmp_path: Path) -> None:
    """The store's reader hands orjson the file's bytes: UTF-8 read as the text is, and a byte that
    is no UTF-8 replaced (U+FFFD) as when the file was read as text."""
    good = _span_line().encode().replace(b'"name": "trade"', '"name": "café ☕"'.encode())
    bad = _span_line().encode().replace(b'"name": "trade"', b'"name": "caf\xc3\xa9 \xff"')
    assert decode_records(good, "traces") == decode_records(good.decode(), "traces")
    assert decode_records(good, "traces")[0][0].name == "café ☕"
    [record] = decode_line(bad, "traces")
    assert record.name == "café \ufffd"
    assert [record] == decode_line(bad.decode("utf-8", errors="replace"), "traces")
    (tmp_path / "traces.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    contents = StoreFollower(tmp_path, "traces").poll()
    assert [span.name for span in contents.spans] == ["café ☕", "café \ufffd"]
    assert contents.problems == []


def _resource_line(value: Any) -> str:
    return _span_line().replace('"resource": {"attributes": [', '"resource": {"attributes": ['
                                '{"key": "n", "value": ' + json.dumps(value) + '}, ', 1)


def test_lines_repeating_a_resource_share_it_and_one_differing_only_in_type_is_read_as_its_own() -> None:
    first, second = decode_line(_resource_line({"intValue": 1}), "traces"), decode_line(
        _resource_line({"intValue": 1}), "traces")
    assert first[0].resource is second[0].resource
    assert first[0].resource == {"n": 1, "service.name": "bot"}
    # Equal in Python (1 == 1.0 == True), not in JSON: each decided as protobuf decides it.
    for value in ({"intValue": True}, {"doubleValue": 1}, {"doubleValue": 1.0}, {"intValue": "1"}, {"intValue": 1}):
        line = _resource_line(value)
        assert repr(_outcome(line, "traces", decode_line)) == repr(_outcome(line, "traces", _protobuf_path))
