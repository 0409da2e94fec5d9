# The README's two commands: `make demo` and `make test`.
# Both create .venv on a fresh machine and install what they need from this project's files.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# Debian tools the tests check our output with (dcm2niix, dciodvfy, dcmtk, a real PACS);
# pigz so that bench_batch.py compares with dcm2niix -z y as users run it.
APT_TOOLS := dcm2niix:dcm2niix dciodvfy:dicom3tools dcmdump:dcmtk Orthanc:orthanc pigz:pigz
APT_FILES := /usr/share/orthanc/plugins/libOrthancDicomWeb.so:orthanc-dicomweb

.PHONY: demo test venv install install-test system-tools lint typecheck pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U "pip>=25.1"

venv: $(PY)

install: $(PY)
	$(PY) -m pip install -q -e ".[all]"

install-test: $(PY)
	$(PY) -m pip install -q -e ".[all]" --group test

system-tools:
	@bash scripts/install-system-tools.sh $(APT_TOOLS) $(APT_FILES)

demo: install
	$(PY) -m imagedata.demo

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck:
	$(VENV)/bin/mypy

# IMAGEDATA_REQUIRE_CEXT: the C header walk must have been built (a test fails if not)
pytest:
	IMAGEDATA_REQUIRE_CEXT=1 $(PY) -m pytest -q

test: install-test system-tools lint typecheck pytest

# every bench/bench_*.py; `make bench BENCH_ARGS=--quick` for small runs
bench: install-test
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
