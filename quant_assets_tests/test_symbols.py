"""quant_assets.symbols: the Python mirror of sql/008's symbol_is_canonical(), and legacy forms."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from quant_assets import symbols

SQL_008 = Path(__file__).resolve().parent.parent / "sql" / "008_seed_contract.sql"
SAMPLES = ["005930", "0069M0", "5930", "A005930", "AAPL", "BRK/B", "BAC/N", "AACT/UN", "brk/b", "600519", "000002",
           "2", "0700", "0005", "80737", "00005", "07000", "7203", "130A", "VNM", "E1VFVN30", "VN", "600519.SS",
           "0700.HK", "", "ABCDEFGHIJK", "1AB", "A/B/C", "12345678", "99999"]


def test_python_patterns_are_the_sql_function_patterns():
    body = SQL_008.read_text(encoding="utf-8").split("CREATE FUNCTION symbol_is_canonical", 1)[1].split("$$;", 1)[0]
    sql = dict(re.findall(r"WHEN '([A-Z]{2})' THEN p_ticker ~ '([^']+)'", body))
    assert sql == {region: pattern.pattern for region, pattern in symbols.CANONICAL.items()}
    assert set(sql) == set(symbols.REGIONS)


def test_python_and_postgresql_agree_on_every_sample(database_url):
    with psycopg.connect(database_url) as conn:
        for region in (*symbols.REGIONS, "EU"):
            for ticker in SAMPLES:
                in_sql = conn.execute("SELECT symbol_is_canonical(%s, %s)", (region, ticker)).fetchone()[0]
                assert in_sql == symbols.is_canonical(region, ticker), (region, ticker)


@pytest.mark.parametrize(("region", "raw", "canonical"), [
    ("HK", "0700.HK", "0700"), ("HK", "00005", "0005"), ("HK", "0001.HK.HK", "0001"), ("HK", "700", "0700"),
    ("HK", "80737", "80737"), ("CN", "600519.SS", "600519"), ("CN", "2.SZ", "000002"), ("CN", "11.SZ", "000011"),
    ("KR", "5930", "005930"), ("KR", 5930, "005930"), ("KR", 5930.0, "005930"), ("KR", "A005930", "005930"),
    ("KR", "005930.KS", "005930"), ("KR", "0069m0", "0069M0"), ("US", "BRK-B", "BRK/B"), ("US", "BRK.B", "BRK/B"),
    ("US", "bac/n", "BAC/N"), ("JP", "7203.T", "7203"), ("VN", "VNM.VN", "VNM"),
])
def test_legacy_forms_normalise(region, raw, canonical):
    assert symbols.normalise(region, raw) == canonical
    assert symbols.is_canonical(region, canonical)


@pytest.mark.parametrize(("region", "raw"), [
    ("KR", "12345678"), ("KR", "0700.HK"), ("CN", "600519.HK"), ("HK", "ABC"), ("US", ""), ("US", None),
    ("XX", "AAPL"), ("JP", "72030"),
])
def test_what_has_no_canonical_form_is_an_error_naming_it(region, raw):
    with pytest.raises(symbols.SymbolError, match=region if region != "XX" else "unknown region"):
        symbols.normalise(region, raw)


def test_candidates_and_suffix_region():
    assert symbols.suffix_region("600519.SS") == "CN" and symbols.suffix_region("AAPL") is None
    assert symbols.candidates("0700.HK") == ["HK"]
    assert "US" in symbols.candidates("AAPL") and "KR" not in symbols.candidates("AAPL")
