# The two commands of the README. Each installs what it needs first.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)

.PHONY: run test build deps format

## Start the gateway on the embedded SQLite ledger and the demo catalog (127.0.0.1:8080).
# The Swift runtime is linked statically (as Swift servers are usually deployed): less memory
# at rest and no indirection on every runtime call. scripts/bench builds the same way.
run: deps
	$(SWIFT) build -c release --static-swift-stdlib --product stockgate
	.build/release/stockgate serve $(ARGS)

## Build and run the whole test suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

build: deps
	$(SWIFT) build

## Format the tree as CI's lint step expects it (.swift-format).
format:
	swift-format format --in-place --recursive --parallel Sources Tests Package.swift

deps:
	@scripts/install-deps
