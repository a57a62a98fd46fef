"""No credential anywhere a person or a log shipper can read (case 6, issue #11).

KRX_ID / KRX_PW / KIS_APP_KEY / KIS_APP_SECRET get distinctive values and reach the clients the
way definitions.py wires them (`EnvVar`); loads run with failures (a bad payload, LOGOUT, 5xx,
a KIS outage); then the Dagster event log (messages, metadata, errors), the
captured stdout/stderr and log records, the step errors and partition_status are searched for the
values. The KIS token cache file holds the token by design and is not searched.
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from quant_assets.assets import prices, statements
from quant_assets.resources import InMemoryCircuitBreaker, InMemorySessionStore, KISClient, KRXClient
from quant_assets_tests.faults.loads import FAST
from quant_assets_tests.resources.conftest import log_text
from quant_assets_tests.test_ingest_assets import failure_text, range_tags
from quant_assets_tests.test_statements import seed_tickers, window_keys

pytestmark = pytest.mark.faults

SECRETS = {"KRX_ID": "krxid-F4ULTS-7d21", "KRX_PW": "krxpw-F4ULTS-9f3c-zz",
           "KIS_APP_KEY": "PSkisF4ULTSkey5b80", "KIS_APP_SECRET": "kissecret-F4ULTS-e61a"}


def run(assets, resources, instance, **kw):
    return dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False, **kw)


def test_no_secret_in_logs_errors_status_or_metadata(sim, warehouse, database_url, monkeypatch, capfd, all_logs,
                                                     tmp_path, figures):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.ephemeral()
    krx = (KRXClient(base_url=sim.krx_url, krx_id=dg.EnvVar("KRX_ID"), krx_pw=dg.EnvVar("KRX_PW"), **FAST)
           .with_breaker(InMemoryCircuitBreaker()).with_session_store(InMemorySessionStore()))
    kis = KISClient(base_url=sim.kis_url, app_key=dg.EnvVar("KIS_APP_KEY"), app_secret=dg.EnvVar("KIS_APP_SECRET"),
                    token_cache_dir=str(tmp_path / "tokens"), max_retries=4, backoff_seconds=0.02,
                    token_retry_wait_seconds=0.2).with_breaker(InMemoryCircuitBreaker())
    resources = {"krx": krx, "kis": kis, "warehouse": warehouse}
    sim.set_faults({"rules": [
        {"source": "krx", "fault": "logout", "date": "20240304", "times": 1},
        {"source": "krx", "bld": "MDCSTAT01501", "date": "20240305", "fault": "corrupt", "kind": "dash_price",
         "ticker": "005930", "field": "TDD_CLSPRC"},
        {"source": "kis", "fault": "http_500", "times": 2}]})
    results = [run([prices.daily_prices], resources, instance, tags=range_tags("2024-03-04", "2024-03-06"))]
    keys = window_keys()
    seed_tickers(warehouse, ["005930", "000660"], start=None)
    partition = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    results.append(run([statements.financial_statements], resources, instance, tags=partition))
    sim.set_faults({"rules": [{"source": "kis", "fault": "http_500"}]})          # a KIS outage: the run fails
    results.append(run([statements.financial_statements], resources, instance, tags=partition))
    sim.clear_faults()
    assert [r.success for r in results] == [False, True, False], failure_text(results[1], "financial_statements")
    texts = {"step errors": "\n".join([failure_text(results[0], "daily_prices"),
                                       failure_text(results[2], "financial_statements")])}
    events = [e for r in results for e in instance.all_logs(r.run_id)]
    texts["dagster event log"] = "\n".join(dg.serialize_value(e) for e in events)
    out, err = capfd.readouterr()
    texts["stdout/stderr"] = out + err
    texts["log records"] = log_text(all_logs)
    with psycopg.connect(database_url) as conn:
        texts["partition_status"] = "\n".join(str(r) for r in conn.execute("SELECT * FROM partition_status"))
        texts["source tables"] = "\n".join(str(r) for t in ("source_sessions", "source_auth_failures", "source_circuit")
                                           for r in conn.execute(f"SELECT * FROM {t}"))
    assert "005930" in texts["step errors"] and len(events) > 50          # the logs are really there
    hits = {(where, name): text.count(value) for where, text in texts.items() for name, value in SECRETS.items()
            if value in text}
    assert hits == {}, hits
    figures["secrets"] = {"searched": {k: len(v) for k, v in texts.items()}, "event_records": len(events),
                          "runs": len(results), "secret_hits": 0}
