"""Import a Spock SQLite database (the users' previous system) whole into the warehouse.

    run_import(path, warehouse, dry_run=False, batch_rows=50_000, max_batches=None) -> ImportReport
    legacy_import_job                        Dagster job (config: sqlite_path, dry_run, ...)
    quant import-legacy PATH [--dry-run]     the same from the command line

Modules: source (the SQLite file, symbol/region resolver), values (Spock's value conventions),
reference / market / trading (one mapper per Spock table, each module's docstring says what it
does with that table's quirks), writer (COPY + set-based INSERTs), engine (batches, progress,
resume), report (per table, per region), job (Dagster). What is not mapped is archived in
`legacy_rows`, so read = imported + rejected + collapsed for every table and region.
"""

from quant_assets.legacy.engine import BATCH_ROWS, run_import
from quant_assets.legacy.job import LegacyImportConfig, import_legacy_database, legacy_import_job
from quant_assets.legacy.report import Counts, ImportReport, TableReport
from quant_assets.legacy.source import LegacyImportError

__all__ = ["BATCH_ROWS", "Counts", "ImportReport", "LegacyImportConfig", "LegacyImportError", "TableReport",
           "import_legacy_database", "legacy_import_job", "run_import"]
