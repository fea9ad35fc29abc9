"""``--field`` of ``otel-trading logs``: the text of a filter, parsed into a ``FieldFilter``
(which records a filter keeps: otel_trading.export._log_filter)."""

from __future__ import annotations

import argparse
import re
from typing import Final

from otel_trading.export._log_filter import FieldFilter

_FIELD_FILTER: Final = re.compile(r"^([^=~!]+?)(~=|!=|=)(.*)$", re.DOTALL)


def parse_field_filter(text: str) -> FieldFilter:
    """argparse ``type=``: a bad filter is a usage error naming the expected forms."""
    match = _FIELD_FILTER.match(text)
    if not match or not match.group(1).strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected FIELD=VALUE, FIELD!=VALUE or FIELD~=TEXT")
    return FieldFilter(match.group(1).strip(), match.group(2), match.group(3))
