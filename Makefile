# The two commands of the README, and the steps they are made of.
#   make demo   deploy onto local test hosts and print what was accepted/refused
#   make test   lint, unit tests and every Molecule scenario
SHELL := /bin/bash
REPO := $(CURDIR)
VENV := $(REPO)/.venv
SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(REPO)/molecule/resources/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(REPO)/.cache/collections
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: demo test bootstrap lint unit molecule clean

demo: bootstrap
	scripts/demo.sh

test: bootstrap lint unit molecule

bootstrap:
	scripts/bootstrap.sh

lint:
	yamllint --strict .
	ruff check .
	ansible-lint
	python scripts/argspec_table.py --check

# pytest exits 5 when it collected no test: that is a failure here.
unit:
	cd $(REPO) && python -m pytest tests/unit -q

# Each scenario's verify writes its accept/refuse table; the last line
# ("checks: N passed, N failed") closes the run.
molecule:
	set -e; for s in $(SCENARIOS); do \
	    report=$(REPO)/.cache/smtp-report-$$s.txt; rm -f $$report; \
	    AUTHSMTP_REPORT=$$report molecule test -s $$s; \
	    echo "scenario $$s:"; tail -n 1 $$report; \
	done

clean:
	-for s in $(SCENARIOS); do molecule destroy -s $$s; done
	rm -rf .cache
