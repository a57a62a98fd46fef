"""Asset definitions, one module per family (prices, reference, etf, ranges, factors, ...)."""

import warnings

import dagster as dg

# `backfill_policy` is marked beta in Dagster 1.13, and ranged runs are the point of our ingest
# assets (ARCHITECTURE §6): the warning would repeat once per asset in every process's log.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message="Parameter `backfill_policy`")
# Likewise `allow_nonexistent_upstream_partitions`: the current month/quarter/year buckets need it
# (assets/aggregates.py).
warnings.filterwarnings("ignore", category=dg.BetaWarning, message="Parameter `allow_nonexistent_upstream_partitions`")
