# The README's two commands: `make demo` (the main job, end to end) and `make test` (what CI runs);
# `make test-quick` is the edit loop's tier: the unit tests, without those marked slow.
# All create or reuse .venv/ through tools/install_env.sh (a no-op once installed).
PYTHON := .venv/bin/python

.PHONY: install demo test test-quick

install:
	bash tools/install_env.sh

demo: install
	$(PYTHON) tools/check_backbones.py
	$(PYTHON) tools/demo.py

# One pytest-xdist worker per CPU (at most 4: each holds its own session fixtures), one thread each (tests/conftest.py);
# loadgroup keeps the tests that share an expensive session fixture on one worker, which builds it once (pytest is
# pinned below 9.2 for it: requirements/tests.txt).
PYTEST_PARALLEL := -n logical --maxprocesses 4 --dist loadgroup

test: install
	$(PYTHON) -m pytest $(PYTEST_PARALLEL) --durations=20

test-quick: install
	$(PYTHON) -m pytest $(PYTEST_PARALLEL) -m "not slow"
