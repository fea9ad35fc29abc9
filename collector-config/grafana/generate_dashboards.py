#!/usr/bin/env python3
"""The otel-trading Grafana dashboards, as code.

    python collector-config/grafana/generate_dashboards.py           # rewrite dashboards/*.json
    python collector-config/grafana/generate_dashboards.py --check   # exit 1 if a committed file differs

Four dashboards (trading performance, risk, execution & exchange, bot & telemetry health) are
built from a few typed helpers: ``Target`` (PromQL) and ``LogQuery`` (LogQL), ``Panel`` (built by
``timeseries``, ``stat``, ``state_timeline``, ``table``, ``bargauge``, ``logs``), ``Row`` and
``Dashboard``. Datasource references and the template variables live in one place each
(``PROMETHEUS``/``LOKI``/..., ``VARIABLES``), and rows are laid out on Grafana's 24-column grid
by ``Dashboard.to_json`` so panels never overlap. The output is deterministic: the same code
writes byte-identical JSON.

Metric and label names are the Prometheus names of docs/semantic-conventions.md (the
catalog is ``otel_trading.metrics._catalog``); tests/test_grafana_dashboards.py checks every
expression against them.

Two helpers are for tests that send the dashboards' queries to a real Prometheus (load this
file with ``importlib``: ``collector-config`` is not a package; importing it has no side
effects and needs only the standard library):

- ``panel_queries(dashboard_json)``: ``(dashboard title, panel title, expr)`` for every
  Prometheus target of every panel, rows' nested panels included (Loki targets are left out);
- ``substitute_variables(expr)``: the expression with Grafana's variables replaced so that
  Prometheus accepts it as it is.
"""

# No `from __future__ import annotations`: with it, @dataclass looks the module up in
# sys.modules, which a plain importlib load (spec_from_file_location + exec_module) does not fill.
import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
SCHEMA_VERSION = 39  # Grafana 11.x writes 39-41; 12.x migrates older versions on load.
TAG = "otel-trading"
GRID_COLUMNS = 24

# --- datasources: the uids provisioned by provisioning/datasources/datasources.yaml ----------


@dataclass(frozen=True)
class DatasourceRef:
    type: str
    uid: str

    def to_json(self) -> JSON:
        return {"type": self.type, "uid": self.uid}


PROMETHEUS = DatasourceRef("prometheus", "prometheus")
LOKI = DatasourceRef("loki", "loki")
JAEGER = DatasourceRef("jaeger", "jaeger")
ALERTMANAGER = DatasourceRef("alertmanager", "alertmanager")
DATASOURCES = (PROMETHEUS, LOKI, JAEGER, ALERTMANAGER)

# --- template variables -----------------------------------------------------------------------
#
# Every dashboard has the same variables. Each is multi-value with "All" = ".*", and panels
# use them only inside regex matchers (label=~"$var"), and only on metrics that have the
# label: a specific value picked for a label a metric lacks would empty the panel.
# `job` is the Prometheus job: the scrape job on a direct scrape of the bot, service.name
# when the bot's metrics come through the Collector's prometheus exporter.


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    query: str  # a Grafana Prometheus variable query: label_values(<selector>, <label>)
    description: str

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "type": "query",
            "datasource": PROMETHEUS.to_json(),
            "definition": self.query,
            # The plain-string form: Grafana runs it as it is, and its editor parses it when opened.
            "query": self.query,
            "refresh": 2,  # on time range change
            "regex": "",
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
            "skipUrlSync": False,
        }


VARIABLES = (
    Variable("job", "Bot (job)", "label_values(target_info, job)",
             "Prometheus job of the bot: the scrape job, or service.name through the Collector."),
    Variable("exchange", "Exchange",
             'label_values({__name__=~"trading_exchange_requests_total|trading_orders_total", job=~"$job"}, '
             "trading_exchange)",
             "trading.exchange: the ccxt exchange id, or exchange= of the trades."),
    Variable("symbol", "Symbol",
             'label_values({__name__=~"trading_orders_total|trading_market_data_staleness_seconds|trading_exposure", '
             'job=~"$job"}, trading_symbol)',
             "trading.symbol of orders, positions and market data."),
    Variable("strategy", "Strategy",
             'label_values({__name__=~"trading_orders_total|trading_performance_trades", job=~"$job"}, '
             "trading_strategy)",
             "trading.strategy of the trades."),
    Variable("portfolio", "Portfolio", 'label_values(trading_equity{job=~"$job"}, trading_portfolio)',
             "trading.portfolio: the Portfolio objects of the bot."),
)

# Label matchers, one per variable; selectors combine the ones the metric has.
JOB = 'job=~"$job"'
EXCHANGE = 'trading_exchange=~"$exchange"'
SYMBOL = 'trading_symbol=~"$symbol"'
STRATEGY = 'trading_strategy=~"$strategy"'
PORTFOLIO = 'trading_portfolio=~"$portfolio"'
RATE = "[$__rate_interval]"
RANGE = "[$__range]"


def sel(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}"


def trade_sel(*extra: str) -> str:
    """Counters and histograms of trades and orders: symbol/exchange/strategy."""
    return sel(JOB, EXCHANGE, SYMBOL, STRATEGY, *extra)


def job_sel(*extra: str) -> str:
    """Metrics of the bot process, the telemetry pipeline and the alert engine."""
    return sel(JOB, *extra)


def exchange_sel(*extra: str) -> str:
    """ccxt metrics: trading_exchange, ccxt_method, error_type."""
    return sel(JOB, EXCHANGE, *extra)


PORTFOLIO_SEL = sel(JOB, PORTFOLIO)  # portfolio gauges: equity, PnL, drawdown, positions, Sharpe
POSITION_SEL = sel(JOB, PORTFOLIO, SYMBOL)  # per-symbol portfolio gauges: position size, exposure
STRATEGY_SEL = sel(JOB, STRATEGY)  # rolling performance window and open trades
MARKET_SEL = sel(JOB, SYMBOL)  # market data staleness

# Further matchers and constants of the queries.
WIN = 'trading_trade_outcome="win"'
REDUCING = 'trading_state="reducing"'
HALTED = 'trading_state="halted"'
FIRING = 'state="firing"'
DENIED = 'trading_risk_decision="denied"'
EXPORT_FAILED = 'reason="export_failed"'
LE_INF = 'le="+Inf"'
RATE_LIMITED = 'error_type=~"RateLimitExceeded|DDoSProtection"'
QUANTILES = ((0.5, 50), (0.95, 95), (0.99, 99))


def quantile(q: float, bucket_metric: str, selector: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({bucket_metric}{selector}{RATE})))"


# --- units and colours --------------------------------------------------------------------------

QUOTE = "suffix: quote"  # amounts in the quote currency, whatever it is: no currency symbol
BASE = "suffix: base"
PERCENT = "percentunit"  # ratios: 0.02 -> 2 %
SECONDS = "s"
BYTES = "bytes"
SHORT = "short"
PER_SECOND = "suffix: /s"

Thresholds = Sequence[tuple[float | None, str]]
GREEN_ONLY: Thresholds = ((None, "green"),)
DRAWDOWN_THRESHOLDS: Thresholds = ((None, "green"), (0.05, "orange"), (0.1, "red"))


def thresholds_json(steps: Thresholds) -> JSON:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


TRADING_STATE_MAPPING: list[JSON] = [{"type": "value", "options": {
    "0": {"text": "active", "color": "green", "index": 0},
    "1": {"text": "reducing", "color": "orange", "index": 1},
    "2": {"text": "halted", "color": "red", "index": 2},
}}]
UP_MAPPING: list[JSON] = [{"type": "value", "options": {
    "0": {"text": "down", "color": "red", "index": 0},
    "1": {"text": "up", "color": "green", "index": 1},
}}]
HEALTH_MAPPING: list[JSON] = [{"type": "value", "options": {
    "0": {"text": "failing", "color": "red", "index": 0},
    "1": {"text": "passing", "color": "green", "index": 1},
}}]

# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A PromQL query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False  # format "table": one column per label (tables)
    exemplar: bool = False  # exemplars of histogram queries link to Jaeger (exemplarTraceIdDestinations)

    def to_json(self, ref_id: str) -> JSON:
        return {
            "refId": ref_id,
            "datasource": PROMETHEUS.to_json(),
            "editorMode": "code",
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
            "format": "table" if self.table else "time_series",
            "exemplar": self.exemplar,
        }


@dataclass(frozen=True)
class LogQuery:
    """A LogQL query (never sent to Prometheus)."""

    expr: str
    legend: str = ""

    def to_json(self, ref_id: str) -> JSON:
        query: JSON = {"refId": ref_id, "datasource": LOKI.to_json(), "editorMode": "code", "expr": self.expr,
                       "queryType": "range"}
        if self.legend:
            query["legendFormat"] = self.legend
        return query


Query = Target | LogQuery

# The logs of the selected bots. Logs reach Loki over OTLP: service.name is the stream label
# service_name, the rest is structured metadata (severity_text, trace_id, span_id, and the
# record's attributes with dots turned into underscores). Loki refuses a selector whose
# matchers all match "", which `=~".*"` (All) does, hence the extra `=~".+"`.
LOG_STREAM = '{service_name=~".+", service_name=~"$job"}'
WARNINGS_AND_ERRORS = '| severity_text=~"(?i)warn.*|error|critical|fatal"'


# --- panels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    title: str
    url: str

    def to_json(self) -> JSON:
        return {"title": self.title, "url": self.url, "targetBlank": False}


def explore_url(datasource: DatasourceRef, query: JSON) -> str:
    """A Grafana Explore link (panes format, Grafana 10.1+) over the dashboard's time range."""
    pane = {"datasource": datasource.uid, "queries": [{"refId": "A", "datasource": datasource.to_json(), **query}],
            "range": {"from": "FROM_MS", "to": "TO_MS"}}
    panes = {"a": pane}
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="")
    # Grafana interpolates ${__from}/${__to} in panel links: they must stay readable.
    return ("/explore?schemaVersion=1&orgId=1&panes=" + encoded).replace("FROM_MS", "${__from}").replace(
        "TO_MS", "${__to}")


TRADE_TRACES = Link("Trade traces in Jaeger (Explore)",
                    explore_url(JAEGER, {"queryType": "search", "operation": "trade", "limit": 50}))
ORDER_TRACES = Link("Order traces in Jaeger (Explore)",
                    explore_url(JAEGER, {"queryType": "search", "operation": "order", "limit": 50}))
EXCHANGE_TRACES = Link("Failed exchange calls in Jaeger (Explore)",
                       explore_url(JAEGER, {"queryType": "search", "tags": "error=true", "limit": 50}))


@dataclass(frozen=True)
class Panel:
    type: str
    title: str
    description: str
    targets: Sequence[Query]
    width: int = 12
    height: int = 8
    field_config: JSON = field(default_factory=dict)
    options: JSON = field(default_factory=dict)
    links: Sequence[Link] = ()
    transformations: Sequence[JSON] = ()

    @property
    def datasource(self) -> DatasourceRef:
        kinds = {LOKI if isinstance(t, LogQuery) else PROMETHEUS for t in self.targets}
        if len(kinds) != 1:
            raise ValueError(f"panel {self.title!r}: mixes datasources or has no query")
        return kinds.pop()

    def to_json(self, panel_id: int, x: int, y: int) -> JSON:
        panel: JSON = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": self.datasource.to_json(),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": self.field_config or {"defaults": {}, "overrides": []},
            "options": self.options,
            "targets": [t.to_json(chr(ord("A") + i)) for i, t in enumerate(self.targets)],
        }
        if self.links:
            panel["links"] = [link.to_json() for link in self.links]
        if self.transformations:
            panel["transformations"] = list(self.transformations)
        return panel


def _defaults(unit: str, thresholds: Thresholds, *, decimals: int | None = None, minimum: float | None = None,
              mappings: Sequence[JSON] = (), color_mode: str = "palette-classic", custom: JSON | None = None) -> JSON:
    defaults: JSON = {"unit": unit, "color": {"mode": color_mode}, "thresholds": thresholds_json(thresholds),
                      "mappings": list(mappings)}
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if custom is not None:
        defaults["custom"] = custom
    return defaults


def timeseries(title: str, description: str, *targets: Query, unit: str = SHORT, width: int = 12, height: int = 8,
               stack: bool = False, bars: bool = False, minimum: float | None = None,
               thresholds: Thresholds | None = None, links: Sequence[Link] = ()) -> Panel:
    custom: JSON = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "gradientMode": "none",
        "showPoints": "never",
        "spanNulls": False,
        "lineInterpolation": "linear",
        "axisPlacement": "auto",
        "axisSoftMin": 0 if minimum == 0 else None,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if thresholds else "off"},
    }
    custom = {k: v for k, v in custom.items() if v is not None}
    return Panel(
        "timeseries", title, description, targets, width, height,
        field_config={"defaults": _defaults(unit, thresholds or GREEN_ONLY, custom=custom), "overrides": []},
        options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                 "tooltip": {"mode": "multi", "sort": "desc"}},
        links=links,
    )


def stat(title: str, description: str, *targets: Target, unit: str = SHORT, width: int = 4, height: int = 4,
         thresholds: Thresholds = GREEN_ONLY, mappings: Sequence[JSON] = (), decimals: int | None = None,
         text_mode: str = "auto", graph: bool = True, links: Sequence[Link] = ()) -> Panel:
    return Panel(
        "stat", title, description, targets, width, height,
        field_config={"defaults": _defaults(unit, thresholds, decimals=decimals, mappings=mappings,
                                            color_mode="thresholds"), "overrides": []},
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "background" if mappings else "value", "graphMode": "area" if graph else "none",
                 "justifyMode": "auto", "orientation": "auto", "textMode": text_mode, "wideLayout": True,
                 "showPercentChange": False},
        links=links,
    )


def state_timeline(title: str, description: str, *targets: Target, mappings: Sequence[JSON], width: int = 24,
                   height: int = 6) -> Panel:
    return Panel(
        "state-timeline", title, description, targets, width, height,
        field_config={"defaults": _defaults("none", GREEN_ONLY, mappings=mappings, color_mode="thresholds",
                                            custom={"fillOpacity": 80, "lineWidth": 0}), "overrides": []},
        options={"showValue": "auto", "mergeValues": True, "alignValue": "left", "rowHeight": 0.9,
                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                 "tooltip": {"mode": "single", "sort": "none"}},
    )


def table(title: str, description: str, *targets: Target, columns: dict[str, str], unit: str = SHORT,
          width: int = 12, height: int = 8, overrides: Sequence[JSON] = ()) -> Panel:
    """An instant table: the targets' rows merged on their labels; only ``columns`` ({field: header}) shown.

    A table-format query has the value column "Value", or "Value #<refId>" when the panel has several.
    """
    for target in targets:
        if not (target.instant and target.table):
            raise ValueError(f"table {title!r}: its queries must be instant and of table format")
    return Panel(
        "table", title, description, targets, width, height,
        field_config={"defaults": _defaults(unit, GREEN_ONLY, custom={"align": "auto", "cellOptions": {"type": "auto"}},
                                            color_mode="thresholds"),
                      "overrides": list(overrides)},
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "filterFieldsByName", "options": {"include": {"names": list(columns)}}},
            {"id": "organize", "options": {"excludeByName": {},
                                           "indexByName": {name: i for i, name in enumerate(columns)},
                                           "renameByName": columns}},
        ],
    )


def bargauge(title: str, description: str, *targets: Target, unit: str = SHORT, width: int = 8,
             height: int = 8, thresholds: Thresholds = GREEN_ONLY) -> Panel:
    return Panel(
        "bargauge", title, description, targets, width, height,
        field_config={"defaults": _defaults(unit, thresholds, minimum=0, color_mode="thresholds"), "overrides": []},
        options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True, "valueMode": "color",
                 "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


def logs(title: str, description: str, query: LogQuery, *, width: int = 24, height: int = 10) -> Panel:
    return Panel(
        "logs", title, description, (query,), width, height,
        options={"showTime": True, "showLabels": False, "showCommonLabels": False, "wrapLogMessage": True,
                 "prettifyLogMessage": False, "enableLogDetails": True, "dedupStrategy": "none",
                 "sortOrder": "Descending"},
    )


# --- layout -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]
    collapsed: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    filename: str
    rows: Sequence[Row]
    annotations: Sequence[JSON] = ()
    links: Sequence[Link] = ()

    def to_json(self) -> JSON:
        ids = iter(range(1, 1000))
        panels: list[JSON] = []
        y = 0
        for row in self.rows:
            row_json: JSON = {"id": next(ids), "type": "row", "title": row.title, "collapsed": row.collapsed,
                              "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y}, "panels": []}
            panels.append(row_json)
            y += 1
            placed: list[JSON] = []
            for panel, x, panel_y in _flow(row.panels, y):
                placed.append(panel.to_json(next(ids), x, panel_y))
                y = max(y, panel_y + panel.height)
            if row.collapsed:
                row_json["panels"] = placed  # a collapsed row carries its panels (expanded: where gridPos says)
            else:
                panels.extend(placed)
        return {
            "annotations": {"list": [_BUILTIN_ANNOTATION, *self.annotations]},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,  # shared crosshair
            "id": None,
            # Explore links carry the time range in their panes (${__from}/${__to}): no keepTime.
            "links": [_DASHBOARD_LINKS, *(link.to_json() | {"type": "link", "icon": "external link", "tags": [],
                                                            "asDropdown": False, "includeVars": False,
                                                            "keepTime": False, "tooltip": ""}
                                          for link in self.links)],
            "panels": panels,
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "tags": [TAG],
            "templating": {"list": [v.to_json() for v in VARIABLES]},
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def _flow(panels: Sequence[Panel], top: int) -> Iterator[tuple[Panel, int, int]]:
    """Left to right, wrapping at 24 columns; a line is as tall as its tallest panel."""
    x, y, line_height = 0, top, 0
    for panel in panels:
        if not 0 < panel.width <= GRID_COLUMNS:
            raise ValueError(f"panel {panel.title!r}: width {panel.width}")
        if x + panel.width > GRID_COLUMNS:
            x, y, line_height = 0, y + line_height, 0
        yield panel, x, y
        x += panel.width
        line_height = max(line_height, panel.height)


_BUILTIN_ANNOTATION: JSON = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
}
# Every dashboard lists the others (by tag), keeping the time range and the variables.
_DASHBOARD_LINKS: JSON = {
    "title": "otel-trading", "type": "dashboards", "tags": [TAG], "asDropdown": False, "includeVars": True,
    "keepTime": True, "targetBlank": False, "icon": "external link", "tooltip": "", "url": "",
}
CIRCUIT_BREAKER_ANNOTATION: JSON = {
    "name": "Circuit breaker trips", "enable": True, "hide": False, "iconColor": "red",
    "datasource": PROMETHEUS.to_json(),
    "expr": f"sum by (trading_state_reason) (increase(trading_circuit_breaker_trips_total{job_sel()}[1m])) > 0",
    "step": "1m", "titleFormat": "Circuit breaker tripped", "textFormat": "reason: {{trading_state_reason}}",
    "tagKeys": "trading_state_reason", "useValueForTime": False,
}

# --- the dashboards ---------------------------------------------------------------------------


def trading_performance() -> Dashboard:
    return Dashboard(
        uid="otel-trading-performance",
        title="otel-trading / Trading performance",
        description="Equity, PnL, trades and the rolling performance statistics of otel-trading bots.",
        filename="trading-performance.json",
        annotations=(CIRCUIT_BREAKER_ANNOTATION,),
        links=(TRADE_TRACES,),
        rows=(
            Row("Portfolio", (
                stat("Equity", "trading.equity: cash plus the marked value of open positions, in the quote currency.",
                     Target(f"sum by (job, trading_portfolio) (trading_equity{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"), unit=QUOTE, decimals=2),
                stat("Realized PnL", "trading.pnl.realized: PnL realized since the bot started, net of base-currency "
                     "fees.", Target(f"sum by (job, trading_portfolio) (trading_pnl_realized{PORTFOLIO_SEL})",
                                     "{{trading_portfolio}}"),
                     unit=QUOTE, decimals=2, thresholds=((None, "red"), (0, "green"))),
                stat("Unrealized PnL", "trading.pnl.unrealized: PnL of the open positions at their last mark.",
                     Target(f"sum by (job, trading_portfolio) (trading_pnl_unrealized{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     unit=QUOTE, decimals=2, thresholds=((None, "red"), (0, "green"))),
                stat("Daily PnL", "trading.pnl.daily: equity change since the last daily reset (00:00 UTC by "
                     "default).", Target(f"sum by (job, trading_portfolio) (trading_pnl_daily{PORTFOLIO_SEL})",
                                         "{{trading_portfolio}}"),
                     unit=QUOTE, decimals=2, thresholds=((None, "red"), (0, "green"))),
                stat("Daily PnL %", "trading.pnl.daily.ratio: daily PnL / start-of-day equity. The default "
                     "DailyLossLimit alert fires below -2 %.",
                     Target(f"min by (job, trading_portfolio) (trading_pnl_daily_ratio{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     unit=PERCENT, decimals=2, thresholds=((None, "red"), (-0.02, "orange"), (0, "green"))),
                stat("Sharpe ratio", "trading.performance.sharpe: annualised Sharpe ratio of the portfolio's last "
                     "90 period returns (meaningless over a handful of periods).",
                     Target(f"max by (job, trading_portfolio) (trading_performance_sharpe{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     decimals=2, thresholds=((None, "red"), (0, "orange"), (1, "green"))),
                timeseries("Equity curve", "trading.equity per portfolio, in the quote currency.",
                           Target(f"sum by (job, trading_portfolio) (trading_equity{PORTFOLIO_SEL})",
                                  "{{trading_portfolio}} ({{job}})"), unit=QUOTE),
                timeseries("PnL", "Realized (since start), unrealized (open positions) and daily PnL per portfolio.",
                           Target(f"sum by (job, trading_portfolio) (trading_pnl_realized{PORTFOLIO_SEL})",
                                  "realized {{trading_portfolio}}"),
                           Target(f"sum by (job, trading_portfolio) (trading_pnl_unrealized{PORTFOLIO_SEL})",
                                  "unrealized {{trading_portfolio}}"),
                           Target(f"sum by (job, trading_portfolio) (trading_pnl_daily{PORTFOLIO_SEL})",
                                  "daily {{trading_portfolio}}"), unit=QUOTE),
            )),
            Row("Trades", (
                stat("Trades closed", "Positions closed (trading.trades) in the dashboard's time range.",
                     Target(f"sum(increase(trading_trades_total{trade_sel()}{RANGE}))", "trades"),
                     decimals=0, links=(TRADE_TRACES,)),
                stat("Win rate (range)", "Winning share of the trades closed in the dashboard's time range, from "
                     "trading.trades by outcome; follows the symbol, exchange and strategy filters.",
                     Target(f"sum(increase(trading_trades_total{trade_sel(WIN)}{RANGE})) "
                            f"/ sum(increase(trading_trades_total{trade_sel()}{RANGE}))", "win rate"),
                     unit=PERCENT, decimals=1, thresholds=((None, "red"), (0.4, "orange"), (0.5, "green"))),
                stat("Win rate (last trades)", "trading.performance.win_rate: winning share of the strategy's last "
                     "100 closed trades (the SDK's rolling window; see 'Trades in window').",
                     Target(f"min by (job, trading_strategy) (trading_performance_win_rate{STRATEGY_SEL})",
                            "{{trading_strategy}}"),
                     unit=PERCENT, decimals=1, thresholds=((None, "red"), (0.4, "orange"), (0.5, "green"))),
                stat("Profit factor", "trading.performance.profit_factor: gross profit / gross loss over the "
                     "strategy's last 100 trades (+Inf without a loss; below 1 the strategy loses money).",
                     Target(f"min by (job, trading_strategy) (trading_performance_profit_factor{STRATEGY_SEL})",
                            "{{trading_strategy}}"),
                     decimals=2, thresholds=((None, "red"), (1, "orange"), (1.5, "green"))),
                stat("Expectancy", "trading.performance.expectancy: mean PnL per trade over the strategy's last "
                     "100 trades, in the quote currency.",
                     Target(f"sum by (job, trading_strategy) (trading_performance_expectancy{STRATEGY_SEL})",
                            "{{trading_strategy}}"),
                     unit=QUOTE, decimals=2, thresholds=((None, "red"), (0, "green"))),
                stat("Trades in window", "trading.performance.trades: closed trades the rolling statistics cover "
                     "(at most 100). Few trades make the win rate and profit factor noisy.",
                     Target(f"sum by (job, trading_strategy) (trading_performance_trades{STRATEGY_SEL})",
                            "{{trading_strategy}}"), decimals=0, thresholds=((None, "orange"), (20, "green"))),
                timeseries("Trades closed by outcome", "Closed positions per minute, by outcome (win / loss / "
                           "breakeven).",
                           Target(f"sum by (trading_trade_outcome) "
                                  f"(rate(trading_trades_total{trade_sel()}{RATE})) * 60", "{{trading_trade_outcome}}"),
                           unit="suffix: /min", bars=True, stack=True, links=(TRADE_TRACES,)),
                bargauge("Outcomes in range", "Closed trades in the dashboard's time range, by outcome.",
                         Target(f"sum by (trading_trade_outcome) (increase(trading_trades_total{trade_sel()}{RANGE}))",
                                "{{trading_trade_outcome}}", instant=True), width=6),
                bargauge("Exit reasons in range", "Closed trades in the dashboard's time range, by exit reason "
                         "(stop_loss, take_profit, signal, ...).",
                         Target(f"sum by (trading_exit_reason) (increase(trading_trades_total{trade_sel()}{RANGE}))",
                                "{{trading_exit_reason}}", instant=True), width=6),
                timeseries("Win rate over time (last trades)", "trading.performance.win_rate: winning share of each "
                           "strategy's last 100 closed trades.",
                           Target(f"min by (trading_strategy) (trading_performance_win_rate{STRATEGY_SEL})",
                                  "{{trading_strategy}}"), unit=PERCENT, minimum=0, width=8,
                           thresholds=((None, "transparent"), (0.5, "green"))),
                timeseries("Profit factor (last trades)", "trading.performance.profit_factor: gross profit / gross "
                           "loss over each strategy's last 100 trades; below 1 the strategy loses money (+Inf, not "
                           "drawn, without a loss).",
                           Target(f"min by (trading_strategy) (trading_performance_profit_factor{STRATEGY_SEL})",
                                  "{{trading_strategy}}"), minimum=0, width=8,
                           thresholds=((None, "transparent"), (1, "green"))),
                timeseries("Expectancy (last trades)", "trading.performance.expectancy: mean PnL per trade over "
                           "each strategy's last 100 trades, in the quote currency.",
                           Target(f"sum by (trading_strategy) (trading_performance_expectancy{STRATEGY_SEL})",
                                  "{{trading_strategy}}"), unit=QUOTE, width=8,
                           thresholds=((None, "transparent"), (0, "green"))),
                timeseries("Trade duration", "Start to position closed (trading.trade.duration): median and p95.",
                           Target(quantile(0.5, "trading_trade_duration_seconds_bucket", trade_sel()), "p50"),
                           Target(quantile(0.95, "trading_trade_duration_seconds_bucket", trade_sel()), "p95"),
                           unit=SECONDS, minimum=0, links=(TRADE_TRACES,)),
                timeseries("Open trades", "trading.trades.open: trades started and not closed yet, per strategy.",
                           Target(f"sum by (trading_strategy) (trading_trades_open{STRATEGY_SEL})",
                                  "{{trading_strategy}}"), minimum=0),
            )),
            Row("Activity and costs", (
                timeseries("Signals", "Trading signals per minute (trading.signals), by direction.",
                           Target(f"sum by (trading_signal_direction) (rate(trading_signals_total{trade_sel()}{RATE}))"
                                  " * 60", "{{trading_signal_direction}}"),
                           unit="suffix: /min", bars=True, stack=True, width=8),
                timeseries("Traded notional", "Sum of |amount x price| of fills per second, in the quote currency "
                           "(trading.fill.notional), by symbol.",
                           Target(f"sum by (trading_symbol) (rate(trading_fill_notional_total{trade_sel()}{RATE}))",
                                  "{{trading_symbol}}"), unit="suffix: quote/s", stack=True, width=8),
                bargauge("Fees in range", "Fees paid in the dashboard's time range (trading.fees), in each fee "
                         "currency.",
                         Target(f"sum by (trading_fee_currency) (increase(trading_fees_total{trade_sel()}{RANGE}))",
                                "{{trading_fee_currency}}", instant=True), width=8),
            )),
        ),
    )


def risk() -> Dashboard:
    # 0 active, 1 reducing, 2 halted: one number per bot, for value mappings and the state timeline.
    state = f"max by (job) (trading_state{job_sel(REDUCING)}) + 2 * max by (job) (trading_state{job_sel(HALTED)})"
    gross_exposure = (f"sum by (job, trading_portfolio) (trading_exposure{POSITION_SEL})"
                      f" or sum by (job, trading_portfolio) (trading_equity{PORTFOLIO_SEL}) * 0")
    return Dashboard(
        uid="otel-trading-risk",
        title="otel-trading / Risk",
        description="Drawdown, exposure, positions, the trading state (circuit breaker) and firing alerts.",
        filename="risk.json",
        annotations=(CIRCUIT_BREAKER_ANNOTATION,),
        rows=(
            Row("Trading state", (
                stat("Trading state", "trading.state: active (trading), reducing (closing only) or halted "
                     "(the circuit breaker tripped).", Target(state, "{{job}}"),
                     mappings=TRADING_STATE_MAPPING, width=4, graph=False),
                stat("Circuit breaker trips", "Moves into halted (trading.circuit_breaker.trips) in the dashboard's "
                     "time range.", Target(f"sum(increase(trading_circuit_breaker_trips_total{job_sel()}{RANGE})) "
                                           "or vector(0)", "trips"),
                     decimals=0, thresholds=((None, "green"), (1, "red")), width=4),
                stat("Alerts firing (Prometheus)", "Alerts of the Prometheus alerting rules firing now (ALERTS). "
                     "Not filtered by job: the default rules aggregate it away.",
                     Target('count(ALERTS{alertstate="firing"}) or vector(0)', "firing"),
                     decimals=0, thresholds=((None, "green"), (1, "red")), width=4),
                stat("Alerts firing (SDK engine)", "Alerts the bot's own alert engine has firing "
                     "(otel_trading.alerts.active).",
                     Target(f'sum(otel_trading_alerts_active{job_sel(FIRING)}) or vector(0)', "firing"),
                     decimals=0, thresholds=((None, "green"), (1, "red")), width=4),
                stat("Drawdown", "trading.drawdown: (peak equity - equity) / peak equity, now. The default "
                     "DrawdownLimit alert fires above 10 %.",
                     Target(f"max by (job, trading_portfolio) (trading_drawdown{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     unit=PERCENT, decimals=2, thresholds=DRAWDOWN_THRESHOLDS, width=4),
                stat("Max drawdown", "trading.drawdown.max: the largest drawdown since the portfolio was created.",
                     Target(f"max by (job, trading_portfolio) (trading_drawdown_max{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     unit=PERCENT, decimals=2, thresholds=DRAWDOWN_THRESHOLDS, width=4),
                state_timeline("Trading state over time", "trading.state per bot: green active, orange reducing, "
                               "red halted.", Target(state, "{{job}}"), mappings=TRADING_STATE_MAPPING, height=5),
                timeseries("Circuit breaker trips by reason", "Moves into halted per interval, by "
                           "trading.state.reason (daily_loss_limit, consecutive_losses, ...).",
                           Target(f"sum by (trading_state_reason) "
                                  f"(increase(trading_circuit_breaker_trips_total{job_sel()}{RATE}))",
                                  "{{trading_state_reason}}"), bars=True, stack=True),
                bargauge("Risk check denials in range", "Pre-trade risk checks denied in the dashboard's time range "
                         "(trading.risk.checks), by reason.",
                         Target(f"sum by (trading_risk_reason) "
                                f'(increase(trading_risk_checks_total{trade_sel(DENIED)}{RANGE}))',
                                "{{trading_risk_reason}}", instant=True), width=12),
            )),
            Row("Drawdown and daily loss", (
                timeseries("Drawdown over time", "Current and maximum drawdown per portfolio (ratio of peak equity).",
                           Target(f"max by (trading_portfolio) (trading_drawdown{PORTFOLIO_SEL})",
                                  "drawdown {{trading_portfolio}}"),
                           Target(f"max by (trading_portfolio) (trading_drawdown_max{PORTFOLIO_SEL})",
                                  "max drawdown {{trading_portfolio}}"),
                           unit=PERCENT, minimum=0, thresholds=DRAWDOWN_THRESHOLDS),
                timeseries("Daily PnL %", "trading.pnl.daily.ratio against the -2 % daily loss limit of the "
                           "default rules.",
                           Target(f"min by (trading_portfolio) (trading_pnl_daily_ratio{PORTFOLIO_SEL})",
                                  "{{trading_portfolio}}"),
                           unit=PERCENT, thresholds=((None, "red"), (-0.02, "transparent"))),
            )),
            Row("Exposure and positions", (
                stat("Gross exposure", "Sum of |quantity x mark| over the open positions (trading.exposure), in the "
                     "quote currency; 0 when flat.", Target(gross_exposure, "{{trading_portfolio}}"),
                     unit=QUOTE, decimals=2, width=6),
                stat("Gross leverage", "Gross exposure / equity.",
                     Target(f"({gross_exposure}) / on (job, trading_portfolio) "
                            f"sum by (job, trading_portfolio) (trading_equity{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"),
                     unit=PERCENT, decimals=1, thresholds=((None, "green"), (0.65, "orange"), (1, "red")), width=6),
                stat("Open positions", "trading.positions.open: symbols with a non-zero position.",
                     Target(f"sum by (job, trading_portfolio) (trading_positions_open{PORTFOLIO_SEL})",
                            "{{trading_portfolio}}"), decimals=0, width=6),
                stat("Open trades", "trading.trades.open: trades started and not closed yet.",
                     Target(f"sum(trading_trades_open{STRATEGY_SEL})", "open trades"), decimals=0, width=6),
                timeseries("Exposure by symbol", "trading.exposure: |quantity x mark| per symbol, stacked: the top "
                           "is the gross exposure.",
                           Target(f"sum by (trading_symbol) (trading_exposure{POSITION_SEL})", "{{trading_symbol}}"),
                           unit=QUOTE, stack=True, minimum=0),
                timeseries("Gross exposure and equity", "Gross exposure next to equity, per portfolio.",
                           Target(gross_exposure, "exposure {{trading_portfolio}}"),
                           Target(f"sum by (job, trading_portfolio) (trading_equity{PORTFOLIO_SEL})",
                                  "equity {{trading_portfolio}}"), unit=QUOTE, minimum=0),
                table("Position sizes", "Signed position size (base asset; negative = short) and exposure "
                      "(quote currency) per symbol, now.",
                      Target(f"sum by (trading_portfolio, trading_symbol) (trading_position_size{POSITION_SEL})",
                             instant=True, table=True),
                      Target(f"sum by (trading_portfolio, trading_symbol) (trading_exposure{POSITION_SEL})",
                             instant=True, table=True),
                      columns={"trading_portfolio": "Portfolio", "trading_symbol": "Symbol",
                               "Value #A": "Position (base)", "Value #B": "Exposure (quote)"}),
                timeseries("Positions open", "trading.positions.open per portfolio.",
                           Target(f"sum by (trading_portfolio) (trading_positions_open{PORTFOLIO_SEL})",
                                  "{{trading_portfolio}}"), minimum=0),
            )),
            Row("Alerts", (
                table("Firing alerts (Prometheus rules)", "ALERTS{alertstate=\"firing\"} now, by rule and severity.",
                      Target('sum by (alertname, severity) (ALERTS{alertstate="firing"})', instant=True, table=True),
                      columns={"alertname": "Alert", "severity": "Severity", "Value": "Series"}, width=8),
                table("Active alerts (SDK engine)", "Alerts pending or firing in the bot's alert engine at its last "
                      "evaluation (otel_trading.alerts.active).",
                      Target(f"sum by (job, alertname, state, severity) (otel_trading_alerts_active{job_sel()})",
                             instant=True, table=True),
                      columns={"job": "Bot", "alertname": "Alert", "state": "State", "severity": "Severity",
                               "Value": "Alerts"}, width=8),
                timeseries("Firing alerts over time", "Firing alerts of the Prometheus rules (ALERTS) and of the "
                           "SDK engine, by rule.",
                           Target('count by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}} (Prometheus)"),
                           Target(f"sum by (alertname) (otel_trading_alerts_active{job_sel(FIRING)})",
                                  "{{alertname}} (SDK)"), width=8, minimum=0, stack=True),
            )),
        ),
    )


def execution() -> Dashboard:
    submitted = trade_sel('trading_order_status="submitted"')
    filled = trade_sel('trading_order_status="filled"')
    api_latency = "trading_exchange_request_duration_seconds_bucket"
    return Dashboard(
        uid="otel-trading-execution",
        title="otel-trading / Execution & exchange",
        description="Order flow and latency, slippage, rejects, the exchange API (latency, errors, rate limits), "
                    "market data freshness and the bot's warning and error logs.",
        filename="execution.json",
        links=(ORDER_TRACES, EXCHANGE_TRACES),
        rows=(
            Row("Orders", (
                stat("Orders submitted", "Orders submitted in the dashboard's time range.",
                     Target(f"sum(increase(trading_orders_total{submitted}{RANGE}))", "submitted"), decimals=0,
                     width=6, links=(ORDER_TRACES,)),
                stat("Fill rate", "Orders completely filled / orders submitted, in the dashboard's time range.",
                     Target(f"sum(increase(trading_orders_total{filled}{RANGE})) "
                            f"/ sum(increase(trading_orders_total{submitted}{RANGE}))", "fill rate"),
                     unit=PERCENT, decimals=1, width=6),
                stat("Reject rate", "Rejected orders (trading.order.rejects) / orders submitted, in the dashboard's "
                     "time range. The default OrderRejectRateHigh alert fires above 20 % over 5 minutes.",
                     Target(f"sum(increase(trading_order_rejects_total{trade_sel()}{RANGE})) "
                            f"/ sum(increase(trading_orders_total{submitted}{RANGE}))", "reject rate"),
                     unit=PERCENT, decimals=1, thresholds=((None, "green"), (0.05, "orange"), (0.2, "red")),
                     width=6),
                stat("Slippage cost", "trading.slippage.cost: what slippage cost since the bot started, in the "
                     "quote currency (negative: price improvement).",
                     Target(f"sum(trading_slippage_cost{trade_sel()})", "cost"), unit=QUOTE, decimals=2,
                     thresholds=((None, "green"), (0, "orange")), width=6),
                timeseries("Order flow by status", "Orders reaching each status per second (trading.orders): "
                           "submitted, accepted, partially_filled, filled, rejected, cancelled, expired.",
                           Target(f"sum by (trading_order_status) (rate(trading_orders_total{trade_sel()}{RATE}))",
                                  "{{trading_order_status}}"), unit=PER_SECOND, minimum=0, links=(ORDER_TRACES,)),
                timeseries("Rejects by reason", "Rejected orders per interval (trading.order.rejects), by reason.",
                           Target(f"sum by (trading_order_reason) "
                                  f"(increase(trading_order_rejects_total{trade_sel()}{RATE}))",
                                  "{{trading_order_reason}}"), bars=True, stack=True, links=(ORDER_TRACES,)),
                timeseries("Order ack latency", "Submitted to accepted (trading.order.ack.latency): p50, p95, p99. "
                           "Exemplars link to the order's trace.",
                           *(Target(quantile(q, "trading_order_ack_latency_seconds_bucket", trade_sel()), f"p{p}",
                                    exemplar=True) for q, p in QUANTILES),
                           unit=SECONDS, minimum=0, links=(ORDER_TRACES,)),
                timeseries("Order fill latency", "Submitted to completely filled (trading.order.fill.latency): p50, "
                           "p95, p99.",
                           *(Target(quantile(q, "trading_order_fill_latency_seconds_bucket", trade_sel()), f"p{p}",
                                    exemplar=True) for q, p in QUANTILES),
                           unit=SECONDS, minimum=0, links=(ORDER_TRACES,)),
                timeseries("Ack latency p95 by order type", "p95 of submitted to accepted, per order type.",
                           Target(quantile(0.95, "trading_order_ack_latency_seconds_bucket", trade_sel(),
                                           "trading_order_type"), "{{trading_order_type}}"),
                           unit=SECONDS, minimum=0),
                bargauge("Rejects in range by reason", "Rejected orders in the dashboard's time range, by reason.",
                         Target(f"sum by (trading_order_reason) "
                                f"(increase(trading_order_rejects_total{trade_sel()}{RANGE}))",
                                "{{trading_order_reason}}", instant=True), width=12),
            )),
            Row("Slippage", (
                timeseries("Slippage quantiles", "trading.slippage.bps: side-signed slippage of the fills' VWAP "
                           "against the reference price, in basis points (positive is a cost): p50, p95, p99. "
                           "The histogram has negative buckets, so Prometheus has only its _bucket series.",
                           *(Target(quantile(q, "trading_slippage_bps_bucket", trade_sel()), f"p{p}")
                             for q, p in QUANTILES),
                           unit="suffix: bp"),
                timeseries("Slippage p95 by side", "p95 slippage in basis points, per order side.",
                           Target(quantile(0.95, "trading_slippage_bps_bucket", trade_sel(), "trading_side"),
                                  "{{trading_side}}"), unit="suffix: bp"),
                timeseries("Slippage cost by symbol", "trading.slippage.cost: cumulative cost of slippage in the "
                           "quote currency, per symbol (negative: price improvement).",
                           Target(f"sum by (trading_symbol) (trading_slippage_cost{trade_sel()})",
                                  "{{trading_symbol}}"), unit=QUOTE),
                timeseries("Orders measured for slippage", "Orders with a reference price per minute (the +Inf "
                           "bucket of trading.slippage.bps), per symbol.",
                           Target(f"sum by (trading_symbol) "
                                  f"(rate(trading_slippage_bps_bucket{trade_sel(LE_INF)}{RATE})) * 60",
                                  "{{trading_symbol}}"), unit="suffix: /min", minimum=0),
            )),
            Row("Exchange API", (
                table("API latency by method", "Latency of each instrumented ccxt method over the dashboard's time "
                      "range (trading.exchange.request.duration, rate-limit waits and retries included), with calls "
                      "and errors.",
                      *(Target(f"histogram_quantile({q}, sum by (le, trading_exchange, ccxt_method) "
                               f"(increase({api_latency}{exchange_sel()}{RANGE})))", instant=True, table=True)
                        for q, _ in QUANTILES),
                      Target(f"sum by (trading_exchange, ccxt_method) "
                             f"(increase(trading_exchange_requests_total{exchange_sel()}{RANGE}))",
                             instant=True, table=True),
                      Target(f"sum by (trading_exchange, ccxt_method) "
                             f"(increase(trading_exchange_errors_total{exchange_sel()}{RANGE}))",
                             instant=True, table=True),
                      columns={"trading_exchange": "Exchange", "ccxt_method": "Method", "Value #A": "p50",
                               "Value #B": "p95", "Value #C": "p99", "Value #D": "Calls", "Value #E": "Errors"},
                      overrides=[_unit_override(name, SECONDS) for name in ("p50", "p95", "p99")]
                      + [_unit_override(name, "none", decimals=0) for name in ("Calls", "Errors")],
                      width=24, height=8),
                timeseries("API latency p50/p95/p99 by method", "trading.exchange.request.duration quantiles per "
                           "ccxt method. Exemplars link to the call's trace.",
                           *(Target(quantile(q, api_latency, exchange_sel(), "ccxt_method"),
                                    "{{ccxt_method}} p" + str(p), exemplar=True) for q, p in QUANTILES),
                           unit=SECONDS, minimum=0, links=(EXCHANGE_TRACES,)),
                timeseries("API calls by method", "Instrumented ccxt calls per second (trading.exchange.requests), "
                           "failed ones included.",
                           Target(f"sum by (ccxt_method) (rate(trading_exchange_requests_total{exchange_sel()}{RATE}))",
                                  "{{ccxt_method}}"), unit=PER_SECOND, stack=True, minimum=0),
                timeseries("API errors by class", "Failed ccxt calls per second (trading.exchange.errors), by "
                           "error.type: the most specific ccxt error class.",
                           Target(f"sum by (error_type) (rate(trading_exchange_errors_total{exchange_sel()}{RATE}))",
                                  "{{error_type}}"), unit=PER_SECOND, stack=True, minimum=0,
                           links=(EXCHANGE_TRACES,)),
                timeseries("API error ratio by exchange", "Failed calls / calls, per exchange.",
                           Target(f"sum by (trading_exchange) "
                                  f"(rate(trading_exchange_errors_total{exchange_sel()}{RATE}))"
                                  f" / sum by (trading_exchange) "
                                  f"(rate(trading_exchange_requests_total{exchange_sel()}{RATE}))",
                                  "{{trading_exchange}}"), unit=PERCENT, minimum=0),
                timeseries("Consecutive API errors", "trading.exchange.errors.consecutive: calls that raised since "
                           "the exchange's last success. The default ExchangeErrorStreak alert fires at 3.",
                           Target(f"max by (trading_exchange) (trading_exchange_errors_consecutive{exchange_sel()})",
                                  "{{trading_exchange}}"), minimum=0,
                           thresholds=((None, "transparent"), (3, "red"))),
                bargauge("Errors in range by class and exchange", "Failed ccxt calls in the dashboard's time range.",
                         Target(f"sum by (trading_exchange, error_type) "
                                f"(increase(trading_exchange_errors_total{exchange_sel()}{RANGE}))",
                                "{{trading_exchange}} {{error_type}}", instant=True), width=12),
            )),
            Row("Rate limits", (
                timeseries("Rate limiter interval", "trading.exchange.rate_limit.interval: spacing ccxt's rate "
                           "limiter enforces between requests (0 when enableRateLimit is off).",
                           Target(f"max by (trading_exchange) "
                                  f"(trading_exchange_rate_limit_interval_seconds{exchange_sel()})",
                                  "{{trading_exchange}}"), unit=SECONDS, minimum=0, width=8),
                timeseries("Throttler queue", "trading.exchange.rate_limit.queued: requests waiting in the throttler "
                           "of async ccxt exchanges (not reported for sync ones).",
                           Target(f"sum by (trading_exchange) (trading_exchange_rate_limit_queued{exchange_sel()})",
                                  "{{trading_exchange}}"), minimum=0, width=8),
                timeseries("Rate limit errors", "RateLimitExceeded and DDoSProtection errors per interval: the "
                           "exchange throttled the bot.",
                           Target(f"sum by (trading_exchange, ccxt_method) "
                                  f"(increase(trading_exchange_errors_total{exchange_sel(RATE_LIMITED)}{RATE}))",
                                  "{{trading_exchange}} {{ccxt_method}}"), bars=True, stack=True, width=8),
            )),
            Row("Market data", (
                timeseries("Market data staleness", "trading.market_data.staleness: seconds since market data last "
                           "arrived, per symbol. The default MarketDataStale alert fires above 30 s.",
                           Target(f"max by (trading_symbol) (trading_market_data_staleness_seconds{MARKET_SEL})",
                                  "{{trading_symbol}}"),
                           unit=SECONDS, minimum=0, thresholds=((None, "transparent"), (10, "orange"), (30, "red"))),
                timeseries("WebSocket reconnects", "trading.websocket.reconnects per interval, by symbol and stream.",
                           Target(f"sum by (trading_symbol, trading_stream) "
                                  f"(increase(trading_websocket_reconnects_total{trade_sel()}{RATE}))",
                                  "{{trading_symbol}} {{trading_stream}}"), bars=True, stack=True),
            )),
            Row("Logs", (
                logs("Warnings and errors", "The bot's WARNING, ERROR and CRITICAL logs (Loki, through the "
                     "Collector; the bot filter matches service_name, which is the job of the Collector's metrics). "
                     "Open a line: its trace_id links to the trace in Jaeger, trade_id to all the trade's logs.",
                     LogQuery(f"{LOG_STREAM} {WARNINGS_AND_ERRORS}")),
            )),
        ),
    )


def _unit_override(name: str, unit: str, *, decimals: int | None = None) -> JSON:
    properties: list[JSON] = [{"id": "unit", "value": unit}]
    if decimals is not None:
        properties.append({"id": "decimals", "value": decimals})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def bot_health() -> Dashboard:
    duration = "otel_trading_function_duration_seconds_bucket"
    return Dashboard(
        uid="otel-trading-bot-health",
        title="otel-trading / Bot & telemetry health",
        description="Liveness and resources of the bot process, the telemetry pipeline (exported, dropped, queued), "
                    "traced-function errors and the SDK's alert engine.",
        filename="bot-health.json",
        rows=(
            Row("Liveness", (
                stat("Heartbeat age", "Seconds since the bot's main loop last called otel_trading.heartbeat(). The "
                     "default BotHeartbeatMissing alert fires above 60 s.",
                     Target(f"time() - max by (job) (otel_trading_heartbeat_timestamp_seconds{job_sel()})", "{{job}}"),
                     unit=SECONDS, decimals=1, thresholds=((None, "green"), (30, "orange"), (60, "red"))),
                stat("Scrape targets", "up per Prometheus scrape job: whether the last scrape worked. Not filtered "
                     "by bot: through the Collector, up belongs to the Collector's scrape job, not to the bots' "
                     "jobs (service.name).",
                     Target("min by (job) (up)", "{{job}}"), mappings=UP_MAPPING, graph=False),
                stat("Uptime", "process.uptime: seconds since the bot process started.",
                     Target(f"max by (job) (process_uptime_seconds{job_sel()})", "{{job}}"), unit=SECONDS,
                     graph=False),
                stat("CPU", "CPU time per second of the bot process (rate of process.cpu.time, user + system): "
                     "100 % is one core.",
                     Target(f"sum by (job) (rate(process_cpu_time_seconds_total{job_sel()}{RATE}))", "{{job}}"),
                     unit=PERCENT, decimals=1, thresholds=((None, "green"), (0.7, "orange"), (0.9, "red"))),
                stat("Memory (RSS)", "process.memory.usage: resident memory of the bot process.",
                     Target(f"sum by (job) (process_memory_usage_bytes{job_sel()})", "{{job}}"), unit=BYTES),
                stat("Telemetry dropped", "Spans and log records lost before export in the dashboard's time range "
                     "(otel_trading.telemetry.dropped: queue full, export failed, shutdown).",
                     Target(f"sum(increase(otel_trading_telemetry_dropped_total{job_sel()}{RANGE})) or vector(0)",
                            "dropped"), decimals=0, thresholds=((None, "green"), (1, "red"))),
                timeseries("Heartbeat age over time", "Seconds since the last heartbeat, per bot.",
                           Target(f"time() - max by (job) (otel_trading_heartbeat_timestamp_seconds{job_sel()})",
                                  "{{job}}"),
                           unit=SECONDS, minimum=0, thresholds=((None, "transparent"), (30, "orange"), (60, "red"))),
                timeseries("Heartbeats", "otel_trading.heartbeat() calls per second: the main loop's pace.",
                           Target(f"sum by (job) (rate(otel_trading_heartbeats_total{job_sel()}{RATE}))", "{{job}}"),
                           unit=PER_SECOND, minimum=0),
                table("Bot instances", "target_info: the resource of each bot process (service, version, "
                      "environment, host, SDK).",
                      Target(f"target_info{job_sel()}", instant=True, table=True),
                      columns={"job": "Job", "service_name": "Service", "service_version": "Version",
                               "deployment_environment_name": "Environment", "host_name": "Host",
                               "process_pid": "PID", "telemetry_distro_version": "otel-trading",
                               "telemetry_sdk_version": "OTel SDK"},
                      width=24, height=5),
            )),
            Row("Process resources", (
                timeseries("CPU by type", "CPU time per second by type (user, system); 100 % is one core.",
                           Target(f"sum by (job, type) (rate(process_cpu_time_seconds_total{job_sel()}{RATE}))",
                                  "{{job}} {{type}}"), unit=PERCENT, stack=True, minimum=0, width=8),
                timeseries("Memory", "Resident (process.memory.usage) and virtual (process.memory.virtual) memory.",
                           Target(f"sum by (job) (process_memory_usage_bytes{job_sel()})", "{{job}} resident"),
                           Target(f"sum by (job) (process_memory_virtual_bytes{job_sel()})", "{{job}} virtual"),
                           unit=BYTES, minimum=0, width=8),
                timeseries("Threads and file descriptors", "process.thread.count and "
                           "process.open_file_descriptor.count.",
                           Target(f"sum by (job) (process_thread_count{job_sel()})", "{{job}} threads"),
                           Target(f"sum by (job) (process_open_file_descriptor_count{job_sel()})",
                                  "{{job}} open files"), minimum=0, width=8),
            )),
            Row("Telemetry pipeline", (
                timeseries("Exported", "Spans and log records handed to an exporter per second "
                           "(otel_trading.telemetry.exported).",
                           Target(f"sum by (signal, exporter) "
                                  f"(rate(otel_trading_telemetry_exported_total{job_sel()}{RATE}))",
                                  "{{signal}} {{exporter}}"), unit=PER_SECOND, minimum=0, width=8),
                timeseries("Dropped", "Spans and log records lost before export per interval, by reason: "
                           "queue_full, export_failed, shutdown.",
                           Target(f"sum by (signal, exporter, reason) "
                                  f"(increase(otel_trading_telemetry_dropped_total{job_sel()}{RATE}))",
                                  "{{signal}} {{exporter}} {{reason}}"), bars=True, stack=True, width=8),
                timeseries("Export errors", "Items lost because their export failed (dropped with "
                           "reason=export_failed) per interval: the Collector or backend is unreachable or refusing.",
                           Target(f"sum by (signal, exporter) "
                                  f"(increase(otel_trading_telemetry_dropped_total{job_sel(EXPORT_FAILED)}{RATE}))",
                                  "{{signal}} {{exporter}}"), bars=True, stack=True, width=8),
                timeseries("Export queue size", "otel_trading.telemetry.queue.size: items waiting in each export "
                           "queue. A queue that keeps growing ends in queue_full drops.",
                           Target(f"sum by (signal, exporter) (otel_trading_telemetry_queue_size{job_sel()})",
                                  "{{signal}} {{exporter}}"), minimum=0, width=12),
                stat("Metric series overflow", "New attribute sets folded into the overflow series in the "
                     "dashboard's time range (otel_trading.metric.overflow): an instrument hit its series limit.",
                     Target(f"sum(increase(otel_trading_metric_overflow_total{job_sel()}{RANGE})) or vector(0)",
                            "overflow"), decimals=0, thresholds=((None, "green"), (1, "red")), width=4, height=8),
                bargauge("Overflow by metric", "Series folded into overflow in the dashboard's time range, by metric "
                         "and attribute.",
                         Target(f"sum by (metric, attribute) "
                                f"(increase(otel_trading_metric_overflow_total{job_sel()}{RANGE}))",
                                "{{metric}} {{attribute}}", instant=True), width=8),
            )),
            Row("Traced functions", (
                timeseries("Function errors", "Calls of @traced(record_metrics=True) functions that raised, per "
                           "second (otel_trading.function.errors), by function and error type.",
                           Target(f"sum by (code_function_name, error_type) "
                                  f"(rate(otel_trading_function_errors_total{job_sel()}{RATE}))",
                                  "{{code_function_name}} {{error_type}}"), unit=PER_SECOND, stack=True, minimum=0,
                           width=8),
                timeseries("Function error ratio", "Errors / calls per traced function.",
                           Target(f"sum by (code_function_name) "
                                  f"(rate(otel_trading_function_errors_total{job_sel()}{RATE})) "
                                  f"/ sum by (code_function_name) "
                                  f"(rate(otel_trading_function_calls_total{job_sel()}{RATE}))",
                                  "{{code_function_name}}"), unit=PERCENT, minimum=0, width=8),
                timeseries("Function duration p95", "p95 wall-clock duration per traced function "
                           "(otel_trading.function.duration).",
                           Target(quantile(0.95, duration, job_sel(), "code_function_name"), "{{code_function_name}}",
                                  exemplar=True), unit=SECONDS, minimum=0, width=8),
            )),
            Row("Alert engine and health checks", (
                timeseries("Alert evaluation duration", "Duration of the SDK alert engine's evaluation cycles "
                           "(collect, evaluate every rule, route): p50 and p95 "
                           "(otel_trading.alerts.evaluation.duration).",
                           *(Target(quantile(q, "otel_trading_alerts_evaluation_duration_seconds_bucket", job_sel()),
                                    f"p{p}") for q, p in QUANTILES[:2]), unit=SECONDS, minimum=0, width=8),
                timeseries("Alert evaluation failures", "Rules that raised while evaluating, or rule=\"collect\" "
                           "when the metrics could not be collected (otel_trading.alerts.evaluation.failures).",
                           Target(f"sum by (rule) "
                                  f"(increase(otel_trading_alerts_evaluation_failures_total{job_sel()}{RATE}))",
                                  "{{rule}}"), bars=True, stack=True, width=8),
                timeseries("Alert transitions", "Alert state changes per interval (otel_trading.alerts.transitions), "
                           "by rule and new state (pending, firing, resolved).",
                           Target(f"sum by (alertname, state) "
                                  f"(increase(otel_trading_alerts_transitions_total{job_sel()}{RATE}))",
                                  "{{alertname}} {{state}}"), bars=True, stack=True, width=8),
                timeseries("Notifications", "Alert notifications per interval by channel and delivery outcome "
                           "(delivered, retried, failed, dead_lettered, dropped).",
                           Target(f"sum by (channel, outcome) "
                                  f"(increase(otel_trading_alerts_notifications_total{job_sel()}{RATE}))",
                                  "{{channel}} {{outcome}}"), bars=True, stack=True, width=8),
                timeseries("Notification delivery p95", "p95 duration of a delivery attempt per channel "
                           "(otel_trading.alerts.delivery.duration).",
                           Target(quantile(0.95, "otel_trading_alerts_delivery_duration_seconds_bucket", job_sel(),
                                           "channel"), "{{channel}}"), unit=SECONDS, minimum=0, width=8),
                state_timeline("Health checks", "otel_trading.health.status per check registered with "
                               "otel_trading.health.add_check(): passing or failing, as /readyz judges it.",
                               Target(f"min by (check) (otel_trading_health_status{job_sel()})", "{{check}}"),
                               mappings=HEALTH_MAPPING, width=8, height=8),
            )),
            Row("Logs", (
                timeseries("Log volume by severity", "Log records per interval by severity (Loki).",
                           LogQuery(f"sum by (severity_text) (count_over_time({LOG_STREAM} [$__interval]))",
                                    "{{severity_text}}"), bars=True, stack=True),
                logs("Warnings and errors", "The bot's WARNING, ERROR and CRITICAL logs. Open a line: trace_id "
                     "links to Jaeger.", LogQuery(f"{LOG_STREAM} {WARNINGS_AND_ERRORS}"), width=12, height=8),
            )),
            Row("Python runtime", (
                timeseries("Garbage collections", "cpython.gc.collections per second, by generation.",
                           Target(f"sum by (generation) (rate(cpython_gc_collections_total{job_sel()}{RATE}))",
                                  "gen {{generation}}"), unit=PER_SECOND, minimum=0),
                timeseries("Context switches", "process.context_switches per second, by type.",
                           Target(f"sum by (type) (rate(process_context_switches_total{job_sel()}{RATE}))",
                                  "{{type}}"), unit=PER_SECOND, minimum=0),
            ), collapsed=True),
        ),
    )


DASHBOARDS = (trading_performance, risk, execution, bot_health)

# --- helpers for tests --------------------------------------------------------------------------


def iter_panels(dashboard_json: JSON) -> Iterator[JSON]:
    """Every panel of a dashboard, rows' nested panels included (rows themselves too)."""
    for panel in dashboard_json.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _is_prometheus(datasource: object) -> bool:
    return isinstance(datasource, dict) and datasource.get("type") == "prometheus"


def panel_queries(dashboard_json: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(dashboard title, panel title, expr)`` of every Prometheus target of every panel.

    Panels nested in (collapsed) rows are included; LogQL targets (Loki datasource) are not.
    A target counts as Prometheus when its own datasource, or else its panel's, has type
    ``prometheus``. The expressions are returned as written: pass them through
    ``substitute_variables`` before sending them to Prometheus.
    """
    found: list[tuple[str, str, str]] = []
    title = str(dashboard_json.get("title", ""))
    for panel in iter_panels(dashboard_json):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel.get("datasource")
            expr = target.get("expr")
            if _is_prometheus(datasource) and isinstance(expr, str) and expr.strip():
                found.append((title, str(panel.get("title", "")), expr))
    return found


# Values for Grafana's built-in variables. Prometheus needs real durations where Grafana
# would compute them from the panel width and time range; these are the values of a 5-minute
# range and a 15 s scrape interval: $__interval is the scrape interval (the smallest step),
# $__rate_interval = max($__interval + scrape interval, 4 x scrape interval) = 1m, and
# $__range = the range itself. The _ms and _s forms follow.
BUILTIN_VALUES = {
    "__rate_interval_ms": "60000",
    "__rate_interval": "1m",
    "__interval_ms": "15000",
    "__interval": "15s",
    "__range_ms": "300000",
    "__range_s": "300",
    "__range": "5m",
}
# A template variable of any dashboard here is multi-value with "All" = ".*" and appears only
# as the value of a regex matcher (label=~"$var"): ".*" is what Grafana sends for "All".
CUSTOM_VARIABLE_VALUE = ".*"

_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::[^}]*)?\}"  # ${name} and ${name:format}
    r"|\[\[(?P<bracketed>\w+)(?::[^\]]*)?\]\]"  # [[name]] and [[name:format]] (deprecated syntax)
    r"|\$(?P<plain>\w+)"  # $name
)


def substitute_variables(expr: str) -> str:
    """``expr`` with Grafana's template variables replaced, ready to send to Prometheus as it is.

    - every custom (dashboard) variable, in any syntax (``$job``, ``${job}``, ``${job:regex}``,
      ``[[job]]``, ``[[job:csv]]``) becomes ``.*``, what Grafana sends for "All";
    - ``$__rate_interval`` becomes ``1m``, ``$__interval`` ``15s``, ``$__range`` ``5m`` (and their
      ``_ms``/``_s`` forms the matching numbers): see ``BUILTIN_VALUES``;
    - other built-ins (``$__name``, ...) and ``$1``-style references (label_replace
      replacements) are left as they are.
    """

    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["bracketed"] or match["plain"]
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        if name.startswith("__") or name[0].isdigit():
            return match[0]
        return CUSTOM_VARIABLE_VALUE

    return _VARIABLE.sub(replace, expr)


# --- command line -----------------------------------------------------------------------------


def render(dashboard: Dashboard) -> str:
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    built = [factory() for factory in DASHBOARDS]
    return {dashboard.filename: render(dashboard) for dashboard in built}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a dashboard file differs from what this script generates")
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="dashboard directory (default: %(default)s)")
    args = parser.parse_args(argv)
    out: Path = args.out
    stale = []
    for filename, text in rendered().items():
        path = out / filename
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        for path in stale:
            print(f"{path}: differs from the generator's output; run {Path(__file__).name} to rewrite it",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
