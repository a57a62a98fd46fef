"""The clients as Dagster resources: EnvVar credentials, used inside an asset, secrets kept out
of the run's event log."""

from __future__ import annotations

import dagster as dg

from quant_assets.resources import KISClient, KRXClient
from quant_assets_tests.resources.conftest import FAST, KRX_SECRET_PW, KRX_USER, TRADING_DAY


@dg.asset
def etf_count(krx: KRXClient) -> int:
    return len(krx.etf_daily(TRADING_DAY))


@dg.asset
def samsung_price(kis: KISClient) -> float:
    return float(kis.stock_price("005930").iloc[0]["price"])


def _event_text(result) -> str:
    return "\n".join(str(e) for e in result.all_events)


def test_resources_from_envvars_in_an_asset(rsim, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_KRX_ID", KRX_USER)
    monkeypatch.setenv("TEST_KRX_PW", KRX_SECRET_PW)
    monkeypatch.setenv("TEST_KIS_KEY", "PSdagsterkey01")
    monkeypatch.setenv("TEST_KIS_SECRET", "dagster-kis-SECRET-value")
    resources = {
        "krx": KRXClient(base_url=rsim.krx_url, krx_id=dg.EnvVar("TEST_KRX_ID"), krx_pw=dg.EnvVar("TEST_KRX_PW"),
                         requests_per_second=500, **FAST),
        "kis": KISClient(base_url=rsim.kis_url, app_key=dg.EnvVar("TEST_KIS_KEY"),
                         app_secret=dg.EnvVar("TEST_KIS_SECRET"), token_cache_dir=str(tmp_path), **FAST),
    }
    result = dg.materialize([etf_count, samsung_price], resources=resources)
    assert result.success
    assert result.output_for_node("etf_count") > 0 and result.output_for_node("samsung_price") > 0
    text = _event_text(result)
    assert KRX_SECRET_PW not in text and "dagster-kis-SECRET-value" not in text


def test_auth_failure_in_a_run_keeps_secret_out_of_events(rsim, monkeypatch):
    monkeypatch.setenv("TEST_KRX_PW_BAD", "bad-" + KRX_SECRET_PW)
    krx = KRXClient(base_url=rsim.krx_url, krx_id=KRX_USER, krx_pw=dg.EnvVar("TEST_KRX_PW_BAD"),
                    requests_per_second=500, **FAST)
    result = dg.materialize([etf_count], resources={"krx": krx}, raise_on_error=False)
    assert not result.success
    text = _event_text(result)
    assert "SourceAuthError" in text and "login failed" in text
    assert KRX_SECRET_PW not in text
