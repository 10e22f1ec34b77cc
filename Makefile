# resguardo — build and check targets.
#
#   make            same as `make test`: the whole test suite (what CI runs)
#   make lint       gofmt check, go vet, staticcheck, gosec
#   make audit      go mod verify, govulncheck against the offline vulnerability database,
#                   the supply-chain and source checks (internal/assurance)
#   make sbom       CycloneDX SBOM of the binary in bin/resguardo.cdx.json, checked
#                   against the modules the build uses
#   make tools      install the pinned linters and scanners into $(go env GOPATH)/bin
#   make build      bin/resguardo
#   make run        resguardo serve (SQLite under ./data/, loopback only)
#   make bench-compare  this checkout side by side with the FastAPI reference
#                   (../shared/bench/compare.sh; options in ARGS, e.g. ARGS="--db sqlite")
#   make bench-floor    the machine's own limit (../shared/bench/floor/floor.sh; options in ARGS)
#   make galera-up      a three-node MariaDB Galera cluster on loopback with HAProxy
#                   (tools/galera/cluster.sh; ports 3307-3309, HAProxy 3310)
#   make galera-down    stop it and remove its data
#   make test-galera    the audit, staff and customer-side tests on the cluster (node 1,
#                   the second server of two-server tests on node 2); starts it if needed
#
# MySQL/MariaDB tests run when RESGUARDO_TEST_MYSQL_DSN is set
# (e.g. mysql://root@127.0.0.1:3306/test); the tests read it themselves.

GO    ?= go
GOBIN := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin

# Pinned tool versions (all build with Go 1.26; bump deliberately, with the row in
# docs/third-parties.md, which a test compares).
STATICCHECK_VERSION     := v0.8.2
GOSEC_VERSION           := v2.30.0
GOVULNCHECK_VERSION     := v1.9.0
CYCLONEDX_GOMOD_VERSION := v1.10.0

# The Go vulnerability database: the offline snapshot beside the project (CI has no
# network access to vuln.go.dev). `make audit VULNDB=` scans against the live service.
VULNDB ?= ../shared/vulndb/go-vulndb.tar.gz
SBOM   := bin/resguardo.cdx.json

# The side-by-side harness lives beside the project, never inside it: it is a measuring
# instrument, not a dependency of the product or of its tests.
BENCH ?= ../shared/bench
ARGS  ?=

.PHONY: test lint audit sbom tools build run bench-compare bench-floor galera-up galera-down test-galera

test:
	$(GO) test -race -count=1 -timeout 25m ./...

lint:
	@# gofmt over the repository's .go files (tracked, plus new files not git-ignored).
	@out="$$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/gosec -quiet ./...

audit:
	$(GO) mod verify
	@GOVULNCHECK=$(GOBIN)/govulncheck bash .ci/vulncheck "$(VULNDB)"
	$(GO) test -count=1 ./internal/assurance

sbom:
	@mkdir -p bin
	$(GOBIN)/cyclonedx-gomod app -json -std -licenses -output $(SBOM) -main cmd/resguardo .
	$(GO) run ./tools/sbomcheck -sbom $(SBOM) ./cmd/resguardo

tools:
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	GOBIN=$(GOBIN) $(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)
	GOBIN=$(GOBIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	GOBIN=$(GOBIN) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

build:
	$(GO) build -trimpath -o bin/resguardo ./cmd/resguardo

run:
	$(GO) run ./cmd/resguardo serve

# A MySQL deployment needs its master key (docs/keys.md): unless one is given in
# RESGUARDO_MASTER_KEY_FILE, a throwaway key is made for the run in a private
# temporary folder, and the server started by compare.sh inherits it.
bench-compare:
	@if [ -z "$$RESGUARDO_MASTER_KEY_FILE" ]; then \
		tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(GO) run ./cmd/resguardo keys init --data-dir "$$tmp/data" --master-key-file "$$tmp/master.key" >/dev/null && \
		RESGUARDO_MASTER_KEY_FILE="$$tmp/master.key" $(BENCH)/compare.sh --checkout "$(CURDIR)" $(ARGS); \
	else $(BENCH)/compare.sh --checkout "$(CURDIR)" $(ARGS); fi

bench-floor:
	$(BENCH)/floor/floor.sh $(ARGS)

GALERA := tools/galera/cluster.sh
# The tests that must hold on a multi-writer cluster: the audit trail, the staff side and the
# customer side whole, and from the HTTP package those of two servers of one deployment and
# of faults. One package at a time: the Galera abort counters the audit test reads are the
# node's.
GALERA_SERVER_TESTS := TestOncePerDeploymentAcrossTwoServers|TestUnrecordedRefusalFailsTheRequest|TestDatabaseFaultIsNoFailedGuess|TestRefreshTokenReuseRevokesFamily|TestGuessesFromManyNetworksSlowOnlyUnknownDevices|TestRevokedTokenIsRefusedOnTheNextRequest

galera-up:
	$(GALERA) up

galera-down:
	$(GALERA) down

test-galera: galera-up
	RESGUARDO_TEST_MYSQL_DSN="$$($(GALERA) dsn 1)" RESGUARDO_TEST_MYSQL_PEER_DSN="$$($(GALERA) dsn 2)" \
		$(GO) test -count=1 -p 1 ./internal/audit/ ./internal/staff/ ./internal/account/
	RESGUARDO_TEST_MYSQL_DSN="$$($(GALERA) dsn 1)" RESGUARDO_TEST_MYSQL_PEER_DSN="$$($(GALERA) dsn 2)" \
		$(GO) test -count=1 -run '^($(GALERA_SERVER_TESTS))$$' ./internal/server/
