# The two commands: `make run` (execute every recipe and render the book) and `make test`.
# Both create .venv if it is missing and install requirements.lock into it, then the package with its optional groups
# (dev: tests, lint, the book's tools; lab: JupyterLab and its browser check), held to the lock's versions; once: the
# stamp file below is remade only when requirements.lock or pyproject.toml change.

PYTHON ?= python3
# The Python versions requirements.lock installs on (binary wheels for every package): 3.11 is the one the recipes are
# tested and executed with; 3.12, 3.13 and 3.14 resolve (make check-pythons). 3.11.5 is the oldest 3.11 the lock takes
# (soupsieve 4.1 requires it). Keep in step with requires-python.
PY_MIN := 3.11.5
PY_MAX := 3.14
PY_CHECKED := 3.11.5 3.12.0 3.13.0 3.14.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= full
CELL_TIMEOUT ?= 900
TEST_WORKERS ?= 2  # pytest-xdist workers for make test (one notebook or test file per worker at a time)
# OpenBLAS threads per worker in make test: OpenBLAS (NumPy's and SciPy's) starts one thread per core in each worker, so
# two workers on 2 cores would run four; with one each, a second make test took 5.8-5.9 min against 6.7 (README).
TEST_BLAS_THREADS ?= 1
# Notebooks make run executes at a time (the runner gives every kernel one OpenBLAS thread; README, "How long things take")
JOBS ?= 2

.PHONY: run test notebooks lab new reproducible benchmarks-page screenshots check-lab check-pythons install lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; lo, hi = [tuple(map(int, v.split("."))) for v in "$(PY_MIN) $(PY_MAX)".split()]; \
		sys.exit(0 if lo <= sys.version_info[:3] and sys.version_info[:2] <= hi else 1)' 2>/dev/null || { \
		echo "error: '$(PYTHON)' is $$($(PYTHON) -c 'import platform; print("Python", platform.python_version())' 2>/dev/null \
			|| echo 'not a working Python'); the recipes need Python $(PY_MIN) to $(PY_MAX)." >&2; \
		echo "       Point PYTHON at one, for example: make $(MAKECMDGOALS) PYTHON=python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,lab]" -c requirements.lock
	@touch $(STAMP)

## Execute every notebook at $(SCALE) (full or smoke), $(JOBS) at a time, and write build/index.html.
run: $(STAMP)
	$(BIN)/python -m recipes_utils.runner --scale $(SCALE) --jobs $(JOBS)

## pytest over tests/ and nbval over every notebook at smoke scale (progress bars off: RECIPES_PROGRESS=0; one OpenBLAS
## thread per worker).
test: $(STAMP)
	$(BIN)/ruff check recipes_utils tests benchmarks notebooks scripts conftest.py
	$(BIN)/ruff format --check recipes_utils tests benchmarks scripts conftest.py
	RECIPES_PROGRESS=0 RECIPES_SCALE=smoke MPLBACKEND=Agg OPENBLAS_NUM_THREADS=$(TEST_BLAS_THREADS) \
		$(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) \
		-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -p no:cacheprovider -q

## Re-execute every notebook at full scale and store the outputs in notebooks/ (then commit them).
notebooks: $(STAMP)
	$(BIN)/python -m recipes_utils.runner --scale full --write-back

## Execute every notebook twice at smoke scale and compare their headline figures (seeds fixed everywhere).
reproducible: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m recipes_utils.reproduce --scale smoke

## Write docs/benchmarks.md from benchmarks/results/*.csv (the latest row per configuration; a test checks it is current).
benchmarks-page: $(STAMP)
	$(BIN)/python -m recipes_utils.measurements

## Screenshots of the rendered book with headless Chromium (Debian: apt install chromium), after make run.
screenshots:
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2000 \
		--screenshot=build/index.png "file://$(CURDIR)/build/index.html"
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2000 \
		--screenshot=build/recipe.png "file://$(CURDIR)/build/$(SCALE)/dose-response-hierarchical.html"

## Start a new analysis from the template: make new TITLE="My analysis title"
new: $(STAMP)
	@test -n "$(TITLE)" || { echo 'usage: make new TITLE="My analysis title"' >&2; exit 2; }
	$(BIN)/python -m recipes_utils new "$(TITLE)"

## JupyterLab in the project's environment (progress bars on).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

## Run the template through JupyterLab's UI in headless Chromium (Debian: apt install chromium); build/check-lab.png.
check-lab: $(STAMP)
	$(BIN)/python scripts/check_lab.py

## Resolve requirements.lock for every supported Python with binary wheels only (needs the package index).
check-pythons: $(STAMP)
	@for v in $(PY_CHECKED); do \
		printf 'Python %s: ' $$v; \
		$(BIN)/python -m pip install --dry-run --quiet --disable-pip-version-check --ignore-installed --only-binary=:all: \
			--python-version $$v --target /tmp/recipes-check-pythons -r requirements.lock >/dev/null 2>&1 \
			&& echo "the lock resolves with binary wheels" || { echo "FAILED to resolve the lock"; exit 1; }; \
	done

## Regenerate requirements.lock from the current .venv (after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock

clean:
	rm -rf build
