# Two commands do everything on a fresh machine:
#   make report   set up .venv, then run the compression suite and print the comparison table
#   make test     set up .venv, then run the plugin's tests and the suite against committed baselines,
#                 then the suite again as another machine would (reference models retrained from a cold
#                 cache under a lower kernel set: tools/other_kernels.py), against the same baselines.
#                 The detection suite (marker `detection`: two detectors trained cold, see README) is
#                 left to `make report` and `make test-detection`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

OTHER_CACHE := .compress-cache/other-kernels

.PHONY: report test test-other-kernels test-detection readme-detection baselines baselines-detection readme-coverage readme-power readme-reliability lint readme-results readme-bench readme-lm readme-gates readme-html readme-load-time readme-xdist clean-cache

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/pytest suites/ --run-slow --compress-report

test: $(STAMP)
	$(BIN)/pytest -m "not detection" --compress-report=md:reports/suite.md --compress-report=json:reports/suite.json \
		--compress-report=html:reports/suite.html --compress-plots=reports/plots
	$(MAKE) --no-print-directory test-other-kernels

# Verdicts must hold on a machine whose kernels train other weights: retrain every reference from
# a cold cache of its own under another kernel set, and judge it against the committed baselines.
test-other-kernels: $(STAMP)
	rm -rf $(OTHER_CACHE)
	env $$($(BIN)/python tools/other_kernels.py) $(BIN)/pytest suites/ -m "not detection" -p no:cacheprovider \
		--compress-cache-dir=$(OTHER_CACHE) --compress-report --compress-report=md:reports/other-kernels.md

# The detection suite alone, against the committed baselines (cold: both detectors train first).
test-detection: $(STAMP)
	$(BIN)/pytest suites/test_detection.py --compress-report --compress-report=md:reports/detection.md

# Regenerates the README's detection table from a fresh run of the detection suite.
readme-detection: $(STAMP)
	$(BIN)/pytest suites/test_detection.py --compress-report=md:reports/detection.md
	$(BIN)/python tools/update_readme.py detection-results reports/detection.md README.md

# Re-records every quality baseline of `pytest suites/` with the spread of 5 independently trained
# references per model (see README); entries of removed tests are pruned in the same write, other
# machines' latency files are kept. The slow detection suite has its own target (K = 3: each draw of
# both detectors costs about 6.5 minutes of training).
baselines: $(STAMP)
	$(BIN)/pytest suites/ --compress-update-baselines --compress-draws=5 --compress-report

baselines-detection: $(STAMP)
	$(BIN)/pytest suites/test_detection.py --compress-update-baselines --compress-draws=3 --compress-report

# Coverage of the accuracy-drop interval when few examples disagree (about a minute).
readme-coverage: $(STAMP)
	$(BIN)/python bench/interval_coverage.py --trials 4000 --out reports/interval_coverage.md
	$(BIN)/python tools/update_readme.py coverage reports/interval_coverage.md README.md

# Regenerates the README's results section from a fresh run (never typed by hand); after
# `make test`, `python tools/update_readme.py results reports/suite.md` splices that run's table.
readme-results: $(STAMP)
	$(BIN)/pytest suites/ --compress-report=md:reports/suite.md
	$(BIN)/python tools/update_readme.py results reports/suite.md README.md

# Plants real regressions into the suite and counts which the gates catch, on this machine's kernels
# and on the emulated other machine (run `make test` first: it leaves that machine's model cache).
readme-power: $(STAMP)
	$(BIN)/python bench/regression_power.py --out reports/regression_power.md
	$(BIN)/python tools/update_readme.py power reports/regression_power.md README.md

# Malformed baselines, kill -9 while writing, concurrent updaters, a damaged cache (about 10 minutes).
readme-reliability: $(STAMP)
	$(BIN)/python bench/reliability.py --out reports/reliability.md
	$(BIN)/python tools/update_readme.py reliability reports/reliability.md README.md

# Runs the vision speed benchmark and puts its table in the README.
readme-bench: $(STAMP)
	$(BIN)/python bench/vision_speed.py --out reports/vision_speed.md
	$(BIN)/python tools/update_readme.py vision-bench reports/vision_speed.md README.md

# Runs the language-model quantization / LoRA benchmark (a few minutes once the LM is cached).
readme-lm: $(STAMP)
	$(BIN)/python bench/lm_quant.py --out reports/lm_quant.md
	$(BIN)/python tools/update_readme.py lm-bench reports/lm_quant.md README.md

# Runs the gate-quality benchmark (about 15 minutes) and puts its table in the README.
readme-gates: $(STAMP)
	$(BIN)/python bench/gate_quality.py --reps 40 --pb-reps 10 --out reports/gate_quality.md
	$(BIN)/python tools/update_readme.py gates reports/gate_quality.md README.md

# -n 0 vs -n 2 wall time, cold and warm, on the digits-cnn cases (about 9 minutes; idle machine).
readme-xdist: $(STAMP)
	$(BIN)/python bench/xdist_walltime.py --workers 2 --out reports/xdist.md -- suites/test_vision.py -k digits-cnn
	$(BIN)/python tools/update_readme.py xdist reports/xdist.md README.md

# What loading the plugin adds to `pytest --help` (about a minute): with vs. -p no:compress, interleaved.
readme-load-time: $(STAMP)
	$(BIN)/python bench/help_load_time.py --runs 11 --out reports/help_load_time.md
	$(BIN)/python tools/update_readme.py load-time reports/help_load_time.md README.md

# The suite's html report (--compress-report=html:PATH) and one Pareto plot for the README:
# `make test` writes reports/suite.html and reports/plots/ (this runs the suite only when they are
# missing); headless Chromium screenshots the page into docs/report-html.png. A failing case still
# writes the page, so failures are ignored here ("-"): the page shows them.
CHROMIUM ?= chromium
README_PLOT ?= digits-resnet18-speedup.png
readme-html: $(STAMP)
	test -f reports/suite.html -a -f reports/plots/$(README_PLOT) || \
		$(BIN)/pytest suites/ -p no:cacheprovider --compress-report=html:reports/suite.html \
		--compress-plots=reports/plots || true
	mkdir -p docs
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1800,1400 \
		--screenshot=$(CURDIR)/docs/report-html.png file://$(CURDIR)/reports/suite.html
	cp reports/plots/$(README_PLOT) docs/pareto-$(README_PLOT)

lint: $(STAMP)
	$(BIN)/ruff check pytest_compress tests suites
	$(BIN)/ruff format --check pytest_compress tests suites

clean-cache:
	rm -rf .compress-cache
