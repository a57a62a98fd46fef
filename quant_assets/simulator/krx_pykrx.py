"""KRX endpoints only pykrx reads (our pipeline does not): index master, daily index board and
index constituents, period price change of all stocks / all ETFs, one stock's PER/PBR history.

Registered in `krx.KrxService.handlers`; every function takes the service and the request form
and returns `(json key, rows)` like the service's own handlers. Field names and formats follow
the docstring samples of pykrx 1.2.x (`pykrx/website/krx/market/core.py`, `etx/core.py`).

Index classes (`idxIndMidclssCd`): 01 KRX (our `indIdx` 5), 02 KOSPI (1), 03 KOSDAQ (2) and
04 테마 for the simulator's overseas/bond/commodity benchmarks (9; a simulator choice - on the
real site those are not KRX indexes). pykrx concatenates all four classes and an empty one empties
its whole index map, so every class has members.
"""

from __future__ import annotations

import numpy as np

from .fmt import DASH, cf, ci, kdate

INDEX_CLASS = {"01": "5", "02": "1", "03": "2", "04": "9"}


def _rate(chg: float, base: float) -> str:
    return f"{(chg / base * 100.0) if base else 0.0:.2f}"


def _fluc(chg: float) -> str:
    return "1" if chg > 0 else "2" if chg < 0 else "3"


def _class_indexes(svc, form) -> list[int]:
    ind = INDEX_CLASS.get(form.get("idxIndMidclssCd", ""), "")
    return [k for k, s in enumerate(svc.m.index_specs) if s.ind_idx == ind]


def index_master(svc, form):
    """MDCSTAT00401 전체지수기본정보: one row per index of the requested class."""
    m = svc.m
    base_day = m.dates[0].strftime("%Y.%m.%d")
    rows = []
    for k in _class_indexes(svc, form):
        s = m.index_specs[k]
        members = len(m.index_members(k, max(0, svc.pub.today_t()))[0]) if s.kind == "stocks" else 0
        rows.append({
            "IDX_NM": s.name, "IDX_ENG_NM": s.eng or s.name, "BAS_TM_CONTN": base_day, "ANNC_TM_CONTN": base_day,
            "BAS_IDX_CONTN": cf(s.base), "CALC_CYCLE_CONTN": "1초" if s.kind == "stocks" else "1일",
            "CALC_TM_CONTN": "09:00:10 ~ 15:30:00" if s.kind == "stocks" else "1회",
            "COMPST_ISU_CNT": ci(members), "IND_TP_CD": s.ind_idx, "IDX_IND_CD": s.ind_idx2,
        })
    return "output", rows


def index_board(svc, form):
    """MDCSTAT00101 전체지수시세: every index of the class on `trdDd` (empty unless published)."""
    m = svc.m
    d = svc._date(form, "trdDd")
    if d is None or svc.pub.state(d) != "open" or d not in m.t_of:
        return "output", []
    t = m.t_of[d]
    rows = []
    for k in _class_indexes(svc, form):
        b = m.index_bar(k, np.array([t]))
        c, p = float(b["close"][0]), float(b["prev"][0])
        chg = round(c, 2) - round(p, 2)
        walk = m.index_specs[k].kind == "walk"
        rows.append({
            "IDX_NM": m.index_specs[k].name, "CLSPRC_IDX": cf(c), "FLUC_TP_CD": _fluc(round(chg, 2)),
            "CMPPREVDD_IDX": cf(chg), "FLUC_RT": _rate(chg, p), "OPNPRC_IDX": cf(b["open"][0]),
            "HGPRC_IDX": cf(b["high"][0]), "LWPRC_IDX": cf(b["low"][0]),
            "ACC_TRDVOL": DASH if walk else ci(b["volume"][0]), "ACC_TRDVAL": DASH if walk else ci(b["value"][0]),
            "MKTCAP": DASH if walk else ci(b["cap"][0]),
        })
    return "output", rows


def index_members(svc, form):
    """MDCSTAT00601 지수구성종목: constituents of one index (indIdx, indIdx2) on `trdDd`, largest first."""
    m, st = svc.m, svc.m.stocks
    k = m.index_by_code.get((form.get("indIdx", ""), form.get("indIdx2", "").zfill(3)))
    d = svc._date(form, "trdDd")
    if k is None or d is None or svc.pub.state(d) != "open" or d not in m.t_of:
        return "output", []
    t = m.t_of[d]
    live, _ = m.index_members(k, t)
    if len(live) == 0:
        return "output", []
    b = m.stock_bars(live, t)
    cap = b["close"].astype(np.int64) * b["shares"].astype(np.int64)
    rows = []
    for j in np.argsort(-cap, kind="stable").tolist():
        i, c, prev = int(live[j]), int(b["close"][j]), round(float(b["prev"][j]))
        rows.append({"ISU_SRT_CD": st.code[i], "ISU_ABBRV": st.name[i], "TDD_CLSPRC": f"{c:,}",
                     "FLUC_TP_CD": _fluc(c - prev), "STR_CMP_PRC": f"{c - prev:,}", "FLUC_RT": _rate(c - prev, prev),
                     "MKTCAP": f"{int(cap[j]):,}"})
    return "output", rows


def stock_price_change(svc, form):
    """MDCSTAT01602 전종목등락률: base price (close before strtDd), close on the last published day in
    the period, summed volume/value; adjStkPrc=2 expresses the base price in today's share terms."""
    m, st = svc.m, svc.m.stocks
    ts = svc._range_ts(form)
    if not ts:
        return "OutBlock_1", []
    t0, t1 = ts[0], ts[-1]
    idx = svc._stock_sel(form, t1)
    idx = idx[st.list_t[idx] <= t0]  # listed over the whole period
    if len(idx) == 0:
        return "OutBlock_1", []
    first, last = m.stock_bars(idx, t0), m.stock_bars(idx, t1)
    base = first["prev"]
    if form.get("adjStkPrc", "1") == "2":
        base = base * m.factor(idx, t0) / m.factor(idx, t1)
    vol = np.zeros(len(idx), dtype=np.int64)
    val = np.zeros(len(idx), dtype=np.int64)
    for t in ts:
        b = m.stock_bars(idx, t)
        vol += b["volume"].astype(np.int64)
        val += b["value"].astype(np.int64)
    rows = []
    for j, i in enumerate(idx.tolist()):
        bp, c = int(round(base[j])), int(last["close"][j])
        rows.append({
            "ISU_SRT_CD": st.code[i], "ISU_ABBRV": st.name[i], "BAS_PRC": f"{bp:,}", "TDD_CLSPRC": f"{c:,}",
            "CMPPREVDD_PRC": f"{c - bp:,}", "FLUC_RT": _rate(c - bp, bp), "ACC_TRDVOL": f"{int(vol[j]):,}",
            "ACC_TRDVAL": f"{int(val[j]):,}", "FLUC_TP": _fluc(c - bp),
        })
    return "OutBlock_1", rows


def etf_price_change(svc, form):
    """MDCSTAT04401 ETF 전종목등락률: as MDCSTAT01602 for ETFs listed over the whole period."""
    E = svc.m.etfs
    ts = svc._range_ts(form)
    if not ts:
        return "output", []
    t0, t1 = ts[0], ts[-1]
    es = np.nonzero((E.list_t <= t0) & (t1 < E.delist_t))[0]
    if len(es) == 0:
        return "output", []
    first, last = E.bars(es, t0), E.bars(es, t1)
    vol = np.zeros(len(es), dtype=np.int64)
    val = np.zeros(len(es), dtype=np.int64)
    for t in ts:
        b = E.bars(es, t)
        vol += b["volume"].astype(np.int64)
        val += b["value"].astype(np.int64)
    rows = []
    for j, e in enumerate(es.tolist()):
        bp, c = int(round(first["prev"][j])), int(last["close"][j])
        rows.append({
            "ISU_SRT_CD": E.code[e], "ISU_ABBRV": E.abbrv[e], "BAS_PRC": f"{bp:,}", "CLSPRC": f"{c:,}",
            "FLUC_TP_CD": _fluc(c - bp), "CMP_PRC": f"{c - bp:,}", "FLUC_RT": _rate(c - bp, bp),
            "ACC_TRDVOL": f"{int(vol[j]):,}", "ACC_TRDVAL": f"{int(val[j]):,}",
        })
    return "output", rows


def stock_fundamental_history(svc, form):
    """MDCSTAT03502 PER/PBR/배당수익률(개별종목): one stock (isuCd = ISIN) per published day, newest
    first, with the same figures MDCSTAT03501 shows for that stock on that day."""
    m, st = svc.m, svc.m.stocks
    code = form.get("isuCd", "")
    i = m.isin_to_i.get(code, m.code_to_i.get(code))
    if i is None:
        return "output", []
    ts = [t for t in svc._range_ts(form) if st.list_t[i] <= t < st.delist_t[i]]
    pref = bool(st.preferred[i])
    rows = []
    for t in reversed(ts):
        b = m.stock_bars(np.array([i]), t)
        f = m.fundamentals(t, np.array([i]))
        c, prev = int(b["close"][0]), round(float(b["prev"][0]))
        eps, bps, dps = int(f["eps"][0]), int(f["bps"][0]), int(f["dps"][0])
        rows.append({
            "TRD_DD": kdate(m.dates[t]), "TDD_CLSPRC": f"{c:,}", "FLUC_TP_CD": _fluc(c - prev),
            "CMPPREVDD_PRC": f"{c - prev:,}", "FLUC_RT": _rate(c - prev, prev),
            "EPS": DASH if pref else f"{eps:,}", "PER": f"{c / eps:.2f}" if eps > 0 and not pref else DASH,
            "BPS": DASH if pref else f"{bps:,}", "PBR": f"{c / bps:.2f}" if bps > 0 and not pref else DASH,
            "DPS": f"{dps:,}", "DVD_YLD": f"{dps / c * 100:.2f}",
        })
    return "output", rows


HANDLERS = {
    "MDCSTAT00401": index_master, "MDCSTAT00101": index_board, "MDCSTAT00601": index_members,
    "MDCSTAT01602": stock_price_change,
    "MDCSTAT04401": etf_price_change, "MDCSTAT03502": stock_fundamental_history,
}
