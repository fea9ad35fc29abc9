"""Canary secrets: credentials handed to the SDK in every usual way never leave the process.

The harness (canaries, ``Sinks``) is in canary.py. The sinks checked are everything the SDK
writes: the bodies of every OTLP request (traces, metrics, logs; the header carrying the
Authorization value legitimately reaches the receiver as a transport header and is not a
body), the local store files, the console (stdout/stderr at the file-descriptor level),
and the text of configuration errors. test_secret_canary.py adds the other outputs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from canary import CANARY, Sinks, canaries_in
from otlp_receiver import otlp_options, receiver_for

import otel_trading
from otel_trading import ConfigurationError, get_logger, span, traced
from otel_trading.redaction import Redactor

pytestmark = pytest.mark.timeout(30)

API_KEY = f"{CANARY}-api-key-arg"
FIELD_SECRET = f"{CANARY}-field-secret"
FIELD_TOKEN = f"{CANARY}-field-token"
FIELD_PASSWORD = f"{CANARY}-field-password"
URL_FIELD = f"wss://trader:{CANARY}-url-field@stream.example.com/ws"
URL_MESSAGE = f"https://trader:{CANARY}-url-message@api.example.com/v3"
URL_SPAN_ATTRIBUTE = f"https://trader:{CANARY}-url-span-attr@api.example.com/v3"
SIGNED_MESSAGE = f"https://api.example.com/api/v3/order?symbol=BTCUSDT&signature={CANARY}-sig-message"
SIGNED_EXCEPTION = f"https://api.example.com/api/v3/account?timestamp=1&signature={CANARY}-sig-exception"
SIGNED_SPAN_NAME = f"/api/v3/order?signature={CANARY}-sig-span-name"
HEADER_TOKEN = f"{CANARY}-otlp-header"
STDLIB_SIGNED = f"https://api.example.com/sapi/v1/asset?signature={CANARY}-stdlib-sig"
STDLIB_EXTRA = f"{CANARY}-stdlib-extra-password"
STDLIB_BEARER = f"{CANARY}-stdlib-bearer"
SPAN_SECRET_ATTRIBUTE = f"{CANARY}-span-set-attribute"
NESTED_FIELD = f"{CANARY}-nested-log-field"
NESTED_URL_LIST = f"https://trader:{CANARY}-url-in-list@api.example.com"
CAPTURED_MAPPING = f"{CANARY}-captured-mapping-arg"


class ExchangeError(Exception):
    pass


@traced(capture=["api_key", "symbol"])
def place_order(symbol: str, amount: float, api_key: str) -> str:
    get_logger("orders").info("order placed", symbol=symbol, amount=amount)
    return "order-1"


@traced(capture=["url"])
def fetch_balance(url: str) -> float:
    raise ExchangeError(f"401 Unauthorized: GET {url}")


@traced(capture=["symbol", "params"])
def signed_request(symbol: str, params: dict[str, Any]) -> None:
    return None


@pytest.fixture(params=["grpc", "http/protobuf"])
def sinks(request: pytest.FixtureRequest, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Iterator[Sinks]:
    with receiver_for(request.param) as receiver:
        yield Sinks(receiver, tmp_path / "store", capfd)
        otel_trading.shutdown(timeout=2)


def configure(sinks: Sinks) -> otel_trading.Telemetry:
    # gRPC metadata keys must be lower case (see test_otlp_export for the mixed-case header).
    header = "Authorization" if sinks.receiver.protocol == "http/protobuf" else "authorization"
    return otel_trading.configure(**otlp_options(
        sinks.receiver.endpoint, sinks.receiver.protocol,
        traces_exporter=["otlp", "local"],
        logs_exporter=["otlp", "local"],
        store_dir=sinks.store_dir,
        log_console="json",
        otlp_headers={header: f"Bearer {HEADER_TOKEN}"},
    ))


def test_canary_secrets_reach_no_sink(sinks: Sinks) -> None:
    telemetry = configure(sinks)
    log = get_logger("bot")
    stdlib = logging.getLogger("ccxt.base.exchange")

    place_order("BTC/USDT", 0.5, api_key=API_KEY)
    place_order("ETH/USDT", 1.0, API_KEY)  # positionally too
    with span("session", endpoint=URL_SPAN_ATTRIBUTE) as session:
        session.set_attribute("api_secret", SPAN_SECRET_ATTRIBUTE)
        log.info("credentials loaded", secret=FIELD_SECRET, token=FIELD_TOKEN, password=FIELD_PASSWORD)
        log.info("stream connected", url=URL_FIELD)
        log.info(f"connecting to {URL_MESSAGE}")
        log.warning(f"order request GET {SIGNED_MESSAGE} took 950ms")
        with span(f"GET {SIGNED_SPAN_NAME}"):
            pass
        try:
            fetch_balance(SIGNED_EXCEPTION)
        except ExchangeError:
            log.exception("balance refresh failed")
            stdlib.exception("balance refresh failed (stdlib)")
        stdlib.warning("request failed: %s", STDLIB_SIGNED)
        stdlib.warning("login retry", extra={"password": STDLIB_EXTRA})
        stdlib.error("sent header Authorization: Bearer %s", STDLIB_BEARER)
    sinks.finish(telemetry)

    # The channels were exercised: the data itself arrived everywhere.
    spans = {s.name: s for s in sinks.receiver.spans()}
    assert {"place_order", "session", "fetch_balance"} <= set(spans)
    order_attributes = {kv.key: kv.value.string_value for kv in spans["place_order"].attributes}
    assert order_attributes["api_key"] == "[REDACTED]"
    assert order_attributes["symbol"] in ("BTC/USDT", "ETH/USDT")
    failed = spans["fetch_balance"]
    assert "401 Unauthorized" in failed.status.message and "[REDACTED]" in failed.status.message
    assert [e.name for e in failed.events] == ["exception"]
    bodies = {r.body.string_value for r in sinks.receiver.log_records()}
    assert {"order placed", "credentials loaded", "balance refresh failed", "login retry"} <= bodies
    assert {p.name for p in sinks.store_files()} >= {"traces.jsonl", "logs.jsonl"}
    assert "credentials loaded" in sinks.console and "login retry" in sinks.console
    assert "[REDACTED]" in sinks.console
    # The Authorization header reached the receiver as a header - where it belongs.
    assert all(r.headers.get("authorization") == f"Bearer {HEADER_TOKEN}" for r in sinks.receiver.received)

    assert sinks.leaks() == {}


def log_nested_secrets(sinks: Sinks) -> None:
    telemetry = configure(sinks)
    log = get_logger("bot")
    with span("request"):
        log.info("http request", headers={"Authorization": f"Bearer {NESTED_FIELD}", "Accept": "json"},
                 mirrors=[NESTED_URL_LIST])
    sinks.finish(telemetry)
    assert "http request" in sinks.console
    assert "http request" in {r.body.string_value for r in sinks.receiver.log_records()}


def test_secrets_nested_in_log_fields_are_redacted_on_export(sinks: Sinks) -> None:
    log_nested_secrets(sinks)
    assert sinks.leaks() == {}


def test_secrets_nested_in_log_fields_are_redacted_on_the_console(sinks: Sinks) -> None:
    log_nested_secrets(sinks)
    assert "console" not in sinks.leaks()


def test_secrets_inside_a_captured_mapping_argument_are_redacted(sinks: Sinks) -> None:
    telemetry = configure(sinks)
    signed_request("BTCUSDT", {"symbol": "BTCUSDT", "timestamp": 1, "signature": CAPTURED_MAPPING})
    sinks.finish(telemetry)
    assert "signed_request" in {s.name for s in sinks.receiver.spans()}
    assert sinks.leaks() == {}


BAD_CONFIGURATIONS = [
    pytest.param({"otlp_headers": {"Authorization": f"Bearer {CANARY}-cfg-header"},
                  "otlp_protocol": "carrier-pigeon"}, {}, id="headers+bad-protocol"),
    pytest.param({"otlp_headers": {"Authorization": f"Bearer {CANARY}-cfg-header"},
                  "traces_exporter": "otlp,zipkin"}, {}, id="headers+bad-exporter"),
    pytest.param({"otlp_headers": {"x-api-key": f"{CANARY}-cfg-header"}, "log_level": "verbose"},
                 {}, id="headers+bad-log-level"),
    pytest.param({"otlp_headers": {"x-api-key": f"{CANARY}-cfg-header"}, "otlp_timeout": -1},
                 {}, id="headers+negative-timeout"),
    pytest.param({"otlp_endpoint": f"https://bot:{CANARY}-cfg-endpoint@collector.example.com:4318",
                  "otlp_compression": "brotli"}, {}, id="credentials-in-endpoint+bad-compression"),
    pytest.param({"api_key": f"{CANARY}-cfg-unknown-argument"}, {}, id="unknown-argument"),
    pytest.param({}, {"OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name=prod,{CANARY}-cfg-resource"},
                 id="malformed-resource-attributes"),
    pytest.param({}, {"OTEL_RESOURCE_ATTRIBUTES": f"api.token={CANARY}-cfg-resource,broken"},
                 id="resource-attributes-with-token"),
    pytest.param({}, {"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{CANARY}-cfg-env-header",
                      "OTEL_TRACES_EXPORTER": "jaeger"}, id="env-headers+bad-exporter"),
    pytest.param({"secrets": f"{CANARY}-cfg-secrets-as-one-string"}, {}, id="secrets-not-a-list"),
    pytest.param({"secrets": [f"{CANARY}-cfg-secret-ok", "pw"]}, {}, id="secrets-too-short"),
    pytest.param({"secrets": [f"{CANARY}-cfg-secret-ok", 1234]}, {}, id="secrets-not-a-string"),
    pytest.param({"sampler": "parentbased_traceidratio", "sampler_arg": "often",
                  "otlp_headers": {"Authorization": f"Bearer {CANARY}-cfg-header"}}, {}, id="headers+bad-sampler"),
]


@pytest.mark.parametrize(("options", "environment"), BAD_CONFIGURATIONS)
def test_configuration_errors_never_echo_secrets(
    options: dict[str, Any], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        otel_trading.configure(log_console="off", install_signal_handlers=False, store_dir=tmp_path,
                               **options)
    error = info.value
    assert str(error)  # a real message, which names what is wrong...
    texts = [str(error), repr(error), *(str(a) for a in error.args)]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        texts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    assert [t for t in texts if canaries_in(t)] == []  # ...without quoting the secret
    out, err = capfd.readouterr()
    assert canaries_in(out + err) == set()


# --- the redactor itself: recognised token shapes, known values, and what must pass ---

SLACK_WEBHOOK = "https://hooks.slack.com/services/T0CANARY1/B0CANARY2/" + CANARY + "-slack-webhook"
DISCORD_WEBHOOK = "https://discord.com/api/webhooks/112233445566778899/" + CANARY + "-discord-webhook"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
PEM_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\nx9Yq/Q==\n-----END RSA PRIVATE KEY-----"

SHAPES = [
    pytest.param(f"alert post to {SLACK_WEBHOOK} failed: 404", SLACK_WEBHOOK.split("/services/")[1],
                 "hooks.slack.com/services/[REDACTED] failed: 404", id="slack-webhook"),
    pytest.param(f"POST {DISCORD_WEBHOOK}?wait=true -> 401", DISCORD_WEBHOOK.split("/webhooks/")[1],
                 "discord.com/api/webhooks/[REDACTED]?wait=true -> 401", id="discord-webhook"),
    pytest.param(f"telegram bot {TELEGRAM_TOKEN} rejected", TELEGRAM_TOKEN,
                 "telegram bot [REDACTED] rejected", id="telegram-bare"),
    pytest.param(f"token {TELEGRAM_TOKEN}", TELEGRAM_TOKEN.split(":")[1], "token [REDACTED]",
                 id="telegram-after-token"),
    pytest.param(f"session {JWT} expired", JWT, "session [REDACTED] expired", id="jwt"),
    pytest.param(f"Authorization: Bearer {JWT}", JWT, "Authorization: Bearer [REDACTED]", id="bearer-jwt"),
    pytest.param(f"using {AWS_ACCESS_KEY} for s3", AWS_ACCESS_KEY, "using [REDACTED] for s3", id="aws-access-key"),
    pytest.param(f"bad key file:\n{PEM_KEY}\nend", "MIIEowIBAAKCAQEA7bq", "bad key file:\n[REDACTED]\nend",
                 id="pem-private-key"),
    pytest.param(f"config dump {PEM_KEY[:60]}", "MIIEowIBAAKCAQEA7bq", "config dump [REDACTED]",
                 id="pem-private-key-cut-short"),
    pytest.param('{"apiKey": "k-live-9f8e7d", "secret":"s-9f8e7d", "symbol": "BTC/USDT"}', "9f8e7d",
                 '{"apiKey": "[REDACTED]", "secret":"[REDACTED]", "symbol": "BTC/USDT"}', id="json-pairs"),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES)
def test_well_known_token_shapes_are_redacted_in_free_text(text: str, secret: str, expected: str) -> None:
    scrubbed = Redactor().scrub_text(text)
    assert secret not in scrubbed
    assert expected in scrubbed
    assert not Redactor().is_clean_text(text)


ORDINARY_TEXT = [
    "BTC/USDT", "BTC/USDT:USDT", "ETH-PERP", "order 1234567890123 filled at 42150.25",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "client order id 123e4567-e89b-12d3-a456-426614174000",
    "2026-12-07T00:47:12.123456+00:00 tick", "12:30:45 heartbeat", "price=42000.5 amount=0.25",
    "1700000000:5m candle closed", "tokenizer ready", "basic strategy", "Token Transfers", "side=buy type=limit",
    "https://api.binance.com/api/v3/ticker/price?symbol=BTCUSDT",
]


@pytest.mark.parametrize("text", ORDINARY_TEXT)
def test_ordinary_trading_text_is_left_alone(text: str) -> None:
    redactor = Redactor(secret_values=["hunter22"])
    assert redactor.scrub_text(text) == text
    assert redactor.is_clean_text(text)


def test_known_secret_values_are_cut_out_whatever_their_key_or_spelling() -> None:
    redactor = Redactor(secret_values=["Kx9/q+short"])
    redactor.add_secret_values(["abc", 42, "MyApiSecret99"])  # type: ignore[list-item]  # junk is ignored
    assert redactor.secret_values == {"Kx9/q+short", "MyApiSecret99"}
    assert redactor.scrub_text("venue said: invalid key MyApiSecret99.") == "venue said: invalid key [REDACTED]."
    assert redactor.scrub_text("GET /x?k=1&v=Kx9%2Fq%2Bshort") == "GET /x?k=1&v=[REDACTED]"
    assert redactor.scrub_text("abc stays, too short to be a secret") == "abc stays, too short to be a secret"
    assert redactor.scrub_mapping({"note": "MyApiSecret99", "n": 1}) == {"note": "[REDACTED]", "n": 1}


def test_registering_a_secret_invalidates_the_clean_text_cache() -> None:
    redactor = Redactor()
    assert redactor.is_clean_text("Secret42value")
    assert redactor.scrub_if_needed({"label": "Secret42value"}) is None  # now cached as clean
    redactor.add_secret_values(["Secret42value"])
    assert not redactor.is_clean_text("Secret42value")
    assert redactor.scrub_if_needed({"label": "Secret42value"}) == {"label": "[REDACTED]"}


@pytest.mark.parametrize(("secrets", "message"), [
    ("hunter22-secret", "secrets: expected a list of strings, got a str"),
    (["long-enough", "pw"], "secrets[1]: expected at least 4 characters, got 2"),
    (["long-enough", b"bytes-secret"], "secrets[1]: expected a string, got a bytes"),
])
def test_bad_secrets_option_is_named_in_the_error(secrets: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        otel_trading.configure(log_console="off", install_signal_handlers=False, store_dir=tmp_path, secrets=secrets)


# --- every path by which the SDK learns a secret value, and the metric label path ---


class _VenueErrors:  # the ``errors`` module instrument_class classifies exceptions with
    class ExchangeError(Exception):
        pass


class _KeyedVenue:
    """A ccxt-shaped exchange holding credentials, as a bot constructs one."""

    id = "keyed"

    def __init__(self, api_key: str, secret: str) -> None:
        self.apiKey = api_key
        self.secret = secret

    def fetch_ticker(self, symbol: str, params: dict[str, object] | None = None) -> dict[str, object]:  # noqa: ARG002
        return {"symbol": symbol, "last": 1.0}


def test_exchange_credentials_are_scrubbed_everywhere_after_its_first_call(tmp_path: Path) -> None:
    from otel_trading.instrumentation.ccxt import instrument_class
    from otel_trading.testing import capture

    venue = _KeyedVenue(f"{CANARY}-ccxt-api-key", f"{CANARY}-ccxt-secret")
    undo = instrument_class(_KeyedVenue, _VenueErrors)  # type: ignore[arg-type]  # a module-like namespace
    try:
        with capture() as otel:
            venue.fetch_ticker("BTC/USDT")
            get_logger("bot").info(f"signing with {venue.secret}", key_used=venue.apiKey)
            logged = otel.logs[-1].log_record
        with capture() as otel:  # a reconfiguration keeps what was learnt
            get_logger("bot").info(f"still signing with {venue.secret}")
            relogged = otel.logs[-1].log_record
    finally:
        undo()
    assert logged.body == "signing with [REDACTED]"
    assert logged.attributes is not None and logged.attributes["key_used"] == "[REDACTED]"
    assert relogged.body == "still signing with [REDACTED]"


def test_otlp_header_values_from_arguments_and_environment_are_known_secrets(tmp_path: Path) -> None:
    from otel_trading.config._secrets import build_redactor
    from otel_trading.config._settings import resolve_settings

    environ = {
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-honeycomb-team={CANARY}-env-team-key,x-scope-orgid=prod",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"api-key={CANARY}-env",
    }
    settings = resolve_settings({"otlp_headers": {"Authorization": f"Basic {CANARY}-arg-basic"},
                                 "store_dir": tmp_path}, environ)
    redactor = build_redactor(settings, environ=environ)
    text = f"{CANARY}-env-team-key {CANARY}-env {CANARY}-arg-basic in prod"
    assert redactor.scrub_text(text) == "[REDACTED] [REDACTED] [REDACTED] in prod"


def test_metric_labels_are_scrubbed_once_per_series_and_merge_when_they_scrub_alike() -> None:
    from otel_trading.metrics._local import LocalMetrics

    metrics = LocalMetrics(Redactor(secret_values=[f"{CANARY}-label-known"]))
    counter = metrics.counter("trading.orders.rejected")
    first = {"trading.order.reason": f"retry https://u:{CANARY}-one@api.example.com"}
    second = {"trading.order.reason": f"retry https://u:{CANARY}-two@api.example.com"}
    handle = counter.bind(first)
    assert counter.bind(first) is handle and counter.bind(second) is handle
    counter.add(2, second)
    counter.add(1, {"trading.strategy": f"{CANARY}-label-known"})
    counter.add(1, {"trading.order.reason": "insufficient_funds"})
    metrics.observe_gauge("trading.trades.open", lambda: [({"trading.strategy": f"{CANARY}-label-known"}, 1.0)])
    points = {
        (metric.name, tuple(sorted(point.attributes.items())), point.value)  # type: ignore[union-attr]
        for metric in metrics.collect() for point in metric.data.data_points
    }
    assert points == {
        ("trading.orders.rejected", (("trading.order.reason", "retry https://[REDACTED]@api.example.com"),), 2),
        ("trading.orders.rejected", (("trading.strategy", "[REDACTED]"),), 1),
        ("trading.orders.rejected", (("trading.order.reason", "insufficient_funds"),), 1),
        ("trading.trades.open", (("trading.strategy", "[REDACTED]"),), 1.0),
    }


def test_a_metric_label_bound_before_its_value_became_a_known_secret_is_scrubbed_at_collection() -> None:
    from otel_trading.metrics._local import LocalMetrics

    redactor = Redactor()
    metrics = LocalMetrics(redactor)
    handle = metrics.histogram("trading.order.ack.latency", [0.1, 1.0]).bind({"trading.strategy": f"{CANARY}-late"})
    handle.record(0.5)
    redactor.add_secret_values([f"{CANARY}-late"])  # an exchange's key, learnt at its first call
    [metric] = metrics.collect()
    assert [dict(p.attributes or {}) for p in metric.data.data_points] == [{"trading.strategy": "[REDACTED]"}]
