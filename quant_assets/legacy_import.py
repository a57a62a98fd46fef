"""Compatibility name: the Spock importer lives in `quant_assets.legacy` (split by concern)."""

from quant_assets.legacy import (  # noqa: F401 - re-exported
    BATCH_ROWS,
    Counts,
    ImportReport,
    LegacyImportConfig,
    LegacyImportError,
    TableReport,
    import_legacy_database,
    legacy_import_job,
    run_import,
)
