"""Alert state on disk, so that a restarted bot neither pages again nor forgets an open alert.

One small JSON file, replaced atomically after each evaluation that changed something:
the active alerts of each rule (with their ``for`` clocks), the router's groups and what
each last sent, acknowledgements, escalations and silences. It holds labels and
annotations only: no channel settings, so no credentials.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from otel_trading.alerts._model import Alert
from otel_trading.alerts._routing import Group, Matcher, Router, Silence
from otel_trading.alerts._state import ActiveAlert, RuleState

_LOG = logging.getLogger("otel_trading.alerts")
VERSION: Final = 1


def _alert(data: Mapping[str, Any]) -> Alert:
    return Alert(dict(data["labels"]), dict(data["annotations"]), data["status"], float(data["value"]),
                 float(data["starts_at"]), data.get("ends_at"))


def _alert_dict(alert: Alert) -> dict[str, Any]:
    return {"labels": dict(alert.labels), "annotations": dict(alert.annotations), "status": alert.status,
            "value": alert.value, "starts_at": alert.starts_at, "ends_at": alert.ends_at}


def snapshot(states: Mapping[str, RuleState], router: Router) -> dict[str, Any]:
    return {
        "version": VERSION,
        "rules": {name: [vars(alert).copy() for alert in state.active.values()] for name, state in states.items()},
        "groups": [
            {"route_index": g.route_index, "key": g.key, "labels": g.labels, "created_at": g.created_at,
             "last_sent_at": g.last_sent_at, "sent": g.sent, "alerts": [_alert_dict(a) for a in g.alerts.values()]}
            for g in router.groups.values()
        ],
        "acknowledged": router.acknowledged,
        "escalated": sorted(router.escalated),
        "silences": [
            {"match": dict(s.matcher.equal), "match_re": {k: p.pattern for k, p in s.matcher.regex.items()},
             "starts_at": s.starts_at, "ends_at": s.ends_at, "comment": s.comment, "created_by": s.created_by,
             "id": s.id}
            for s in router.silences
        ],
    }


def save(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def restore(path: Path, states: Mapping[str, RuleState], router: Router, static_silences: int) -> bool:
    """Loads ``path`` into ``states`` and ``router``; False (and a warning) if absent or unusable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {VERSION}")
        for name, alerts in document["rules"].items():
            if name in states:  # a rule removed since is forgotten with its alerts
                states[name].active = {a.fingerprint: a for a in (ActiveAlert(**data) for data in alerts)}
        for data in document["groups"]:
            if data["route_index"] >= len(router.routes):
                continue  # the routes changed: the group is rebuilt from the next transitions
            alerts = {a.fingerprint: a for a in map(_alert, data["alerts"])}
            router.groups[data["key"]] = Group(data["route_index"], data["key"], dict(data["labels"]), alerts,
                                                data["created_at"], data["last_sent_at"], dict(data["sent"]))
        router.acknowledged.update(document["acknowledged"])
        router.escalated.update(document["escalated"])
        runtime = [_silence(s) for s in document["silences"][static_silences:]]
        router.silences.extend(runtime)
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _LOG.warning("alert state %s unusable (%s: %s); starting with no open alerts", path, type(exc).__name__, exc)
        return False
    return True


def _silence(data: Mapping[str, Any]) -> Silence:
    matcher = Matcher(dict(data["match"]), {k: re.compile(v) for k, v in data["match_re"].items()})
    silence = Silence(matcher, float(data["ends_at"]), float(data["starts_at"]), data["comment"], data["created_by"])
    return replace(silence, id=str(data["id"])) if data.get("id") else silence  # files written before ids
