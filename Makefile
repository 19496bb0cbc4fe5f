# session_store: PGXS build, tests and demo.
#
#   make demo     install what is missing, build, install, run the demo on a
#                 throwaway cluster
#   make demo-portable   the frameworks' demo on the portable edition: on the
#                 server $SS_DSN names, or on an embedded server (no cluster,
#                 no C build)
#   make test     install what is missing, build, install, run every suite
#   make bench    the benchmark (long), on throwaway clusters; then the
#                 Python and TypeScript adapters' benchmarks (make bench-python alone),
#                 each also on the portable edition (make bench-portable alone)
#   make test-mutations   builds with a mechanism compiled out must fail the tests
#   make test-versions    build and run regress + isolation on PostgreSQL 16 and 18
#   make test-citus   the same guarantees on a Citus cluster (Citus installed first)
#   make test-pgtle   the portable edition as the pg_tle extension
#                     session_store_portable (pg_tle installed first)
#
# Both need root (or sudo) for the package and extension installs.

EXTENSION = session_store
MODULE_big = session_store
OBJS = src/session_store.o src/validate.o src/state.o src/lock.o src/head.o \
       src/direct.o \
       src/store.o src/session.o src/append.o src/messages.o \
       src/listing.o src/expire.o src/citus.o src/keys.o
DATA = session_store--1.0.sql session_store--1.0--1.1.sql \
       session_store--1.1--1.2.sql
PGFILEDESC = "session_store - concurrency-safe storage for AI-agent sessions"

# pg_regress: sql/*.sql against expected/*.out
REGRESS = setup create_session append_messages get_messages state errors \
          list_sessions list_sessions_ascending list_sessions_with_state trim fork expire limits \
          keep_nulls after_time verify_replay replace_messages count_sessions \
          hardening table_changes extension_owner distribute \
          idempotency_keys keys_table
REGRESS_OPTS = --inputdir=. --launcher=$(CURDIR)/test/psql-launcher.sh

# isolationtester: test/specs/*.spec against test/expected/*.out
ISOLATION = create_fresh_app create_same_id append_interleaved \
            append_repeatable_read app_state_merge app_state_no_wait \
            idempotency_replay pop_append rewind_append fork_append \
            expire_append replace_append verify_replay \
            create_after_delete deadlock create_same_key list_state_snapshot \
            remove_same_key
ISOLATION_OPTS = --inputdir=test

PG_MAJOR ?= 15
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config) pg_config)
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
             -Wno-missing-field-initializers $(SS_EXTRA_CFLAGS)

# On a machine without the server headers yet, only the targets below that
# install them can run; PGXS is included once pg_config exists.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL server headers not found: run 'make deps' (as root) first" >&2
	@exit 1
endif

# PGXS does not track headers: every object depends on the shared one.
$(OBJS): src/session_store.h src/compat.h

.PHONY: deps test demo demo-portable bench bench-portable bench-python test-mutations test-versions test-citus test-pgtle

# a variable's value (the test lists, for test/run-in-cluster.sh)
print-%:
	@echo '$($*)'

deps:
	PG_MAJOR=$(PG_MAJOR) bash test/deps.sh

test: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) bash test/run.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) bash demo/run.sh

demo-portable:
	bash demo/run.sh --portable

# the benchmark (long; not part of make test)
bench: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) bash bench/run.sh
	PG_MAJOR=$(PG_MAJOR) bash bench/python_run.sh
	PG_MAJOR=$(PG_MAJOR) bash bench/node.sh
	PG_MAJOR=$(PG_MAJOR) bash bench/python_run.sh portable
	PG_MAJOR=$(PG_MAJOR) bash bench/node.sh portable

# the portable edition against the C edition, and the adapters on it against
# the frameworks' stores (minutes: BENCH_ROUNDS and BENCH_SECONDS as for bench)
bench-portable: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) bash bench/run.sh --only portable
	PG_MAJOR=$(PG_MAJOR) bash bench/python_run.sh portable
	PG_MAJOR=$(PG_MAJOR) bash bench/node.sh portable

# the Python adapters' benchmark alone
bench-python: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) bash bench/python_run.sh

# on a Citus cluster made on loopback; Citus must already be installed for
# this PostgreSQL (test/citus/run.sh fails when it is not)
test-citus: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) PG_CONFIG=$(PG_CONFIG) bash test/citus/run.sh

# the portable edition installed through pg_tle, on a cluster made on
# loopback; pg_tle must already be installed for this PostgreSQL
# (test/pgtle/run.sh fails when it is not); the C edition is installed too,
# for the checks against it and the move to it
test-pgtle: deps
	$(MAKE) all
	$(MAKE) install
	PG_MAJOR=$(PG_MAJOR) PG_CONFIG=$(PG_CONFIG) bash test/pgtle/run.sh

# the tests can fail: builds with a mechanism compiled out must fail them
test-mutations: deps
	PG_MAJOR=$(PG_MAJOR) bash test/mutations.sh

# other PostgreSQL majors, from PyPI wheels that ship a whole server build
test-versions: deps
	bash test/versions.sh
