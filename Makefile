# The two commands of the README. Each installs what it needs first.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: run test build deps format dist

## Start the gateway on the embedded SQLite ledger and the demo catalog (127.0.0.1:8080).
## TRAITS=OpenTelemetry builds the span exporter in (docs/operations.md, "Traces").
# The Swift runtime is linked statically (as Swift servers are usually deployed): less memory
# at rest and no indirection on every runtime call. scripts/bench builds the same way.
# Release builds are optimized with the profile scripts/pgo-profile makes from the gateway's own
# hot paths (deploy/stockgate.profdata, LLVM IR-level PGO; BENCHMARKS.md). Swift 6.3's driver
# drops -ir-profile-use, so it is passed to the frontend.
TRAITS ?=
TRAIT_FLAGS = $(if $(TRAITS),--traits $(TRAITS),)
PGO_FLAGS = -Xswiftc -Xfrontend -Xswiftc -ir-profile-use=$(CURDIR)/deploy/stockgate.profdata
# The flag names the file, not its content, and a changed -Xswiftc flag alone did not make the
# Swift driver compile existing objects again: when the profile is newer than the last release
# build's stamp (or there is none), the release objects go first. scripts/bench makes this target too.
.build/pgo-stamp: deploy/stockgate.profdata
	rm -rf .build/*-unknown-linux-gnu/release
	mkdir -p .build && touch $@
run: deps .build/pgo-stamp
	$(SWIFT) build --force-resolved-versions -c release --static-swift-stdlib --product stockgate $(TRAIT_FLAGS) $(PGO_FLAGS)
	.build/release/stockgate serve $(ARGS)

## Build and run the whole test suite, with a throwaway PostgreSQL (scripts/with-postgres) for
## the storage suites. Under CI (CI=true) a suite skipped for a missing
## prerequisite fails the run: CI installs every prerequisite, so nothing may be skipped there.
## At most 6 tests run at once: many suites start real processes (gateways, PostgreSQL,
## nginx, Chromium) and bound an answer's time; unbounded on 2 cores, the load itself made
## those bounds fail (load average 8-9). Override with TEST_WIDTH=N.
## The tests are built and run with the OpenTelemetry trait, so the span export is tested too
## (a `swift test` without the trait would resolve again and drop its pins from Package.resolved).
## A crash of the test process ends the output with its summary (scripts/test-crash-summary):
## CI shows only a run's last lines, where the backtracer leaves registers and images.
TEST_WIDTH ?= 6
test:
	@scripts/install-deps test
	$(SWIFT) build --force-resolved-versions --build-tests --traits OpenTelemetry
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(TEST_WIDTH) scripts/with-postgres $(SWIFT) test --skip-build --force-resolved-versions --traits OpenTelemetry 2>&1 | tee .build/test-output.txt; \
		status=$$?; if [ $$status -ne 0 ]; then scripts/test-crash-summary .build/test-output.txt; exit $$status; fi
	@if [ "$$CI" = true ] && grep -q ' skipped: ' .build/test-output.txt; then \
		echo "CI: skipped for a missing prerequisite:" >&2; grep ' skipped: ' .build/test-output.txt >&2; exit 1; fi

build: deps
	$(SWIFT) build --force-resolved-versions

## The binary to deploy: release, Swift runtime linked statically, debug info stripped
## (dist/stockgate; the unstripped build carries ~100 MB of debug info). docs/operations.md.
dist: deps .build/pgo-stamp
	$(SWIFT) build --force-resolved-versions -c release --static-swift-stdlib --product stockgate $(TRAIT_FLAGS) $(PGO_FLAGS)
	mkdir -p dist
	strip -o dist/stockgate .build/release/stockgate
	@ls -l dist/stockgate && ldd dist/stockgate

## Format the tree as CI's lint step expects it (.swift-format).
format:
	swift-format format --in-place --recursive --parallel Sources Tests Package.swift

deps:
	@scripts/install-deps
