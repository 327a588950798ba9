# Makefile for the bqstream extension (PGXS)

EXTENSION = bqstream
MODULE_big = bqstream
OBJS = \
	src/bqstream.o \
	src/admin.o \
	src/fdw/analyze.o \
	src/fdw/avro.o \
	src/fdw/convert.o \
	src/fdw/deparse.o \
	src/fdw/deparse_time.o \
	src/fdw/dml.o \
	src/fdw/explain.o \
	src/fdw/fdw.o \
	src/fdw/import.o \
	src/fdw/insert_json.o \
	src/fdw/modify.o \
	src/fdw/plan.o \
	src/fdw/query_check.o \
	src/fdw/scan.o \
	src/fdw/table.o \
	src/gcp/auth.o \
	src/gcp/bigquery.o \
	src/gcp/bqstorage.o \
	src/gcp/bqstorage_read.o \
	src/gcp/bqstorage_write.o \
	src/gcp/client.o \
	src/gcp/grpc.o \
	src/gcp/http.o \
	src/gcp/jsonscan.o \
	src/gcp/options.o \
	src/gcp/policy.o \
	src/gcp/protobuf.o \
	src/gcp/pubsub.o \
	src/generator/orders.o \
	src/generator/publish.o \
	src/worker/catalog.o \
	src/worker/deadletter.o \
	src/worker/exactly_once.o \
	src/worker/launcher.o \
	src/worker/ownership.o \
	src/worker/pipeline.o \
	src/worker/rows_proto.o \
	src/worker/shmem.o \
	src/worker/stats.o \
	src/worker/storage_write.o \
	src/worker/validate.o \
	src/worker/xact.o

DATA = $(wildcard sql/bqstream--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lcurl -ljansson -lcrypto

# pg_regress reads test/sql and test/expected; sql/ holds the extension scripts.
# A test that needs the emulator reads its endpoints with \getenv from
# BQSTREAM_TEST_PUBSUB_ENDPOINT or BQSTREAM_TEST_BIGQUERY_ENDPOINT: the files
# that name a BQSTREAM_TEST_ variable are the emulator set, whatever their
# names, and every other test runs on any server, as "make installcheck"
# expects (no emulator, no shared_preload_libraries).
REGRESS_ALL := $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_EMULATOR := $(patsubst test/sql/%.sql,%,$(sort $(shell grep -l 'BQSTREAM_TEST_' test/sql/*.sql 2>/dev/null)))
REGRESS = $(filter-out $(REGRESS_EMULATOR),$(REGRESS_ALL))
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=bqstream

# The TAP suite starts clusters and emulators of its own and takes minutes:
# "make tapcheck", not part of installcheck (no TAP_TESTS).
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = test/results test/regression.diffs test/regression.out tmp_check tmp_regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# installcheck (from PGXS): the tests that need nothing, against a running
# server.  installcheck-emulator: the emulator set against a running server,
# with the emulator's endpoints in the environment.  regresscheck: both sets
# on a throwaway instance with the library preloaded.  tapcheck: the TAP
# suite alone.  scripts/test.sh runs them all (plus the emulator, conformance
# and other suites) and is what the README and CI call.
.PHONY: installcheck-emulator regresscheck tapcheck test demo dist
installcheck-emulator: submake $(REGRESS_PREP)
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS_EMULATOR)

regresscheck: submake $(REGRESS_PREP)
	$(pg_regress_installcheck) $(REGRESS_OPTS) --temp-instance=./tmp_regress --temp-config=$(srcdir)/test/bqstream.conf $(REGRESS) $(REGRESS_EMULATOR)

tapcheck:
	$(prove_installcheck)

test:
	scripts/test.sh

# The PGXN distribution: the committed tree, named after META.json's version
DIST_VERSION = $(shell sed -n 's/^ *"version": *"\([^"]*\)",*$$/\1/p' $(srcdir)/META.json | head -1)
dist:
	git archive --format zip --prefix=bqstream-$(DIST_VERSION)/ -o bqstream-$(DIST_VERSION).zip HEAD

demo:
	scripts/demo.sh

# PGXS tracks no header dependencies: rebuild everything when a header changes
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)
