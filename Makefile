# The two set-up commands are `make loadtest` and `make test`; both install
# valkey-server first if it is missing (see docs/setup.md).
GO ?= go
# Race-enabled tests of several packages that each start their own Valkey
# servers; 2 cores need the long timeout.
TEST_FLAGS ?= -race -count=1 -timeout 40m
LOADTEST_FLAGS ?=

.PHONY: test bench lint loadtest valkey nocgo

valkey:
	@bash scripts/install-valkey.sh

test: valkey
	$(GO) vet ./...
	$(MAKE) --no-print-directory nocgo
	$(GO) test $(TEST_FLAGS) ./...

# Every package but remote (and the loadtest program) must build without cgo,
# because only remote links the GLIDE client.
nocgo:
	CGO_ENABLED=0 $(GO) build ./ ./local/... ./kvtest/... ./tiered/... ./coordinator/... \
		./patterns/... ./internal/guard/... ./internal/ttl/...

bench: valkey
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

loadtest: valkey
	$(GO) run ./loadtest $(LOADTEST_FLAGS)

# Side by side with the rueidis client, from the nested module in
# loadtest/peers, so that the library's go.mod never requires rueidis.
PEERS_FLAGS ?=

.PHONY: peers
peers: valkey
	cd loadtest/peers && $(GO) run . $(PEERS_FLAGS)
