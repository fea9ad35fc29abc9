# A dry-run loop strategy (unchanged by the integration): enters on every loop, exits 4 s later.
# freqtrade's interface fixes the signatures and the class attributes.
# ruff: noqa: ARG002, RUF012
from datetime import timedelta
from typing import Any

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class QuickLoop(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 10}
    stoploss = -0.5
    process_only_new_candles = False
    startup_candle_count = 5
    order_types = {"entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": False}

    def populate_indicators(self, df: DataFrame, metadata: dict) -> DataFrame:
        return df

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        df.loc[:, ["enter_long", "enter_tag"]] = (1, "loop_in")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        return df

    def custom_exit(self, pair: str, trade: Any, current_time: Any, current_rate: float, current_profit: float,
                    **kwargs: Any) -> str | None:
        return "loop_exit" if current_time - trade.open_date_utc >= timedelta(seconds=4) else None
