# Makefile for the bqstream extension (PGXS)

EXTENSION = bqstream
MODULE_big = bqstream
OBJS = \
	src/bqstream.o \
	src/admin.o \
	src/fdw/analyze.o \
	src/fdw/convert.o \
	src/fdw/deparse.o \
	src/fdw/fdw.o \
	src/fdw/import.o \
	src/fdw/modify.o \
	src/fdw/plan.o \
	src/fdw/query_check.o \
	src/fdw/scan.o \
	src/gcp/auth.o \
	src/gcp/bigquery.o \
	src/gcp/client.o \
	src/gcp/http.o \
	src/gcp/jsonscan.o \
	src/gcp/options.o \
	src/gcp/policy.o \
	src/gcp/pubsub.o \
	src/generator/orders.o \
	src/generator/publish.o \
	src/worker/catalog.o \
	src/worker/deadletter.o \
	src/worker/launcher.o \
	src/worker/ownership.o \
	src/worker/pipeline.o \
	src/worker/stats.o \
	src/worker/validate.o

DATA = $(wildcard sql/bqstream--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lcurl -ljansson -lcrypto

# pg_regress reads test/sql and test/expected; sql/ holds the extension scripts
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=bqstream

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = test/results test/regression.diffs test/regression.out tmp_check tmp_regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pg_regress on a throwaway instance with the library preloaded, and the TAP
# suite alone; scripts/test.sh runs both (plus the emulator and conformance
# suites) and is what the README and CI call.
.PHONY: regresscheck tapcheck test demo
regresscheck: submake $(REGRESS_PREP)
	$(pg_regress_installcheck) $(REGRESS_OPTS) --temp-instance=./tmp_regress --temp-config=$(srcdir)/test/bqstream.conf $(REGRESS)

tapcheck:
	$(prove_installcheck)

test:
	scripts/test.sh

demo:
	scripts/demo.sh

# PGXS tracks no header dependencies: rebuild everything when a header changes
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)
