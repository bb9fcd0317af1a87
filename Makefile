# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/dosefinding/v1/*.proto)
LISTEN ?= 127.0.0.1:50051
DATA   ?= var

.PHONY: setup proto run test bench browser clean

setup: $(STAMP)

# The gRPC stubs are generated from proto/ (the single source of truth, never
# committed) *before* the editable install, so that the install maps the
# generated `dosefinding` package; a change to a .proto regenerates and reinstalls.
$(STAMP): pyproject.toml $(PROTOS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'grpcio-tools>=1.70,<2'
	$(MAKE) --no-print-directory proto
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

proto:
	rm -rf client/dosefinding
	mkdir -p client/dosefinding/v1
	$(PY) -m grpc_tools.protoc -I proto --python_out=client --pyi_out=client \
		--grpc_python_out=client $(PROTOS)
	touch client/dosefinding/__init__.py client/dosefinding/v1/__init__.py

run: setup
	$(VENV)/bin/dosefinding-server --listen $(LISTEN) --data-dir $(DATA) --insecure

# The validation report's rendering is tested in a real browser: Debian's chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	$(PY) -m pytest -q

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) client/dosefinding build *.egg-info
