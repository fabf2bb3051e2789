# The README's two commands: `make demo` (the main job, end to end) and `make test`.
# Both create or reuse .venv/ through tools/install_env.sh (a no-op once installed).
PYTHON := .venv/bin/python

.PHONY: install demo test

install:
	bash tools/install_env.sh

demo: install
	$(PYTHON) tools/check_backbones.py
	$(PYTHON) tools/demo.py

test: install
	$(PYTHON) -m pytest
