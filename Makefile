# session_store: PGXS build, tests and demo.
EXTENSION = session_store
MODULE_big = session_store
OBJS = src/session_store.o src/validate.o src/state.o src/lock.o \
       src/store.o src/session.o src/append.o src/messages.o
DATA = session_store--1.0.sql
PGFILEDESC = "session_store - concurrency-safe storage for AI-agent sessions"

REGRESS = setup
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
             -Wno-missing-field-initializers
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
