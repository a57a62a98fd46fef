-- etf_holdings.weight_change_from_prev (seed 000), kept right by the holdings writer.
--
-- The change is relative to *that ETF's* previous loaded PDF day, so writing day D can change two
-- days: D itself, and the next loaded day of each ETF after D (a backfill that loads an older day
-- late, or a re-load of D with different lines). The holdings asset calls this function in the
-- transaction that replaces day D, after the COPY, so the column never disagrees with the rows.

CREATE FUNCTION refresh_holdings_weight_change(p_region text, p_date date) RETURNS void
LANGUAGE sql AS $$
    WITH etfs AS (
        -- ETFs on D now, and on the region's next loaded day (an ETF dropped from D by a re-load
        -- still has its next day recomputed against its new previous day)
        SELECT DISTINCT etf_ticker FROM etf_holdings
        WHERE region = p_region
          AND as_of_date IN (p_date, (SELECT min(as_of_date) FROM etf_holdings
                                      WHERE region = p_region AND as_of_date > p_date))
    ),
    targets AS (
        SELECT DISTINCT etf_ticker, p_date AS day FROM etf_holdings
        WHERE region = p_region AND as_of_date = p_date
        UNION
        SELECT e.etf_ticker, n.as_of_date
        FROM etfs e
        CROSS JOIN LATERAL (SELECT x.as_of_date FROM etf_holdings x
                            WHERE x.etf_ticker = e.etf_ticker AND x.region = p_region AND x.as_of_date > p_date
                            ORDER BY x.as_of_date LIMIT 1) n
    ),
    prev AS (
        SELECT t.etf_ticker, t.day, p.as_of_date AS prev_day
        FROM targets t
        LEFT JOIN LATERAL (SELECT x.as_of_date FROM etf_holdings x
                           WHERE x.etf_ticker = t.etf_ticker AND x.region = p_region AND x.as_of_date < t.day
                           ORDER BY x.as_of_date DESC LIMIT 1) p ON true
    ),
    changes AS (
        SELECT c.etf_ticker, c.as_of_date, c.stock_ticker, c.weight - o.weight AS change
        FROM prev
        JOIN etf_holdings c
          ON c.region = p_region AND c.etf_ticker = prev.etf_ticker AND c.as_of_date = prev.day
        LEFT JOIN etf_holdings o
          ON o.region = p_region AND o.etf_ticker = prev.etf_ticker AND o.as_of_date = prev.prev_day
         AND o.stock_ticker = c.stock_ticker
    )
    UPDATE etf_holdings h SET weight_change_from_prev = ch.change
    FROM changes ch
    WHERE h.region = p_region AND h.as_of_date >= p_date
      AND h.etf_ticker = ch.etf_ticker AND h.as_of_date = ch.as_of_date AND h.stock_ticker = ch.stock_ticker
      AND h.weight_change_from_prev IS DISTINCT FROM ch.change;
$$;

COMMENT ON COLUMN etf_holdings.weight_change_from_prev IS
    'weight − the weight of the same stock_ticker in the same ETF on that ETF''s previous loaded PDF day '
    '(percentage points). NULL only when the ETF has no earlier loaded PDF day, the line was not held '
    'on that day, or the line has no weight (futures). Maintained by refresh_holdings_weight_change().';
