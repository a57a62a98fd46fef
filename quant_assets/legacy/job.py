"""`legacy_import_job`: the Spock import as a Dagster op job, its report as output metadata."""

import dagster as dg

from quant_assets.legacy.engine import BATCH_ROWS, run_import
from quant_assets.resources.warehouse import Warehouse


class LegacyImportConfig(dg.Config):
    sqlite_path: str
    dry_run: bool = False
    batch_rows: int = BATCH_ROWS
    max_batches: int | None = None


@dg.op(description="Import a Spock SQLite database — every table, all six regions — into the warehouse, "
                   "resumably, and report per table and region what was read, imported, rejected (why), "
                   "collapsed and flagged.")
def import_legacy_database(context: dg.OpExecutionContext, config: LegacyImportConfig,
                           warehouse: Warehouse) -> dict:
    report = run_import(config.sqlite_path, warehouse, dry_run=config.dry_run, batch_rows=config.batch_rows,
                        max_batches=config.max_batches, logger=context.log)
    context.log.info(report.summary())
    meta: dict = {
        "source": report.source, "dry_run": report.dry_run, "completed": report.completed,
        "rows_read": report.rows_read, "rows_per_second": round(report.rows_per_second, 1),
        "report": dg.MetadataValue.json(report.to_dict()), "summary": dg.MetadataValue.md(report.markdown()),
    }
    for name, table in report.tables.items():
        total = table.total
        meta[f"{name}_imported"] = total.imported
        meta[f"{name}_rejected"] = sum(total.rejected.values())
    context.add_output_metadata(meta)
    return report.to_dict()


@dg.job(description="One-off migration from a Spock SQLite file. Config: sqlite_path, dry_run, batch_rows, "
                    "max_batches. Re-runnable (a second import changes nothing) and resumable.")
def legacy_import_job():
    import_legacy_database()
