"""Numbered SQL migrations from `sql/`, applied in order, each in its own transaction.

Applied files are recorded with a SHA-256 checksum; editing a file after it was applied is refused
(write a new migration instead), because silently diverging schemas are how data gets lost. A
PostgreSQL advisory lock serialises concurrent migrators (several runs may start at once).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x5155414E  # "QUAN"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationPlan:
    applied: list[Migration]
    pending: list[Migration]


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files must be named NNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {sql_dir}: {versions}")
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text        NOT NULL,
               checksum   char(64)    NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def plan(conn: psycopg.Connection, sql_dir: Path = SQL_DIR) -> MigrationPlan:
    """Compare files with what the database recorded; refuse changed or vanished files."""
    _ensure_table(conn)
    recorded = {v: (n, c) for v, n, c in conn.execute("SELECT version, name, checksum FROM schema_migrations")}
    files = discover(sql_dir)
    by_version = {m.version: m for m in files}
    for version, (name, _) in recorded.items():
        if version not in by_version:
            raise MigrationError(f"migration {version:03d}_{name}.sql was applied but its file is missing")
    applied, pending = [], []
    for m in files:
        if m.version in recorded:
            if recorded[m.version][1] != m.checksum:
                raise MigrationError(
                    f"{m.path.name} was changed after it was applied (checksum "
                    f"{recorded[m.version][1][:12]}… in schema_migrations, {m.checksum[:12]}… on disk). "
                    "Applied migrations are immutable: restore the file and add a new migration."
                )
            applied.append(m)
        else:
            pending.append(m)
    return MigrationPlan(applied, pending)


def migrate(url: str, *, dry_run: bool = False, sql_dir: Path = SQL_DIR) -> MigrationPlan:
    """Apply pending migrations (or only report them with dry_run). Returns the plan used."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            current = plan(conn, sql_dir)
            if dry_run:
                return current
            for m in current.pending:
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            return current
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def verify(url: str, sql_dir: Path = SQL_DIR) -> MigrationPlan:
    """Raise unless every file is applied with a matching checksum."""
    with psycopg.connect(url, autocommit=True) as conn:
        current = plan(conn, sql_dir)
    if current.pending:
        names = ", ".join(m.path.name for m in current.pending)
        raise MigrationError(f"pending migrations not applied: {names}")
    return current
