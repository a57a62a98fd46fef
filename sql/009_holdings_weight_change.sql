-- etf_holdings.weight_change_from_prev (seed 000), kept right by the holdings writer, and
-- refresh_etf_latest(), which keeps etf_details' seed-002 columns current.
--
-- The change is relative to *that ETF's* previous loaded PDF day, so writing day D can change two
-- days: D itself, and the next loaded day of each ETF after D (a backfill that loads an older day
-- late, or a re-load of D with different lines). The holdings asset writes D's rows with their
-- change already computed (under its lock, from the committed previous day), then calls
-- refresh_holdings_weight_change(region, D, false) in the same transaction for the next days, so
-- the column never disagrees with the rows; other writers (imports) call it with true (the
-- default) to have D's own rows computed too. The rows involved (a few days of lines) are copied
-- into small analysed temp tables first, so the join is a hash join whatever the size of the
-- history; rows whose value is already right are not rewritten (an UPDATE of a fresh day costs
-- more than its COPY, which is why the asset computes D before writing it).
-- Not covered: an ETF dropped from D by a re-load that is also absent on the region's next loaded
-- day keeps, on its own later next day, the change computed against the old D.

CREATE FUNCTION refresh_holdings_weight_change(p_region text, p_date date, p_include_day boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_next date;
    v_days date[];
    v_prev date[];
BEGIN
    SELECT min(as_of_date) INTO v_next FROM etf_holdings WHERE region = p_region AND as_of_date > p_date;
    IF v_next IS NULL AND NOT p_include_day THEN
        RETURN;                       -- the newest day, already written with its change: nothing to do
    END IF;
    -- (ETF, day) whose previous PDF day may have changed, with that previous day
    CREATE TEMP TABLE _wc_days ON COMMIT DROP AS
    WITH etfs AS (
        SELECT DISTINCT etf_ticker FROM etf_holdings
        WHERE v_next IS NOT NULL AND region = p_region AND as_of_date IN (p_date, v_next)
    ),
    targets AS (
        SELECT DISTINCT etf_ticker, p_date AS day FROM etf_holdings
        WHERE p_include_day AND region = p_region AND as_of_date = p_date
        UNION
        SELECT e.etf_ticker, (SELECT min(x.as_of_date) FROM etf_holdings x
                              WHERE x.etf_ticker = e.etf_ticker AND x.region = p_region AND x.as_of_date > p_date)
        FROM etfs e
    )
    SELECT t.etf_ticker, t.day,
           (SELECT max(x.as_of_date) FROM etf_holdings x
            WHERE x.etf_ticker = t.etf_ticker AND x.region = p_region AND x.as_of_date < t.day) AS prev_day
    FROM targets t WHERE t.day IS NOT NULL;
    SELECT array_agg(DISTINCT day), array_agg(DISTINCT prev_day) INTO v_days, v_prev FROM _wc_days;

    -- the rows of those days and of their previous days, joined by hash on small tables
    CREATE TEMP TABLE _wc_rows ON COMMIT DROP AS
    SELECT etf_ticker, as_of_date, stock_ticker, weight, weight_change_from_prev
    FROM etf_holdings WHERE region = p_region AND as_of_date = ANY (v_days || v_prev);
    ANALYZE _wc_days, _wc_rows;
    CREATE TEMP TABLE _wc_changes ON COMMIT DROP AS
    SELECT c.etf_ticker, c.as_of_date, c.stock_ticker, c.weight - o.weight AS change
    FROM _wc_days p
    JOIN _wc_rows c ON c.etf_ticker = p.etf_ticker AND c.as_of_date = p.day
    LEFT JOIN _wc_rows o ON o.etf_ticker = p.etf_ticker AND o.as_of_date = p.prev_day AND o.stock_ticker = c.stock_ticker
    WHERE (c.weight - o.weight) IS DISTINCT FROM c.weight_change_from_prev;
    ANALYZE _wc_changes;

    UPDATE etf_holdings h SET weight_change_from_prev = ch.change
    FROM _wc_changes ch
    WHERE h.region = p_region AND h.as_of_date = ANY (v_days)
      AND h.etf_ticker = ch.etf_ticker AND h.as_of_date = ch.as_of_date AND h.stock_ticker = ch.stock_ticker;
    DROP TABLE _wc_days, _wc_rows, _wc_changes;
END
$$;

COMMENT ON COLUMN etf_holdings.weight_change_from_prev IS
    'weight − the weight of the same stock_ticker in the same ETF on that ETF''s previous loaded PDF day '
    '(percentage points). NULL only when the ETF has no earlier loaded PDF day, the line was not held '
    'on that day, or the line has no weight (futures). Maintained by refresh_holdings_weight_change().';

-- refresh_etf_latest(region): the seed-002 "latest figure" columns of etf_details (aum,
-- premium/discount and tracking-error means, 52-week range, constituent count, average volume and
-- value), called by every asset that owns one of those figures inside its write transaction, so
-- the seed's columns never disagree with the committed history. Each section reads only each
-- ETF's newest rows (DISTINCT ON over the last 40 days; holdings from each ETF's latest day alone —
-- counting every line of 40 days cost about 2 s at 4.5M lines).
CREATE OR REPLACE FUNCTION refresh_etf_latest(p_region text DEFAULT 'KR') RETURNS void
LANGUAGE sql AS $$
    UPDATE etf_details d SET aum = a.aum, aum_date = a.date
    FROM (SELECT DISTINCT ON (ticker) ticker, date, aum FROM etf_aum
          WHERE region = p_region AND date >= (SELECT max(date) - 40 FROM etf_aum WHERE region = p_region)
          ORDER BY ticker, date DESC) a
    WHERE d.region = p_region AND d.ticker = a.ticker
      AND (d.aum IS DISTINCT FROM a.aum OR d.aum_date IS DISTINCT FROM a.date);

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

    UPDATE etf_details d SET week_52_high = r.high_close, week_52_low = r.low_close, week_52_date = r.date
    FROM (SELECT DISTINCT ON (ticker) ticker, date, high_close, low_close FROM price_range_52w
          WHERE region = p_region AND date >= (SELECT max(date) - 40 FROM price_range_52w WHERE region = p_region)
          ORDER BY ticker, date DESC) r
    WHERE d.region = p_region AND d.ticker = r.ticker
      AND (d.week_52_date IS DISTINCT FROM r.date OR d.week_52_high IS DISTINCT FROM r.high_close
           OR d.week_52_low IS DISTINCT FROM r.low_close);

    -- holdings: each ETF's own latest PDF day (a backward PK probe per ETF) and the count of its
    -- lines that day, instead of counting every line of the last 40 days
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

    UPDATE etf_details d SET avg_daily_volume = v.vol, avg_daily_value = v.val
    FROM (SELECT ticker, avg(volume)::numeric(20, 2) AS vol, avg(value)::numeric(24, 2) AS val
          FROM ohlcv_data
          WHERE region = p_region AND asset_type = 'ETF' AND timeframe = 'D'
            AND date > (SELECT max(date) - 30 FROM ohlcv_data WHERE region = p_region AND asset_type = 'ETF')
          GROUP BY ticker) v
    WHERE d.region = p_region AND d.ticker = v.ticker
      AND (d.avg_daily_volume IS DISTINCT FROM v.vol OR d.avg_daily_value IS DISTINCT FROM v.val);
$$;
