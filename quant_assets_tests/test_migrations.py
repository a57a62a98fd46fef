"""Migrations against a real PostgreSQL: order, checksums, dry-run and verify."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from quant_assets import migrations
from quant_assets.cli import main as quant


def _copy_sql(tmp_path):
    target = tmp_path / "sql"
    shutil.copytree(migrations.SQL_DIR, target)
    return target


def test_applies_all_in_order_and_is_idempotent(fresh_db):
    first = migrations.migrate(fresh_db)
    assert [m.version for m in first.pending] == sorted(m.version for m in migrations.discover())
    second = migrations.migrate(fresh_db)
    assert second.pending == [] and len(second.applied) == len(first.pending)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
        parts = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'p' AND relname IN ('ohlcv_data', 'etf_daily')"
        ).fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations.discover()]
    assert all(len(r[1]) == 64 for r in rows)
    assert {p[0] for p in parts} == {"ohlcv_data", "etf_daily"}


def test_dry_run_applies_nothing(fresh_db):
    planned = migrations.migrate(fresh_db, dry_run=True)
    assert planned.pending
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 0
        assert conn.execute("SELECT to_regclass('tickers')").fetchone()[0] is None


def test_changed_applied_file_is_refused(fresh_db, tmp_path):
    sql_dir = _copy_sql(tmp_path)
    migrations.migrate(fresh_db, sql_dir=sql_dir)
    first = sorted(sql_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(migrations.MigrationError, match=rf"{first.name} was changed after it was applied"):
        migrations.migrate(fresh_db, sql_dir=sql_dir)
    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        migrations.verify(fresh_db, sql_dir=sql_dir)


def test_failed_migration_rolls_back_and_is_not_recorded(fresh_db, tmp_path):
    sql_dir = _copy_sql(tmp_path)
    (sql_dir / "900_broken.sql").write_text("CREATE TABLE half_done (x int);\nSELECT no_such_function();\n")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrations.migrate(fresh_db, sql_dir=sql_dir)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = 900").fetchone()[0] == 0


def test_verify_reports_pending(fresh_db, tmp_path):
    sql_dir = _copy_sql(tmp_path)
    migrations.migrate(fresh_db, sql_dir=sql_dir)
    (sql_dir / "901_extra.sql").write_text("CREATE TABLE extra (x int);\n")
    with pytest.raises(migrations.MigrationError, match="pending migrations not applied: 901_extra.sql"):
        migrations.verify(fresh_db, sql_dir=sql_dir)


def test_cli_dry_run_and_verify(database_url, capsys):
    assert quant(["migrate", "--verify"]) == 0
    assert "checksums match" in capsys.readouterr().out
    assert quant(["migrate", "--dry-run"]) == 0
    assert "0 would apply" in capsys.readouterr().out
