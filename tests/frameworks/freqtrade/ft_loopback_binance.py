"""Tiny loopback Binance spot REST venue for a freqtrade dry-run loop (127.0.0.1 only, bounded, stops itself).
Serves: exchangeInfo, time, klines (CURRENT timestamps, so freqtrade doesn't see outdated candles),
ticker/24hr, ticker/bookTicker, ticker/price, depth. Records every request path for the report."""
import json
import math
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

SYMS = {"BTCUSDT": ("BTC", 40000.0), "ETHUSDT": ("ETH", 2500.0)}


def _sym(sym, base):
    return {"symbol": sym, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": "USDT",
            "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "permissions": [],
            "permissionSets": [["SPOT"]],
            "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                        {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True}]}


def price(sym, minute):
    base = SYMS[sym][1]
    return base * (1 + 0.01 * math.sin(minute / 7.0) + 0.002 * random.Random(minute).uniform(-1, 1))  # noqa: S311 - synthetic prices


class Venue:
    def __init__(self, max_requests=5000):
        self.requests = Counter()
        self.max_requests = max_requests
        venue = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                venue._serve(self)
            do_POST = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _route(self, path, q):
        now = int(time.time() * 1000)
        sym = q.get("symbol", "BTCUSDT")
        m = now // 60000

        def px(s):
            return price(s, m) + 0.5 * math.sin(now / 5000.0)

        if path == "/api/v3/exchangeInfo":
            return {"timezone": "UTC", "serverTime": now, "rateLimits": [], "exchangeFilters": [],
                    "symbols": [_sym(s, b) for s, (b, _) in SYMS.items()]}
        if path == "/api/v3/time":
            return {"serverTime": now}
        if path == "/api/v3/klines":
            lim = int(q.get("limit", 500))
            out = []
            for k in range(m - lim + 1, m + 1):
                o, c = price(sym, k - 1), price(sym, k)
                out.append([k * 60000, f"{o:.2f}", f"{max(o, c) * 1.0005:.2f}", f"{min(o, c) * 0.9995:.2f}",
                            f"{c:.2f}", "10.0", k * 60000 + 59999, "1.0", 10, "5.0", "1.0", "0"])
            return out
        if path in ("/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker", "/api/v3/ticker/price"):
            def t(s):
                p = px(s)
                return {"symbol": s, "lastPrice": f"{p:.2f}", "price": f"{p:.2f}", "bidPrice": f"{p - 0.01:.2f}",
                        "bidQty": "5", "askPrice": f"{p + 0.01:.2f}", "askQty": "5", "openPrice": f"{p:.2f}",
                        "highPrice": f"{p:.2f}", "lowPrice": f"{p:.2f}", "volume": "1000", "quoteVolume": "1e7",
                        "openTime": now - 86400000, "closeTime": now, "count": 1}
            return t(sym) if "symbol" in q else [t(s) for s in SYMS]
        if path == "/api/v3/depth":
            p = px(sym)
            return {"lastUpdateId": now, "bids": [[f"{p - 0.01 * i:.2f}", "5"] for i in range(1, 21)],
                    "asks": [[f"{p + 0.01 * i:.2f}", "5"] for i in range(1, 21)]}
        return None

    def _serve(self, h):
        parts = urlsplit(h.path)
        self.requests[f"{h.command} {parts.path}"] += 1
        if sum(self.requests.values()) > self.max_requests:
            body, status = {"code": -1003, "msg": "request budget exhausted"}, 429
        else:
            body = self._route(parts.path, dict(parse_qsl(parts.query)))
            status = 200 if body is not None else 404
            body = body if body is not None else {"code": -1, "msg": f"no route {parts.path}"}
        payload = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except OSError:
            pass
