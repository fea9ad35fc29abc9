"""Values a bot may log or put on a span that JSON and the redactor cannot take as they are:
keys that are not strings, structures that contain themselves, namedtuples. A log call and a
span never raise into the bot over them; secrets inside them are still redacted."""

from __future__ import annotations

import collections
import io
import json
from pathlib import Path

import otel_trading
from otel_trading.export import load_store
from otel_trading.logs._processors import json_line
from otel_trading.redaction import Redactor

Point = collections.namedtuple("Point", "x y")
SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def _self_containing() -> dict[str, object]:
    cycle: dict[str, object] = {"password": SECRET}
    cycle["again"] = cycle
    return cycle


def test_the_redactor_takes_any_key_cycles_and_namedtuples() -> None:
    redactor = Redactor()
    scrubbed = redactor.scrub_value("book", {1: "bid", (2, 3): {"api_key": SECRET}, "p": Point(1, SECRET)})
    assert scrubbed == {1: "bid", (2, 3): {"api_key": "[REDACTED]"}, "p": (1, redactor.scrub_text(SECRET))}
    deep = redactor.scrub_value("state", _self_containing())
    for _ in range(10):
        assert deep["password"] == "[REDACTED]"
        deep = deep["again"]


def test_the_console_line_of_keys_json_cannot_hold_is_still_a_json_line() -> None:
    line = json_line({"event": "book", "depth": {(2, 3): "ask"}, "level": "info"})
    assert json.loads(line) == {"event": "book", "depth": "{(2, 3): 'ask'}", "level": "info"}


def test_logs_and_spans_of_odd_structures_reach_the_store_scrubbed(configured: otel_trading.Telemetry,
                                                                     tmp_path: Path) -> None:
    log = otel_trading.get_logger("odd")
    log.bind(depth={1: "bid", (2, 3): "ask"}).info("book", nested={7: {"token": SECRET}}, state=_self_containing(),
                                                    p=Point(1, 2))
    with otel_trading.span("odd", book={1: "x", "password": SECRET}, p=Point(1, 2)):
        pass
    assert configured.shutdown()
    contents = load_store(tmp_path / "store")
    assert [s.name for s in contents.spans] == ["odd"]
    assert [r.body for r in contents.logs if r.body == "book"] == ["book"]
    stored = io.StringIO()
    for path in sorted((tmp_path / "store").glob("*.jsonl")):
        stored.write(path.read_text())
    assert SECRET not in stored.getvalue()
    assert "[REDACTED]" in stored.getvalue()
