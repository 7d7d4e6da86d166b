# Quick start: `make demo` and `make test`. Both create .venv and install into it first.
SHELL := /bin/sh

# The first Python 3.11+ on PATH; override with `make PYTHON=/path/to/python3.12 ...`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)

VENV := .venv
BIN := $(VENV)/bin
# The stamp is remade whenever pyproject.toml changes, so a pull that adds a dependency installs it;
# and whenever a compiled kernel's source changes (setup.py lists them), so that it is built again.
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean venv plant-servers egm-proto

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py cellctl/sensing/vision/_stripe.c sim/devices/_sensor_render.c
	@test -n "$(PYTHON)" || { echo "make: needs Python 3.11 or newer on PATH (or PYTHON=...)"; exit 1; }
	@echo "Setting up $(VENV) with $(PYTHON) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cellctl demo

# The plant-level tests need a PostgreSQL server and a Mosquitto broker (Debian packages). As
# root, install what is missing; otherwise say so: those tests then skip, naming the reason.
plant-servers:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || missing="$$missing mosquitto"; \
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing$$missing for the plant-level tests ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
				|| echo "make: could not install$$missing; those tests will skip"; \
		else \
			echo "make: missing$$missing (not root or no apt-get); the plant-level tests will skip"; \
		fi; \
	fi

# Two workers on two cores: the suite waits on simulated cells' time far more than it computes,
# but three cells at once starve each other's simulated devices at their peaks (three workers:
# 9 min 25 s, and 4 tests failed on lost links in one of two runs). The rigs that render the
# sensor's frames in the test's own process share one worker (tests/conftest.py).
test: $(STAMP) plant-servers
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

# ABB's EGM protocol: drivers/codecs/egm_proto/egm_pb2.py is generated and committed, so that
# `make test` needs no protocol compiler. Make it again after changing egm.proto or the protobuf
# pin: the protoc inside grpcio-tools 1.85.1 (35.1) writes code the pinned runtime (7.36) accepts;
# a newer runtime minor accepts it too, a new major needs a matching grpcio-tools here.
EGM_PROTO := drivers/codecs/egm_proto
GRPC_TOOLS := build/grpc-tools
egm-proto: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(GRPC_TOOLS) grpcio-tools==1.85.1
	PYTHONPATH=$(GRPC_TOOLS) $(BIN)/python -m grpc_tools.protoc -I$(EGM_PROTO) \
		--python_out=$(EGM_PROTO) $(EGM_PROTO)/egm.proto

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis

# The HMI's translations (issue 19): lupdate the GUI's texts into the .ts, lrelease the .qm.
# The .qm is committed; tests/test_gui_i18n.py fails when it is not compiled from the .ts.
.PHONY: translations
translations: $(STAMP)
	$(BIN)/python -m cellctl.gui.i18n.build

# The tracking screen on the hinge boss's circle from a live weld (issue 17): the demo's cell,
# the HMI over OPC UA, shot mid-circle in zh_CN and en into docs/hmi/<language>/.
.PHONY: screenshots-circle
screenshots-circle: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/hmi_circle_screenshots.py
