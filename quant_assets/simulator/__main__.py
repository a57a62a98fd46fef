"""`python -m quant_assets.simulator --port 8765 --size full` - serve the simulator in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from pathlib import Path

from .config import SimConfig
from .server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quant_assets.simulator", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--size", choices=["small", "full"], default="full")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start-date", default="2010-01-04")
    ap.add_argument("--end-date", default=None)
    ap.add_argument("--now", default=None, help="ISO-8601 start of the simulated clock (default: real clock)")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--n-stocks", type=int, default=None)
    ap.add_argument("--n-etfs", type=int, default=None)
    ap.add_argument("--faults", default=None, help="fault spec as JSON text or @file.json")
    args = ap.parse_args(argv)
    now = dt.datetime.fromisoformat(args.now) if args.now else None
    cfg = SimConfig(size=args.size, seed=args.seed, start_date=args.start_date, end_date=args.end_date, now=now,
                    speed=args.speed, n_stocks=args.n_stocks, n_etfs=args.n_etfs)
    t0 = time.perf_counter()
    srv = SimulatorServer(cfg, host=args.host, port=args.port)
    if args.faults:
        text = Path(args.faults[1:]).read_text(encoding="utf-8") if args.faults.startswith("@") else args.faults
        srv.set_faults(json.loads(text))
    print(f"quant simulator: {len(srv.market.stocks)} stocks, {srv.market.etfs.n} ETFs, "
          f"{srv.market.T} trading days, built in {time.perf_counter() - t0:.2f}s; "
          f"serving http://{args.host}:{args.port} (/krx, /kis, /kis-vts, /_sim)", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
