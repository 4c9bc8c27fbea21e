# The two commands: `make run` (execute every recipe and render the book) and `make test`.
# Both create .venv if it is missing and install requirements.lock into it, once: the stamp file
# below is remade only when requirements.lock or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= full
CELL_TIMEOUT ?= 900

.PHONY: run test notebooks lab new reproducible screenshots install lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

## Execute every notebook at $(SCALE) (full or smoke) and write build/index.html.
run: $(STAMP)
	$(BIN)/python -m recipes_utils.runner --scale $(SCALE)

## pytest over tests/ and nbval over every notebook at smoke scale.
test: $(STAMP)
	$(BIN)/ruff check recipes_utils tests benchmarks notebooks
	RECIPES_SCALE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) \
		-p no:cacheprovider -q

## Re-execute every notebook at full scale and store the outputs in notebooks/ (then commit them).
notebooks: $(STAMP)
	$(BIN)/python -m recipes_utils.runner --scale full --write-back

## Execute every notebook twice at smoke scale and compare their headline figures (seeds fixed everywhere).
reproducible: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m recipes_utils.reproduce --scale smoke

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

## JupyterLab in the project's environment.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

## Regenerate requirements.lock from the current .venv (after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock

clean:
	rm -rf build
