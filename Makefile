# streamha — build, test, demo and benchmarks. `make help` lists the targets.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_TIMEOUT ?= 20m

.PHONY: help build test test-deps pg-deps npm-deps demo bench chaos lint fmt clean invoke fuzz FORCE

help:
	@echo "make build   binaries into bin/ (bin/node; never put bin/ on PATH: it would shadow Node.js)"
	@echo "make test    install what the tests need, lint, run every test with -race"
	@echo "make demo    two local nodes on embedded SQLite, a failover and a switchover"
	@echo "make bench   benchmarks: table, results/bench/report.md, charts, summary line (BENCH_QUICK=1: short)"
	@echo "make chaos   bounded fault run with a checker (CHAOS_ROUNDS, CHAOS_HOLD, CHAOS_SEED, CHAOS_FAULTS, CHAOS_MAX_ACK_GAP, CHAOS_SOURCE=kafka)"
	@echo "make lint    gofmt + go vet"
	@echo "make fuzz    each input decoder's fuzzer for FUZZTIME (default 10s) in turn"
	@echo "make invoke  FN=healthmirror|alarmhandler|restarter EVENT=file.json ENV=\"K=V ...\": run a Lambda under aws-lambda-rie (FN defaults to healthmirror)"

build: bin/node

bin/node: FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./node

# PostgreSQL's initdb/pg_ctl for the throwaway test servers (Debian package), installed if missing.
pg-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing Debian package postgresql (initdb, pg_ctl) for the tests"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql; }

# npm tools pinned in package-lock.json (dynalite for DynamoDB; the AWS CloudFormation resource
# specification the template is validated against, from @aws-cdk/aws-service-spec).
npm-deps:
	@if [ -f package-lock.json ] && { [ ! -x node_modules/.bin/dynalite ] || [ ! -f node_modules/@aws-cdk/aws-service-spec/db.json.gz ]; }; then npm ci --no-audit --no-fund; fi

test-deps: pg-deps npm-deps

test: test-deps lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

# The fuzzers of what a stranger can send a node: the sync handshake and frames, the TCP ingest
# stream, the REST event decoder. Each runs FUZZTIME in turn (go test runs one fuzzer at a time);
# make test runs them for TEST_FUZZTIME each. A failure leaves its input in testdata/fuzz.
FUZZTIME ?= 10s
TEST_FUZZTIME ?= 5s
FUZZ_TARGETS := FuzzHandshake:./node/eventsync FuzzDecodeFrames:./node/eventsync \
	FuzzIngestStream:./node/tcpingest FuzzDecodeBatch:./node/tcpingest FuzzDecodeEvents:./node/rest
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t%%:*} ($${t#*:}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}"; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

demo: build
	$(GO) run ./node/demo --node-bin bin/node --apps node/demo/apps

# Benchmarks: failover/switchover distributions, throughput per mode, snapshot costs, promotion
# of a node process, the healthmirror Lambda's warm duration under aws-lambda-rie, the
# state-at-scale curve (100K, 1M, 10M keys; about 2 GB and minutes at 10M). Writes
# results/bench/report.md and PNG charts and ends with one summary line. BENCH_QUICK=1 runs a
# reduced version (the curve without 10M).
bench: build test-deps
	BENCH_QUICK=$(BENCH_QUICK) $(GO) run ./node/bench/cmd/bench --node-bin bin/node --out results/bench

# Bounded chaos run: two nodes on a throwaway PostgreSQL behind TCP fault proxies, faults under
# load, a Jepsen-style checker. A one-round run is part of make test (node/chaos).
# CHAOS_SOURCE=kafka feeds the pair from an in-process Kafka cluster instead of HTTP clients.
CHAOS_ROUNDS ?= 2
CHAOS_HOLD   ?= 3s
chaos: build test-deps
	$(GO) run ./node/chaos/cmd/chaos --node-bin bin/node --apps node/demo/apps --rounds $(CHAOS_ROUNDS) --hold $(CHAOS_HOLD) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) $(if $(CHAOS_FAULTS),--faults $(CHAOS_FAULTS)) $(if $(CHAOS_MAX_ACK_GAP),--max-ack-gap $(CHAOS_MAX_ACK_GAP)) $(if $(CHAOS_SOURCE),--source $(CHAOS_SOURCE))

# Run one Lambda locally under aws-lambda-rie: make invoke FN=healthmirror EVENT=lambdas/testdata/scheduled.json
# ENV="CLUSTER_DB_URL=postgres://user:pw@127.0.0.1:5432/db ..." passes environment variables to the function
# (the functions read PostgreSQL only).
FN ?= healthmirror
invoke:
	$(GO) run ./lambdas/cmd/invoke -fn $(FN) $(if $(EVENT),-event $(EVENT)) $(foreach e,$(ENV),-env $(e))

clean:
	rm -rf bin results .demo

# AWS SAM build targets (build-<LogicalId>) and the node image live beside the template.
-include deploy/sam.mk
