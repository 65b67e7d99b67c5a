# Thin wrappers over dev.py, which needs only Python >= 3.11 and bootstraps .venv itself.
PYTHON ?= python3

.PHONY: demo test lint pytest bench docs dist clean
demo test lint pytest bench docs dist:
	$(PYTHON) dev.py $@

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis site dist
