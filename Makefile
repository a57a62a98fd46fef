# quant-assets: `make run` brings the platform up, `make test` runs every test.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-slow test-faults test-ui bench bench-ops bench-history bench-storage lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# make run PORT=3001 SIM_PORT=8766: Dagster UI and simulator ports (defaults 3000 and 8765).
run: $(STAMP)
	$(BIN)/quant up $(if $(PORT),--port $(PORT)) $(if $(SIM_PORT),--sim-port $(SIM_PORT))

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -m "not slow and not browser and not faults"

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

# Reliability suite (issue #11): re-runs, fault mix, SIGKILLs, bad payloads, ban/outage, secrets,
# overlapping loads, readers during writes; figures in artifacts/test_faults.json.
test-faults: $(STAMP)
	$(BIN)/pytest -n 0 -m faults quant_assets_tests/faults

test-ui: $(STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/pytest -m browser

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench

# Backfill wall time (ranged vs one run per day) and sensor-to-done latency through the real
# daemon (`quant up` on ports 3410-3411/8810-8811; about half an hour).
bench-ops: $(STAMP)
	$(BIN)/python -m benchmarks.bench_ops

# Ten years of the whole KR graph in one run against the full-size simulator (issue #13 targets):
# ingest vs raw COPY, derived ms/day, storage and compaction, query p50/p95, pykrx + to_sql peer.
# Writes artifacts/bench_history.json. `make bench-history ARGS="--years 1"` for a shorter run.
bench-history: $(STAMP)
	$(BIN)/python -m benchmarks.history $(ARGS)

# Compacted closed months (quant_assets/storage): bytes/row before/after, ratio, query p50/p95,
# write path through the view. Writes artifacts/bench_storage.json. ARGS="--tickers 1000 --years 3".
bench-storage: $(STAMP)
	$(BIN)/python -m benchmarks.storage $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .quant
