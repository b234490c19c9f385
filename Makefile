# Pillarbox: `make run` sets everything up on a fresh Debian 12 machine with the Swift toolchain
# and starts the server; `make test` does the same set-up and runs the whole suite.

SHELL := /bin/bash
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# What building and running need: the system libraries behind CZstd and CLua, pkg-config to
# find them, and PostgreSQL's server programs for the embedded cluster.
PACKAGES := pkg-config libzstd-dev liblua5.4-dev libunbound-dev zlib1g-dev postgresql ca-certificates publicsuffix dns-root-data
# What the end-to-end tests drive Pillarbox with.
TEST_PACKAGES := python3 dovecot-pop3d dovecot-imapd python3-aiosmtpd python3-prometheus-client ldnsutils python3-dkim python3-spf python3-dnspython python3-yaml python3-authres libxml2-utils curl swaks libnet-ssleay-perl fetchmail isync unbound openssl \
	chromium chromium-driver python3-selenium python3-venv wrk

.PHONY: run test build release deps test-deps clean bench-append bench-compression bench-codec bench-rebuild bench-smtp bench-pop3 bench-imap bench-lag bench-outbound bench-auth bench-admin bench-collect fuzz

## Installs the Debian packages that are missing (apt-get only runs when one is).
deps:
	@$(call install,$(PACKAGES))

test-deps: deps
	@$(call install,$(TEST_PACKAGES))
	@$(MAKE) --no-print-directory $(SCHEMATHESIS)

## schemathesis, from PyPI, checks the admin API against its OpenAPI document; it lives in a
## virtual environment under .build so the system's Python stays as Debian ships it.
SCHEMATHESIS := .build/python/bin/schemathesis
## anyio is held below 4.15, whose lazy importer compiles modules from worker threads and trips
## Debian's Python 3.11 ("AST constructor recursion depth mismatch") under --workers 2.
SCHEMATHESIS_VERSION := 4.32.5
ANYIO_VERSION := 4.12.1
$(SCHEMATHESIS):
	/usr/bin/python3 -m venv .build/python
	.build/python/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION) anyio==$(ANYIO_VERSION)

define install
missing=""; \
for package in $(1); do \
  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  $(SUDO) apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

build: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release --product pillarbox

## Starts the server with the demo configuration: data under ./data, unprivileged ports
## (SMTP 2525, submission 5870, SMTPS 4650, POP3 1100, POP3S 9950, IMAP 1430, IMAPS 9930,
## admin 8080). Stop it with Ctrl-C; run it again and it carries on with the same data.
run: release
	.build/release/pillarbox serve --config demo/pillarbox.json

## Builds, starts a throwaway PostgreSQL cluster for the suite, runs every test, stops it.
test: test-deps build
	@set -eo pipefail; \
	cluster=$$(mktemp -d /tmp/pillarbox-test.XXXXXX); \
	trap '.build/debug/pillarbox db stop --data-dir "$$cluster" >/dev/null 2>&1 || true; rm -rf "$$cluster"' EXIT; \
	.build/debug/pillarbox db start --data-dir "$$cluster"; \
	export PILLARBOX_TEST_DATABASE_URL="$$(.build/debug/pillarbox db url --data-dir "$$cluster")"; \
	export PILLARBOX_BINARY="$(CURDIR)/.build/debug/pillarbox"; \
	export PILLARBOX_SCHEMATHESIS="$(CURDIR)/$(SCHEMATHESIS)"; \
	status=0; $(SWIFT) test 2>&1 | tee "$$cluster/test.log" || status=$$?; \
	if [ $$status -ne 0 ]; then \
		echo "==== make test failed ($$status); the issues recorded, then the database's complaints:"; \
		grep -a -A30 -E 'recorded an issue|error:|Fatal error' "$$cluster/test.log" | tail -n 300 || true; \
		grep -a -E 'FATAL|PANIC' "$$cluster/pg/server.log" | grep -v 'connection to client lost' | tail -n 20 || true; \
	fi; \
	exit $$status

## Benchmarks (never part of `make test`); see bench/README.md.
bench-append: deps
	bench/append/run

bench-compression: deps
	bench/compression/run

bench-codec: deps
	bench/codec/run

bench-rebuild: deps
	bench/rebuild/run

bench-lag: deps
	bench/lag/run

bench-smtp: deps
	bench/smtp/run

bench-pop3: deps
	bench/pop3/run

bench-outbound: deps
	bench/outbound/run

bench-auth: deps
	bench/auth/run

bench-admin: deps
	bench/admin/run

bench-collect: deps
	bench/collect/run

## imaptest is not packaged: build it yourself (bench/RESULTS.md says how) and pass IMAPTEST=PATH.
bench-imap: deps
	@[ -n "$(IMAPTEST)" ] || { echo "bench-imap needs IMAPTEST=/path/to/imaptest"; exit 2; }
	bench/imap/run --imaptest "$(IMAPTEST)"

# libFuzzer targets for the parsers of untrusted bytes, each run for FUZZ_SECONDS from the seed
# corpus in Fuzz/Corpus (new inputs it finds go to Fuzz/corpus-*, not committed).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = FuzzMIME:mime FuzzDomainName:domain FuzzDNSRecordData:dns FuzzSMTP:smtp FuzzSMTPReplies:smtp-replies FuzzSMTPClient:smtp-client FuzzMailAuth:mailauth FuzzPOP3:pop3 FuzzIMAP:imap FuzzCSV:csv
fuzz: deps
	$(SWIFT) build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	for entry in $(FUZZ_TARGETS); do \
		target=$${entry%%:*}; corpus=$${entry##*:}; \
		mkdir -p Fuzz/corpus-$$corpus; \
		seeds=""; [ -d Fuzz/Corpus/$$corpus ] && seeds=Fuzz/Corpus/$$corpus; \
		Fuzz/.build/debug/$$target -max_total_time=$(FUZZ_SECONDS) -max_len=65536 Fuzz/corpus-$$corpus $$seeds || exit 1; \
	done

clean:
	rm -rf .build
