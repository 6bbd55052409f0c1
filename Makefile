# import_rollback -- PGXS build.
#
# The control file is the single source of the version.  Point PG_CONFIG at
# another installation to build against it:  make PG_CONFIG=/path/to/pg_config

EXTENSION   = import_rollback
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big  = import_rollback
OBJS        = src/import_rollback.o \
              src/stage.o src/validate.o src/rules.o src/typecheck.o src/cellcheck.o \
              src/rowcheck.o src/mapcheck.o src/livecheck.o src/collect.o src/review.o \
              src/apply.o src/rollback.o \
              src/drill.o src/reports.o src/purge.o src/guards.o src/run.o src/cascade.o \
              src/catalog.o src/target.o src/mapping.o src/changelog.o \
              src/storage.o \
              src/options.o src/settings.o src/state.o src/sqlgen.o src/exec.o src/convert.o \
              src/transform.o src/lookup.o src/pending.o src/formats.o src/compat.o
# every install and upgrade script: $(EXTENSION)--X.Y.Z.sql and --A--B.sql
DATA        = $(wildcard $(EXTENSION)--*.sql)
PGFILEDESC  = "import_rollback - tracked, reversible file imports"

# pg_regress suites: one file per feature, run in this order in one database.
REGRESS     = init stage_basic stage_dialect stage_hostile stage_errors \
              stage_marker stage_file stage_client stage_large_object batches null_args privileges \
              validate validate_mapping validate_seeds review apply rollback \
              hijack row_security revalidate inheritance attribution \
              bad_options limits rebinding report_filters purge settings guards stale runs cascade formats \
              transforms live_checks patterns
REGRESS_OPTS = --load-extension=plpgsql

# isolation specs live in test/specs, their expected output in test/expected
ISOLATION      = batch_states apply_races purge_races run_races cascade_races guard_races \
                 stale_races
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

# PGXN distribution: make dist writes dist/$(EXTENSION)-$(EXTVERSION).zip,
# a `git archive` of the COMMITTED HEAD (uncommitted changes are not in it),
# every file under the prefix $(EXTENSION)-$(EXTVERSION)/.  The archive is
# unpacked into a temp dir and checked with tools/meta.sh (META.json valid,
# its version = the control file's default_version = $(EXTVERSION), the
# provided files present); a failing archive is removed.
DIST_NAME = $(EXTENSION)-$(EXTVERSION)
DIST_ZIP  = dist/$(DIST_NAME).zip

.PHONY: dist
dist:
	@test -n "$(EXTVERSION)" || { echo "dist: no default_version in $(EXTENSION).control" >&2; exit 1; }
	@git rev-parse --verify -q HEAD >/dev/null || { echo "dist: not a git checkout with a commit" >&2; exit 1; }
	@git diff --quiet HEAD -- || echo "dist: note: the work tree has uncommitted changes; the archive holds HEAD ($$(git rev-parse --short HEAD)) only" >&2
	mkdir -p dist
	rm -f $(DIST_ZIP)
	git archive --format=zip --prefix=$(DIST_NAME)/ --output=$(DIST_ZIP) HEAD
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	if command -v unzip >/dev/null 2>&1; then unzip -q $(DIST_ZIP) -d "$$tmp"; \
	else python3 -m zipfile -e $(DIST_ZIP) "$$tmp"; fi && \
	bash tools/meta.sh "$$tmp/$(DIST_NAME)" "$(EXTVERSION)" || \
	{ rm -f $(DIST_ZIP); echo "dist: $(DIST_ZIP) (HEAD $$(git rev-parse --short HEAD)) failed the check and was removed; commit META.json and the version bump first" >&2; exit 1; }
	@echo "dist: wrote $(DIST_ZIP) ($$(git rev-parse --short HEAD))"

# The command-line client import_rollback (client/, its own PGXS PROGRAM
# linked with libpq): built, installed, uninstalled and cleaned with the
# extension.  Its TAP tests are test/t/010_client_*.pl (PROVE_TESTS above).
.PHONY: client-all client-install client-uninstall client-clean
all: client-all
install: client-install
uninstall: client-uninstall
clean: client-clean
client-all:
	$(MAKE) -C client PG_CONFIG='$(PG_CONFIG)' all
client-install: client-all
	$(MAKE) -C client PG_CONFIG='$(PG_CONFIG)' install
client-uninstall:
	$(MAKE) -C client PG_CONFIG='$(PG_CONFIG)' uninstall
client-clean:
	$(MAKE) -C client PG_CONFIG='$(PG_CONFIG)' clean
