SHELL := /bin/bash
# rung: an OCI runtime whose isolation stages are plugin processes.
GO        ?= go
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBEXEC   ?= $(PREFIX)/libexec/rung
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
# Linked statically: a command's exec then maps one file and runs no
# dynamic loader (rung --version 6.3 -> 5.7 ms here, and rung runs three or
# four times per container, rung-init once more). netgo and osusergo keep
# glibc's NSS, which cannot be linked so, out.
# disablethp=1 is each binary's default GODEBUG (the variable the go
# command itself sets for a go.mod's godebug lines, which do not accept this
# one): where transparent huge pages are "always" (Debian's kernels), the Go
# heap's first touch faults in a 2 MiB page, which a process that lives for
# milliseconds pays in memory and zeroing; in the guest that was 1.8 MiB of
# RSS in rung alone. A GODEBUG in the environment still overrides it.
LDFLAGS   := -s -w -linkmode external -extldflags '-static' -X runtime.godebugDefault=disablethp=1 -X github.com/rung-runtime/rung/internal/version.Version=$(VERSION)
PLUGINS   := namespaces cgroupv2 cgroupv1 seccomp lsm landlock
GOFLAGS_B := -trimpath -ldflags "$(LDFLAGS)"
# grpcnotrace drops gRPC's x/net/trace (html/template and friends): 0.45 MB
# of binary and ~0.5 MiB of RSS in every process; nothing here traces.
# urfave_cli_no_docs drops the CLI's man-page generator.
TAGS      := grpcnotrace,netgo,osusergo
# Where the binaries go; tests/vm/build-bins.sh builds a guest's elsewhere.
BIN       ?= bin

.PHONY: conformance-guest all rung plugins test check unit integration demo install proto clean vet fmt deps conformance bench fuzz
.PHONY: guest-test apparmor-default bench-guest

all: rung plugins

# rung-init is built with rung, always: the two must speak one init
# protocol (the init refuses a rung of another build).
rung:
	$(GO) build $(GOFLAGS_B) -tags $(TAGS),urfave_cli_no_docs -o $(BIN)/rung ./cmd/host
	$(GO) build $(GOFLAGS_B) -tags $(TAGS) -o $(BIN)/rung-init ./cmd/host/init

plugins: $(addprefix $(BIN)/rung-,$(PLUGINS))

$(BIN)/rung-%: FORCE
	$(GO) build $(GOFLAGS_B) -tags $(TAGS) -o $@ ./plugins/$*

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
	RUNG_GUEST_TESTS=$${RUNG_GUEST_TESTS-1} ./tests/run.sh

# Everything CI runs: the conformance suite (against a committed baseline),
# every fuzz target for a few seconds, then every go test, whose count line
# closes the output. A suite that fails is run once more and said to be
# flaky if it then passes; failing twice fails the check.
# The guest suite (make guest-test) runs with the go tests and counts in the
# same closing line (RUNG_GUEST_TESTS=0 leaves it out); each test binary is
# bounded at 8 minutes there and the guest at 11.
check: all vet
	$(MAKE) conformance || { echo "FLAKY? conformance failed; running it once more"; $(MAKE) conformance; }
	$(MAKE) fuzz FUZZTIME=5s
	RUNG_GUEST_TESTS=$${RUNG_GUEST_TESTS-1} ./tests/run.sh

# Every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME (default
# 20s) each, one after another, then the list of those that failed; seed
# corpora live in each package's testdata/fuzz/, new finds go to the go
# build cache (a crasher is written to testdata/fuzz/ to be committed).
fuzz:
	@set -e; t="$(or $(FUZZTIME),20s)"; \
	grep -rH '^func Fuzz[A-Za-z0-9_]*(' --include='*_test.go' . | grep -v '^\./\.' | \
	sed -E 's|^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort -u | \
	{ failed=""; while read -r pkg fn; do echo "== $$fn in $$pkg ($$t)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime "$$t" "$$pkg" && continue; \
	  echo "FLAKY? $$fn failed; running it once more (a crasher is in testdata/fuzz now and replays first)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime "$$t" "$$pkg" || failed="$$failed $$fn"; done; \
	  if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; }

# The runtime-tools suite inside the qemu guest (pure cgroup v2, AppArmor), rung and
# runc side by side; under emulation it takes about 17 minutes, so CI runs only
# the host's. Results: .cache/conformance/guest/.
conformance-guest: all
	tests/conformance/build-suite.sh .cache/conformance
	$(GO) build -o .cache/conformance/runner ./tests/conformance
	RUNG_VM_TIMEOUT=$${RUNG_VM_TIMEOUT-9000} tests/vm/run.sh sh tests/vm/conformance.sh \
	  $(CURDIR)/bin $(CURDIR)/.cache/conformance/runner $(CURDIR)/.cache/conformance/src \
	  $(CURDIR)/.cache/conformance/guest -timeout $${RUNG_CONFORMANCE_TIMEOUT-8m} $(if $(TESTS),-tests "$(TESTS)")

# cgroup v2 limits and AppArmor in a qemu guest (tests/vm/README.md); builds into .gotmp, not bin/.
guest-test:
	GO=$(GO) PLUGINS="$(PLUGINS)" VERSION=$(VERSION) tests/vm/guest-test.sh $(GUEST_TEST_FLAGS)

# Load rung's default AppArmor profile into the kernel (root, apparmor_parser).
apparmor-default:
	apparmor_parser -r plugins/lsm/apparmor/rung-default

# Debian packages the build, the tests and the demo need (run as root).
# containerd, umoci and podman drive the e2e tests; qemu and Debian's kernel
# boot the guest for `make guest-test`; apparmor gives it apparmor_parser.
DEBS := build-essential pkg-config libseccomp-dev busybox-static protobuf-compiler runc iproute2 git \
	containerd umoci podman bsdutils qemu-system-x86 linux-image-amd64 apparmor cpio kmod xz-utils criu crun
deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps installs Debian packages: run it as root"; exit 1; fi
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed (/usr/local/go/bin on PATH)"; exit 1; }

demo: all
	./tests/demo.sh

# The runtime-tools v0.9.0 validation suite against bin/rung and runc (RUNC=
# to pick another, RUNC=none to skip it), table of both, and a check of rung
# against tests/conformance/baseline.tsv (UPDATE_BASELINE=1 rewrites it).
# The suite is built once into .cache/conformance. See docs/conformance.md.
conformance: all
	tests/conformance/build-suite.sh .cache/conformance
	$(GO) build -o .cache/conformance/runner ./tests/conformance
	runc="$${RUNC-$$(command -v runc)}"; \
	.cache/conformance/runner -suite .cache/conformance/src -work .cache/conformance/run \
	  -runtime rung=bin/rung $$([ -n "$$runc" ] && [ "$$runc" != none ] && echo "-runtime runc=$$runc") \
	  -baseline tests/conformance/baseline.tsv $(if $(UPDATE_BASELINE),-update-baseline)

# rung, runc and crun side by side (root; a few minutes; not part of test).
# BENCHFLAGS=-n 50, -only run,exec, ... : see tests/bench/main.go.
bench: all
	$(GO) run ./tests/bench -rung $(CURDIR)/bin/rung $(BENCHFLAGS)

# The same in the qemu guest (pure cgroup v2, crun runnable); emulated, so
# fewer runs by default and only the ratios compare with the host's.
GUEST_BENCHFLAGS ?= -only run,seccomp,phases,exec,rss -n 15 -warmup 2
bench-guest:
	GO=$(GO) tests/vm/bench.sh $(GUEST_BENCHFLAGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXEC)
	install -m 0755 bin/rung $(DESTDIR)$(BINDIR)/rung
	install -m 0755 bin/rung-init $(DESTDIR)$(LIBEXEC)/rung-init
	for p in $(PLUGINS); do install -m 0755 bin/rung-$$p $(DESTDIR)$(LIBEXEC)/rung-$$p; done

# protoc comes from Debian's protobuf-compiler; the Go generators are pinned.
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc -I proto \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  proto/stagev1/stage.proto

clean:
	rm -rf bin
