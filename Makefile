# The two commands of the README, and the steps they are made of.
#   make demo   deploy onto local test hosts and print what was accepted/refused
#   make test   lint, unit tests, the built collection, ansible-test, the
#               oldest supported ansible-core, and every Molecule scenario
#               run from the built collection
SHELL := /bin/bash
REPO := $(CURDIR)
VENV := $(REPO)/.venv
SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(REPO)/molecule/resources/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(REPO)/.cache/collections
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: demo test bootstrap lint unit bench-smoke package sanity compat checks molecule bench clean

demo: bootstrap
	scripts/demo.sh

# The scenarios run one after the other, as their timings need. Beside
# them the checks run one after the other as idle work (SCHED_IDLE, nice
# 19): they take the cycles the scenarios leave while they wait on apt,
# ACME, container starts and timeouts, and any process of a scenario that
# wakes up takes the core back at once (at nice 19 alone the checks still
# made certs 200 s slower). Their output is kept and printed whole when
# they end; if one fails, no further scenario starts. The tarball is built
# once, before either uses it.
CHECKS := lint unit bench-smoke sanity compat
CHECKS_FAILED := $(REPO)/.cache/checks.failed
test: bootstrap package
	@rm -f $(CHECKS_FAILED)
	$(MAKE) --no-print-directory -j2 PACKAGED=1 STOP_IF_EXISTS=$(CHECKS_FAILED) checks molecule

checks:
	@mkdir -p .cache; status=0; \
	chrt --idle 0 nice -n 19 $(MAKE) --no-print-directory $(CHECKS) >.cache/checks.log 2>&1 || status=$$?; \
	cat .cache/checks.log; \
	if [ $$status -ne 0 ]; then touch $(CHECKS_FAILED); echo "checks: FAILED, no further scenario starts"; fi; \
	exit $$status

bootstrap:
	scripts/bootstrap.sh

lint:
	yamllint --strict .
	ruff check .
	ansible-lint
	python scripts/check_role_inputs.py
	python scripts/argspec_table.py --check
	python scripts/check_changelog.py
	python scripts/check_ee.py

# pytest exits 5 when it collected no test: that is a failure here. Two
# workers, one test file each at a time (module fixtures run once).
unit:
	cd $(REPO) && python -m pytest tests/unit -q -n 2 --dist loadfile

# The benchmark scripts in smoke mode, so they keep working; the figures
# are not kept (bench/README.md). No container is started: converge_bench
# reads recorded ansible-playbook output and syntax-checks site.yml of the
# baseline and the working tree, fleet_bench does the same for the working
# tree with an inventory of 4 servers, smtp_bench drives its load generator
# against aiosmtpd on 127.0.0.1.
BENCH_RESULTS := sasl_user converge fleet smtp_throughput
bench-smoke:
	python bench/sasl_user_bench.py --smoke --quiet --json .cache/bench-smoke/sasl_user.json
	python bench/converge_bench.py --smoke --quiet --json .cache/bench-smoke/converge.json
	python bench/fleet_bench.py --smoke --quiet --json .cache/bench-smoke/fleet.json
	python bench/smtp_bench.py --smoke --quiet --json .cache/bench-smoke/smtp_throughput.json
	python bench/render_benchmarks.py --allow-smoke --output .cache/bench-smoke/benchmarks.md \
	    $(foreach r,$(BENCH_RESULTS),.cache/bench-smoke/$(r).json)

# Measure and regenerate docs/benchmarks.md (about 60 min: bench/README.md).
# Every script runs even if an earlier one failed (a failed check, exit 1,
# still writes its result), and the document is rendered from the results
# there are; then make fails if any step did. Old results are removed first,
# so a script that wrote nothing cannot leave a stale section behind. Ctrl-C
# (exit status 128 or more) stops at once; the scripts remove their
# containers first. sasl_user measures SHA512-CRYPT at 5,000 rounds: at the
# module's 100,000 its 10,000-user runs alone take over an hour.
bench: bootstrap
	@mkdir -p .cache/bench; rm -f $(foreach r,$(BENCH_RESULTS),.cache/bench/$(r).json); status=0; \
	step() { "$$@"; s=$$?; [ $$s -lt 128 ] || exit $$s; [ $$s -eq 0 ] || status=1; }; \
	step python bench/sasl_user_bench.py --sha512-rounds 5000 --json .cache/bench/sasl_user.json; \
	step python bench/converge_bench.py --json .cache/bench/converge.json; \
	step python bench/fleet_bench.py --json .cache/bench/fleet.json; \
	step python bench/smtp_bench.py --json .cache/bench/smtp_throughput.json; \
	step python bench/render_benchmarks.py --output docs/benchmarks.md \
	    $$(for r in $(BENCH_RESULTS); do [ ! -f .cache/bench/$$r.json ] || echo .cache/bench/$$r.json; done); \
	exit $$status

# Build the collection tarball into .cache/dist, install it into
# .cache/artifact, and check the installed copy (scripts/package.sh). The
# targets that use it build it first, except within `make test`, which
# builds it once before they start (PACKAGED=1): a second build would
# replace the copy a running scenario reads.
PACKAGE_FIRST := $(if $(PACKAGED),,package)
package:
	scripts/package.sh

# ansible-test sanity and units, on a copy of the collection
# (scripts/sanity.sh; pip comes from ensurepip, see scripts/get_pip_ensurepip.py).
sanity: $(PACKAGE_FIRST)
	scripts/sanity.sh

# The lowest ansible-core meta/runtime.yml admits, on the controller side
# (scripts/compat.sh): ansible-doc, --syntax-check and the unit tests that
# do not need ansible-core 2.19, against the installed tarball.
compat: $(PACKAGE_FIRST)
	scripts/compat.sh

# Each scenario's verify writes its accept/refuse table; the last line
# ("checks: N passed, N failed") closes the run, after the failed rows, so
# that the end of a long log names what failed (with the line "got, in
# full:" that report_table, plugins/filter/verify_report.py, puts under a
# failed row it cut short). A scenario does not start
# once the file STOP_IF_EXISTS names exists (make test: the checks failed).
# The scenarios run the collection as installed from the tarball
# (.cache/artifact, made by `make package`), not the checkout; the
# collections it depends on come from the `ansible` package in .venv, which
# ansible always searches.
define run_scenarios
set -e; for s in $(1); do \
    if [ -n "$(STOP_IF_EXISTS)" ] && [ -e "$(STOP_IF_EXISTS)" ]; then echo "scenario $$s not started: $(STOP_IF_EXISTS)"; exit 1; fi; \
    report=$(REPO)/.cache/smtp-report-$$s.txt; rm -f $$report; start=$$(date +%s); \
    rc=0; ANSIBLE_COLLECTIONS_PATH=$(REPO)/.cache/artifact AUTHSMTP_REPORT=$$report molecule test -s $$s || rc=$$?; \
    echo "scenario $$s ($$(( $$(date +%s) - start )) s):"; \
    if [ -e $$report ]; then grep -E '^(FAIL |      got, in full: )' $$report || true; tail -n 1 $$report; else echo "no table written"; fi; \
    [ $$rc -eq 0 ] || exit $$rc; \
done
endef

molecule: $(PACKAGE_FIRST)
	$(call run_scenarios,$(SCENARIOS))

clean:
	-for s in $(SCENARIOS); do molecule destroy -s $$s; done
	rm -rf .cache
