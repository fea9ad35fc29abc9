"""An event-driven bot: orders are submitted in a signal callback and filled in execution-report
callbacks that arrive on another thread, knowing only the order ids. Each trade is still one trace.

Run: `python examples/event_driven_bot.py [--orders N] [--seed S]`; traces land in ./.otel-trading/.
"""

from __future__ import annotations

import argparse
import queue
import random
import threading
import time
from dataclasses import dataclass

import otel_trading

log = otel_trading.get_logger("event_bot")


@dataclass(frozen=True)
class ExecutionReport:
    client_order_id: str
    venue_order_id: str
    status: str  # "new", "partial", "filled", "rejected"
    amount: float = 0.0
    price: float = 0.0


class SimulatedVenue:
    """Accepts orders and pushes execution reports onto a stream consumed by another thread."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.stream: queue.Queue[ExecutionReport | None] = queue.Queue()

    def send(self, client_order_id: str, amount: float, price: float) -> None:
        venue_id = str(self.rng.randrange(10**9))
        if self.rng.random() < 0.1:
            self.stream.put(ExecutionReport(client_order_id, venue_id, "rejected"))
            return
        self.stream.put(ExecutionReport(client_order_id, venue_id, "new"))
        first = round(amount * self.rng.uniform(0.3, 0.7), 6)
        self.stream.put(ExecutionReport(client_order_id, venue_id, "partial", first, price))
        self.stream.put(ExecutionReport(client_order_id, venue_id, "filled", amount - first, price * 1.0001))


def on_signal(venue: SimulatedVenue, number: int, price: float) -> str:
    """Strategy callback: opens a trade and sends its order; returns immediately."""
    t = otel_trading.trade("BTC/USDT", "buy", strategy="event-driven", exchange="sim").start()
    with t.activate():
        t.signal("long", confidence=0.6)
        t.risk_check(approved=True)
        client_id = f"ev-{number}"
        t.submit_order(0.01, order_type="limit", price=price, reference_price=price, client_order_id=client_id)
        log.info("order sent", client_order_id=client_id)
    venue.send(client_id, 0.01, price)
    return t.trade_id


def on_execution_report(report: ExecutionReport) -> None:
    """User-data stream callback, on the stream thread: finds the order by its id alone."""
    order = otel_trading.find_order(report.client_order_id)
    if order is None:
        log.warning("execution report for an unknown order", venue_order_id=report.venue_order_id)
        return
    if report.status == "rejected":
        order.rejected("insufficient_funds")
    elif report.status == "new":
        order.accepted(report.venue_order_id)
    else:
        order.fill(report.amount, report.price, fee=report.amount * report.price * 0.0004)
    if not order.is_open:
        order.trade.close()  # the trade ends with its only order


def stream_worker(venue: SimulatedVenue) -> None:
    while (report := venue.stream.get()) is not None:
        on_execution_report(report)


def main(orders: int, seed: int) -> None:
    telemetry = otel_trading.configure(service_name="event-driven-bot", log_console="off")
    venue = SimulatedVenue(random.Random(seed))
    worker = threading.Thread(target=stream_worker, args=(venue,), name="user-data-stream")
    worker.start()
    trade_ids = [on_signal(venue, number, 50_000.0 + number) for number in range(orders)]
    venue.stream.put(None)
    worker.join()
    deadline = time.monotonic() + 5
    while otel_trading.open_trades() and time.monotonic() < deadline:
        time.sleep(0.01)
    still_open = [t.trade_id for t in otel_trading.open_trades()]
    telemetry.shutdown()
    print(f"{len(trade_ids)} trades, {len(still_open)} still open; traces in {telemetry.settings.store_dir}/")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10, help="number of orders (default 10)")
    parser.add_argument("--seed", type=int, default=3, help="random seed (default 3)")
    args = parser.parse_args()
    main(args.orders, args.seed)
