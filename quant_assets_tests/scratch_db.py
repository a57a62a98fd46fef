"""Brand-new databases on the session's embedded server, dropped afterwards: for tests that
compare two warehouses (plain vs compacted, old vs new writer) or need an empty catalogue."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

from quant_assets import migrations


@contextlib.contextmanager
def scratch_databases(database_url: str, prefix: str, n: int = 1, *, migrated: bool = True) -> Iterator[list[str]]:
    """`n` new databases named `prefix_<random>` next to `database_url`'s, with every migration
    applied unless `migrated` is False; yields their URLs and drops them (WITH FORCE) on exit."""
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for _ in range(n)]
    with psycopg.connect(database_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        urls = [database_url.replace("/quant?", f"/{name}?") for name in names]
        if migrated:
            for url in urls:
                migrations.migrate(url)
        yield urls
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
