# Long/short variant for futures (unchanged by the integration): SMA cross up -> long, down -> short; leverage 3.
# freqtrade's interface fixes the signatures and the class attributes.
# ruff: noqa: ARG002, RUF012, PLR0917
from typing import Any

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class TinySmaLS(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.03}
    stoploss = -0.02
    process_only_new_candles = True
    startup_candle_count = 30
    can_short = True

    def populate_indicators(self, df: DataFrame, metadata: dict) -> DataFrame:
        df["fast"] = df["close"].rolling(10).mean()
        df["slow"] = df["close"].rolling(30).mean()
        return df

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        up = (df["fast"] > df["slow"]) & (df["fast"].shift(1) <= df["slow"].shift(1))
        down = (df["fast"] < df["slow"]) & (df["fast"].shift(1) >= df["slow"].shift(1))
        df.loc[up, ["enter_long", "enter_tag"]] = (1, "sma_up")
        df.loc[down, ["enter_short", "enter_tag"]] = (1, "sma_down")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        return df

    def leverage(self, pair: str, current_time: Any, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs: Any) -> float:
        return 3.0
