-- The indicator columns of ohlcv_data say how precisely they are stored (issue #13: compact bars).
--
-- technical_analysis rounds them to 4 decimals in KR, JP and VN, whose prices are whole currency
-- units (quant_assets/assets/technical.py, STORED_DECIMALS): the precision Spock's PostgreSQL
-- schema kept them at (NUMERIC(18,4)). A closed month of such values is stored exactly as scaled
-- integers (quant_assets/storage/encoding.py). US, CN and HK keep full double precision. Rows
-- written before this version keep the values they had until technical_analysis re-runs them.
DO $$
DECLARE
    col text;
BEGIN
    FOREACH col IN ARRAY ARRAY['ma5', 'ma20', 'ma60', 'ma120', 'ma200', 'rsi_14', 'macd', 'macd_signal',
                               'macd_hist', 'bb_upper', 'bb_middle', 'bb_lower', 'atr_14', 'volume_ma20',
                               'volume_ratio'] LOOP
        EXECUTE format('COMMENT ON COLUMN ohlcv_data.%I IS %L', col,
                       col_description('ohlcv_data'::regclass,
                                       (SELECT attnum FROM pg_attribute
                                         WHERE attrelid = 'ohlcv_data'::regclass AND attname = col))
                       || ' Rounded to 4 decimals in KR, JP and VN (as Spock stored it); full precision elsewhere.');
    END LOOP;
END $$;
