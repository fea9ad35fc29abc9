"""The console's JSON line (orjson, json.dumps where orjson would write another line): every line
is compact JSON, ASCII whatever the fields, and says what json.dumps said for the odd values."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Iterator

import pytest

from otel_trading import get_logger
from otel_trading.logs._processors import CONSOLE
from otel_trading.testing import capture


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    lines = io.StringIO()
    CONSOLE.stream = lines
    try:
        with capture(log_console="json"):
            yield lines
    finally:
        CONSOLE.stream = None


def _line(stream: io.StringIO) -> str:
    [line] = stream.getvalue().splitlines()
    return line


def test_a_plain_line_is_compact_json(stream: io.StringIO) -> None:
    get_logger("bot").info("order placed", symbol="BTC/USDT", qty=1, price=64000.5, filled=True)
    line = _line(stream)
    assert line.startswith('{"logger":"bot","symbol":"BTC/USDT","qty":1,"price":64000.5,"filled":true,'
                           '"event":"order placed","level":"info","timestamp":"'), line
    assert ", " not in line and '": ' not in line


@pytest.mark.parametrize(("fields", "expected"), [
    # Non-ASCII text escaped as json.dumps escapes it: the line stays ASCII for any stream encoding.
    ({"note": "prix élevé €"}, '"note":"prix \\u00e9lev\\u00e9 \\u20ac"'),
    ({"ratio": math.nan, "cap": math.inf}, '"ratio":NaN,"cap":Infinity'),  # not null: the value is kept
    ({"big": 2**70}, f'"big":{2**70}'),  # beyond 64 bits
    ({"missing": None}, '"missing":null'),
    ({"text": "lone \ud800 surrogate"}, '"text":"lone \\ud800 surrogate"'),
    ({"at": dt.datetime(2026, 12, 7, 4, 45)}, '"at":"datetime.datetime(2026, 12, 7, 4, 45)"'),  # repr, as before
])
def test_odd_values_read_as_json_dumps_wrote_them(stream: io.StringIO, fields: dict[str, object],
                                                  expected: str) -> None:
    get_logger("bot").info("odd", **fields)
    line = _line(stream)
    assert line.isascii() and expected in line, line
    assert ", " not in line.replace("datetime.datetime(2026, 12, 7, 4, 45)", "")  # compact like the others
    event = json.loads(line)
    assert event["event"] == "odd"


class Order:
    def __structlog__(self) -> str:
        return "order #7"


def test_other_values_as_structlog_writes_them(stream: io.StringIO) -> None:
    get_logger("bot").info("placed", order=Order(), unknown=object)
    line = _line(stream)
    assert '"order":"order #7","unknown":"<class \'object\'>"' in line, line
