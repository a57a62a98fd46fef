"""KIS's index/FX master `frgn_code.mst` and the symbols the index and FX assets resolve from it
(issue #10): the simulator's master over real HTTP (byte offsets, cp949 Korean names), the
resolution of every wanted series (noise rows of the same class are not taken), the assets
loading with the resolved symbols kept in the stored rows, and a master that lost a series or
carries a malformed row failing with an error naming the file, line / series and field, with
nothing written."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import dagster as dg
import pandas as pd
import pytest
import requests

from quant_assets.assets.overseas import calendars, fx, indices
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient
from quant_assets.simulator.overseas_market import FRGN_CODES, SERIES, series_bars

RESOLVED_INDICES = {"US": ["SPX", "COMP", ".DJI"], "JP": ["JP#NI225"], "HK": ["HK#HS"], "CN": ["SHANG"],
                    "VN": ["VN#VNI"]}
RESOLVED_FX = {"USD": "FX@KRW", "HKD": "FX@KRWHK", "CNY": "FX@KRWCN", "JPY": "FX@KRWJS", "VND": "FX@KRWVN"}


@pytest.fixture()
def kis(osim, tmp_path):
    osim.clear_faults()
    osim.reset_sessions()
    yield KISClient(base_url=osim.kis_url, token_cache_dir=str(tmp_path))
    osim.clear_faults()


@pytest.fixture()
def env(kis, warehouse):
    return {"kis": kis, "warehouse": warehouse}, warehouse


def master_calls(sim) -> int:
    return sim.stats.get("kis:master", 0)


def chart_calls(sim) -> int:
    return sim.stats.get(f"kis:{OP.CHART}", 0)


def frgn_fault(**rule):
    return {"rules": [{"source": "kis", "path": "frgn_code", "fault": "corrupt", **rule}]}


def run(resources, assets, keys):
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize(assets, resources=resources, tags=tags, raise_on_error=False)


def status(warehouse, asset, region):
    return {str(d): (s, r) for d, s, r in warehouse.read_frame(
        "SELECT partition_date, status, reason FROM partition_status WHERE asset = %s AND region = %s",
        (asset, region)).itertuples(index=False)}


def index_keys(region, lo="2025-09-01", hi="2025-09-05"):
    return [k for k in calendars.partitions(region).get_partition_keys() if lo <= k <= hi]


def fx_keys(lo="2025-09-01", hi="2025-09-05"):
    return [k for k in fx.exchange_rate_history.partitions_def.get_partition_keys() if lo <= k <= hi]


# -- the master over HTTP ---------------------------------------------------------------------
def test_master_is_fixed_width_cp949_bytes_and_parses_field_by_field(osim, kis):
    raw = requests.get(f"{kis.master_url}/frgn_code.mst.zip", timeout=20)
    assert raw.status_code == 200 and raw.content.startswith(b"PK")
    with zipfile.ZipFile(io.BytesIO(raw.content)) as zf:
        assert zf.namelist() == ["frgn_code.mst"]
        data = zf.read("frgn_code.mst")
    lines = data.split(b"\n")[:-1]
    assert len(lines) == len(FRGN_CODES) and {len(x) for x in lines} == {OP.FRGN_ROW_BYTES} == {104}
    ni = next(x for x in lines if x[1:11].strip() == b"JP#NI225")
    assert ni[50:90].decode("cp949").strip() == "일본 니케이225"          # Korean name: bytes 50..89
    assert ni.decode("cp949")[50:90].strip() != "일본 니케이225"          # a character index drifts

    codes = kis.overseas_index_codes()
    assert list(codes.columns) == OP.FRGN_COLUMNS and len(codes) == len(FRGN_CODES)
    assert set(codes["cls_code"]) == {"W", "P", "X", "Q", "H", "D", "F", "C", "M", "R", "B", "L"}
    row = codes.set_index("symb").loc["JP#NI225"]
    assert (row["cls_code"], row["hts_eng_isnm"], row["hts_kor_isnm"], row["exch_cls_code"],
            row["ntnl_cls_code"], row["line"]) == ("W", "NIKKEI 225", "일본 니케이225", "TSE", "JPN", 6)
    hs = codes.set_index("symb").loc["HK#HSCE"]     # the longest Korean name still ends at its field
    assert hs["hts_kor_isnm"] == "홍콩 H지수(항셍중국기업)" and hs["bstp_cls_code"] == ""
    aapl = codes.set_index("symb").loc["AAPL"]
    assert (aapl["cls_code"], aapl["dow_30_yn"], aapl["nasdaq_100_yn"], aapl["snp_500_yn"],
            aapl["bstp_cls_code"]) == ("Q", "1", "1", "1", "TECH")
    jpy = codes.set_index("symb").loc["FX@KRWJS"]
    assert (jpy["cls_code"], jpy["hts_eng_isnm"], jpy["hts_kor_isnm"]) == ("X", "JPY100/KRW", "원/엔(100엔)")
    # the chart serves exactly the master's W/P (division N) and X rows
    chartable = codes[codes["cls_code"].isin(["W", "P", "X"])]
    assert set(chartable["symb"]) == set(SERIES)
    for symb, cls in chartable[["symb", "cls_code"]].itertuples(index=False):
        assert SERIES[symb].kind == ("X" if cls == "X" else "N")


# -- resolution -------------------------------------------------------------------------------
def test_each_wanted_series_resolves_to_one_master_row(osim, kis):
    before = master_calls(osim)
    for region, symbols in RESOLVED_INDICES.items():
        assert [s for s, _ in indices.resolve_indices(kis, region)] == symbols
    assert master_calls(osim) - before == 4          # US uses the documented symbols: no download
    before = master_calls(osim)
    assert fx.resolve_fx(kis) == RESOLVED_FX        # not FX@KRWKFTC, FX@CNY (USD/CNY), FX@HKD (USD/HKD)
    assert master_calls(osim) - before == 1
    codes = kis.overseas_index_codes()
    names = codes.set_index("symb")["hts_eng_isnm"]
    assert names["HK#HSCE"].startswith("HANG SENG") and names["SHANGA"].startswith("SHANGHAI")  # noise exists
    for symbol in [s for ss in RESOLVED_INDICES.values() for s in ss] + list(RESOLVED_FX.values()):
        kind = "X" if symbol.startswith("FX@") else "N"
        assert len(kis.overseas_chart(kind, symbol, dt.date(2025, 9, 1), dt.date(2025, 9, 12))) > 0


# -- the assets -------------------------------------------------------------------------------
def test_index_and_fx_assets_load_with_the_resolved_symbols(osim, env):
    res, wh = env
    for region in ("JP", "HK", "CN", "VN", "US"):
        before = master_calls(osim)
        assert run(res, [indices.INDEX_ASSETS[region]], index_keys(region)).success
        assert master_calls(osim) - before == (0 if region == "US" else 1)     # once per run, not per day
    got = wh.read_frame("SELECT date, symbol, region, index_name, close_price FROM global_market_indices")
    assert {r: sorted(set(g["symbol"])) for r, g in got.groupby("region")} == {
        r: sorted(s) for r, s in RESOLVED_INDICES.items()}
    ni = got[got["symbol"] == "JP#NI225"].set_index("date")
    bars = series_bars(osim.kis.overseas.m.seed, "JP#NI225", osim.kis.overseas.m.start, osim.kis.overseas.m.end)
    assert len(ni) == len(index_keys("JP")) and set(ni["index_name"]) == {"Nikkei 225"}
    for d, close in ni["close_price"].items():
        assert float(close) == pytest.approx(float(bars.at[pd.Timestamp(d).date(), "close"]))

    with wh.connect() as conn:   # rows written before the symbol was kept, and a Spock import's BOK row
        conn.execute("INSERT INTO exchange_rate_history (currency, rate, quoted_rate, quote_unit, \"timestamp\", "
                     "rate_date, source) VALUES ('USD', 1300, 1300, 1, now(), '2025-09-02', 'KIS FHKST03030100'), "
                     "('USD', 1301, 1301, 1, now(), '2025-09-02', 'BOK_API')")
    before = master_calls(osim)
    assert run(res, [fx.exchange_rate_history], fx_keys()).success
    assert master_calls(osim) - before == 1
    rates = wh.read_frame("SELECT rate_date, currency, source, quote_unit FROM exchange_rate_history")
    kis_rows = rates[rates["source"] != "BOK_API"]
    assert len(kis_rows) == 5 * len(fx_keys())
    assert dict(zip(kis_rows["currency"], kis_rows["source"], strict=False)) == {
        c: f"KIS FHKST03030100 {s}" for c, s in RESOLVED_FX.items()}
    assert set(rates.loc[rates["source"] == "BOK_API", "currency"]) == {"USD"}    # other sources stay
    assert run(res, [fx.exchange_rate_history], fx_keys()).success               # a re-run: same rows
    assert len(wh.read_frame("SELECT id FROM exchange_rate_history")) == len(rates)


@pytest.mark.parametrize(("region", "symbol", "wanted"), [("HK", "HK#HS", "Hang Seng"),
                                                          ("VN", "VN#VNI", "VN-Index")])
def test_index_missing_from_the_master_fails_every_day_and_writes_nothing(osim, env, region, symbol, wanted):
    res, wh = env
    osim.set_faults(frgn_fault(kind="zero", ticker=symbol, field="hts_eng_isnm"))   # the row lost its name
    keys = index_keys(region)
    charts = chart_calls(osim)
    assert not run(res, [indices.INDEX_ASSETS[region]], keys).success
    st = status(wh, "global_market_indices", region)
    assert set(st) == set(keys) and {s for s, _ in st.values()} == {"source_error"}
    reason = st[keys[0]][1]
    assert "frgn_code.mst: no row for " in reason and wanted in reason and "class W" in reason
    assert f"region={region}" in reason and "field=hts_eng_isnm" in reason and "refusing to guess" in reason
    assert chart_calls(osim) == charts                                  # no guessed symbol was requested
    assert wh.read_frame("SELECT count(*) AS n FROM global_market_indices")["n"].iloc[0] == 0


def test_currency_missing_from_the_master_fails_the_fx_days(osim, env):
    res, wh = env
    osim.set_faults(frgn_fault(kind="dash_price", ticker="FX@KRWCN", field="hts_eng_isnm"))
    keys = fx_keys()
    assert not run(res, [fx.exchange_rate_history], keys).success
    st = status(wh, "exchange_rate_history", "KR")
    assert set(st) == set(keys) and {s for s, _ in st.values()} == {"source_error"}
    assert "frgn_code.mst: no row for KRW per CNY (class X" in st[keys[0]][1]
    assert wh.read_frame("SELECT count(*) AS n FROM exchange_rate_history")["n"].iloc[0] == 0


def test_two_rows_matching_one_series_is_an_error_not_a_pick(osim, kis):
    osim.set_faults(frgn_fault(kind="duplicate_ticker", ticker="JP#NI225"))
    with pytest.raises(OP.OverseasDataError) as exc:
        indices.resolve_indices(kis, "JP")
    msg = str(exc.value)
    assert "2 rows match Nikkei 225" in msg and "(line 6)" in msg and "(line 7)" in msg and "region=JP" in msg


# -- malformed master -------------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "text", "field"), [
    ({"kind": "missing_field", "ticker": "HK#HS", "field": "hts_kor_isnm"},
     "line 8: row is 64 bytes, expected 104", "field=row"),
    ({"kind": "zero", "ticker": "HK#HS", "field": "cls_code"}, "line 8: unknown class code '0'", "field=cls_code"),
])
def test_malformed_row_is_an_error_naming_file_line_and_field(osim, kis, rule, text, field):
    osim.set_faults(frgn_fault(**rule))
    with pytest.raises(OP.OverseasDataError) as exc:
        kis.overseas_index_codes()
    msg = str(exc.value)
    assert msg.startswith(f"frgn_code.mst: {text}") and field in msg and "symbol=HK#HS" in msg


def test_malformed_row_fails_the_asset_partitions(osim, env):
    res, wh = env
    osim.set_faults(frgn_fault(kind="missing_field", ticker="AAPL", field="dow_30_yn"))   # a row we do not use
    keys = index_keys("JP")
    assert not run(res, [indices.INDEX_ASSETS["JP"]], keys).success
    st = status(wh, "global_market_indices", "JP")
    assert {s for s, _ in st.values()} == {"source_error"}
    assert "frgn_code.mst: line 25: row is 103 bytes" in st[keys[0]][1]
    assert wh.read_frame("SELECT count(*) AS n FROM global_market_indices")["n"].iloc[0] == 0


def test_a_korean_character_cut_at_the_field_boundary_is_named():
    good = OP.FRGN_LAYOUT
    assert OP.FRGN_ROW_BYTES == sum(w for _, w in good) == 104
    kor = "가" * 20                                  # exactly 40 bytes
    row = b"W" + b"X#TEST".ljust(10) + b"TEST".ljust(39) + kor.encode("cp949") + b" " * 14
    assert OP.parse_frgn_rows(row + b"\n")["hts_kor_isnm"].iloc[0] == kor
    cut = b"W" + b"X#TEST".ljust(10) + b"TEST".ljust(38) + kor.encode("cp949") + b" " * 15   # shifted 1 byte
    with pytest.raises(OP.OverseasDataError) as exc:
        OP.parse_frgn_rows(b"\n" + cut)
    msg = str(exc.value)
    assert msg.startswith("frgn_code.mst: line 2: hts_") and "not cp949" in msg and "symbol=X#TEST" in msg
    with pytest.raises(OP.OverseasDataError, match="no rows"):
        OP.parse_frgn_rows(b"\r\n")
