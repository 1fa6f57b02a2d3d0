# The two commands of the README. Each installs what it needs first.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: run test build deps format

## Start the gateway on the embedded SQLite ledger and the demo catalog (127.0.0.1:8080).
# The Swift runtime is linked statically (as Swift servers are usually deployed): less memory
# at rest and no indirection on every runtime call. scripts/bench builds the same way.
run: deps
	$(SWIFT) build -c release --static-swift-stdlib --product stockgate
	.build/release/stockgate serve $(ARGS)

## Build and run the whole test suite, with a throwaway PostgreSQL (scripts/with-postgres) for
## the storage suites. Under CI (CI=true) a suite skipped for a missing
## prerequisite fails the run: CI installs every prerequisite, so nothing may be skipped there.
test:
	@scripts/install-deps test
	$(SWIFT) build --build-tests
	scripts/with-postgres $(SWIFT) test --skip-build 2>&1 | tee .build/test-output.txt
	@if [ "$$CI" = true ] && grep -q ' skipped: ' .build/test-output.txt; then \
		echo "CI: skipped for a missing prerequisite:" >&2; grep ' skipped: ' .build/test-output.txt >&2; exit 1; fi

build: deps
	$(SWIFT) build

## Format the tree as CI's lint step expects it (.swift-format).
format:
	swift-format format --in-place --recursive --parallel Sources Tests Package.swift

deps:
	@scripts/install-deps
