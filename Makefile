# resguardo — build and check targets.
#
#   make            same as `make test`: the whole test suite (what CI runs)
#   make lint       gofmt check, go vet, staticcheck, gosec
#   make tools      install the pinned linters into $(go env GOPATH)/bin
#   make build      bin/resguardo
#   make run        resguardo serve (SQLite under ./data/, loopback only)
#
# MySQL/MariaDB tests run when RESGUARDO_TEST_MYSQL_DSN is set
# (e.g. mysql://root@127.0.0.1:3306/test); the tests read it themselves.

GO    ?= go
GOBIN := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin

# Pinned linter versions (both need Go >= 1.26.0; bump deliberately).
STATICCHECK_VERSION := v0.8.2
GOSEC_VERSION       := v2.30.0

.PHONY: test lint tools build run

test:
	$(GO) test -race -count=1 ./...

lint:
	@# gofmt over the repository's .go files (tracked, plus new files not git-ignored).
	@out="$$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/gosec -quiet ./...

tools:
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	GOBIN=$(GOBIN) $(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

build:
	$(GO) build -trimpath -o bin/resguardo ./cmd/resguardo

run:
	$(GO) run ./cmd/resguardo serve
