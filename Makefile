# import_rollback -- PGXS build.
#
# The control file is the single source of the version.  Point PG_CONFIG at
# another installation to build against it:  make PG_CONFIG=/path/to/pg_config

EXTENSION   = import_rollback
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big  = import_rollback
OBJS        = src/import_rollback.o \
              src/stage.o src/validate.o src/rules.o src/typecheck.o src/rowcheck.o \
              src/mapcheck.o src/collect.o src/review.o src/apply.o src/rollback.o \
              src/drill.o src/reports.o \
              src/catalog.o src/target.o src/mapping.o src/changelog.o \
              src/storage.o \
              src/options.o src/state.o src/sqlgen.o src/exec.o src/convert.o src/compat.o
# every install and upgrade script: $(EXTENSION)--X.Y.Z.sql and --A--B.sql
DATA        = $(wildcard $(EXTENSION)--*.sql)
PGFILEDESC  = "import_rollback - tracked, reversible file imports"

# pg_regress suites: one file per feature, run in this order in one database.
REGRESS     = init stage_basic stage_dialect stage_hostile stage_errors \
              stage_marker stage_file stage_client batches null_args privileges \
              validate validate_mapping validate_seeds review apply rollback \
              hijack row_security revalidate inheritance attribution \
              bad_options limits rebinding
REGRESS_OPTS = --load-extension=plpgsql

# isolation specs live in test/specs, their expected output in test/expected
ISOLATION      = batch_states apply_races
ISOLATION_OPTS = --inputdir=test --load-extension=import_rollback

# TAP tests: crashes, restarts, dump and restore
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src -DIR_EXTVERSION='"$(EXTVERSION)"'

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on every header: they are few and small.
$(OBJS): $(wildcard src/*.h)
