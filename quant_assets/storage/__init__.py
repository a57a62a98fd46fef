"""Compact storage of closed periods (issue #13 item 5): layout, compaction, report, TimescaleDB."""

from quant_assets.storage.compaction import compact_closed_periods, default_before, uncompact_period
from quant_assets.storage.report import compaction_ratio, storage_report, summarise

__all__ = ["compact_closed_periods", "compaction_ratio", "default_before", "storage_report", "summarise",
           "uncompact_period"]
