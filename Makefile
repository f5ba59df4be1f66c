SHELL := /bin/bash
# rung: an OCI runtime whose isolation stages are plugin processes.
GO        ?= go
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBEXEC   ?= $(PREFIX)/libexec/rung
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
LDFLAGS   := -s -w -X github.com/rung-runtime/rung/internal/version.Version=$(VERSION)
PLUGINS   := namespaces cgroupv2 seccomp lsm
GOFLAGS_B := -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all rung plugins test unit integration demo install proto clean vet fmt

all: rung plugins

rung:
	$(GO) build $(GOFLAGS_B) -o bin/rung ./cmd/host

plugins: $(addprefix bin/rung-,$(PLUGINS))

bin/rung-%: FORCE
	$(GO) build $(GOFLAGS_B) -o $@ ./plugins/$*

FORCE:

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Unit tests need no root; integration tests run real containers as root.
unit:
	$(GO) test ./proto/... ./sdk/... ./internal/... ./plugins/... ./cmd/...

integration: all
	RUNG_BIN=$(CURDIR)/bin/rung $(GO) test -count=1 -v ./tests/...

test: all vet
	$(GO) test -count=1 ./... 2>&1 | tee .test.log; exit $${PIPESTATUS[0]}

demo: all
	./tests/demo.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXEC)
	install -m 0755 bin/rung $(DESTDIR)$(BINDIR)/rung
	for p in $(PLUGINS); do install -m 0755 bin/rung-$$p $(DESTDIR)$(LIBEXEC)/rung-$$p; done

proto:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc -I proto \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  proto/stagev1/stage.proto

clean:
	rm -rf bin
