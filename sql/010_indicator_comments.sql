-- What the indicator columns of ohlcv_data (sql/008) hold, as the technical_analysis asset writes
-- them (quant_assets/assets/technical.py): TA-Lib over the ticker's daily bars in the 300 trading
-- days ending at the bar's date, SPLIT-ADJUSTED to that date's share basis (adjustment_factors).
-- NULL is legitimate and means "the indicator's window is not yet filled" (too few bars of the
-- ticker inside those 300 days: new listing, history starting later); it is never defaulted.
-- Re-ingesting a day resets the day's columns to NULL until technical_analysis re-runs for it.
COMMENT ON COLUMN ohlcv_data.ma5 IS
    'SMA of the split-adjusted close over 5 bars (TA-Lib SMA). NULL until 5 bars exist in the 300-trading-day window.';
COMMENT ON COLUMN ohlcv_data.ma20 IS
    'SMA of the split-adjusted close over 20 bars. NULL until 20 bars exist in the 300-trading-day window.';
COMMENT ON COLUMN ohlcv_data.ma60 IS
    'SMA of the split-adjusted close over 60 bars. NULL until 60 bars exist in the 300-trading-day window.';
COMMENT ON COLUMN ohlcv_data.ma120 IS
    'SMA of the split-adjusted close over 120 bars. NULL until 120 bars exist in the 300-trading-day window.';
COMMENT ON COLUMN ohlcv_data.ma200 IS
    'SMA of the split-adjusted close over 200 bars. NULL until 200 bars exist in the 300-trading-day window.';
COMMENT ON COLUMN ohlcv_data.rsi_14 IS
    'Wilder RSI(14) of the split-adjusted close, 0-100 (TA-Lib RSI). NULL until 15 bars (14 changes) exist.';
COMMENT ON COLUMN ohlcv_data.macd IS
    'EMA(12) - EMA(26) of the split-adjusted close (TA-Lib MACD 12/26/9), price units of the day''s basis. NULL until 34 bars.';
COMMENT ON COLUMN ohlcv_data.macd_signal IS 'EMA(9) of macd. NULL until 34 bars.';
COMMENT ON COLUMN ohlcv_data.macd_hist IS 'macd - macd_signal. NULL until 34 bars.';
COMMENT ON COLUMN ohlcv_data.bb_upper IS
    'Bollinger upper band: bb_middle + 2 x population stdev of 20 split-adjusted closes (TA-Lib BBANDS). NULL until 20 bars.';
COMMENT ON COLUMN ohlcv_data.bb_middle IS 'Bollinger middle band = SMA(20) of the split-adjusted close. NULL until 20 bars.';
COMMENT ON COLUMN ohlcv_data.bb_lower IS 'Bollinger lower band: bb_middle - 2 x population stdev of 20 closes. NULL until 20 bars.';
COMMENT ON COLUMN ohlcv_data.atr_14 IS
    'Wilder ATR(14) of split-adjusted high/low/close (TA-Lib ATR; a bar without trades counts as flat at its close). NULL until 15 bars.';
COMMENT ON COLUMN ohlcv_data.volume_ma20 IS
    'SMA of the split-adjusted volume over 20 bars (shares on the day''s basis). NULL until 20 bars.';
COMMENT ON COLUMN ohlcv_data.volume_ratio IS
    'volume / volume_ma20 on the same basis. NULL until 20 bars, or when volume_ma20 = 0 (never defaulted to 1.0 as Spock did).';
