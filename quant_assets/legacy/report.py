"""What an import did, per Spock table and per region: read, imported, rejected by reason,
collapsed duplicates, flagged values. `read == imported + rejected + collapsed` in every cell."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

NO_REGION = "-"          # rows that carry no region (market_sentiment, most archived tables)
MAX_EXAMPLES = 5

SPOCK_COLLISION_NOTE = (
    "Spock keyed `tickers` by ticker alone: 139 symbols listed both in the US and in Vietnam (ACB, MSN, "
    "AAM, ABT, ...) kept only one row there, and the other region's row was overwritten in Spock "
    "itself. Those rows cannot be recovered from the file; bars or details naming such a symbol "
    "with the lost region are rejected as ticker_region_lost_in_spock (kept in legacy_rows).")


@dataclasses.dataclass
class Counts:
    read: int = 0
    imported: int = 0                # valid rows, now in PostgreSQL (inserted now or already there)
    inserted: int = 0                # of those, new to PostgreSQL in this run (0 in a dry run)
    collapsed: int = 0               # older re-fetches of a key whose latest row was imported
    rejected: Counter = dataclasses.field(default_factory=Counter)   # reason -> rows
    flagged: Counter = dataclasses.field(default_factory=Counter)    # imported rows with a caveat

    def add(self, other: Counts) -> None:
        self.read += other.read
        self.imported += other.imported
        self.inserted += other.inserted
        self.collapsed += other.collapsed
        self.rejected.update(other.rejected)
        self.flagged.update(other.flagged)

    @property
    def balanced(self) -> bool:
        return self.read == self.imported + self.collapsed + sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "imported": self.imported, "inserted": self.inserted,
                "collapsed": self.collapsed, "rejected": dict(sorted(self.rejected.items())),
                "flagged": dict(sorted(self.flagged.items()))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counts:
        return cls(d["read"], d["imported"], d["inserted"], d["collapsed"], Counter(d["rejected"]),
                   Counter(d["flagged"]))


@dataclasses.dataclass
class TableReport:
    source: str                      # Spock table
    target: str                      # PostgreSQL table ('legacy_rows' for archived tables)
    status: str = "pending"          # imported | dry_run | interrupted | resumed_done
    regions: dict[str, Counts] = dataclasses.field(default_factory=dict)
    examples: dict[str, list] = dataclasses.field(default_factory=dict)
    note: str | None = None

    def region(self, region: str | None) -> Counts:
        return self.regions.setdefault(region or NO_REGION, Counts())

    @property
    def total(self) -> Counts:
        out = Counts()
        for c in self.regions.values():
            out.add(c)
        return out

    def example(self, reason: str, items: list) -> None:
        have = self.examples.setdefault(reason, [])
        have.extend(items[: max(0, MAX_EXAMPLES - len(have))])

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "status": self.status, "note": self.note,
                "total": self.total.to_dict(),
                "regions": {r: c.to_dict() for r, c in sorted(self.regions.items())},
                "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableReport:
        return cls(d["source"], d["target"], d["status"], {r: Counts.from_dict(c) for r, c in d["regions"].items()},
                   d.get("examples", {}), d.get("note"))


def _reasons(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "-"


@dataclasses.dataclass
class ImportReport:
    source: str
    checksum: str
    dry_run: bool
    completed: bool = False
    tables: dict[str, TableReport] = dataclasses.field(default_factory=dict)
    final_counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)   # target -> region -> n
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(t.total.read for t in self.tables.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "checksum": self.checksum, "dry_run": self.dry_run,
                "completed": self.completed, "seconds": round(self.seconds, 3), "rows_read": self.rows_read,
                "rows_per_second": round(self.rows_per_second, 1),
                "tables": {k: v.to_dict() for k, v in self.tables.items()},
                "final_counts": self.final_counts, "notes": self.notes}

    def markdown(self) -> str:
        lines = ["| Spock table | → table | region | read | imported | inserted | collapsed | rejected | flagged |",
                 "|---|---|---|---:|---:|---:|---:|---|---|"]
        for name, t in self.tables.items():
            for region, c in sorted(t.regions.items()) or [(NO_REGION, Counts())]:
                lines.append(f"| {name} | {t.target} | {region} | {c.read} | {c.imported} | {c.inserted} | "
                             f"{c.collapsed} | {_reasons(c.rejected)} | {_reasons(c.flagged)} |")
        if self.final_counts:
            regions = sorted({r for counts in self.final_counts.values() for r in counts if len(r) <= 2})
            lines += ["", "Rows in PostgreSQL afterwards, per region:", "",
                      "| table | " + " | ".join(regions) + " |", "|---|" + "---:|" * len(regions)]
            for target, counts in self.final_counts.items():
                if target != "legacy_rows":
                    lines.append(f"| {target} | " + " | ".join(str(counts.get(r, 0)) for r in regions) + " |")
            archived = self.final_counts.get("legacy_rows", {})
            if archived:
                lines += ["", "legacy_rows of this file (archived, rejected, collapsed): "
                          + ", ".join(f"{t} {n}" for t, n in archived.items())]
        return "\n".join(lines + [""] + [f"- {n}" for n in self.notes])

    def summary(self) -> str:
        head = (f"{'DRY RUN: ' if self.dry_run else ''}Spock import of {self.source} "
                f"({'complete' if self.completed else 'INCOMPLETE'}; {self.rows_read} rows in {self.seconds:.1f} s, "
                f"{self.rows_per_second:,.0f} rows/s)")
        return head + "\n" + self.markdown()
