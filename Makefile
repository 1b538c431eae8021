# The one way to set up and run hyperseal. `make demo` and `make test` create
# .venv on first use; later runs reuse it (re-installed when pyproject.toml changes).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test test-all bench bench-peers bench-ultralytics lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo: tune the tiny FCOS on the built-in synthetic scenes, then write the report.
demo: $(STAMP)
	@run=runs/demo-$$(date +%Y%m%d-%H%M%S); \
	$(VENV)/bin/hyperseal tune --out $$run && \
	$(VENV)/bin/hyperseal report tune $$run

test: $(STAMP)
	$(PY) -m pytest -q

# test-all adds the slow tests (with the examples' extra: Ultralytics) and the
# headless-browser check of the HTML reports (Debian's chromium, installed here when
# apt-get is available).
test-all: $(STAMP)
	$(PY) -m pip install --quiet -e '.[examples]'
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && $$( [ "$$(id -u)" -eq 0 ] || echo sudo -n ) sh -c 'apt-get update -qq && apt-get install -y -qq chromium'; } || echo "chromium not installed: the browser check will be skipped"
	$(PY) -m pytest -q -m ''

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks.run_all

# hyperseal's default against Optuna (TPE + Hyperband, TPE + SHA), SMAC3's multi-fidelity
# facade and random search, at equal training epochs (not in `make bench`: hours on 2 CPU
# cores for the demo's problem). Its options: make bench-peers ARGS='--problems mlp9 --seeds 24'
bench-peers: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks.peers $(ARGS)

# Ultralytics' own tuner against `hyperseal tune`, same YOLO training and budget (not in
# `make bench`: about 30 min on 2 CPU cores). Its options: make bench-ultralytics ARGS='--device 0 --trials 30'
bench-ultralytics: $(STAMP)
	$(PY) -m pip install --quiet -e '.[examples]'
	$(PY) -m benchmarks.vs_ultralytics $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
