# A tiny user strategy (unchanged by the integration): SMA cross entries, ROI / stoploss / signal exits.
# freqtrade's interface fixes the signatures (metadata) and the class attributes (minimal_roi).
# ruff: noqa: ARG002, RUF012
from freqtrade.strategy import IStrategy
from pandas import DataFrame


class TinySma(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.03}
    stoploss = -0.02
    trailing_stop = False
    process_only_new_candles = True
    startup_candle_count = 30
    can_short = False

    def populate_indicators(self, df: DataFrame, metadata: dict) -> DataFrame:
        df["fast"] = df["close"].rolling(10).mean()
        df["slow"] = df["close"].rolling(30).mean()
        return df

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        up = (df["fast"] > df["slow"]) & (df["fast"].shift(1) <= df["slow"].shift(1))
        df.loc[up & (df["volume"] > 0), ["enter_long", "enter_tag"]] = (1, "sma_up")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        down = (df["fast"] < df["slow"]) & (df["fast"].shift(1) >= df["slow"].shift(1))
        df.loc[down, ["exit_long", "exit_tag"]] = (1, "sma_down")
        return df
