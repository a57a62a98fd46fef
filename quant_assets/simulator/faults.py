"""Fault injection: switchable per run through `SimulatorServer.set_faults` or `POST /_sim/faults`.

Spec (JSON object; every key optional):

    {
      "seed": 7,                       # RNG for the random rates (same seed + same request order
                                       #   = same faults)
      "timeout_seconds": 120.0,        # how long a "timeout" fault holds the answer (default 120 s,
                                       #   longer than any client timeout; see `timeout` below)
      "rates": {                       # independent probabilities per data request
        "krx": {"http_500": 0.1, "timeout": 0.05, "truncated": 0.05, "logout": 0.02, "ban": 0.0},
        "kis": {"http_500": 0.1, "rate_limit": 0.1, "timeout": 0.05, "truncated": 0.05}
      },
      "rules": [                       # targeted faults, checked before the random rates
        {"source": "krx", "bld": "MDCSTAT01501", "date": "20240105", "fault": "truncated", "times": 1},
        {"source": "krx", "bld": "MDCSTAT01501", "date": "20240105", "fault": "corrupt",
         "kind": "dash_price", "ticker": "005930", "field": "TDD_CLSPRC"},
        {"source": "krx", "fault": "ban", "variant": "html200"},       # or "403"
        {"source": "krx", "fault": "late", "minutes": 120, "dataset": "prices"},
        {"source": "kis", "tr_id": "FHKST03010100", "fault": "rate_limit", "times": 3}
      ]
    }

Rule matching (all given keys must match): `source` "krx" | "kis" (both KIS hosts) | "kis-vts"
(virtual only); `bld` matches the last path segment of the form's bld (`MDCSTAT01501`,
`finder_stkisu`); `tr_id` the KIS tr_id header; `path` a substring of the request path; `date`
(YYYYMMDD) equals trdDd, or falls inside strtDd..endDd / FID_INPUT_DATE_1.._2; `ticker` is the
request's isuCd/FID_INPUT_ISCD (ISIN or short code) for non-corrupt faults. `times` = how many
matching requests to hit (null/absent = every one).

Fault kinds (each source accepts only the faults its real counterpart produces; anything else is
refused by `set` with a ValueError, so a spec never silently does nothing):
  http_500    KRX: HTML 500 page. KIS: HTTP 500 {"rt_cd":"1","msg_cd":"EGW00002",...}.
  http_403    KRX only: a plain "403 Forbidden / service unavailable" HTML page (an outage, NOT
              the ban notice).
  maintenance KRX only: HTTP 200 HTML "시스템 점검" page where JSON was expected.
  timeout     hold the answer until the client gives up (it hangs up) or `timeout_seconds` (or the
              rule's `seconds`) pass, then answer normally. With the default 120 s every client
              timeout (ours: 20 s) really expires.
  truncated   the normal body cut in half (Content-Length matches the cut body).
  logout      KRX only: the caller's session is invalidated and the answer is `LOGOUT`: variant
              "400" (default; HTTP 400 text/plain, as recorded) or "html200" (an HTTP 200 HTML page
              saying LOGOUT, as a session-expired page).
  ban         KRX only: the IP-block notice; variant "html200" (default, HTTP 200 HTML) or "403".
              Applies to every /krx path while active.
  rate_limit  KIS only: HTTP 500 EGW00201 (KIS sends no Retry-After). KRX has no throttle answer
              (it slows down or bans), so a KRX rate_limit is refused.
  expired_token  KIS only: EGW00123 as if the token had expired.
  late        publication of `dataset` ("prices" | "pdf" | "aum" | absent = all) delayed by
              `minutes`; with `date` only that trading day is late. Never consumed by `times`.
  corrupt     content fault inside a valid payload, `kind`:
                dash_price      the field ("TDD_CLSPRC"/"stck_clpr" by default) becomes "-"
                negative_price  the field becomes negative
                high_lt_low     high and low swapped so that high < low
                duplicate_ticker  the row appears twice
                missing_field   the field is removed from the row
                empty           the data list is empty (on a trading day)
                scale           the field multiplied by `factor` (default 100: a price in the wrong unit)
                zero            the field becomes "0" (e.g. an FX quote of zero)
                constant        the field becomes `value` in EVERY row (a fallback-looking constant)
                no_trade        not a fault but KRX's own convention for a listed security that did
                                not trade (e.g. suspended): open/high/low "0", volume and value "0"
              `ticker` picks the row (ISU_SRT_CD / COMPST_ISU_CD / stck_shrn_iscd), else the first row.
Random rates only apply to data requests (KRX getJsonData, KIS quotations), never to login/token
or control endpoints; rules apply wherever they match.
"""

from __future__ import annotations

import copy
import random
import select
import socket
import threading
import time
from dataclasses import dataclass

REPLACING = ("ban", "http_500", "http_403", "maintenance", "logout", "rate_limit", "expired_token")
POST = ("timeout", "truncated")
RATE_ORDER = ("ban", "logout", "rate_limit", "http_500", "http_403", "maintenance", "timeout", "truncated")
COMMON = ("http_500", "timeout", "truncated", "late", "corrupt")
SUPPORTED = {
    "krx": frozenset(COMMON + ("http_403", "maintenance", "logout", "ban")),
    "kis": frozenset(COMMON + ("rate_limit", "expired_token")),
}
VARIANTS = {"ban": ("html200", "403"), "logout": ("400", "html200")}
DEFAULT_TIMEOUT_SECONDS = 120.0


def _family(source: str) -> str:
    return "kis" if source.startswith("kis") else "krx"


def wait_unless_hung_up(sock: socket.socket, seconds: float) -> bool:
    """Sleep up to `seconds`, returning False as soon as the client closes the connection (a
    client that timed out hangs up), so a timeout fault never outlives the client's patience."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], min(left, 0.25))
            if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                return False
        except (OSError, ValueError):
            return False
        if readable:  # the client sent more (pipelining): it is still there, just wait
            time.sleep(min(max(deadline - time.monotonic(), 0.0), 0.25))


@dataclass
class Decision:
    """What to do to one request: `replace` (a fault kind answering instead of the handler),
    `delay` seconds before answering, `truncate` the body, and corrupt rules for the payload."""

    replace: str | None = None
    variant: str | None = None
    delay: float = 0.0
    truncate: bool = False
    corrupt: list | None = None


@dataclass
class RequestInfo:
    source: str  # krx | kis | kis-vts
    path: str
    bld: str = ""  # short bld name
    tr_id: str = ""
    dates: tuple = ()  # (lo, hi) YYYYMMDD strings or () when the request has no date
    ticker: str = ""
    is_data: bool = True


class FaultInjector:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.spec: dict = {}
            self._rules: list[dict] = []
            self._rng = random.Random(0)
            self.timeout_seconds = DEFAULT_TIMEOUT_SECONDS
            self.hits: dict[str, int] = {}

    def set(self, spec: dict) -> None:
        if not isinstance(spec, dict):
            raise ValueError("fault spec must be a JSON object")
        rules = spec.get("rules", []) or []
        for r in rules:
            if "fault" not in r:
                raise ValueError(f"fault rule without 'fault': {r}")
            fams = [_family(r["source"])] if r.get("source") else ["krx", "kis"]
            if not any(r["fault"] in SUPPORTED[f] for f in fams):
                raise ValueError(f"fault {r['fault']!r} is not something {'/'.join(fams)} does (rule {r}); "
                                 f"supported: { {f: sorted(SUPPORTED[f]) for f in fams} }")
            if r["fault"] in VARIANTS and r.get("variant", VARIANTS[r["fault"]][0]) not in VARIANTS[r["fault"]]:
                raise ValueError(f"unknown {r['fault']} variant in {r}; one of {VARIANTS[r['fault']]}")
            if r["fault"] == "corrupt" and r.get("kind") not in (
                    "dash_price", "negative_price", "high_lt_low", "duplicate_ticker", "missing_field", "empty",
                "no_trade", "scale", "zero", "constant"):
                raise ValueError(f"unknown corrupt kind in {r}")
        for fam, rates in (spec.get("rates") or {}).items():
            if fam not in SUPPORTED:
                raise ValueError(f"rates for unknown source {fam!r} (krx or kis)")
            for kind, p in (rates or {}).items():
                if kind not in SUPPORTED[fam] or kind in ("late", "corrupt"):
                    raise ValueError(f"random rate {kind!r} is not something {fam} does; "
                                     f"supported: {sorted(SUPPORTED[fam] - {'late', 'corrupt'})}")
                if not 0.0 <= float(p) <= 1.0:
                    raise ValueError(f"rate {fam}.{kind} must be a probability, got {p!r}")
        with self._lock:
            self.spec = copy.deepcopy(spec)
            self._rules = [dict(r, _left=r.get("times")) for r in self.spec.get("rules", []) or []]
            self._rng = random.Random(spec.get("seed", 0))
            self.timeout_seconds = float(spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))
            self.hits = {}

    # ------------------------------------------------------------------ matching
    @staticmethod
    def _matches(rule: dict, req: RequestInfo, *, use_ticker: bool = True) -> bool:
        src = rule.get("source")
        if src and not (src == req.source or (src == "kis" and req.source in ("kis", "kis-vts"))):
            return False
        if rule.get("bld") and rule["bld"].rsplit("/", 1)[-1] != req.bld:
            return False
        if rule.get("tr_id") and rule["tr_id"] != req.tr_id:
            return False
        if rule.get("path") and rule["path"] not in req.path:
            return False
        if rule.get("date"):
            d = str(rule["date"]).replace("-", "")
            if not req.dates or not (req.dates[0] <= d <= req.dates[1]):
                return False
        return not (use_ticker and rule.get("ticker") and rule["fault"] != "corrupt"
                    and rule["ticker"] != req.ticker)

    def _consume(self, rule: dict) -> bool:
        if rule["_left"] is None:
            return True
        if rule["_left"] <= 0:
            return False
        rule["_left"] -= 1
        return True

    def decide(self, req: RequestInfo) -> Decision:
        dec = Decision()
        with self._lock:
            if not self.spec:
                return dec
            for rule in self._rules:
                kind = rule["fault"]
                if kind == "late" or kind not in SUPPORTED[_family(req.source)] or not self._matches(rule, req):
                    continue
                if kind == "ban" and not self._consume(rule):
                    continue
                if kind == "ban":
                    dec.replace, dec.variant = "ban", rule.get("variant", "html200")
                    break
                if kind == "corrupt":
                    if req.is_data and self._consume(rule):
                        dec.corrupt = (dec.corrupt or []) + [rule]
                    continue
                if dec.replace is None and kind in REPLACING and self._consume(rule):
                    dec.replace, dec.variant = kind, rule.get("variant")
                elif kind == "timeout" and not dec.delay and self._consume(rule):
                    dec.delay = float(rule.get("seconds", self.timeout_seconds))
                elif kind == "truncated" and not dec.truncate and self._consume(rule):
                    dec.truncate = True
            if req.is_data:
                rates = (self.spec.get("rates") or {}).get("kis" if req.source.startswith("kis") else "krx", {})
                for kind in RATE_ORDER:
                    p = float(rates.get(kind, 0.0) or 0.0)
                    if p <= 0 or self._rng.random() >= p:
                        continue
                    if kind in REPLACING and dec.replace is None:
                        dec.replace = kind
                    elif kind == "timeout" and not dec.delay:
                        dec.delay = self.timeout_seconds
                    elif kind == "truncated":
                        dec.truncate = True
            for name in filter(None, [dec.replace, "timeout" if dec.delay else None,
                                      "truncated" if dec.truncate else None,
                                      "corrupt" if dec.corrupt else None]):
                self.hits[name] = self.hits.get(name, 0) + 1
        return dec

    def banned(self, source: str) -> str | None:
        """Variant of an active ban rule for `source` (without consuming it), else None."""
        with self._lock:
            for rule in self._rules:
                if rule["fault"] == "ban" and rule.get("source", source) == source and (
                        rule["_left"] is None or rule["_left"] > 0):
                    return rule.get("variant", "html200")
        return None

    def late_minutes(self, source: str, dataset: str, date: str) -> float:
        """Publication delay (minutes) for one dataset/day."""
        total = 0.0
        with self._lock:
            for rule in self._rules:
                if rule["fault"] != "late":
                    continue
                src = rule.get("source")
                if src and not (src == source or (src == "kis" and source in ("kis", "kis-vts"))):
                    continue
                if rule.get("dataset") and rule["dataset"] != dataset:
                    continue
                if rule.get("date") and str(rule["date"]).replace("-", "") != date:
                    continue
                total = max(total, float(rule.get("minutes", 0)))
        return total


# ---------------------------------------------------------------------- content corruption
_TICKER_KEYS = ("ISU_SRT_CD", "COMPST_ISU_CD", "stck_shrn_iscd", "short_code")
_DEFAULT_FIELD = {"krx": "TDD_CLSPRC", "kis": "stck_clpr"}
_HL = {"krx": ("TDD_HGPRC", "TDD_LWPRC"), "kis": ("stck_hgpr", "stck_lwpr")}


def corrupt_rows(rows: list[dict], rules: list[dict], source: str) -> list[dict]:
    """Apply corrupt rules to a list of row dicts (returns a new list)."""
    fam = "kis" if source.startswith("kis") else "krx"
    rows = [dict(r) for r in rows]
    for rule in rules:
        kind = rule.get("kind")
        if kind == "empty":
            rows = []
            continue
        if not rows:
            continue
        if kind == "constant":
            for r in rows:
                r[rule.get("field") or _DEFAULT_FIELD[fam]] = str(rule.get("value", "1300.00"))
            continue
        pos = 0
        if rule.get("ticker"):
            for k, r in enumerate(rows):
                if any(r.get(key) == rule["ticker"] for key in _TICKER_KEYS):
                    pos = k
                    break
        if rule.get("row_date"):
            for k, r in enumerate(rows):
                if str(rule["row_date"]) in (r.get("stck_bsop_date"), r.get("xymd"),
                                             str(r.get("TRD_DD", "")).replace("/", "")):
                    pos = k
                    break
        row = rows[pos]
        field = rule.get("field") or _DEFAULT_FIELD[fam]
        if fam == "krx" and field not in row:
            field = next((f for f in ("TDD_CLSPRC", "CLSPRC", "NAV", "COMPST_AMT", "CLSPRC_IDX") if f in row), field)
        if kind == "dash_price":
            row[field] = "-"
        elif kind == "negative_price":
            v = str(row.get(field, "1"))
            row[field] = v if v.startswith("-") else "-" + v
        elif kind == "high_lt_low":
            hk, lk = _HL[fam]
            hi, lo = row.get(hk, "0"), row.get(lk, "0")
            if hi == lo:
                num = int(str(lo).replace(",", "").split(".")[0] or 0) + 10
                lo = f"{num:,}" if fam == "krx" else str(num)
            row[hk], row[lk] = lo, hi
        elif kind == "scale":
            v = float(str(row.get(field, "0")).replace(",", "") or 0) * float(rule.get("factor", 100))
            row[field] = f"{v:.4f}"
        elif kind == "zero":
            row[field] = "0"
        elif kind == "duplicate_ticker":
            rows.insert(pos + 1, dict(row))
        elif kind == "missing_field":
            row.pop(field, None)
        elif kind == "no_trade" and fam == "krx":
            row.update({k: "0" for k in ("TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "ACC_TRDVAL")})
    return rows
