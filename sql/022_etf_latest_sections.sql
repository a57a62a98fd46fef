-- refresh_etf_latest(region, tables, day): the same seed-002 latest figures of etf_details as
-- sql/009, but a writer says which tables it wrote and the newest day it wrote, so only the
-- sections fed by those tables run, and a section whose window cannot contain that day is skipped.
--
-- Why: run after every day of a ranged backfill, the full refresh (five UPDATEs over the last
-- 30-40 days of five tables) cost ~170 ms per day at two months of history and ~600 ms at a year,
-- ten times the day's DELETE + COPY. The skip is exact, not a heuristic: a section reads only rows
-- newer than (its table's newest day - its window), and rewriting a day older than the table's
-- newest day does not move that newest day, so a write of such an old day cannot change what the
-- section computes. `p_tables` NULL = every section; `p_day` NULL = no skip (the sql/009 call).
-- Ranged runs call it once, after their last day (assets/daily.py `refresh_after_range`).

DROP FUNCTION IF EXISTS refresh_etf_latest(text);

CREATE FUNCTION refresh_etf_latest(p_region text DEFAULT 'KR', p_tables text[] DEFAULT NULL,
                                   p_day date DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (p_tables IS NULL OR 'etf_aum' = ANY (p_tables))
       AND (p_day < (SELECT max(date) - 40 FROM etf_aum WHERE region = p_region)) IS NOT TRUE THEN
        UPDATE etf_details d SET aum = a.aum, aum_date = a.date
        FROM (SELECT DISTINCT ON (ticker) ticker, date, aum FROM etf_aum
              WHERE region = p_region AND date >= (SELECT max(date) - 40 FROM etf_aum WHERE region = p_region)
              ORDER BY ticker, date DESC) a
        WHERE d.region = p_region AND d.ticker = a.ticker
          AND (d.aum IS DISTINCT FROM a.aum OR d.aum_date IS DISTINCT FROM a.date);
    END IF;

    IF (p_tables IS NULL OR 'etf_tracking' = ANY (p_tables))
       AND (p_day < (SELECT max(date) - 40 FROM etf_tracking WHERE region = p_region)) IS NOT TRUE THEN
        UPDATE etf_details d SET
            premium_discount = t.premium_discount_pct,
            premium_discount_avg_20d = t.premium_discount_avg_20d,
            premium_discount_avg_60d = t.premium_discount_avg_60d,
            premium_discount_avg_120d = t.premium_discount_avg_120d,
            premium_discount_avg_250d = t.premium_discount_avg_250d,
            tracking_error_20d = t.tracking_error_20d,
            tracking_error_60d = t.tracking_error_60d,
            tracking_error_120d = t.tracking_error_120d,
            tracking_error_250d = t.tracking_error_250d,
            tracking_date = t.date
        FROM (SELECT DISTINCT ON (ticker) * FROM etf_tracking
              WHERE region = p_region AND date >= (SELECT max(date) - 40 FROM etf_tracking WHERE region = p_region)
              ORDER BY ticker, date DESC) t
        WHERE d.region = p_region AND d.ticker = t.ticker AND d.tracking_date IS DISTINCT FROM t.date;
    END IF;

    -- price_range_52w holds every stock too; only the ETFs' rows are read
    IF (p_tables IS NULL OR 'price_range_52w' = ANY (p_tables))
       AND (p_day < (SELECT max(date) - 40 FROM price_range_52w WHERE region = p_region)) IS NOT TRUE THEN
        UPDATE etf_details d SET week_52_high = r.high_close, week_52_low = r.low_close, week_52_date = r.date
        FROM (SELECT DISTINCT ON (ticker) ticker, date, high_close, low_close FROM price_range_52w
              WHERE region = p_region
                AND date >= (SELECT max(date) - 40 FROM price_range_52w WHERE region = p_region)
                AND ticker IN (SELECT ticker FROM etf_details WHERE region = p_region)
              ORDER BY ticker, date DESC) r
        WHERE d.region = p_region AND d.ticker = r.ticker
          AND (d.week_52_date IS DISTINCT FROM r.date OR d.week_52_high IS DISTINCT FROM r.high_close
               OR d.week_52_low IS DISTINCT FROM r.low_close);
    END IF;

    -- holdings: each ETF's own latest PDF day (a backward PK probe per ETF) and its line count;
    -- no day skip: an ETF's latest PDF day is its own, not the table's
    IF p_tables IS NULL OR 'etf_holdings' = ANY (p_tables) THEN
        UPDATE etf_details d SET underlying_asset_count = h.n, holdings_date = h.as_of_date
        FROM (SELECT e.ticker, l.as_of_date,
                     (SELECT count(*) FROM etf_holdings x
                      WHERE x.etf_ticker = e.ticker AND x.region = p_region AND x.as_of_date = l.as_of_date) AS n
              FROM etf_details e
              CROSS JOIN LATERAL (SELECT max(x.as_of_date) AS as_of_date FROM etf_holdings x
                                  WHERE x.etf_ticker = e.ticker AND x.region = p_region) l
              WHERE e.region = p_region AND l.as_of_date IS NOT NULL) h
        WHERE d.region = p_region AND d.ticker = h.ticker
          AND (d.holdings_date IS DISTINCT FROM h.as_of_date OR d.underlying_asset_count IS DISTINCT FROM h.n);
    END IF;

    IF (p_tables IS NULL OR 'ohlcv_data' = ANY (p_tables))
       AND (p_day <= (SELECT max(date) - 30 FROM ohlcv_data
                      WHERE region = p_region AND asset_type = 'ETF')) IS NOT TRUE THEN
        UPDATE etf_details d SET avg_daily_volume = v.vol, avg_daily_value = v.val
        FROM (SELECT ticker, avg(volume)::numeric(20, 2) AS vol, avg(value)::numeric(24, 2) AS val
              FROM ohlcv_data
              WHERE region = p_region AND asset_type = 'ETF' AND timeframe = 'D'
                AND date > (SELECT max(date) - 30 FROM ohlcv_data WHERE region = p_region AND asset_type = 'ETF')
              GROUP BY ticker) v
        WHERE d.region = p_region AND d.ticker = v.ticker
          AND (d.avg_daily_volume IS DISTINCT FROM v.vol OR d.avg_daily_value IS DISTINCT FROM v.val);
    END IF;
END
$$;

COMMENT ON FUNCTION refresh_etf_latest(text, text[], date) IS
    'Keeps etf_details'' seed-002 latest-figure columns equal to the newest committed rows of etf_aum, '
    'etf_tracking, price_range_52w, etf_holdings and ohlcv_data (ETF bars, 30-day averages). '
    'p_tables: only the sections fed by these tables (NULL = all); p_day: the newest day written, a '
    'section whose window cannot contain it is skipped (exact, see sql/022).';
