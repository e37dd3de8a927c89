# Waybill: the two commands a new user needs are `make run` and `make test`.

GO       ?= go
BIN      := bin
BUILD    := build
# The build date raises the agent's time floor (see agent/clock); take it from
# the last commit so that builds are reproducible.
DATE     := $(shell git log -1 --format=%cs 2>/dev/null || date -u +%Y-%m-%d)
LDFLAGS  := -s -w -X main.buildDate=$(DATE)
PKG      := ./agent/cmd/waybill
DEMO_PKG := ./testbench/cmd/waybill-demo
WATCH_PKG := ./sync/watch/cmd/waybill-watch
DEMO_DIR := .data/demo

.PHONY: all build run test test-deps lint cross sizes bench bench-deps fuzz recordings geth contracts contracts-check clean

all: build

# bin/waybill: the device binary, static, as shipped to devices (make
# cross), with the pure-Go secp256k1 signer whose rate the README's figures
# are measured against. bin/waybill-demo: the demo, which links the
# in-process MQTT broker and chain the device binary does not.
# bin/waybill-watch: the feed watcher a city runs (`waybill watch` runs it
# from beside bin/waybill), with its database driver and metrics.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill $(PKG)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill-demo $(DEMO_PKG)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/waybill-watch $(WATCH_PKG)

# The agent's main job on its embedded default: the recorded sensors of a
# van's round through Brussels replayed through the drivers, rules and the
# signed log, published to an in-process MQTT broker and anchored to an
# in-process chain; every event is then proven and verified offline and on
# chain.
run: build
	rm -rf $(DEMO_DIR)
	$(BIN)/waybill-demo --data $(DEMO_DIR)

# Everything the tests need that a fresh machine lacks is installed here:
# qemu-user (the 32-bit ARM test), Mosquitto (the MQTT feed's broker) and
# PostgreSQL (the watcher's archive; testbench/postgres runs Debian's
# /usr/lib/postgresql/VERSION/bin/postgres).
test-deps:
	@missing=""; \
	  command -v qemu-arm >/dev/null 2>&1 || missing="$$missing qemu-user"; \
	  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi

# -timeout: the slowest packages build the agent (for arm64 too, a quarter
# of an hour from a cold build cache on a loaded 2-core machine), start geth
# and Mosquitto and emulate ARM under qemu; beside other work they outlast
# go test's default of 10 minutes, a wall-clock limit that load alone
# reaches. Each test bounds its own waits and names what hung; this only
# bounds the whole. Packages run -p (default: the number of CPUs) at a time.
test: test-deps lint geth contracts-check
	$(GO) test -count=1 -timeout 60m ./...

# The registry contract: solc-js pinned in sync/anchor/contract/package.json
# (npm packages in build/contract), evmVersion paris, abigen at go.mod's
# go-ethereum version in build/. `make contracts` rewrites the committed ABI,
# bytecode and bindings; `make test` fails when they are not what the source
# compiles to.
contracts:
	sync/anchor/contract/build.sh
contracts-check:
	sync/anchor/contract/build.sh --check

# A real go-ethereum node for the integration tests (testbench/gethdev), at
# the version go.mod requires, built into build/ when missing or of another
# version (about 4 minutes cold on two cores; static, no cgo).
geth:
	@v=$$($(GO) list -m -f '{{.Version}}' github.com/ethereum/go-ethereum); \
	  if ! $(BUILD)/geth version 2>/dev/null | grep -q "^Version: $${v#v}"; then \
	    echo "building geth $$v into $(BUILD)/ (about 4 minutes on two cores)"; \
	    CGO_ENABLED=0 GOBIN=$(CURDIR)/$(BUILD) $(GO) install github.com/ethereum/go-ethereum/cmd/geth@$$v; \
	  fi

STATICCHECK := $(BUILD)/staticcheck

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(BUILD) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK)
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The device binary, static, for the Pis (arm64; armv6: Pi Zero and Pi 1;
# armv7: Pi 2 and later in 32-bit mode) and for x86 gateways.
CROSS_BINS := $(BIN)/waybill-linux-arm64 $(BIN)/waybill-linux-armv6 $(BIN)/waybill-linux-armv7 $(BIN)/waybill-linux-amd64
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64         $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill-linux-arm64 $(PKG)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6   $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill-linux-armv6 $(PKG)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7   $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill-linux-armv7 $(PKG)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64         $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/waybill-linux-amd64 $(PKG)

# The device binaries' sizes (README: at most 16 MB on armv6).
sizes: cross
	@stat -c '%s %n' $(CROSS_BINS) | awk '{ printf "%-28s %10d bytes %6.1f MiB\n", $$2, $$1, $$1 / 1048576 }'

# gpsd's own decoder, the reference the NMEA decoder is measured against.
bench-deps:
	@command -v gpsdecode >/dev/null 2>&1 || { \
	  echo "installing gpsd-clients (gpsdecode, for the NMEA benchmark)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gpsd-clients >/dev/null; }

GPSD_LOGS ?= ../shared/testdata/gpsd
bench: build bench-deps
	$(GO) test -run '^$$' -bench . -benchmem ./agent/... ./drivers/...
	$(BIN)/waybill bench --events 1000000
	@if [ -d $(GPSD_LOGS) ]; then \
	  for i in $$(seq 40); do cat $(GPSD_LOGS)/*.log; done > $(BUILD)/nmea-bench.log; \
	  echo "== waybill sensors decode vs gpsdecode, $$(wc -c < $(BUILD)/nmea-bench.log) bytes of receiver logs"; \
	  for i in 1 2 3; do \
	    /usr/bin/time -f "waybill sensors decode: %e s" $(BIN)/waybill sensors decode --driver nmea $(BUILD)/nmea-bench.log >/dev/null 2>$(BUILD)/nmea-bench.err; tail -1 $(BUILD)/nmea-bench.err; \
	    /usr/bin/time -f "gpsdecode:             %e s" gpsdecode < $(BUILD)/nmea-bench.log >/dev/null; \
	  done; fi

# Regenerate the shipped sensor recordings from the simulated fleet
# (testbench/fleet); `make test` checks they are up to date.
recordings:
	$(GO) test -count=1 -run Recording ./testbench/fleet -args -update

# Every decoder of outside data, 30 s each (FUZZTIME=5m for longer runs).
FUZZTIME ?= 30s
FUZZ := agent/jcs:FuzzCanonicalize agent/event:FuzzParse agent/localapi:FuzzParseInput \
	agent/checkpoint:FuzzParseCheckpoint agent/checkpoint:FuzzOpen \
	agent/merkle:FuzzCheckInclusion agent/merkle:FuzzCheckConsistency \
	agent/verify:FuzzParseBundle agent/verify:FuzzParseConsistency agent/verify:FuzzParseTlogProof \
	agent/config:FuzzParse agent/config:FuzzParseSize agent/rules:FuzzEngine agent/geo:FuzzPolygon drivers/replay:FuzzLoad \
	drivers/nmea:FuzzParse drivers/nmea:FuzzScanner drivers/nmea:FuzzReceiver \
	drivers/bme280:FuzzCompensate drivers/ds18b20:FuzzScratchpad drivers/ds18b20:FuzzParseROM \
	drivers/hx711:FuzzCombine drivers/lis3dh:FuzzDecode drivers/mfrc522:FuzzAnticollision drivers/mfrc522:FuzzSense
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./$$pkg || exit 1; done

clean:
	rm -rf $(BIN) $(BUILD) .data
