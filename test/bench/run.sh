#!/usr/bin/env bash
# test/bench/run.sh -- benchmarks of import_rollback against plain PostgreSQL.
#
# Usage (as root):
#   test/bench/run.sh [options] [scenario...]
#
# Scenarios (default: stage):
#   stage           time ir_stage_file() and ir_stage() on a generated
#                   customers CSV against a plain COPY of the same file into
#                   an all-text table; print each run and the median ratios.
#   stage-profile   runs of COPY, ir_stage_file and ir_stage under
#                   `perf record` on the backend; prints where the time
#                   goes, step by step; reports in test/bench/data/perf/.
#   stage-callgrind instruction counts (valgrind) of the same three
#                   statements on a smaller file: a ratio the machine's
#                   noise does not move; test/bench/data/callgrind/.
#   validate        ir_validate() of the staged customers file (types, a
#                   pattern, an email format, a reference lookup, the
#                   mapping check) against the plain COPY of the same file
#                   (target <= 1.2x).
#   apply           ir_apply() of a --rows record file (half updates, half
#                   inserts) to a --rows record table against the bare
#                   INSERT ... ON CONFLICT DO UPDATE of the same rows into
#                   an identical table without triggers (target <= 1.1x).
#   rollback        ir_rollback() of that batch right after it, against the
#                   bare undo of the same upsert (target <= 1.2x); apply
#                   and rollback share their rounds.
#   plain-update    pgbench single-row UPDATEs outside any batch on a
#                   tracked table against an untracked one (target <=
#                   1.05x), plus callgrind instruction counts of the same.
#   rollback-history  rollback of a 1,000-record batch with 100 later
#                   batches against the same with none (target <= 2x).
#   apply-profile, rollback-profile
#                   perf on the backend during the upsert, ir_apply and
#                   ir_rollback; where the time goes, step by step, and the
#                   call chains to chosen symbols.
#   apply-plans     the statements ir_apply and ir_rollback run inside,
#                   with plans and durations (auto_explain).
#   stage-lo        \lo_import of the customers CSV then
#                   ir_stage_large_object() of it, against \lo_import plus
#                   the plain COPY (target <= 1.3x), with the staging
#                   backend's peak private memory.
#   rollback-preview  ir_rollback_preview() of the --rows batch of
#                   "apply", against ir_rollback() of it (target <= 0.5x),
#                   with the previewing backend's peak private memory
#                   (target <= 100 MB above shared memory).
#   purge           ir_purge() of PURGE_BATCHES (100) ended batches, each
#                   with a staging table and a change log: seconds.
#   transforms      a feed with four transforms, a lookup and a foreign
#                   key: ir_validate against COPY (target <= 1.3x), ir_apply
#                   against the bare upsert doing the same work (<= 1.3x).
#   guards          ir_apply() of the "apply" batch with guards (blank on
#                   two columns, orphans against a ROWS-row child table,
#                   unchanged with 100 sentinels) against the same apply
#                   without them (target <= 1.05x).
#   run             ir_run_apply() of a run of two ROWS/2-record members
#                   (the second target references the first) against the
#                   two batches applied on their own (target <= 1.05x).
#   cascade         ir_rollback(a, cascade) of three batches that wrote the
#                   same fields against the sum of their three single
#                   rollbacks, newest first (target <= 1.10x).
#   The system's postgres binary is stripped: for profiles with function
#   names, build PostgreSQL with symbols once (test/bench/pg-symbols.sh)
#   and pass its pg_config with --pg-config.  Sizes and counts of the
#   scenarios can be changed through the environment: see each scenario's
#   comment below (VALIDATE_LIVE, PLAIN_ROWS, PLAIN_TX, PLAIN_CG_TX,
#   HISTORY_BATCHES, PROFILE_RUNS, APPLY_PERF_FREQ, PLANS_MIN_MS, ...).
#
# Options:
#   --rows N        data records in the generated file (default 1000000)
#   --runs N        timed runs (rounds) per subject, median reported
#                   (default 7)
#   --warmup N      untimed rounds before timing (default 1)
#   --ref REF       benchmark the extension as committed at git REF (built
#                   from `git archive REF`), not the work tree
#   --src DIR       benchmark the extension source in DIR (e.g. a patched
#                   copy, for an A/B comparison) instead of this repository
#   --pg-config P   PostgreSQL installation to use (default: $PG_CONFIG or
#                   /usr/lib/postgresql/15/bin/pg_config); e.g. a build with
#                   symbols, for readable profiles
#   --keep          leave the cluster running at the end (prints how to stop
#                   it); for poking around after a run
#   -h, --help      this text
#
# What it does: builds the extension from a COPY of the source tree (so
# concurrent edits and builds in the work tree neither break nor race the
# run), installs it into a private relocated copy of the system's
# PostgreSQL 15 (so the system installation and the dev cluster on port
# 5499 are untouched), starts a throwaway cluster as the postgres user on a
# free port, generates the CSV once (cached in test/bench/data/), runs the
# scenarios, and always stops and removes the cluster and the private
# installation on exit.
#
# It never asserts on timing: it prints measurements and exits 0, or
# non-zero only when something failed (a build, a statement, a row count).
# Results are also written, one line per measurement, to
# test/bench/data/results.tsv.
#
# Adding a scenario: write a function scenario_<name> (dashes become
# underscores) that prepares with reset_db, times with measure, reads the
# medians with median / paired_ratio, appends its summary line to SUMMARY,
# and list it in SCENARIOS below.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
DATA_DIR=$BENCH_DIR/data
SYS_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_USER=postgres
DB=bench

SCENARIOS=(stage stage-profile stage-callgrind validate apply rollback plain-update rollback-history
	apply-profile rollback-profile apply-plans apply-callgrind stage-lo rollback-preview purge transforms
	guards run cascade)

ROWS=1000000
RUNS=7
WARMUP=1
REF=
SRC_DIR=
KEEP=0

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
say() { printf '%s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------
want=()
while [[ $# -gt 0 ]]; do
	case $1 in
		--rows) ROWS=$2; shift 2 ;;
		--runs) RUNS=$2; shift 2 ;;
		--warmup) WARMUP=$2; shift 2 ;;
		--ref) REF=$2; shift 2 ;;
		--src) SRC_DIR=$(cd "$2" && pwd); shift 2 ;;
		--pg-config) SYS_PG_CONFIG=$(realpath "$2"); shift 2 ;;
		--keep) KEEP=1; shift ;;
		-h | --help) usage; exit 0 ;;
		-*) die "unknown option $1 (see --help)" ;;
		*) want+=("$1"); shift ;;
	esac
done
[[ ${#want[@]} -gt 0 ]] || want=(stage)
for s in "${want[@]}"; do
	[[ " ${SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario '$s' (known: ${SCENARIOS[*]})"
done
[[ $ROWS =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] ||
	die "--rows, --runs and --warmup take whole numbers (--runs at least 1)"
[[ -x $SYS_PG_CONFIG ]] || die "no pg_config at $SYS_PG_CONFIG"
[[ $EUID -eq 0 ]] || die "run as root: it builds, installs and starts a cluster as $PG_USER"
id "$PG_USER" >/dev/null 2>&1 || die "no $PG_USER user"

# ---------------------------------------------------------------------------
# Work area, cleaned up on every exit
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/ir-bench.XXXXXX)
chmod 755 "$WORK"
INST=$WORK/inst              # relocated PostgreSQL installation
PGDATA_DIR=$WORK/pgdata      # cluster
SOCK=$WORK/sock              # unix socket directory (and the server log)
BUILD=$WORK/src              # build copy of the extension source
PG_BIN=
PORT=

cleanup() {
	local rc=$?
	if [[ $KEEP -eq 1 && -n $PORT && -f $PGDATA_DIR/postmaster.pid ]]; then
		say "cluster kept: psql -h $SOCK -p $PORT -U $PG_USER $DB"
		say "stop it with: runuser -u $PG_USER -- $PG_BIN/pg_ctl -D $PGDATA_DIR stop; rm -rf $WORK"
		exit "$rc"
	fi
	if [[ -n $PG_BIN && -f $PGDATA_DIR/postmaster.pid ]]; then
		runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Build and install into a private copy of PostgreSQL 15
# ---------------------------------------------------------------------------
copy_source() {
	mkdir -p "$BUILD"
	if [[ -n $SRC_DIR ]]; then
		tar -C "$SRC_DIR" -cf - --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' . |
			tar -xf - -C "$BUILD"
		SRC_DESC=$SRC_DIR
	elif [[ -n $REF ]]; then
		git -c safe.directory='*' -C "$REPO" rev-parse --verify -q "$REF^{commit}" >/dev/null ||
			die "--ref $REF: no such commit"
		git -c safe.directory='*' -C "$REPO" archive "$REF" | tar -xf - -C "$BUILD"
		SRC_DESC="git $REF ($(git -c safe.directory='*' -C "$REPO" rev-parse --short "$REF"))"
	else
		# tracked and untracked-but-not-ignored files: no build products
		(cd "$REPO" && git -c safe.directory='*' ls-files -z -co --exclude-standard |
			while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -xf - -C "$BUILD"
		SRC_DESC="work tree at $(git -c safe.directory='*' -C "$REPO" rev-parse --short HEAD)+local changes"
	fi
}

install_private_pg() {
	local bindir sharedir
	bindir=$("$SYS_PG_CONFIG" --bindir)
	sharedir=$("$SYS_PG_CONFIG" --sharedir)
	# PostgreSQL finds share/ and lib/ relative to its own binary, so a
	# copy of both trees under one prefix is a working installation.
	mkdir -p "$INST$(dirname "${bindir%/bin}")" "$INST$(dirname "$sharedir")"
	cp -a "${bindir%/bin}" "$INST$(dirname "${bindir%/bin}")/"
	cp -a "$sharedir" "$INST$(dirname "$sharedir")/"
	PG_BIN=$INST$bindir
}

build_extension() {
	say "building import_rollback from $SRC_DESC"
	if ! make -C "$BUILD" -j2 PG_CONFIG="$SYS_PG_CONFIG" >"$WORK/build.log" 2>&1; then
		tail -n 30 "$WORK/build.log" >&2
		die "build failed (try --ref HEAD to benchmark the last commit)"
	fi
	make -C "$BUILD" PG_CONFIG="$SYS_PG_CONFIG" DESTDIR="$INST" install >>"$WORK/build.log" 2>&1 ||
		{ tail -n 30 "$WORK/build.log" >&2; die "make install failed"; }
}

# ---------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------
free_port() {
	local p
	for p in $(seq 5481 5498) $(seq 25432 25531); do
		(: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		[[ -e /tmp/.s.PGSQL.$p || -e /var/run/postgresql/.s.PGSQL.$p ]] && continue
		echo "$p"
		return 0
	done
	return 1
}

start_cluster() {
	PORT=$(free_port) || die "no free port"
	mkdir -p "$PGDATA_DIR" "$SOCK"
	chown "$PG_USER" "$PGDATA_DIR" "$SOCK"
	runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_USER" -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
	# Identical for both sides of every comparison.  Durability settings are
	# the defaults (fsync, synchronous_commit, full_page_writes on): a load
	# pays for its WAL flush at commit, as in production.
	cat >>"$PGDATA_DIR/postgresql.conf" <<-EOF

	# --- test/bench/run.sh ---
	listen_addresses = ''
	port = $PORT
	unix_socket_directories = '$SOCK'
	shared_buffers = 1GB
	max_wal_size = 8GB          # no checkpoint is triggered inside a timed run
	min_wal_size = 2GB          # recycled segments: no WAL file creation cost
	checkpoint_timeout = 30min  # (the harness issues CHECKPOINT before each run)
	# 'replica', explicitly: under 'minimal' a table created in the loading
	# transaction (ir_stage's staging table) skips WAL while COPY into a
	# table created earlier does not -- an unfair and unrealistic edge.
	wal_level = replica
	autovacuum = off            # no vacuum of the last run's table during this one
	log_min_messages = warning
	EOF
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$SOCK/server.log" -w start >/dev/null ||
		{ tail -n 30 "$SOCK/server.log" >&2; die "could not start the cluster"; }
	"$PG_BIN/createdb" -h "$SOCK" -p "$PORT" -U "$PG_USER" "$DB"
}

# psql as the superuser on the bench database; extra args are passed on.
psql_bench() {
	"$PG_BIN/psql" -h "$SOCK" -p "$PORT" -U "$PG_USER" -d "$DB" -X -q -v ON_ERROR_STOP=1 "$@"
}

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
CSV=

ensure_csv() {
	CSV=$DATA_DIR/customers_$ROWS.csv
	mkdir -p "$DATA_DIR"
	# regenerate when the generator changed since the file was written
	if [[ ! -s $CSV || $BENCH_DIR/gen_customers.py -nt $CSV ]]; then
		say "generating $CSV"
		python3 "$BENCH_DIR/gen_customers.py" "$ROWS" "$CSV"
	fi
	# the server reads it as $PG_USER
	chmod 644 "$CSV"
	chmod 755 "$DATA_DIR"
	runuser -u "$PG_USER" -- test -r "$CSV" || die "$PG_USER cannot read $CSV (check the permissions of its directories)"
	CSV_BYTES=$(stat -c %s "$CSV")
	# warm the page cache: every subject reads the same, cached bytes
	cat "$CSV" >/dev/null
}

# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------
RESULTS=$DATA_DIR/results.tsv
declare -A TIMES=()          # "scenario/subject" -> space-separated seconds
declare -A COMMITS=()        # the same, of the commit alone

# reset_db SQL: run SQL (setup, outside any timed statement; statement by
# statement, so it may VACUUM), then settle.
reset_db() {
	PGOPTIONS="-c client_min_messages=warning" psql_bench >/dev/null <<<"$1"
	settle
}

# settle: CHECKPOINT and sync, so that the next timed run starts with clean
# shared buffers and no pending checkpoint or writeback work.
settle() {
	psql_bench -c "CHECKPOINT" >/dev/null
	sync     # no writeback of anyone's dirty pages left over for the run
}

# psql_val SQL -> what SQL prints (unaligned, tuples only), for setup steps
psql_val() { PGOPTIONS="-c client_min_messages=warning" psql_bench -At -c "$1"; }

# sql_lit TEXT -> TEXT as an SQL string literal
sql_lit() { printf "'%s'" "${1//\'/\'\'}"; }

# measure SCENARIO SUBJECT RUN SQL CHECK_SQL [SETTINGS]
#   Times SQL (one statement in its own transaction) and its COMMIT with
#   psql's \timing in a fresh session, and records the WAL it wrote.  The
#   time reported is statement + commit: the commit flushes the load's WAL
#   (an fsync, the noisiest part on this machine), so it is also shown on
#   its own.  Then runs CHECK_SQL, which must print "ok|<bytes of the table
#   loaded>" or "ok|<bytes>|<a note to show>"; anything else is an error.
#   A row the statement returns with several columns is shown too.  RUN
#   "warmup" is not recorded.
#   SETTINGS (e.g. "-c enable_hashjoin=off") apply to the timed session only.
#   With MEASURE_MEM=1 the backend's private memory (RssAnon + RssFile of
#   /proc/<pid>/status: its resident set less the shared memory it maps) is
#   sampled every 20 ms while the statement runs; its peak is shown and
#   kept in PEAK_MB["scenario/subject"] (MB per run, space-separated).
declare -A PEAK_MB=()
MEASURE_MEM=0
measure() {
	local scenario=$1 subject=$2 run=$3 sql=$4 check=$5 options=${6:-}
	local out times stmt_ms commit_ms wal chk secs commit tbytes cpu0 load usage note result
	local mem_start='' mem_stop='' peak=''
	if [[ $MEASURE_MEM -eq 1 ]]; then
		rm -f "$WORK/mem.out" "$WORK/mem.stop"
		mem_start="SELECT pg_backend_pid() AS bpid \\gset
\\setenv IR_BENCH_PID :bpid
\\! bash $WORK/mem_sampler.sh \"\$IR_BENCH_PID\" $WORK/mem.out $WORK/mem.stop &"
		mem_stop="\\! touch $WORK/mem.stop"
	fi
	cpu0=$(cpu_snapshot)
	# log_statement_stats: the backend's own getrusage() per statement
	out=$(PGOPTIONS="-c log_statement_stats=on -c client_min_messages=log $options" psql_bench -At 2>"$WORK/stmt.err" <<-EOF
		$mem_start
		SELECT pg_current_wal_insert_lsn() AS lsn0 \gset
		BEGIN;
		\timing on
		$sql;
		COMMIT;
		\timing off
		$mem_stop
		SELECT 'wal|' || pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'lsn0')::bigint;
	EOF
	) || { cat "$WORK/stmt.err" >&2; die "$scenario/$subject failed: $sql"; }
	if [[ $MEASURE_MEM -eq 1 ]]; then
		for _ in $(seq 50); do [[ -s $WORK/mem.out ]] && break; sleep 0.1; done
		peak=$(cat "$WORK/mem.out" 2>/dev/null || true)
		[[ -n $peak ]] || die "$scenario/$subject: no memory sample"
	fi
	load=$(cpu_load "$cpu0" "$(cpu_snapshot)")
	times=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
	stmt_ms=$(sed -n 1p <<<"$times")
	commit_ms=$(sed -n 2p <<<"$times")
	wal=$(sed -n 's/^wal|//p' <<<"$out")
	[[ -n $stmt_ms && -n $commit_ms && -n $wal ]] || die "could not read timing from: $out"
	usage=$(backend_usage "$WORK/stmt.err")
	# warnings of the timed statement are shown, never lost
	grep -v -e '^LOG:  QUERY STATISTICS' -e '^DETAIL:  ! system usage stats:' -e '^!' \
		"$WORK/stmt.err" | sed 's/^/    /' || true
	chk=$(psql_bench -At -c "$check") || die "$scenario/$subject: check failed"
	[[ $chk == ok\|* ]] || die "$scenario/$subject: check failed: $chk"
	tbytes=${chk#ok|}
	note=
	if [[ $tbytes == *\|* ]]; then
		note=${tbytes#*|}
		tbytes=${tbytes%%|*}
	fi
	result=$(sed -e '/^Time: /d' -e '/^wal|/d' -e '/^$/d' <<<"$out" | head -n 1)
	secs=$(awk -v a="$stmt_ms" -v b="$commit_ms" 'BEGIN { printf "%.3f", (a + b) / 1000 }')
	commit=$(awk -v b="$commit_ms" 'BEGIN { printf "%.3f", b / 1000 }')
	printf '%-8s %-5s %-15s %6s s (commit %s)  WAL %5s MB  table %5s MB  %s  machine busy/steal %s\n' \
		"$scenario" "$run" "$subject" "$secs" "$commit" \
		"$(awk -v b="$wal" 'BEGIN { printf "%.1f", b / 1048576 }')" \
		"$(awk -v b="$tbytes" 'BEGIN { printf "%.1f", b / 1048576 }')" "$usage" "$load"
	[[ $result == *\|* ]] && say "    returned: $result"
	[[ -n $note ]] && say "    $note"
	[[ -n $peak ]] && say "    peak private memory of the backend: $peak MB"
	[[ $run == warmup ]] && return 0
	[[ -n $peak ]] && PEAK_MB[$scenario/$subject]+="$peak "
	TIMES[$scenario/$subject]+="$secs "
	COMMITS[$scenario/$subject]+="$commit "
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$scenario" "$subject" "$run" \
		"$secs" "$commit" "$wal" "$tbytes" "$ROWS" "$load" "$usage" >>"$RESULTS"
}

# backend_usage STDERR_FILE -> "cpu U+S s, N faults, N preempted" of the
# statement that ran longest, from the log_statement_stats blocks: the
# backend's own CPU time, minor page faults (reclaims) and involuntary
# context switches (times another process took its core: noise).
backend_usage() {
	awk '
		/^!.* s user, .* s system, .* s elapsed/ { n++; u[n] = $2; s[n] = $5; e[n] = $8 }
		/page faults\/reclaims/ { split($2, f, "/"); pf[n] = f[2] }
		/voluntary\/involuntary context switches/ { split($2, c, "/"); cs[n] = c[2] }
		END { b = 0; for (i = 1; i <= n; i++) if (!b || e[i] > e[b]) b = i
		      if (b) printf "cpu %.2f+%.2f s, %d faults, %d preempted", u[b], s[b], pf[b], cs[b] }' "$1"
}

# cpu_snapshot: the aggregate "cpu" line of /proc/stat (jiffies)
cpu_snapshot() { head -n 1 /proc/stat; }

# cpu_load BEFORE AFTER -> "busy%/steal%" of all cores between two
# snapshots.  One busy backend on this 2-core machine is ~50 %; much more
# means something else ran during the measurement (noise).
cpu_load() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x); split(b, y); tot = 0
		for (i = 2; i <= 9; i++) { d[i] = y[i] - x[i]; tot += d[i] }
		if (tot <= 0) { print "?"; exit }
		printf "%.0f%%/%.0f%%", 100 * (tot - d[5] - d[6]) / tot, 100 * d[9] / tot }'
}

# median SCENARIO SUBJECT [commit] -> seconds (mean of the middle two for
# even counts), of the whole measurement or of its commit
median() {
	local v=${TIMES[$1/$2]}
	[[ ${3:-} == commit ]] && v=${COMMITS[$1/$2]}
	tr ' ' '\n' <<<"$v" | sed '/^$/d' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2];
		      else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# spread SCENARIO SUBJECT -> "min-max" of the runs, for judging noise
spread() {
	tr ' ' '\n' <<<"${TIMES[$1/$2]}" | sed '/^$/d' | sort -n |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo, hi }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# paired_ratio SCENARIO A B -> median over the timed rounds of A/B within
# the same round (round k = k-th recorded time of each subject): the two
# ran seconds apart, so a slow phase of the machine hits both
paired_ratio() { paired_keys "$1/$2" "$1/$3"; }

# paired_keys SCENARIO/A SCENARIO/B -> the same across two scenarios
paired_keys() {
	awk -v a="${TIMES[$1]}" -v b="${TIMES[$2]}" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) r[i] = x[i] / y[i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
		printf "%.2f", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2 }'
}

# best SCENARIO SUBJECT -> fastest run: noise only ever adds time
best() { spread "$1" "$2" | cut -d- -f1; }

# ---------------------------------------------------------------------------
# Scenario: stage
# ---------------------------------------------------------------------------
# What is compared (all three read the same cached file, same server):
#   COPY           COPY customers_text FROM '<file>' (FORMAT csv, HEADER true)
#                  into a plain logged table of 8 text columns, created (and
#                  committed) before the timed statement.
#   ir_stage_file  SELECT ir_stage_file('customers', '<file>'): creates the
#                  batch and its staging table inside the call, parses the
#                  file with COPY's parser, hashes it (SHA-256), stores every
#                  record with its row number, records the columns and the
#                  state transition.
#   ir_stage       SELECT ir_stage('customers', 'customers.csv',
#                  pg_read_file('<file>')): the same with the CSV as a text
#                  argument; the time includes pg_read_file() reading the
#                  file into memory (also timed on its own, "read_file").
# Each timed statement is its own transaction, commit (WAL flush) included.
# The DDL inside ir_stage (CREATE TABLE, ALTER TABLE, catalog rows) is part
# of its time and costs a few milliseconds; with wal_level=replica a table
# created in the same transaction gets no WAL advantage.  Before every run:
# the extension is dropped and re-created (no staging tables or batches
# left from earlier runs, no duplicate-file warning), customers_text is
# re-created empty, and a CHECKPOINT is taken.  Subjects alternate, in a
# rotating order, so slow phases of a noisy machine hit all of them.

STAGE_RESET="
DROP TABLE IF EXISTS customers_text;
DROP EXTENSION IF EXISTS import_rollback CASCADE;
CREATE EXTENSION import_rollback;
CREATE TABLE IF NOT EXISTS customers (
    id           bigint PRIMARY KEY,
    email        text NOT NULL,
    name         text NOT NULL,
    phone        text,
    country      char(2),
    signup_date  date,
    credit_limit numeric(12,2),
    notes        text);
CREATE TABLE customers_text (
    id text, email text, name text, phone text, country text,
    signup_date text, credit_limit text, notes text);
"

# Check for an ir_stage* run: the newest batch is staged with every row.
stage_check_sql() {
	cat <<-EOF
	SELECT CASE WHEN b.state = 'staged' AND b.rows_total = $ROWS AND b.rows_rejected = 0
	            THEN 'ok|' || (SELECT max(pg_table_size(c.oid)) FROM pg_class c
	                            WHERE c.relnamespace = 'import_rollback'::regnamespace
	                              AND c.relkind = 'r')
	            ELSE 'bad|' || concat_ws(' ', b.state, b.rows_total, b.rows_rejected, b.last_error) END
	  FROM ir_batches b ORDER BY b.batch_id DESC LIMIT 1
	EOF
}

# stage_sql SUBJECT: the timed statement of a subject
stage_sql() {
	local file
	file=$(printf '%s' "$CSV" | sed "s/'/''/g")
	case $1 in
		COPY) echo "COPY customers_text FROM '$file' (FORMAT csv, HEADER true)" ;;
		ir_stage_file) echo "SELECT ir_stage_file('customers', '$file')" ;;
		ir_stage) echo "SELECT ir_stage('customers', 'customers.csv', pg_read_file('$file'))" ;;
		read_file) echo "SELECT octet_length(pg_read_file('$file'))" ;;
		*) die "unknown stage subject $1" ;;
	esac
}

# stage_check SUBJECT: SQL that prints "ok|<table bytes>" after a good run
stage_check() {
	case $1 in
		COPY) echo "SELECT CASE WHEN count(*) = $ROWS THEN 'ok|' || pg_table_size('customers_text') ELSE 'bad|' || count(*) END FROM customers_text" ;;
		read_file) echo "SELECT 'ok|0'" ;;
		*) stage_check_sql ;;
	esac
}

stage_subject() {
	reset_db "$STAGE_RESET"
	measure stage "$1" "$2" "$(stage_sql "$1")" "$(stage_check "$1")"
}

scenario_stage() {
	local subjects=(COPY ir_stage_file ir_stage read_file) n=4 r i s
	say "stage: $ROWS rows, $(awk -v b="$CSV_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MB; $WARMUP warm-up + $RUNS timed runs per subject"
	for ((r = 0; r < WARMUP; r++)); do
		for s in "${subjects[@]}"; do stage_subject "$s" warmup; done
	done
	for ((r = 1; r <= RUNS; r++)); do
		for ((i = 0; i < n; i++)); do
			stage_subject "${subjects[$(((i + r - 1) % n))]}" "$r/$RUNS"
		done
	done

	local c f t rd
	c=$(median stage COPY)
	f=$(median stage ir_stage_file)
	t=$(median stage ir_stage)
	rd=$(median stage read_file)
	say "stage: spread (min-max s): COPY $(spread stage COPY), ir_stage_file $(spread stage ir_stage_file), ir_stage $(spread stage ir_stage), read_file $(spread stage read_file)"
	say "stage: median commit (WAL flush) s: COPY $(median stage COPY commit), ir_stage_file $(median stage ir_stage_file commit), ir_stage $(median stage ir_stage commit)"
	say "stage: ratio to COPY by medians / paired per round / best runs:" \
		"ir_stage_file $(ratio "$f" "$c") / $(paired_ratio stage ir_stage_file COPY) / $(ratio "$(best stage ir_stage_file)" "$(best stage COPY)")," \
		"ir_stage $(ratio "$t" "$c") / $(paired_ratio stage ir_stage COPY) / $(ratio "$(best stage ir_stage)" "$(best stage COPY)")"
	SUMMARY+=("stage: ir_stage_file $f s, ir_stage $t s (incl. pg_read_file $rd s), COPY $c s, ratio $(ratio "$f" "$c")x (ir_stage $(ratio "$t" "$c")x) (target <= 1.30x at 1M, ir_stage_file <= 1.10x at 5M)")
}

# ---------------------------------------------------------------------------
# Scenario: stage-profile
# ---------------------------------------------------------------------------
# One run of COPY, ir_stage_file and ir_stage, each under `perf record`
# attached to its backend (software cpu-clock: this VM has no hardware
# counters), with DWARF call graphs.  Only on-CPU time is sampled: waits
# (the WAL flush at commit) do not show.  Debian's postgres binary is
# stripped, so its static functions (COPY's line and field splitters among
# them) show as raw addresses; for names, run against a PostgreSQL built
# with symbols: --pg-config /path/to/debug/bin/pg_config.
#
# PROFILE_RUNS (default 3) runs of each subject, alternating, each
# recorded on its own; per run it writes to test/bench/data/perf/:
#   <subject>.<run>.data           the perf recording (PERF_KEEP_DATA=1)
#   <subject>.<run>.self.txt       flat profile (self time) by DSO and symbol
#   <subject>.<run>.children.txt   inclusive time by symbol
# and prints, per step that matters, the median over the runs of its
# inclusive on-CPU time.
PERF_DIR=
PERF_FREQ=${PERF_FREQ:-2999}

# "label=symbol[+symbol...]": a step whose inclusive cost is shown for
# each subject.  Steps nest (indented ones are part of the one above), so a
# column does not add up.  Where the same work sits differs: COPY reads
# its file inside the parser as ir_stage* does (plus SHA-256 there), but
# forms heap tuples before heap_multi_insert, while ir_stage* has them
# formed inside it.  Static functions inlined by the compiler
# (buffer_record) only show in perf's DWARF call graphs.
PROFILE_STEPS=(
	"the call (DoCopy, ir_stage*)=DoCopy+ir_stage_file+ir_stage"
	"pg_read_file() (the argument)=pg_read_file_v2+pg_read_file"
	"parse CSV (NextCopyFromRawFields)=NextCopyFromRawFields"
	"  read input (CopyLoadRawBuf)=CopyLoadRawBuf"
	"    fread=__GI__IO_fread+_IO_fread+fread"
	"    SHA-256=pg_cryptohash_update"
	"  UTF-8 check=pg_utf8_verifystr"
	"datums: COPY input functions=InputFunctionCall"
	"datums: ir buffer_record (inlined)=buffer_record"
	"  cstring_to_text=cstring_to_text_with_len"
	"form tuples (heap_form_tuple)=heap_form_tuple"
	"multi-insert (heap_multi_insert)=heap_multi_insert"
	"  WAL insert=XLogInsert"
	"  find/extend page=RelationGetBufferForTuple"
	"subtransactions=BeginInternalSubTransaction+ReleaseCurrentSubTransaction+RollbackAndReleaseCurrentSubTransaction"
	"SPI (DDL, catalog)=_SPI_execute_plan+SPI_execute_plan+SPI_execute"
	"free memory (context resets)=MemoryContextReset+MemoryContextDelete+AllocSetReset+AllocSetDelete"
	"page faults (kernel)=asm_exc_page_fault"
)

# profile_subject SUBJECT RUN: record one run of SUBJECT's statement in
# its backend; write <subject>.<run>.{data,self.txt,children.txt}.
profile_subject() {
	reset_db "$STAGE_RESET"
	perf_statement "$PERF_DIR/$1.$2" "$(stage_sql "$1")"
}

# perf_statement OUT SQL: run SQL in a fresh backend under `perf record`
# (PERF_FREQ Hz, call graphs PERF_CALLGRAPH) and write the reports
# OUT.self.txt (flat, self time by DSO and symbol), OUT.children.txt
# (inclusive time by symbol), OUT.total (on-CPU ms) and, for each symbol
# of PERF_CALLERS, OUT.callers.<symbol>.txt (the call chains that lead to
# it).  The recording OUT.data is removed unless PERF_KEEP_DATA=1.
PERF_CALLGRAPH=${PERF_CALLGRAPH:-dwarf,16384}
PERF_CALLERS=${PERF_CALLERS:-}
perf_statement() {
	local out=$1 sql=$2 sym
	rm -f "$out".*
	psql_bench -At >/dev/null 2>"$WORK/stmt.err" <<-EOF || { cat "$WORK/stmt.err" >&2; die "profile of $out failed: $sql"; }
		SELECT pg_backend_pid() AS pid \gset
		\setenv BENCH_PID :pid
		\setenv BENCH_OUT $out
		\setenv BENCH_FREQ $PERF_FREQ
		\setenv BENCH_CG $PERF_CALLGRAPH
		\! perf record -q --no-buildid-cache -F "\$BENCH_FREQ" --call-graph "\$BENCH_CG" -p "\$BENCH_PID" -o "\$BENCH_OUT.data" >"\$BENCH_OUT.log" 2>&1 & echo \$! >"\$BENCH_OUT.pid"; sleep 1
		$sql;
		\! kill -INT "\$(cat "\$BENCH_OUT.pid")"; while kill -0 "\$(cat "\$BENCH_OUT.pid")" 2>/dev/null; do sleep 0.2; done
	EOF
	rm -f "$out.pid"
	# reports now: perf resolves symbols from the private installation,
	# which is removed at exit; the recording itself (tens of MB) goes too
	# unless PERF_KEEP_DATA=1
	perf report -i "$out.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
		grep -v -e '^$' -e '^#' | head -n 200 >"$out.self.txt" || true
	perf report -i "$out.data" --children -g none --sort symbol --stdio 2>/dev/null |
		grep -v -e '^$' -e '^#' | head -n 400 >"$out.children.txt" || true
	perf report -i "$out.data" --stdio -g none 2>/dev/null |
		awk '/^# Event count/ { printf "%.0f\n", $NF / 1e6 }' >"$out.total"
	for sym in $PERF_CALLERS; do
		perf report -i "$out.data" --no-children --symbols="$sym" --sort symbol \
			-g caller,0.5,callee,function,percent --stdio 2>/dev/null |
			grep -v -e '^$' -e '^#' | head -n 150 >"$out.callers.$sym.txt" || true
	done
	[[ ${PERF_KEEP_DATA:-0} == 1 ]] || rm -f "$out.data"
}

# step_ms OUT SYMBOLS: summed "children" share of the +-separated symbols
# in the recording OUT, in ms of on-CPU time (never list a function with
# its own caller: nested shares would count twice).  The compiler's clones
# (log_write.constprop.0, _bt_search.part.0) count as the function, by the
# largest of their entries.
step_ms() {
	awk -v syms="$2" -v total="$(cat "$1.total")" '
		BEGIN { n = split(syms, s, "+"); for (i = 1; i <= n; i++) want[s[i]] = 1 }
		$3 == "[.]" || $3 == "[k]" {
			f = $4; sub(/\.(constprop|part|isra|cold)(\.[0-9]+)?$/, "", f)
			if (f in want) { sub("%", "", $1); if ($1 + 0 > v[f] + 0) v[f] = $1 }
		}
		END { for (f in v) t += v[f]; printf "%.0f\n", t * total / 100 }' "$1.children.txt"
}

median_of() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# profile_table STEPS_ARRAY RUNS SUBJECT...: median on-CPU ms per step
profile_table() {
	local -n steps=$1
	local pruns=$2 step label syms line subj r
	shift 2
	printf '  %-52s' "step"; printf ' %14s' "$@"; printf '\n'
	line=$(printf '  %-52s' "on-CPU total")
	for subj in "$@"; do
		line+=$(printf ' %14s' "$(for ((r = 1; r <= pruns; r++)); do cat "$PERF_DIR/$subj.$r.total"; done | median_of)")
	done
	say "$line"
	for step in "${steps[@]}"; do
		label=${step%%=*}
		syms=${step#*=}
		line=$(printf '  %-52s' "$label")
		for subj in "$@"; do
			line+=$(printf ' %14s' "$(for ((r = 1; r <= pruns; r++)); do step_ms "$PERF_DIR/$subj.$r" "$syms"; done | median_of)")
		done
		say "$line"
	done
}

scenario_stage_profile() {
	command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
	PERF_DIR=$DATA_DIR/perf
	mkdir -p "$PERF_DIR"
	local subjects=(COPY ir_stage_file ir_stage) n=3 r i subj
	local pruns=${PROFILE_RUNS:-3}
	say "stage-profile: $pruns recorded runs per subject, alternating"
	for ((r = 1; r <= pruns; r++)); do
		for ((i = 0; i < n; i++)); do
			profile_subject "${subjects[$(((i + r - 1) % n))]}" "$r"
		done
	done

	say "stage-profile: median on-CPU ms by step over the runs (perf cpu-clock at $PERF_FREQ Hz)."
	say "  Indented steps are part of the one above.  Recording slows the backend:"
	say "  compare the columns with each other, not with the timed runs."
	profile_table PROFILE_STEPS "$pruns" "${subjects[@]}"
	for subj in "${subjects[@]}"; do
		say "  top self, $subj, run 1 ($PERF_DIR/$subj.1.self.txt):"
		grep -E '^ +[0-9]' "$PERF_DIR/$subj.1.self.txt" | head -n 12 |
			awk '{ printf "    %7s  %-22s %s\n", $1, $2, $4 }'
	done
	SUMMARY+=("stage-profile: perf data and reports in $PERF_DIR")
}

# ---------------------------------------------------------------------------
# Scenario: stage-callgrind
# ---------------------------------------------------------------------------
# Instruction counts (valgrind callgrind), which the machine's noise does
# not touch: each subject's statement runs once in a single-user backend
# (the cluster is stopped meanwhile) under callgrind, counting only inside
# exec_simple_query (the statement and its commit, not backend start).
# Kernel work (page cache copies, faults, fsync) is not counted, so this is
# the CPU-side ratio; the timed "stage" scenario is the real one.  Valgrind
# hides SHA-NI from OpenSSL, so SHA-256 counts above its native cost.
# Uses its own, smaller file: CALLGRIND_ROWS rows (default 100000).
# Writes test/bench/data/callgrind/<subject>.out and .txt (inclusive), and
# prints instructions per row for the steps of PROFILE_STEPS.
CALLGRIND_ROWS=${CALLGRIND_ROWS:-100000}

callgrind_subject() {
	local subject=$1 dir=$2 out chk
	out=$dir/$subject.out
	reset_db "$STAGE_RESET"
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
	rm -f "$out"
	# one statement per line in single-user mode
	stage_sql "$subject" | tr '\n' ' ' | sed 's/$/\n/' |
		runuser -u "$PG_USER" -- valgrind --tool=callgrind --callgrind-out-file="$out" \
			--toggle-collect=exec_simple_query --trace-children=no \
			"$PG_BIN/postgres" --single -D "$PGDATA_DIR" "$DB" >"$dir/$subject.log" 2>&1 ||
		{ tail -n 20 "$dir/$subject.log" >&2; die "callgrind run of $subject failed"; }
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$SOCK/server.log" -w start >/dev/null
	chk=$(psql_bench -At -c "$(stage_check "$subject")")
	[[ $chk == ok\|* ]] || die "stage-callgrind/$subject: check failed: $chk"
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$out" 2>/dev/null >"$dir/$subject.txt"
}

# cg_ir TXT SYMBOLS: summed inclusive instructions of the +-separated
# functions in a callgrind_annotate --inclusive listing ("PROGRAM TOTALS"
# for the whole); a function inlined in several places counts once, by
# its largest entry.
cg_ir() {
	awk -v syms="$2" '
		BEGIN { n = split(syms, s, "+"); for (i = 1; i <= n; i++) want[s[i]] = 1 }
		/PROGRAM TOTALS/ { if ("PROGRAM TOTALS" in want) { v = $1; gsub(",", "", v); best["PROGRAM TOTALS"] = v } }
		/^ *[0-9,]+ \( *[0-9.]+%\)  / {
			f = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\)  /, "", f); sub(/ \[.*$/, "", f); sub(/^.*:/, "", f)
			if (f in want) { v = $1; gsub(",", "", v); if (v + 0 > best[f] + 0) best[f] = v }
		}
		END { t = 0; for (f in best) t += best[f]; printf "%.0f\n", t }' "$1"
}

scenario_stage_callgrind() {
	command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
	local dir=$DATA_DIR/callgrind saved_csv=$CSV saved_rows=$ROWS subj copy_ir
	mkdir -p "$dir"
	chown "$PG_USER" "$dir"
	ROWS=$CALLGRIND_ROWS
	ensure_csv
	say "stage-callgrind: $ROWS rows, instructions counted in exec_simple_query"
	local subjects=(COPY ir_stage_file ir_stage) step label syms line sha
	declare -A ir_count=() nosha=()
	for subj in "${subjects[@]}"; do
		callgrind_subject "$subj" "$dir"
		ir_count[$subj]=$(cg_ir "$dir/$subj.txt" "PROGRAM TOTALS")
		sha=$(cg_ir "$dir/$subj.txt" pg_cryptohash_update)
		nosha[$subj]=$((ir_count[$subj] - sha))
	done
	say "stage-callgrind: instructions per row by step (inclusive; indented steps are part of the one above)"
	printf '  %-36s' "step"; printf ' %14s' "${subjects[@]}"; printf '\n'
	line=$(printf '  %-36s' "total")
	for subj in "${subjects[@]}"; do line+=$(printf ' %14s' "$((ir_count[$subj] / ROWS))"); done
	say "$line"
	for step in "${PROFILE_STEPS[@]}"; do
		label=${step%%=*}
		syms=${step#*=}
		[[ $label == "page faults (kernel)" ]] && continue   # not counted
		line=$(printf '  %-36s' "$label")
		for subj in "${subjects[@]}"; do
			line+=$(printf ' %14s' "$(($(cg_ir "$dir/$subj.txt" "$syms") / ROWS))")
		done
		say "$line"
	done
	copy_ir=${ir_count[COPY]}
	SUMMARY+=("stage-callgrind: instructions ratio to COPY: ir_stage_file $(ratio "${ir_count[ir_stage_file]}" "$copy_ir")x, ir_stage $(ratio "${ir_count[ir_stage]}" "$copy_ir")x; without SHA-256 (valgrind runs it without SHA-NI): ir_stage_file $(ratio "${nosha[ir_stage_file]}" "$copy_ir")x, ir_stage $(ratio "${nosha[ir_stage]}" "$copy_ir")x")
	ROWS=$saved_rows
	CSV=$saved_csv
}

# ---------------------------------------------------------------------------
# Shared by the scenarios below
# ---------------------------------------------------------------------------
# Tables and files are re-created for every round from templates built once
# per scenario (CREATE TABLE + INSERT from the template, primary key,
# VACUUM ANALYZE), then CHECKPOINT and sync before every timed statement,
# so both sides of a comparison start from the same physical state.
# Nothing is random: the apply target and its files are functions of the
# record's id (bench_rows below), the customers file comes from
# gen_customers.py's fixed seed, pgbench uses fixed seeds.

# bench_rows(lo, hi, v): records lo..hi of the apply target t(id, name,
# email, balance) in version v.  Version 0 is the target's content; in
# version 1 every balance is 1 more and every third email has another
# domain (names stay), so an existing record differs in one or two
# columns.  bench_csv(ulo, uhi, ilo, ihi, v): the CSV text (header first)
# of records ulo..uhi and ilo..ihi in version v.
BENCH_FUNCTIONS=$(cat <<'EOF'
CREATE OR REPLACE FUNCTION bench_rows(lo int, hi int, v int)
RETURNS TABLE (id int, name text, email text, balance numeric(12,2))
LANGUAGE sql IMMUTABLE AS $$
  SELECT i, 'name ' || i,
         'user' || i || CASE WHEN v > 0 AND i % 3 = 0 THEN '@example.org' ELSE '@example.com' END,
         ((i::bigint * 7919) % 1000000) / 100.0 + v
    FROM generate_series(lo, hi) AS i
$$;
CREATE OR REPLACE FUNCTION bench_csv(ulo int, uhi int, ilo int, ihi int, v int)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'id,name,email,balance' || E'\n'
         || string_agg(concat_ws(',', r.id, r.name, r.email, r.balance), E'\n' ORDER BY r.id) || E'\n'
    FROM (SELECT * FROM bench_rows(ulo, uhi, v) UNION ALL SELECT * FROM bench_rows(ilo, ihi, v)) AS r
$$;
EOF
)
T_COLS="id int NOT NULL, name text, email text, balance numeric(12,2)"
NO_MAPPING_CHECK='{"rules": {"mapping_check": "off"}}'

# FILES: a directory the server writes generated CSV files into
FILES=

bench_prepare() {
	[[ -n $FILES ]] && return 0
	FILES=$WORK/files
	mkdir -p "$FILES"
	chown "$PG_USER" "$FILES"
	reset_db "$BENCH_FUNCTIONS"
}

# t_create_sql NAME: SQL re-creating table NAME from the template t_tmpl
t_create_sql() {
	printf 'DROP TABLE IF EXISTS %s;\nCREATE TABLE %s (%s);\nINSERT INTO %s SELECT * FROM t_tmpl;\nALTER TABLE %s ADD PRIMARY KEY (id);\n' \
		"$1" "$1" "$T_COLS" "$1" "$1"
}

# t_template: the template of the apply target, ROWS records (once)
T_TEMPLATE_READY=0
t_template() {
	[[ $T_TEMPLATE_READY -eq 1 ]] && return 0
	bench_prepare
	say "building the template of t: $ROWS records"
	reset_db "
DROP TABLE IF EXISTS t_tmpl;
CREATE TABLE t_tmpl ($T_COLS);
INSERT INTO t_tmpl SELECT * FROM bench_rows(1, $ROWS, 0);
VACUUM ANALYZE t_tmpl;"
	T_TEMPLATE_READY=1
}

# fresh_extension_sql: SQL dropping the extension with every batch, staging
# table and change log, and creating it again
fresh_extension_sql() {
	printf '%s\n' "DROP EXTENSION IF EXISTS import_rollback CASCADE;" "CREATE EXTENSION import_rollback;"
}

# ratios SCENARIO/A SCENARIO/B -> "by medians / paired per round / best
# runs", the ratios of A's times to B's
ratios() {
	local a=${1%%/*} as=${1#*/} b=${2%%/*} bs=${2#*/}
	printf '%s / %s / %s' "$(ratio "$(median "$a" "$as")" "$(median "$b" "$bs")")" \
		"$(paired_keys "$1" "$2")" "$(ratio "$(best "$a" "$as")" "$(best "$b" "$bs")")"
}

# ---------------------------------------------------------------------------
# Scenario: validate
# ---------------------------------------------------------------------------
# ir_validate of the staged customers file (the one "stage" uses) with
# type checks, a pattern, an email format, a reference lookup and the mapping check (on by
# default), against the plain COPY of the same file into an all-text table,
# the same baseline as "stage".  The target customers(id bigint primary
# key, ...) holds VALIDATE_LIVE (default 10,000) live records: the first
# records of the file with their ids moved past the file's (id + ROWS), so
# every record of the file is an insert and the mapping check has live
# values shaped like the incoming ones.  countries(code) holds every
# country code of the file (and a few more).  Per round: extension,
# customers, countries and customers_text re-created, the file staged with
# ir_stage_file (untimed), then COPY and ir_validate, alternating which
# goes first, each after CHECKPOINT.  The check requires state validated
# with every record valid: the honest file must pass.
VALIDATE_LIVE=${VALIDATE_LIVE:-10000}
VALIDATE_OPTIONS='{"rules": {"pattern": {"phone": "^[0-9+() .-]+$"}, "format": {"email": "email"}, "reference": {"country": "public.countries.code"}}}'
CUSTOMERS_COLS="id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, phone text, country char(2), signup_date date, credit_limit numeric(10,2), notes text"
CUSTOMERS_TEXT_COLS="id text, email text, name text, phone text, country text, signup_date text, credit_limit text, notes text"

validate_prepare() {
	reset_db "
DROP TABLE IF EXISTS customers_src, customers_live, countries_tmpl;
CREATE TABLE customers_src ($CUSTOMERS_TEXT_COLS);
COPY customers_src FROM $(sql_lit "$CSV") (FORMAT csv, HEADER true);
CREATE TABLE customers_live AS
  SELECT id::bigint + $ROWS AS id, email, name, phone, country::char(2) AS country,
         signup_date::date AS signup_date, credit_limit::numeric(10,2) AS credit_limit, notes
    FROM customers_src WHERE id::bigint <= $VALIDATE_LIVE;
CREATE TABLE countries_tmpl AS
  SELECT DISTINCT country::char(2) AS code FROM customers_src
  UNION SELECT unnest('{AT,CH,MX,NZ}'::char(2)[]);
DROP TABLE customers_src;"
}

validate_check() {
	cat <<-EOF
	SELECT CASE WHEN b.state = 'validated' AND b.rows_total = $ROWS AND b.rows_valid = $ROWS
	             AND b.rows_rejected = 0
	            THEN 'ok|' || pg_table_size(to_regclass('import_rollback.stage_$1'))
	                 || '|validated: ' || b.rows_valid || ' valid, ' || b.rows_rejected || ' rejected; '
	                 || (SELECT count(*) FROM customers) || ' live customers, '
	                 || (SELECT count(*) FROM countries) || ' countries; notes: '
	                 || coalesce((SELECT r.notes FROM import_rollback.validation_run r
	                               WHERE r.batch_id = b.batch_id ORDER BY r.run_no DESC LIMIT 1), 'none')
	            ELSE 'bad|' || concat_ws(' ', b.state, b.rows_total, b.rows_valid, b.rows_rejected, b.last_error) END
	  FROM ir_batches b WHERE b.batch_id = $1
	EOF
}

# validate_round ROUND RUN
validate_round() {
	local r=$1 run=$2 b s subjects=(COPY ir_validate) file
	file=$(sql_lit "$CSV")
	reset_db "
DROP TABLE IF EXISTS customers, countries, customers_text;
$(fresh_extension_sql)
CREATE TABLE customers ($CUSTOMERS_COLS);
INSERT INTO customers SELECT * FROM customers_live;
CREATE TABLE countries (code char(2) PRIMARY KEY);
INSERT INTO countries SELECT code FROM countries_tmpl;
CREATE TABLE customers_text ($CUSTOMERS_TEXT_COLS);
VACUUM ANALYZE customers, countries;"
	b=$(psql_val "SELECT ir_stage_file('customers', $file)")
	((r % 2)) || subjects=(ir_validate COPY)
	for s in "${subjects[@]}"; do
		settle
		case $s in
			COPY) measure validate COPY "$run" "COPY customers_text FROM $file (FORMAT csv, HEADER true)" \
				"SELECT CASE WHEN count(*) = $ROWS THEN 'ok|' || pg_table_size('customers_text') ELSE 'bad|' || count(*) END FROM customers_text" ;;
			ir_validate) measure validate ir_validate "$run" "SELECT * FROM ir_validate($b, '$VALIDATE_OPTIONS')" \
				"$(validate_check "$b")" ;;
		esac
	done
}

scenario_validate() {
	local r v c
	say "validate: $ROWS rows, $VALIDATE_LIVE live customers; rules $VALIDATE_OPTIONS; $WARMUP warm-up + $RUNS timed rounds"
	validate_prepare
	for ((r = 1; r <= WARMUP; r++)); do validate_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do validate_round "$r" "$r/$RUNS"; done
	v=$(median validate ir_validate)
	c=$(median validate COPY)
	say "validate: spread (min-max s): ir_validate $(spread validate ir_validate), COPY $(spread validate COPY)"
	say "validate: ratio to COPY by medians / paired per round / best runs: $(ratios validate/ir_validate validate/COPY)"
	SUMMARY+=("validate: ir_validate $v s, COPY $c s, ratio $(ratio "$v" "$c")x (paired $(paired_ratio validate ir_validate COPY)x) (target <= 1.20x)")
}

# ---------------------------------------------------------------------------
# Scenarios: apply, rollback
# ---------------------------------------------------------------------------
# The target t(id int primary key, name, email, balance numeric(12,2))
# holds ROWS records (ids 1..ROWS); the file holds ROWS records, ids
# ROWS/2+1 .. ROWS/2+ROWS in version 1 of bench_rows: half are updates
# (balance changed, every third email too), half inserts.  Compared:
#   upsert       the bare statement, into t_plain, an identical copy of the
#                target without triggers, from upsert_src, a plain table of
#                the file's text (loaded once), casting as ir_apply does:
#                INSERT INTO t_plain AS t SELECT s.id::int, s.name, s.email,
#                s.balance::numeric(12,2) FROM upsert_src s ON CONFLICT (id)
#                DO UPDATE SET <3 columns> WHERE <one IS DISTINCT FROM>
#   ir_apply     SELECT * FROM ir_apply(b): its upsert from the staging
#                table, with the change log (the triggers are installed by
#                this first apply to the fresh table), batch bookkeeping
#   ir_rollback  SELECT * FROM ir_rollback(b), right after ir_apply in the
#                same round: restore and delete, logged
#   bare-undo    right after the upsert, the least any rollback of it must
#                do, as one statement on t_plain with no log, no checks and
#                the old values at hand: DELETE the inserted ids and UPDATE
#                the updated records back from t_tmpl by key (index nested
#                loop: hash and merge joins are off for it, the planner's
#                hash join of the two tables was slower).  Not a target: the
#                floor ir_rollback is measured against.
# Per round: extension, t and t_plain re-created from the template,
# VACUUM ANALYZE, the file staged and validated (untimed, mapping check
# off), then the three statements, each after CHECKPOINT, the upsert
# (and bare-undo) first in odd rounds and last in even ones.  Checks: counts, the batch's
# states and log, and after the rollback t equal to the template.  Both
# scenarios come from the same rounds: asking for either runs them once.
APPLY_DONE=0
APPLY_FILE=
UPSERT_SQL="INSERT INTO t_plain AS t (id, name, email, balance)
 SELECT s.id::int, s.name, s.email, s.balance::numeric(12,2) FROM upsert_src s
 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, balance = EXCLUDED.balance
 WHERE (t.name IS DISTINCT FROM EXCLUDED.name) OR (t.email IS DISTINCT FROM EXCLUDED.email)
    OR (t.balance IS DISTINCT FROM EXCLUDED.balance)"

BARE_UNDO_SQL="WITH d AS (DELETE FROM t_plain WHERE id > $ROWS)
UPDATE t_plain AS t SET name = o.name, email = o.email, balance = o.balance
  FROM t_tmpl o WHERE o.id = t.id AND o.id > $((ROWS / 2))"

apply_prepare() {
	t_template
	APPLY_FILE=$FILES/apply.csv
	reset_db "
COPY (SELECT * FROM bench_rows($((ROWS / 2 + 1)), $((ROWS / 2 + ROWS)), 1))
  TO $(sql_lit "$APPLY_FILE") (FORMAT csv, HEADER true);
DROP TABLE IF EXISTS upsert_src;
CREATE TABLE upsert_src (id text, name text, email text, balance text);
COPY upsert_src FROM $(sql_lit "$APPLY_FILE") (FORMAT csv, HEADER true);
VACUUM ANALYZE upsert_src;"
}

# apply_setup: a fresh round; sets BATCH to the staged, validated batch
BATCH=
apply_setup() {
	local v
	reset_db "
$(fresh_extension_sql)
$(t_create_sql t)
$(t_create_sql t_plain)
VACUUM ANALYZE t, t_plain;"
	BATCH=$(psql_val "SELECT ir_stage_file('t', $(sql_lit "$APPLY_FILE"))")
	v=$(psql_val "SELECT state || ' ' || rows_valid FROM ir_validate($BATCH, '$NO_MAPPING_CHECK')")
	[[ $v == "validated $ROWS" ]] || die "apply: batch $BATCH did not validate: $v"
}

upsert_check() {
	echo "SELECT CASE WHEN count(*) = $((ROWS / 2 + ROWS)) THEN 'ok|' || pg_table_size('t_plain') ELSE 'bad|' || count(*) END FROM t_plain"
}

bare_undo_check() {
	echo "SELECT CASE WHEN (SELECT count(*) FROM t_plain) = $ROWS AND NOT EXISTS (SELECT * FROM t_plain EXCEPT SELECT * FROM t_tmpl) THEN 'ok|' || pg_table_size('t_plain') ELSE 'bad|' || (SELECT count(*) FROM t_plain) END"
}

apply_check() {
	cat <<-EOF
	SELECT CASE WHEN b.state = 'applied' AND b.inserted = $((ROWS / 2)) AND b.updated = $((ROWS - ROWS / 2))
	            THEN 'ok|' || pg_table_size('t') || '|change log: '
	                 || (SELECT count(*) FROM import_rollback.changes_$1) || ' rows, '
	                 || pg_size_pretty(pg_table_size(to_regclass('import_rollback.changes_$1')))
	            ELSE 'bad|' || concat_ws(' ', b.state, b.inserted, b.updated, b.last_error) END
	  FROM ir_batches b WHERE b.batch_id = $1
	EOF
}

rollback_check() {
	cat <<-EOF
	SELECT CASE WHEN b.state = 'rolled_back' AND (SELECT count(*) FROM t) = $ROWS
	             AND NOT EXISTS (SELECT * FROM t EXCEPT SELECT * FROM t_tmpl)
	            THEN 'ok|' || pg_table_size('t') || '|t equals its template again; logged: '
	                 || (SELECT string_agg(action || ' ' || n, ', ' ORDER BY action)
	                       FROM (SELECT action, count(*) AS n FROM import_rollback.changes_$1
	                              GROUP BY action) a)
	            ELSE 'bad|' || concat_ws(' ', b.state, (SELECT count(*) FROM t), b.last_error) END
	  FROM ir_batches b WHERE b.batch_id = $1
	EOF
}

# apply_round ROUND RUN
apply_round() {
	local r=$1 run=$2 b s subjects=(upsert bare-undo ir_apply ir_rollback)
	apply_setup
	b=$BATCH
	((r % 2)) || subjects=(ir_apply ir_rollback upsert bare-undo)
	for s in "${subjects[@]}"; do
		settle
		case $s in
			upsert) measure apply upsert "$run" "$UPSERT_SQL" "$(upsert_check)" ;;
			bare-undo) measure rollback bare-undo "$run" "$BARE_UNDO_SQL" "$(bare_undo_check)" \
				"-c enable_hashjoin=off -c enable_mergejoin=off" ;;
			ir_apply) measure apply ir_apply "$run" "SELECT * FROM ir_apply($b)" "$(apply_check "$b")" ;;
			ir_rollback) measure rollback ir_rollback "$run" "SELECT * FROM ir_rollback($b)" "$(rollback_check "$b")" ;;
		esac
	done
}

apply_rounds() {
	local r
	[[ $APPLY_DONE -eq 1 ]] && return 0
	say "apply/rollback: t $ROWS records, file $ROWS records ($((ROWS - ROWS / 2)) updates, $((ROWS / 2)) inserts); $WARMUP warm-up + $RUNS timed rounds"
	apply_prepare
	for ((r = 1; r <= WARMUP; r++)); do apply_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do apply_round "$r" "$r/$RUNS"; done
	say "apply/rollback: spread (min-max s): upsert $(spread apply upsert), ir_apply $(spread apply ir_apply), ir_rollback $(spread rollback ir_rollback), bare-undo $(spread rollback bare-undo)"
	say "apply/rollback: median commit s: upsert $(median apply upsert commit), ir_apply $(median apply ir_apply commit), ir_rollback $(median rollback ir_rollback commit), bare-undo $(median rollback bare-undo commit)"
	say "apply/rollback: ratio to the bare upsert by medians / paired per round / best runs:" \
		"ir_apply $(ratios apply/ir_apply apply/upsert), ir_rollback $(ratios rollback/ir_rollback apply/upsert), bare-undo $(ratios rollback/bare-undo apply/upsert)"
	say "apply/rollback: ir_rollback to bare-undo: $(ratios rollback/ir_rollback rollback/bare-undo)"
	APPLY_DONE=1
}

scenario_apply() {
	local a u
	apply_rounds
	a=$(median apply ir_apply)
	u=$(median apply upsert)
	SUMMARY+=("apply: ir_apply $a s, bare upsert $u s, ratio $(ratio "$a" "$u")x (paired $(paired_ratio apply ir_apply upsert)x) (target <= 1.10x)")
}

scenario_rollback() {
	local b u f
	apply_rounds
	b=$(median rollback ir_rollback)
	u=$(median apply upsert)
	f=$(median rollback bare-undo)
	SUMMARY+=("rollback: ir_rollback $b s, bare upsert $u s, ratio $(ratio "$b" "$u")x (paired $(paired_keys rollback/ir_rollback apply/upsert)x) (0.1.0's target <= 0.50x: below the floor)")
	SUMMARY+=("rollback floor: bare-undo $f s, $(ratio "$f" "$u")x the bare upsert (paired $(paired_keys rollback/bare-undo apply/upsert)x); ir_rollback $(ratio "$b" "$f")x bare-undo (paired $(paired_keys rollback/ir_rollback rollback/bare-undo)x) (target <= 1.20x)")
}

# ---------------------------------------------------------------------------
# Scenario: plain-update
# ---------------------------------------------------------------------------
# Plain single-row UPDATEs outside any batch, pgbench-style, on a tracked
# table against an untracked one.  upd_tracked and upd_plain are identical
# tables of PLAIN_ROWS records (default 100,000: bench_rows plus n int);
# the first carries the change-log triggers (a 10-record batch is applied
# to it, the same change made to the other with a plain UPDATE; the
# triggers are checked in pg_trigger).  Each run is one pgbench loop
# that picks one of two scripts at random for each transaction:
#   pgbench -n -c 1 -t 2*PLAIN_TX --random-seed=<round> -l \
#           -f tracked.pgbench@1 -f untracked.pgbench@1
#   \set id random(1, PLAIN_ROWS)
#   UPDATE <table> SET n = n + 1 WHERE id = :id;
# (PLAIN_TX default 20,000, about that many per table).  Compared: the
# mean latency per transaction of each table, from pgbench's per-transaction
# log.  Interleaving matters on this VM: two runs of the same table a
# minute apart differ by up to 20%, which buried a 2% difference when the
# tables ran one after the other.  Each round re-creates both tables and
# runs twice: with the cluster's settings (each transaction waits for its
# WAL flush, as in production), then with synchronous_commit = off (the
# statement's CPU cost is then most of the time, so an overhead shows
# most).  Then, when valgrind is installed, a noise-free
# second opinion on the backend alone: the instructions of PLAIN_CG_TX
# (default 5,000) such UPDATEs (the same ids on both tables), counted by
# callgrind in a single-user backend as in stage-callgrind (it leaves out
# the kernel and client work a transaction also costs, the same for both,
# so it is an upper bound of the time ratio); perf stat's instruction
# counter is not available on this VM.
PLAIN_ROWS=${PLAIN_ROWS:-100000}
PLAIN_TX=${PLAIN_TX:-20000}
PLAIN_CG_TX=${PLAIN_CG_TX:-5000}

plain_setup() {
	local trig diff
	bench_prepare
	reset_db "
$(fresh_extension_sql)
DROP TABLE IF EXISTS upd_tracked, upd_plain;
CREATE TABLE upd_tracked ($T_COLS, n int NOT NULL);
INSERT INTO upd_tracked SELECT r.*, 0 FROM bench_rows(1, $PLAIN_ROWS, 0) AS r;
ALTER TABLE upd_tracked ADD PRIMARY KEY (id);
CREATE TABLE upd_plain ($T_COLS, n int NOT NULL);
INSERT INTO upd_plain SELECT r.*, 0 FROM bench_rows(1, $PLAIN_ROWS, 0) AS r;
ALTER TABLE upd_plain ADD PRIMARY KEY (id);
SELECT ir_stage('upd_tracked', 'ten.csv', bench_csv(1, 10, 1, 0, 1)) AS b \\gset
SELECT state FROM ir_validate(:b, '$NO_MAPPING_CHECK');
SELECT updated FROM ir_apply(:b);
UPDATE upd_plain AS p SET name = r.name, email = r.email, balance = r.balance
  FROM bench_rows(1, 10, 1) AS r WHERE p.id = r.id;
VACUUM ANALYZE upd_tracked, upd_plain;"
	trig=$(psql_val "SELECT string_agg(tgrelid::regclass::text || ':' || tgname || ':' || tgenabled::text, ' ' ORDER BY tgrelid::regclass::text, tgname)
	                   FROM pg_trigger WHERE tgrelid IN ('upd_tracked'::regclass, 'upd_plain'::regclass)")
	[[ $trig == "upd_tracked:import_rollback_changelog:A upd_tracked:import_rollback_truncate:A" ]] ||
		die "plain-update: unexpected triggers: $trig"
	diff=$(psql_val "SELECT (SELECT updated FROM ir_batches ORDER BY batch_id DESC LIMIT 1) || ' '
	                   || (SELECT count(*) FROM (SELECT * FROM upd_tracked EXCEPT SELECT * FROM upd_plain) AS d)")
	[[ $diff == "10 0" ]] || die "plain-update: batch or tables not as expected (updated, differences): $diff"
}

# plain_run SUFFIX RUN SEED PGOPTIONS: one pgbench run of 2 * PLAIN_TX
# transactions, each an UPDATE of the tracked or the untracked table,
# drawn at random (-f ...@1 twice): both tables see the same machine at
# the same moments, so the noise of this VM (runs of the same statement
# differ by 20% from one minute to the next) falls on both alike.  Each
# transaction's latency is logged (-l); recorded as
# plain-update/tracked$SUFFIX and plain-update/untracked$SUFFIX, the time
# of each being PLAIN_TX times its mean latency.
plain_run() {
	local suffix=$1 run=$2 seed=$3 opts=$4 t out load cpu0 lines
	for t in upd_tracked upd_plain; do
		printf '\\set id random(1, %s)\nUPDATE %s SET n = n + 1 WHERE id = :id;\n' "$PLAIN_ROWS" "$t" >"$WORK/update_$t.pgbench"
	done
	rm -f "$WORK"/plainlog*
	settle
	cpu0=$(cpu_snapshot)
	out=$(cd "$WORK" && PGOPTIONS=$opts "$PG_BIN/pgbench" -h "$SOCK" -p "$PORT" -U "$PG_USER" -n -c 1 \
		-t $((2 * PLAIN_TX)) --random-seed="$seed" -l --log-prefix=plainlog \
		-f "$WORK/update_upd_tracked.pgbench@1" -f "$WORK/update_upd_plain.pgbench@1" "$DB" 2>&1) ||
		{ printf '%s\n' "$out" >&2; die "pgbench failed"; }
	load=$(cpu_load "$cpu0" "$(cpu_snapshot)")
	# log lines: client tx latency_us script_no epoch us; script 0 tracked, 1 untracked
	lines=$(awk -v n="$PLAIN_TX" '{ s[$4] += $3; c[$4]++ }
		END { if (c[0] < 1 || c[1] < 1) exit 1
		      printf "tracked %.3f %d %.1f\nuntracked %.3f %d %.1f\n",
		             n * s[0] / c[0] / 1e6, c[0], s[0] / c[0], n * s[1] / c[1] / 1e6, c[1], s[1] / c[1] }' \
		"$WORK"/plainlog*) || die "could not read the pgbench transaction log"
	while read -r t secs count us; do
		printf '%-8s %-5s %-15s %6s s  %6d tx  mean latency %s us  machine busy/steal %s\n' \
			plain-update "$run" "$t$suffix" "$secs" "$count" "$us" "$load"
		[[ $run == warmup ]] && continue
		TIMES[plain-update/$t$suffix]+="$secs "
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" plain-update "$t$suffix" "$run" \
			"$secs" 0 0 0 "$count" "$load" "mean latency $us us" >>"$RESULTS"
	done <<<"$lines"
}

# plain_round ROUND RUN: fresh tables, then one interleaved run with the
# WAL flushed at each commit, one with synchronous_commit = off
plain_round() {
	local r=$1 run=$2 seed=$((1000 + $1))
	plain_setup
	plain_run "" "$run" "$seed" ""
	plain_run -async "$run" "$seed" "-c synchronous_commit=off"
}

# plain_callgrind: instructions per UPDATE on each table; sets PLAIN_CG
PLAIN_CG=
plain_callgrind() {
	local dir=$DATA_DIR/callgrind t sums n ir tracked plain line f toggles
	mapfile -t toggles < <(cg_toggles)
	if ! command -v valgrind >/dev/null; then
		say "plain-update: valgrind is not installed: no instruction counts"
		return 0
	fi
	mkdir -p "$dir"
	chown "$PG_USER" "$dir"
	plain_setup
	say "plain-update: callgrind, $PLAIN_CG_TX UPDATEs per table in a single-user backend"
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
	for t in upd_tracked upd_plain; do
		awk -v n="$PLAIN_CG_TX" -v rows="$PLAIN_ROWS" -v t="$t" \
			'BEGIN { for (k = 1; k <= n; k++) printf "UPDATE %s SET n = n + 1 WHERE id = %d;\n", t, (k * 7919) % rows + 1 }' |
			runuser -u "$PG_USER" -- valgrind --tool=callgrind --callgrind-out-file="$dir/update_$t.out" \
				"${toggles[@]}" --trace-children=no \
				"$PG_BIN/postgres" --single -D "$PGDATA_DIR" "$DB" >"$dir/update_$t.log" 2>&1 ||
			{ tail -n 20 "$dir/update_$t.log" >&2; die "callgrind run on $t failed"; }
		callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$dir/update_$t.out" 2>/dev/null >"$dir/update_$t.txt"
	done
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$SOCK/server.log" -w start >/dev/null
	sums=$(psql_val "SELECT (SELECT sum(n) FROM upd_tracked) || ' ' || (SELECT sum(n) FROM upd_plain)")
	[[ $sums == "$PLAIN_CG_TX $PLAIN_CG_TX" ]] || die "plain-update: callgrind runs did not update as expected: $sums"
	tracked=$(cg_ir "$dir/update_upd_tracked.txt" "PROGRAM TOTALS")
	plain=$(cg_ir "$dir/update_upd_plain.txt" "PROGRAM TOTALS")
	say "plain-update: instructions per UPDATE (statement and commit): tracked $((tracked / PLAIN_CG_TX)), untracked $((plain / PLAIN_CG_TX)), ratio $(ratio "$tracked" "$plain")"
	say "  of which, on the tracked table (inclusive, per UPDATE; nested rows are part of the one above):"
	# (static functions show 0 with Debian's stripped postgres)
	for line in "after-row trigger work of the update=ExecARUpdateTriggers" \
		"  re-read the old row (GetTupleForTrigger, static)=GetTupleForTrigger" \
		"  updated columns (ExecGetAllUpdatedCols)=ExecGetAllUpdatedCols" \
		"  queue the event (AfterTriggerSaveEvent, static)=AfterTriggerSaveEvent" \
		"    WHEN clause (TriggerEnabled, static)=TriggerEnabled" \
		"      parse it (stringToNode)=stringToNode" \
		"      compile it (ExecPrepareQual)=ExecPrepareQual" \
		"      run it: ir_logging()=ir_logging" \
		"trigger descriptor copies (CopyTriggerDesc)=CopyTriggerDesc" \
		"query start/end of after triggers=AfterTriggerBeginQuery+AfterTriggerEndQuery"; do
		f=${line#*=}
		n=$(cg_ir "$dir/update_upd_tracked.txt" "$f")
		ir=$(cg_ir "$dir/update_upd_plain.txt" "$f")
		printf '    %-52s %8s   (untracked %s)\n' "${line%%=*}" "$((n / PLAIN_CG_TX))" "$((ir / PLAIN_CG_TX))"
	done
	PLAIN_CG="instructions $(ratio "$tracked" "$plain")x"
}

scenario_plain_update() {
	local r tr un tra una
	((PLAIN_ROWS >= 10)) || die "PLAIN_ROWS must be at least 10"
	say "plain-update: $PLAIN_ROWS-record tables, 2 x $PLAIN_TX single-row UPDATEs per run, tracked and untracked table interleaved at random (pgbench -c 1); $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1; r <= WARMUP; r++)); do plain_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do plain_round "$r" "$r/$RUNS"; done
	tr=$(median plain-update tracked)
	un=$(median plain-update untracked)
	tra=$(median plain-update tracked-async)
	una=$(median plain-update untracked-async)
	say "plain-update: spread (min-max s): tracked $(spread plain-update tracked), untracked $(spread plain-update untracked)," \
		"tracked-async $(spread plain-update tracked-async), untracked-async $(spread plain-update untracked-async)"
	say "plain-update: time ratio tracked/untracked by medians / paired per round / best runs:" \
		"WAL flush per commit $(ratios plain-update/tracked plain-update/untracked)," \
		"synchronous_commit=off $(ratios plain-update/tracked-async plain-update/untracked-async)"
	plain_callgrind
	SUMMARY+=("plain-update: mean latency $(awk -v n="$PLAIN_TX" -v t="$tr" 'BEGIN { printf "%.1f", t / n * 1e6 }') us tracked, $(awk -v n="$PLAIN_TX" -v t="$un" 'BEGIN { printf "%.1f", t / n * 1e6 }') us untracked, ratio $(ratio "$tr" "$un")x (paired $(paired_ratio plain-update tracked untracked)x); synchronous_commit=off $(ratio "$tra" "$una")x (paired $(paired_ratio plain-update tracked-async untracked-async)x)${PLAIN_CG:+; $PLAIN_CG} (target <= 1.05x)")
}

# ---------------------------------------------------------------------------
# Scenario: rollback-history
# ---------------------------------------------------------------------------
# Rollback of a 1,000-record batch A on the ROWS-record target t with
# HISTORY_BATCHES (default 100) later batches applied after it, against
# the same rollback with none.  A updates ids 1..500 and inserts 500 ids
# after the table's end; later batch k updates the next 500 ids
# (k*500+1 ..) and inserts 500 more new ids, so nothing conflicts.  Every
# batch is staged (ir_stage of CSV text), validated (mapping check off)
# and applied, each in its own transaction.  Per round, each side in turn
# (the one with history first in odd rounds): extension and t re-created
# from the template, A, the later batches (that side only), VACUUM
# ANALYZE t, CHECKPOINT, then SELECT * FROM ir_rollback(A), timed.  The
# check: A rolled back, its log holding 500 undo_update and 500
# undo_insert entries, the later batches still applied.
HISTORY_BATCHES=${HISTORY_BATCHES:-100}
HISTORY_HALF=500

# history_setup LATER: a fresh round with A and LATER batches after it;
# sets BATCH to A
history_setup() {
	local later=$1 k lo hi n sql=$WORK/history.sql
	: >"$sql"
	for ((k = 0; k <= later; k++)); do
		lo=$((k * HISTORY_HALF + 1))
		hi=$(((k + 1) * HISTORY_HALF))
		printf '%s\n' \
			"SELECT ir_stage('t', 'batch-$k.csv', bench_csv($lo, $hi, $((ROWS + lo)), $((ROWS + hi)), 1)) AS b \\gset" \
			"SELECT state FROM ir_validate(:b, '$NO_MAPPING_CHECK');" \
			"SELECT inserted, updated FROM ir_apply(:b);" >>"$sql"
	done
	reset_db "
$(fresh_extension_sql)
$(t_create_sql t)
VACUUM ANALYZE t;"
	PGOPTIONS="-c client_min_messages=warning" psql_bench -f "$sql" >/dev/null
	n=$(psql_val "SELECT count(*) FILTER (WHERE state = 'applied' AND inserted = $HISTORY_HALF AND updated = $HISTORY_HALF)
	                     || ' ' || min(batch_id) FROM ir_batches")
	[[ ${n%% *} == $((later + 1)) ]] || die "rollback-history: expected $((later + 1)) applied batches, got: $n"
	BATCH=${n#* }
	reset_db "VACUUM ANALYZE t;"
}

history_check() {
	cat <<-EOF
	SELECT CASE WHEN b.state = 'rolled_back' AND l.undo_update = $HISTORY_HALF AND l.undo_insert = $HISTORY_HALF
	            THEN 'ok|' || pg_table_size('t') || '|rolled back: ' || l.undo_update || ' restored, '
	                 || l.undo_insert || ' deleted; batches still applied: '
	                 || (SELECT count(*) FROM ir_batches WHERE state = 'applied')
	                 || '; t has ' || (SELECT count(*) FROM t) || ' records'
	            ELSE 'bad|' || concat_ws(' ', b.state, l.undo_update, l.undo_insert, b.last_error) END
	  FROM ir_batches b,
	       (SELECT count(*) FILTER (WHERE action = 'undo_update') AS undo_update,
	               count(*) FILTER (WHERE action = 'undo_insert') AS undo_insert
	          FROM import_rollback.changes_$1) AS l
	 WHERE b.batch_id = $1
	EOF
}

# history_round ROUND RUN
history_round() {
	local r=$1 run=$2 s sides=(with-history no-history)
	((r % 2)) || sides=(no-history with-history)
	for s in "${sides[@]}"; do
		if [[ $s == with-history ]]; then history_setup "$HISTORY_BATCHES"; else history_setup 0; fi
		measure rollback-history "$s" "$run" "SELECT * FROM ir_rollback($BATCH)" "$(history_check "$BATCH")"
	done
}

scenario_rollback_history() {
	local r w n
	((ROWS >= (HISTORY_BATCHES + 1) * HISTORY_HALF)) ||
		die "rollback-history needs --rows >= $(((HISTORY_BATCHES + 1) * HISTORY_HALF)) for $HISTORY_BATCHES later batches"
	t_template
	say "rollback-history: t $ROWS records; rollback of a $((2 * HISTORY_HALF))-record batch with $HISTORY_BATCHES later batches of $((2 * HISTORY_HALF)) records, or none; $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1; r <= WARMUP; r++)); do history_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do history_round "$r" "$r/$RUNS"; done
	w=$(median rollback-history with-history)
	n=$(median rollback-history no-history)
	say "rollback-history: spread (min-max s): with history $(spread rollback-history with-history), without $(spread rollback-history no-history)"
	say "rollback-history: ratio by medians / paired per round / best runs: $(ratios rollback-history/with-history rollback-history/no-history)"
	SUMMARY+=("rollback-history: ir_rollback with $HISTORY_BATCHES later batches $w s, with none $n s, ratio $(ratio "$w" "$n")x (paired $(paired_ratio rollback-history with-history no-history)x) (target <= 2.00x)")
}


# ---------------------------------------------------------------------------
# Scenarios: apply-profile, rollback-profile
# ---------------------------------------------------------------------------
# Where the time of ir_apply and ir_rollback goes, next to the bare upsert:
# PROFILE_RUNS (default 3) rounds set up as in "apply" (same target, file,
# statements), each recording the upsert, ir_apply and ir_rollback under
# `perf record` on the backend (APPLY_PERF_FREQ Hz, default 999; call
# graphs by frame pointers, APPLY_PERF_CALLGRAPH=fp: these statements run
# for seconds, and DWARF unwinding of that many samples takes minutes).
# Prints the median on-CPU ms of each step over the runs, the top self
# costs, and the call chains leading to the symbols in APPLY_PERF_CALLERS
# (default: ResourceOwnerRememberTupleDesc hash_search_with_hash_value).
# Debian's postgres is stripped: use a build with symbols (pg-symbols.sh):
#   test/bench/run.sh --pg-config test/bench/data/pg15-symbols/bin/pg_config apply-profile rollback-profile
# Reports: test/bench/data/perf/{upsert,ir_apply,ir_rollback}.<run>.*
APPLY_PERF_FREQ=${APPLY_PERF_FREQ:-999}
APPLY_PERF_CALLGRAPH=${APPLY_PERF_CALLGRAPH:-fp}
APPLY_PERF_CALLERS=${APPLY_PERF_CALLERS:-ResourceOwnerRememberTupleDesc hash_search_with_hash_value}
APPLY_PROFILE_DONE=0

# Steps (see PROFILE_STEPS): those of the apply, then of the rollback;
# a step that does not occur in a subject shows 0.
# shellcheck disable=SC2034 # (both are read through a nameref)
APPLY_STEPS=(
	"the write statement, executor (ExecModifyTable)=ExecModifyTable"
	"  read source rows (SeqNext)=SeqNext"
	"  expressions (ExecInterpExpr, with casts)=ExecInterpExpr"
	"    input functions (int4in, numeric_in)=int4in+numeric_in"
	"    ir_cast (text_to_cstring + input function)=ir_cast"
	"    ir_note_row=ir_note_row"
	"  arbiter probe (ExecCheckIndexConstraints)=ExecCheckIndexConstraints"
	"    its slot (table_slot_create)=table_slot_create"
	"  insert new records (heap_insert)=heap_insert"
	"  lock + update existing (ExecOnConflictUpdate)=ExecOnConflictUpdate"
	"    heap_update=heap_update"
	"  index inserts (ExecInsertIndexTuples)=ExecInsertIndexTuples"
	"    unique check's slot (table_index_fetch_tuple_check)=table_index_fetch_tuple_check"
	"  queue after-row events (ExecAR*Triggers)=ExecARInsertTriggers+ExecARUpdateTriggers"
	"    re-read old row for the event (GetTupleForTrigger)=GetTupleForTrigger"
	"fire queued events (AfterTriggerEndQuery)=AfterTriggerEndQuery"
	"  fetch rows back (heapam_fetch_row_version)=heapam_fetch_row_version"
	"  the change-log trigger (ir_changelog)=ir_changelog"
	"    compare values (type equality)=FunctionCall2Coll"
	"    form log tuples (heap_form_tuple)=heap_form_tuple"
	"    write log rows (heap_multi_insert)=heap_multi_insert"
	"WAL records (XLogInsert)=XLogInsert"
	"tupdesc pins (ResourceOwnerRememberTupleDesc)=ResourceOwnerRememberTupleDesc"
	"hash_search_with_hash_value=hash_search_with_hash_value"
	"  buffer mapping (BufTableLookup)=BufTableLookup"
	"  speculative insertion lock (SpeculativeInsertionLockAcquire)=SpeculativeInsertionLockAcquire"
	"page faults (kernel)=asm_exc_page_fault"
)
# shellcheck disable=SC2034
ROLLBACK_STEPS=(
	"the write statements, executor (ExecModifyTable)=ExecModifyTable"
	"  restore: the UPDATE (in its CTE)=CteScanNext"
	"  read the log / source (SeqNext)=SeqNext"
	"  find records by key (IndexNext)=IndexNext"
	"  arbiter probe (ExecCheckIndexConstraints)=ExecCheckIndexConstraints"
	"  expressions (ExecInterpExpr, CASE, IS DISTINCT FROM)=ExecInterpExpr"
	"  update records (heap_update)=heap_update"
	"  delete records (heap_delete)=heap_delete"
	"  insert records (heap_insert)=heap_insert"
	"  index inserts (ExecInsertIndexTuples)=ExecInsertIndexTuples"
	"    bottom-up deletion (_bt_bottomupdel_pass)=_bt_bottomupdel_pass"
	"  queue after-row events (ExecAR*Triggers)=ExecARInsertTriggers+ExecARUpdateTriggers+ExecARDeleteTriggers"
	"fire queued events (AfterTriggerEndQuery)=AfterTriggerEndQuery"
	"  fetch rows back (heapam_fetch_row_version)=heapam_fetch_row_version"
	"  the change-log trigger (ir_changelog)=ir_changelog"
	"    write log rows (heap_multi_insert)=heap_multi_insert"
	"pre-check: EXISTS over the whole log (an InitPlan)=ExecSetParamPlan"
	"WAL records (XLogInsert)=XLogInsert"
	"  WAL written by the backend (XLogWrite)=XLogWrite"
	"tupdesc pins (ResourceOwnerRememberTupleDesc)=ResourceOwnerRememberTupleDesc"
	"page faults (kernel)=asm_exc_page_fault"
)

apply_profile_runs() {
	local r pruns=${PROFILE_RUNS:-3} chk s sql
	[[ $APPLY_PROFILE_DONE -eq 1 ]] && return 0
	command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
	PERF_DIR=$DATA_DIR/perf
	mkdir -p "$PERF_DIR"
	apply_prepare
	say "apply/rollback-profile: $pruns recorded rounds of upsert, ir_apply, ir_rollback ($ROWS records)"
	for ((r = 1; r <= pruns; r++)); do
		apply_setup
		for s in upsert ir_apply ir_rollback; do
			settle
			case $s in
				upsert) sql=$UPSERT_SQL ;;
				*) sql="SELECT * FROM $s($BATCH)" ;;
			esac
			PERF_FREQ=$APPLY_PERF_FREQ PERF_CALLGRAPH=$APPLY_PERF_CALLGRAPH PERF_CALLERS=$APPLY_PERF_CALLERS \
				perf_statement "$PERF_DIR/$s.$r" "$sql"
		done
		chk=$(psql_val "$(rollback_check "$BATCH")")
		[[ $chk == ok\|* ]] || die "apply-profile: round $r: $chk"
	done
	APPLY_PROFILE_DONE=1
}

# profile_details SUBJECT: top self costs and caller chains of run 1
profile_details() {
	local subj=$1 sym
	say "  top self, $subj, run 1 ($PERF_DIR/$subj.1.self.txt):"
	{ grep -E '^ +[0-9]' "$PERF_DIR/$subj.1.self.txt" || true; } | head -n 15 |
		awk '{ printf "    %7s  %-22s %s\n", $1, $2, $4 }'
	for sym in $APPLY_PERF_CALLERS; do
		say "  call chains to $sym, $subj, run 1 (share of all samples; $PERF_DIR/$subj.1.callers.$sym.txt):"
		{ grep -E '[0-9.]+%' "$PERF_DIR/$subj.1.callers.$sym.txt" || echo "no samples"; } | head -n 12 | sed 's/^/    /'
	done
}

scenario_apply_profile() {
	apply_profile_runs
	say "apply-profile: median on-CPU ms by step (perf cpu-clock at $APPLY_PERF_FREQ Hz; indented steps are part of the one above)"
	profile_table APPLY_STEPS "${PROFILE_RUNS:-3}" upsert ir_apply
	profile_details upsert
	profile_details ir_apply
	SUMMARY+=("apply-profile: perf reports in $PERF_DIR (upsert.*, ir_apply.*)")
}

scenario_rollback_profile() {
	apply_profile_runs
	say "rollback-profile: median on-CPU ms by step (perf cpu-clock at $APPLY_PERF_FREQ Hz; indented steps are part of the one above)"
	profile_table ROLLBACK_STEPS "${PROFILE_RUNS:-3}" upsert ir_rollback
	profile_details ir_rollback
	SUMMARY+=("rollback-profile: perf reports in $PERF_DIR (ir_rollback.*)")
}


# ---------------------------------------------------------------------------
# Scenario: apply-plans
# ---------------------------------------------------------------------------
# The statements ir_apply and ir_rollback run inside, with their plans and
# durations: one round set up as in "apply", then each call in a session
# with auto_explain (nested statements, ANALYZE row counts, no per-node
# timing).  Prints every internal statement of 10 ms or more (its
# duration, text and plan); all of them go to
# test/bench/data/plans/{ir_apply,ir_rollback}.txt.  Needs auto_explain
# in the installation (Debian's has it; a pg-symbols.sh build does not).
PLANS_MIN_MS=${PLANS_MIN_MS:-10}

scenario_apply_plans() {
	local dir=$DATA_DIR/plans s chk
	[[ -f $INST$("$SYS_PG_CONFIG" --pkglibdir)/auto_explain.so ]] ||
		die "apply-plans needs auto_explain in $("$SYS_PG_CONFIG" --pkglibdir) (use the system's PostgreSQL)"
	mkdir -p "$dir"
	apply_prepare
	apply_setup
	say "apply-plans: ir_apply and ir_rollback of $ROWS records under auto_explain; statements of ${PLANS_MIN_MS} ms or more:"
	for s in ir_apply ir_rollback; do
		settle
		psql_bench -At >/dev/null 2>"$dir/$s.txt" <<-EOF || { cat "$dir/$s.txt" >&2; die "apply-plans: $s failed"; }
			LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 0;
			SET auto_explain.log_nested_statements = on;
			SET auto_explain.log_analyze = on;
			SET auto_explain.log_timing = off;
			SET client_min_messages = log;
			SELECT * FROM $s($BATCH);
		EOF
		say "  $s ($dir/$s.txt):"
		awk -v min="$PLANS_MIN_MS" '
			/^LOG:  duration: [0-9.]+ ms  plan:/ { show = ($3 + 0 >= min); if (show) printf "    -- %s ms\n", $3; next }
			/^LOG:  / { show = 0 }
			show && /^Query Text: / { q = substr($0, 13); if (length(q) > 300) q = substr(q, 1, 300) "..."; print "    " q; next }
			show { print "      " $0 }' "$dir/$s.txt"
	done
	chk=$(psql_val "$(rollback_check "$BATCH")")
	[[ $chk == ok\|* ]] || die "apply-plans: $chk"
	SUMMARY+=("apply-plans: plans in $dir")
}


# ---------------------------------------------------------------------------
# Scenario: apply-callgrind
# ---------------------------------------------------------------------------
# Instruction counts (valgrind callgrind, single-user backend, as in
# stage-callgrind) of the upsert, ir_apply and ir_rollback of "apply" on a
# smaller table and file (CALLGRIND_ROWS records, default 100,000): the
# comparison the machine's noise cannot move, e.g. for an A/B of a change
# with --src.  Kernel work (page faults, WAL writes) is not counted.
# Writes test/bench/data/callgrind/{upsert,ir_apply,ir_rollback}.out/.txt
# and prints instructions per record, in total and for the steps of
# APPLY_STEPS / ROLLBACK_STEPS.

# cg_toggles: valgrind options collecting what exec_simple_query does for
# a statement, by exported functions (Debian's binary is stripped of
# static ones such as exec_simple_query itself)
cg_toggles() {
	local f
	for f in StartTransactionCommand pg_parse_query pg_analyze_and_rewrite_fixedparams pg_plan_queries \
		PortalStart PortalRun PortalDrop CommitTransactionCommand; do
		printf '%s\n' "--toggle-collect=$f"
	done
}

# cg_statement OUT SQL: run SQL (one line) in a single-user backend under
# callgrind (the cluster is stopped meanwhile); OUT.out, OUT.txt, OUT.log
cg_statement() {
	local out=$1 sql=$2 toggles
	mapfile -t toggles < <(cg_toggles)
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
	rm -f "$out.out"
	printf '%s\n' "$(tr '\n' ' ' <<<"$sql")" |
		runuser -u "$PG_USER" -- valgrind --tool=callgrind --callgrind-out-file="$out.out" \
			"${toggles[@]}" --trace-children=no \
			"$PG_BIN/postgres" --single -D "$PGDATA_DIR" "$DB" >"$out.log" 2>&1 ||
		{ tail -n 20 "$out.log" >&2; die "callgrind run of $out failed"; }
	grep -q -e '^ERROR' -e ' ERROR: ' "$out.log" && { grep -e 'ERROR' "$out.log" >&2; die "callgrind run of $out: statement failed"; }
	runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$SOCK/server.log" -w start >/dev/null
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$out.out" 2>/dev/null >"$out.txt"
}

scenario_apply_callgrind() {
	command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
	local dir=$DATA_DIR/callgrind saved_rows=$ROWS s s2 chk step line
	declare -A ir=()
	mkdir -p "$dir"
	chown "$PG_USER" "$dir"
	ROWS=$CALLGRIND_ROWS
	T_TEMPLATE_READY=0
	apply_prepare
	apply_setup
	say "apply-callgrind: $ROWS records, instructions counted per statement (parse to commit)"
	for s in upsert ir_apply ir_rollback; do
		case $s in
			upsert) cg_statement "$dir/$s" "$UPSERT_SQL" ;;
			*) cg_statement "$dir/$s" "SELECT * FROM $s($BATCH)" ;;
		esac
		ir[$s]=$(cg_ir "$dir/$s.txt" "PROGRAM TOTALS")
	done
	chk=$(psql_val "$(rollback_check "$BATCH")")
	[[ $chk == ok\|* ]] || die "apply-callgrind: $chk"
	say "apply-callgrind: instructions per record: upsert $((ir[upsert] / ROWS)), ir_apply $((ir[ir_apply] / ROWS)), ir_rollback $((ir[ir_rollback] / ROWS))"
	for s in APPLY_STEPS ROLLBACK_STEPS; do
		local -n steps=$s
		say "  $s, instructions per record (inclusive; indented steps are part of the one above):"
		printf '    %-58s %10s %10s %10s\n' step upsert ir_apply ir_rollback
		for step in "${steps[@]}"; do
			[[ $step == *asm_exc_page_fault ]] && continue   # kernel: not counted
			line=$(printf '    %-58s' "${step%%=*}")
			for s2 in upsert ir_apply ir_rollback; do
				line+=$(printf ' %10s' "$(($(cg_ir "$dir/$s2.txt" "${step#*=}") / ROWS))")
			done
			say "$line"
		done
		unset -n steps
	done
	SUMMARY+=("apply-callgrind: instructions ratio to the bare upsert: ir_apply $(ratio "${ir[ir_apply]}" "${ir[upsert]}")x, ir_rollback $(ratio "${ir[ir_rollback]}" "${ir[upsert]}")x ($ROWS records)")
	ROWS=$saved_rows
	T_TEMPLATE_READY=0
}

# max_of SCENARIO SUBJECT -> the largest peak memory (MB) over the runs
max_of() { tr ' ' '\n' <<<"${PEAK_MB[$1/$2]}" | sed '/^$/d' | sort -n | tail -n 1; }

# round_label R: "warmup" for rounds below 1, else "R/RUNS"
round_label() { if (($1 < 1)); then echo warmup; else echo "$1/$RUNS"; fi; }

# ---------------------------------------------------------------------------
# Scenario: stage-lo
# ---------------------------------------------------------------------------
# The client's whole job with a large object: \lo_import of the customers
# CSV (psql reads the file and writes it with lo_write, in its own
# transaction), then SELECT ir_stage_large_object('customers', ..., oid),
# which reads it back through COPY's parser in 64 kB chunks, hashes it,
# stages every record and unlinks it.  Baseline: the same \lo_import plus
# the plain COPY of the file into the all-text table (as in "stage").  The
# \lo_import is timed from the shell around psql (its session start, a few
# ms, included), once per round and counted on both sides; the ratio is
# (lo_import + ir_stage_large_object) / (lo_import + COPY).  The staging
# backend's private memory is sampled: it must not grow with the file.
stage_lo_subject() {
	local run=$1 oid=$2
	MEASURE_MEM=1 measure stage-lo ir_stage_large_object "$run" \
		"SELECT ir_stage_large_object('customers', 'customers.csv', $oid)" "$(stage_check_sql)"
}

scenario_stage_lo() {
	local r t0 t1 oid imp run lo c
	say "stage-lo: $ROWS rows, $(awk -v b="$CSV_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MB; $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1 - WARMUP; r <= RUNS; r++)); do
		run=$(round_label "$r")
		reset_db "$STAGE_RESET"
		t0=$(date +%s.%N)
		oid=$(printf '\\lo_import %s\nSELECT :LASTOID;\n' "'$CSV'" | psql_bench -At)
		t1=$(date +%s.%N)
		[[ -n $oid ]] || die "stage-lo: \\lo_import failed"
		imp=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		say "stage-lo $run  lo_import        $imp s (psql \\lo_import, client side)"
		settle
		if ((r % 2)); then
			stage_lo_subject "$run" "$oid"
			settle
			measure stage-lo COPY "$run" "$(stage_sql COPY)" "$(stage_check COPY)"
		else
			measure stage-lo COPY "$run" "$(stage_sql COPY)" "$(stage_check COPY)"
			settle
			stage_lo_subject "$run" "$oid"
		fi
		[[ $(psql_val "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = $oid") == 0 ]] ||
			die "stage-lo: the large object was not unlinked"
		[[ $run == warmup ]] || TIMES[stage-lo/lo_import]+="$imp "
	done
	imp=$(median stage-lo lo_import)
	lo=$(median stage-lo ir_stage_large_object)
	c=$(median stage-lo COPY)
	say "stage-lo: spread (min-max s): lo_import $(spread stage-lo lo_import), ir_stage_large_object $(spread stage-lo ir_stage_large_object), COPY $(spread stage-lo COPY)"
	say "stage-lo: ir_stage_large_object alone to COPY by medians / paired / best: $(ratios stage-lo/ir_stage_large_object stage-lo/COPY)"
	SUMMARY+=("stage-lo: lo_import $imp s + ir_stage_large_object $lo s vs lo_import + COPY $c s: ratio $(awk -v i="$imp" -v l="$lo" -v c="$c" 'BEGIN { printf "%.2f", (i + l) / (i + c) }')x (target <= 1.30x); peak private memory of the staging backend $(max_of stage-lo ir_stage_large_object) MB")
}

# ---------------------------------------------------------------------------
# Scenario: rollback-preview
# ---------------------------------------------------------------------------
# The batch of "apply" (ROWS records: half updates, half inserts) applied
# untimed, then, each after CHECKPOINT, SELECT count(*) FROM
# ir_rollback_preview(b) (every logged field of every record: the rows go
# through a cursor into the result's tuplestore, which spills to disk past
# work_mem) and SELECT * FROM ir_rollback(b).  The previewing backend's
# private memory is sampled; shared memory (shared_buffers = 1 GB, see
# start_cluster) is not counted in it.
scenario_rollback_preview() {
	local r run b p rb
	say "rollback-preview: t $ROWS records, the file of apply; $WARMUP warm-up + $RUNS timed rounds"
	apply_prepare
	for ((r = 1 - WARMUP; r <= RUNS; r++)); do
		run=$(round_label "$r")
		apply_setup
		b=$BATCH
		[[ $(psql_val "SELECT inserted + updated FROM ir_apply($b)") == "$ROWS" ]] || die "rollback-preview: apply failed"
		settle
		MEASURE_MEM=1 measure rollback-preview ir_rollback_preview "$run" \
			"SELECT count(*) FROM ir_rollback_preview($b)" "SELECT 'ok|0'"
		settle
		measure rollback-preview ir_rollback "$run" "SELECT * FROM ir_rollback($b)" "$(rollback_check "$b")"
	done
	p=$(median rollback-preview ir_rollback_preview)
	rb=$(median rollback-preview ir_rollback)
	say "rollback-preview: spread (min-max s): ir_rollback_preview $(spread rollback-preview ir_rollback_preview), ir_rollback $(spread rollback-preview ir_rollback)"
	SUMMARY+=("rollback-preview: ir_rollback_preview $p s, ir_rollback $rb s, ratio $(ratio "$p" "$rb")x (paired $(paired_ratio rollback-preview ir_rollback_preview ir_rollback)x) (target <= 0.50x); peak private memory $(max_of rollback-preview ir_rollback_preview) MB (target <= 100 MB)")
}

# ---------------------------------------------------------------------------
# Scenario: purge
# ---------------------------------------------------------------------------
# PURGE_BATCHES (default 100) batches of PURGE_ROWS (1,000) records each,
# staged, applied and rolled back on one table (so each has a staging
# table and a change log), then aged 40 days; timed: SELECT count(*) FROM
# ir_purge('30 days').  The check: every batch purged, no per-batch table
# left.
PURGE_BATCHES=${PURGE_BATCHES:-100}
PURGE_ROWS=${PURGE_ROWS:-1000}
scenario_purge() {
	local r run file
	say "purge: $PURGE_BATCHES batches of $PURGE_ROWS records (staged, applied, rolled back); $WARMUP warm-up + $RUNS timed rounds"
	bench_prepare
	file=$(sql_lit "$FILES/purge.csv")
	for ((r = 1 - WARMUP; r <= RUNS; r++)); do
		run=$(round_label "$r")
		reset_db "
$(fresh_extension_sql)
DROP TABLE IF EXISTS pt;
CREATE TABLE pt ($T_COLS, PRIMARY KEY (id));
COPY (SELECT * FROM bench_rows(1, $PURGE_ROWS, 1)) TO $file (FORMAT csv, HEADER true);
SELECT count(*) FROM (SELECT ir_stage_file('pt', $file, '$NO_MAPPING_CHECK') FROM generate_series(1, $PURGE_BATCHES)) s;
DO \$\$ DECLARE b bigint; BEGIN
  FOR b IN SELECT batch_id FROM ir_batches ORDER BY batch_id LOOP
    PERFORM ir_apply(b);
    PERFORM ir_rollback(b);
  END LOOP; END \$\$;
UPDATE import_rollback.batch SET started_at = started_at - interval '40 days',
       staged_at = staged_at - interval '40 days', validated_at = validated_at - interval '40 days',
       applied_at = applied_at - interval '40 days', rolled_back_at = rolled_back_at - interval '40 days',
       ended_at = ended_at - interval '40 days';"
		measure purge ir_purge "$run" "SELECT count(*) FROM ir_purge('30 days')" \
			"SELECT CASE WHEN (SELECT count(*) FROM ir_batches WHERE purged_at IS NOT NULL AND state = 'rolled_back') = $PURGE_BATCHES
			              AND NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = 'import_rollback'::regnamespace
			                               AND relname ~ '^(stage|changes)_[0-9]+$')
			             THEN 'ok|0' ELSE 'bad|' || (SELECT count(*) FROM ir_batches WHERE purged_at IS NOT NULL) END"
	done
	SUMMARY+=("purge: ir_purge of $PURGE_BATCHES ended batches (a staging table and a change log of $PURGE_ROWS records each): $(median purge ir_purge) s (spread $(spread purge ir_purge))")
}

# ---------------------------------------------------------------------------
# Scenario: transforms
# ---------------------------------------------------------------------------
# A partner feed of ROWS records whose values need work before they fit
# the target: names with stray and repeated spaces, emails in mixed case
# with spaces, phones with punctuation, dates as DD/MM/YYYY, a category
# given by name (looked up in a 1,000-row table), a country that is a
# foreign key.  The mapping: four transforms (name: trim, squeeze; email:
# trim, lower; phone: digits; signed: date_format), one lookup (category,
# after trim) and the foreign key checked in staging.  The target holds
# ROWS/2 of the records already (other values): half the file updates,
# half inserts.  Per round (after CHECKPOINT each, order alternating):
#   COPY         the file into an all-text table (the baseline of validate)
#   ir_validate  the staged batch with that mapping (mapping check off:
#                its cost is the validate scenario's)
#   upsert       the bare statement doing the same work on a copy of the
#                target without triggers: INSERT ... SELECT with the same
#                transforms (regexp_replace, lower, btrim, to_date) JOIN the
#                category table ON CONFLICT (id) DO UPDATE ... WHERE <one
#                IS DISTINCT FROM>
#   ir_apply     the validated batch, with its change log
TX_COLS="id int PRIMARY KEY, name text, email text, phone text, signed date, category_id int, country char(2) REFERENCES tx_countries"
TX_MAPPING='{"mapping": {"id": "id", "name": {"column": "name", "transform": ["trim", "squeeze"]}, "email": {"column": "email", "transform": ["trim", "lower"]}, "phone": {"column": "phone", "transform": ["digits"]}, "signed": {"column": "signed", "date_format": "DD/MM/YYYY"}, "category": {"column": "category_id", "transform": ["trim"], "lookup": {"table": "public.tx_categories", "match": "name", "return": "category_id"}}, "country": "country"}, "rules": {"mapping_check": "off"}}'
TX_UPSERT="INSERT INTO tx_plain AS t (id, name, email, phone, signed, category_id, country)
 SELECT s.id::int, regexp_replace(btrim(s.name), '\\s+', ' ', 'g'), lower(btrim(s.email)),
        regexp_replace(s.phone, '[^0-9]', '', 'g'), to_date(s.signed, 'DD/MM/YYYY'),
        c.category_id, s.country::char(2)
   FROM tx_src s JOIN tx_categories c ON c.name = btrim(s.category)
 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone,
        signed = EXCLUDED.signed, category_id = EXCLUDED.category_id, country = EXCLUDED.country
 WHERE (t.name IS DISTINCT FROM EXCLUDED.name) OR (t.email IS DISTINCT FROM EXCLUDED.email)
    OR (t.phone IS DISTINCT FROM EXCLUDED.phone) OR (t.signed IS DISTINCT FROM EXCLUDED.signed)
    OR (t.category_id IS DISTINCT FROM EXCLUDED.category_id) OR (t.country IS DISTINCT FROM EXCLUDED.country)"
TX_FILE=

tx_prepare() {
	bench_prepare
	TX_FILE=$FILES/transforms.csv
	reset_db "
DROP TABLE IF EXISTS tx, tx_plain, tx_tmpl, tx_src, tx_text, tx_categories, tx_countries CASCADE;
CREATE TABLE tx_categories (category_id int PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO tx_categories SELECT g, 'Cat' || g FROM generate_series(0, 999) g;
CREATE TABLE tx_countries (code char(2) PRIMARY KEY);
INSERT INTO tx_countries VALUES ('DE'), ('FR'), ('US'), ('GB'), ('IT');
COPY (SELECT g AS id, '  Name ' || g || '   of  partner ' AS name, ' User' || g || '@Example.COM ' AS email,
             '+1 (555) ' || lpad((g % 10000)::text, 4, '0') AS phone,
             to_char(date '2020-01-01' + (g % 1500), 'DD/MM/YYYY') AS signed,
             ' Cat' || (g % 1000) || ' ' AS category, (ARRAY['DE','FR','US','GB'])[1 + g % 4] AS country
        FROM generate_series(1, $ROWS) g)
  TO $(sql_lit "$TX_FILE") (FORMAT csv, HEADER true);
CREATE TABLE tx_src (id text, name text, email text, phone text, signed text, category text, country text);
COPY tx_src FROM $(sql_lit "$TX_FILE") (FORMAT csv, HEADER true);
CREATE TABLE tx_tmpl AS SELECT g AS id, 'old ' || g AS name, 'old' || g || '@example.org' AS email,
       NULL::text AS phone, date '2019-01-01' AS signed, (g % 1000)::int AS category_id, 'IT'::char(2) AS country
  FROM generate_series(1, $((ROWS / 2))) g;
VACUUM ANALYZE tx_src, tx_tmpl, tx_categories, tx_countries;"
}

# tx_round ROUND RUN
tx_round() {
	local r=$1 run=$2 b v s subjects=(COPY ir_validate upsert ir_apply)
	reset_db "
$(fresh_extension_sql)
DROP TABLE IF EXISTS tx, tx_plain, tx_text;
CREATE TABLE tx ($TX_COLS);
INSERT INTO tx SELECT * FROM tx_tmpl;
CREATE TABLE tx_plain ($TX_COLS);
INSERT INTO tx_plain SELECT * FROM tx_tmpl;
CREATE TABLE tx_text (id text, name text, email text, phone text, signed text, category text, country text);
VACUUM ANALYZE tx, tx_plain;"
	b=$(psql_val "SELECT ir_stage_file('tx', $(sql_lit "$TX_FILE"), '$TX_MAPPING')")
	((r % 2)) || subjects=(ir_validate COPY ir_apply upsert)
	for s in "${subjects[@]}"; do
		settle
		case $s in
			COPY) measure transforms COPY "$run" "COPY tx_text FROM $(sql_lit "$TX_FILE") (FORMAT csv, HEADER true)" \
				"SELECT CASE WHEN count(*) = $ROWS THEN 'ok|' || pg_table_size('tx_text') ELSE 'bad|' || count(*) END FROM tx_text" ;;
			ir_validate) measure transforms ir_validate "$run" "SELECT * FROM ir_validate($b)" \
				"SELECT CASE WHEN rows_valid = $ROWS THEN 'ok|0' ELSE 'bad|' || concat_ws(' ', state, rows_valid, last_error) END FROM ir_batches WHERE batch_id = $b" ;;
			upsert) measure transforms upsert "$run" "$TX_UPSERT" \
				"SELECT CASE WHEN count(*) = $ROWS THEN 'ok|' || pg_table_size('tx_plain') ELSE 'bad|' || count(*) END FROM tx_plain" ;;
			ir_apply)
				v=$(psql_val "SELECT state FROM ir_batches WHERE batch_id = $b")
				[[ $v == validated ]] || die "transforms: batch $b is $v before the apply"
				measure transforms ir_apply "$run" "SELECT * FROM ir_apply($b)" \
					"SELECT CASE WHEN b.inserted + b.updated = $ROWS THEN 'ok|' || pg_table_size('tx') ELSE 'bad|' || concat_ws(' ', b.state, b.inserted, b.updated) END FROM ir_batches b WHERE b.batch_id = $b" ;;
		esac
	done
	# both did the same work
	[[ $(psql_val "SELECT count(*) FROM ((SELECT * FROM tx EXCEPT SELECT * FROM tx_plain) UNION ALL (SELECT * FROM tx_plain EXCEPT SELECT * FROM tx)) d") == 0 ]] ||
		die "transforms: ir_apply and the bare upsert wrote different rows"
}

scenario_transforms() {
	local r
	say "transforms: $ROWS records (4 transforms, 1 lookup into 1,000 rows, 1 foreign key), target holding $((ROWS / 2)); $WARMUP warm-up + $RUNS timed rounds"
	tx_prepare
	for ((r = 1; r <= WARMUP; r++)); do tx_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do tx_round "$r" "$r/$RUNS"; done
	say "transforms: spread (min-max s): COPY $(spread transforms COPY), ir_validate $(spread transforms ir_validate), upsert $(spread transforms upsert), ir_apply $(spread transforms ir_apply)"
	SUMMARY+=("transforms: ir_validate $(median transforms ir_validate) s vs COPY $(median transforms COPY) s: $(ratios transforms/ir_validate transforms/COPY) (target <= 1.30x); ir_apply $(median transforms ir_apply) s vs the bare upsert with the same transforms $(median transforms upsert) s: $(ratios transforms/ir_apply transforms/upsert) (target <= 1.30x)")
}

# ---------------------------------------------------------------------------
# Scenario: guards
# ---------------------------------------------------------------------------
# The apply of the "apply" scenario (t of ROWS records, a file of ROWS
# records: half updates, half inserts), with and without post-apply
# guards, each on a fresh t: blank on name and email, orphans against
# t_child (ROWS rows referencing the file's records, indexed; the limit
# holds), unchanged with 100 sentinel records the file does not write.
# Each round applies both, in alternating order, after CHECKPOINT each:
#   ir_apply         the batch staged without guards
#   ir_apply+guards  the batch staged with them: the same writes, then
#                    the guards over its change log, in the apply's
#                    subtransaction
GUARDS_OPTIONS=
guards_setup() {
	local v opts=$1
	reset_db "
$(fresh_extension_sql)
$(t_create_sql t)
DROP TABLE IF EXISTS t_child;
CREATE TABLE t_child (t_id int NOT NULL, note text);
INSERT INTO t_child SELECT $((ROWS / 2)) + 1 + (g % $ROWS), 'child ' || g FROM generate_series(1, $ROWS) g;
CREATE INDEX ON t_child (t_id);
VACUUM ANALYZE t, t_child;"
	BATCH=$(psql_val "SELECT ir_stage_file('t', $(sql_lit "$APPLY_FILE"), '$opts')")
	v=$(psql_val "SELECT state || ' ' || rows_valid FROM ir_validate($BATCH, '$NO_MAPPING_CHECK')")
	[[ $v == "validated $ROWS" ]] || die "guards: batch $BATCH did not validate: $v"
}

guards_round() {
	local r=$1 run=$2 s subjects=(ir_apply ir_apply+guards)
	((r % 2)) || subjects=(ir_apply+guards ir_apply)
	for s in "${subjects[@]}"; do
		if [[ $s == ir_apply ]]; then guards_setup '{}'; else guards_setup "$GUARDS_OPTIONS"; fi
		settle
		measure guards "$s" "$run" "SELECT * FROM ir_apply($BATCH)" "$(apply_check "$BATCH")"
	done
}

scenario_guards() {
	local r sentinels
	apply_prepare
	sentinels=$(seq -s, 1 100 | sed 's/\([0-9]*\)/{"id": \1}/g')
	GUARDS_OPTIONS='{"guards": {"blank": {"name": 0.01, "email": 0.01},
	  "orphans": [{"child": "public.t_child.t_id", "max_ratio": 1}],
	  "unchanged": ['"$sentinels"']}}'
	GUARDS_OPTIONS=$(tr -d '\n\t' <<<"$GUARDS_OPTIONS")
	say "guards: t $ROWS records, file $ROWS records, t_child $ROWS rows, 100 sentinels; $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1; r <= WARMUP; r++)); do guards_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do guards_round "$r" "$r/$RUNS"; done
	say "guards: spread (min-max s): ir_apply $(spread guards ir_apply), ir_apply+guards $(spread guards ir_apply+guards)"
	SUMMARY+=("guards: ir_apply with guards $(median guards ir_apply+guards) s vs without $(median guards ir_apply) s: $(ratios guards/ir_apply+guards guards/ir_apply) (target <= 1.05x)")
}

# ---------------------------------------------------------------------------
# Scenario: run
# ---------------------------------------------------------------------------
# Two members of ROWS/2 records each (half updates, half inserts) into ra
# and rb (ROWS/2 records each; rb.id references ra), applied by
# ir_run_apply in one transaction, against the same two batches (staged
# without a run) applied on their own, one after the other, each in its
# own transaction: the sum of the two.  Fresh tables for each subject.
RUN_FILE=
run_prepare() {
	t_template
	RUN_FILE=$FILES/run.csv
	reset_db "
COPY (SELECT * FROM bench_rows($((ROWS / 4 + 1)), $((ROWS / 4 + ROWS / 2)), 1))
  TO $(sql_lit "$RUN_FILE") (FORMAT csv, HEADER true);"
}

# run_setup RUN_ID_OR_EMPTY: fresh ra, rb and two validated batches A, B
RUN_A= RUN_B= RUN_ID=
run_setup() {
	local opts='{}' v
	reset_db "
$(fresh_extension_sql)
DROP TABLE IF EXISTS rb, ra;
CREATE TABLE ra ($T_COLS);
INSERT INTO ra SELECT * FROM t_tmpl WHERE id <= $((ROWS / 2));
ALTER TABLE ra ADD PRIMARY KEY (id);
CREATE TABLE rb ($T_COLS);
INSERT INTO rb SELECT * FROM t_tmpl WHERE id <= $((ROWS / 2));
ALTER TABLE rb ADD PRIMARY KEY (id), ADD FOREIGN KEY (id) REFERENCES ra;
VACUUM ANALYZE ra, rb;"
	RUN_ID=
	if [[ $1 == run ]]; then
		RUN_ID=$(psql_val "SELECT ir_run_create('bench')")
		opts="{\"run\": $RUN_ID}"
	fi
	RUN_B=$(psql_val "SELECT ir_stage_file('rb', $(sql_lit "$RUN_FILE"), '$opts')")
	RUN_A=$(psql_val "SELECT ir_stage_file('ra', $(sql_lit "$RUN_FILE"), '$opts')")
	run_validate "$RUN_A"
	# On their own, B's foreign key into ra holds only once A is applied:
	# run_round validates it then.  In a run it resolves against A's rows.
	[[ -z $RUN_ID ]] || run_validate "$RUN_B"
}

run_validate() {
	local v
	v=$(psql_val "SELECT state || ' ' || rows_valid FROM ir_validate($1, '$NO_MAPPING_CHECK')")
	[[ $v == "validated $((ROWS / 2))" ]] || die "run: batch $1 did not validate: $v"
}

run_check() {
	echo "SELECT CASE WHEN count(*) = 2 AND sum(inserted) = $((ROWS / 2)) AND sum(updated) = $((ROWS / 2))
	              THEN 'ok|' || pg_table_size('ra') + pg_table_size('rb')
	              ELSE 'bad|' || string_agg(concat_ws(' ', batch_id, state, inserted, updated, last_error), '; ') END
	        FROM ir_batches WHERE batch_id IN ($RUN_A, $RUN_B) AND state = 'applied'"
}

run_round() {
	local r=$1 run=$2 s subjects=(own ir_run_apply)
	((r % 2)) || subjects=(ir_run_apply own)
	for s in "${subjects[@]}"; do
		if [[ $s == own ]]; then
			run_setup own
			settle
			measure run own-a "$run" "SELECT * FROM ir_apply($RUN_A)" \
				"SELECT CASE WHEN state = 'applied' THEN 'ok|' || pg_table_size('ra') ELSE 'bad|' || state END FROM ir_batches WHERE batch_id = $RUN_A"
			run_validate "$RUN_B"
			settle
			measure run own-b "$run" "SELECT * FROM ir_apply($RUN_B)" "$(run_check)"
		else
			run_setup run
			settle
			measure run ir_run_apply "$run" "SELECT * FROM ir_run_apply($RUN_ID)" "$(run_check)"
		fi
	done
	[[ $run == warmup ]] && return 0
	# own = the two applies of the round, summed
	TIMES[run/own]+="$(awk -v a="$(last_time run/own-a)" -v b="$(last_time run/own-b)" 'BEGIN { printf "%.3f", a + b }') "
}

# last_time SCENARIO/SUBJECT -> the latest recorded time
last_time() { awk '{ print $NF }' <<<"${TIMES[$1]}"; }

scenario_run() {
	local r
	bench_prepare
	run_prepare
	say "run: two members of $((ROWS / 2)) records (half updates, half inserts) into ra and rb (rb references ra); $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1; r <= WARMUP; r++)); do run_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do run_round "$r" "$r/$RUNS"; done
	say "run: spread (min-max s): ir_run_apply $(spread run ir_run_apply), own (sum) $(spread run own)"
	SUMMARY+=("run: ir_run_apply $(median run ir_run_apply) s vs the two batches applied on their own $(median run own) s: $(ratios run/ir_run_apply run/own) (target <= 1.05x)")
}

# ---------------------------------------------------------------------------
# Scenario: cascade
# ---------------------------------------------------------------------------
# Three batches on t, each writing fields the one before wrote: a (the
# "apply" file: ROWS records, half updates, half inserts), b (new names
# of a's ROWS/2 inserted records), c (new names and emails of the same).
# ir_rollback(a, '{"cascade": true}') (plan and the three rollbacks, newest
# first, in one transaction) against the three single rollbacks c, b, a,
# each in its own transaction: the sum.  Fresh t for each subject.
CASCADE_B= CASCADE_C=
cascade_prepare() {
	apply_prepare
	CASCADE_B=$FILES/cascade_b.csv
	CASCADE_C=$FILES/cascade_c.csv
	reset_db "
COPY (SELECT id, name || ' b' AS name FROM bench_rows($((ROWS + 1)), $((ROWS / 2 + ROWS)), 1))
  TO $(sql_lit "$CASCADE_B") (FORMAT csv, HEADER true);
COPY (SELECT id, name || ' c' AS name, 'c' || email AS email FROM bench_rows($((ROWS + 1)), $((ROWS / 2 + ROWS)), 1))
  TO $(sql_lit "$CASCADE_C") (FORMAT csv, HEADER true);"
}

CASCADE_A=
cascade_setup() {
	local b v
	reset_db "
$(fresh_extension_sql)
$(t_create_sql t)
VACUUM ANALYZE t;"
	CASCADE_A=
	for f in "$APPLY_FILE" "$CASCADE_B" "$CASCADE_C"; do
		b=$(psql_val "SELECT ir_stage_file('t', $(sql_lit "$f"))")
		v=$(psql_val "SELECT state FROM ir_validate($b, '$NO_MAPPING_CHECK')")
		[[ $v == validated ]] || die "cascade: batch $b did not validate: $v"
		v=$(psql_val "SELECT inserted + updated FROM ir_apply($b)")
		[[ -n $v ]] || die "cascade: batch $b did not apply"
		CASCADE_A=${CASCADE_A:-$b}
	done
}

cascade_check() {
	echo "SELECT CASE WHEN (SELECT count(*) FROM ir_batches WHERE batch_id >= $CASCADE_A AND state = 'rolled_back') = $1
	              AND ($1 < 3 OR ((SELECT count(*) FROM t) = $ROWS AND NOT EXISTS (SELECT * FROM t EXCEPT SELECT * FROM t_tmpl)))
	              THEN 'ok|' || pg_table_size('t') ELSE 'bad|' || (SELECT count(*) FROM t) END"
}

cascade_round() {
	local r=$1 run=$2 s subjects=(singles cascade) a
	((r % 2)) || subjects=(cascade singles)
	for s in "${subjects[@]}"; do
		cascade_setup
		a=$CASCADE_A
		settle
		if [[ $s == singles ]]; then
			measure cascade single-c "$run" "SELECT * FROM ir_rollback($((a + 2)))" "$(cascade_check 1)"
			measure cascade single-b "$run" "SELECT * FROM ir_rollback($((a + 1)))" "$(cascade_check 2)"
			measure cascade single-a "$run" "SELECT * FROM ir_rollback($a)" "$(cascade_check 3)"
		else
			[[ $(psql_val "SELECT string_agg(batch_id::text, ',' ORDER BY step) FROM ir_rollback_plan($a)") == "$((a + 2)),$((a + 1)),$a" ]] ||
				die "cascade: the plan of batch $a is not c, b, a"
			measure cascade ir_rollback+cascade "$run" "SELECT * FROM ir_rollback($a, '{\"cascade\": true}')" "$(cascade_check 3)"
		fi
	done
	[[ $run == warmup ]] && return 0
	TIMES[cascade/singles]+="$(awk -v a="$(last_time cascade/single-a)" -v b="$(last_time cascade/single-b)" -v c="$(last_time cascade/single-c)" 'BEGIN { printf "%.3f", a + b + c }') "
}

scenario_cascade() {
	local r
	cascade_prepare
	say "cascade: a ($ROWS records), b and c ($((ROWS / 2)) records each, the same fields); $WARMUP warm-up + $RUNS timed rounds"
	for ((r = 1; r <= WARMUP; r++)); do cascade_round "$r" warmup; done
	for ((r = 1; r <= RUNS; r++)); do cascade_round "$r" "$r/$RUNS"; done
	say "cascade: spread (min-max s): cascade $(spread cascade ir_rollback+cascade), singles (sum) $(spread cascade singles)"
	SUMMARY+=("cascade: ir_rollback cascade of 3 batches $(median cascade ir_rollback+cascade) s vs the sum of their single rollbacks $(median cascade singles) s: $(ratios cascade/ir_rollback+cascade cascade/singles) (target <= 1.10x)")
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
# mem_sampler.sh PID OUT STOP: peak RssAnon + RssFile (MB) of PID, sampled
# every 20 ms until STOP exists or PID ends, written to OUT
cat >"$WORK/mem_sampler.sh" <<'SAMPLER'
peak=0
while [[ ! -e $3 ]] && kill -0 "$1" 2>/dev/null; do
	kb=$(awk '/^RssAnon:|^RssFile:/ { s += $2 } END { print s + 0 }' "/proc/$1/status" 2>/dev/null)
	((kb > peak)) && peak=$kb
	sleep 0.02
done
awk -v k="$peak" 'BEGIN { printf "%.1f\n", k / 1024 }' >"$2"
SAMPLER
SUMMARY=()
say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
copy_source
install_private_pg
build_extension
ensure_csv
start_cluster
say "server: $(psql_bench -At -c 'SELECT version()' | cut -d, -f1), port $PORT, data $PGDATA_DIR"
say "file: $CSV ($CSV_BYTES bytes)"
[[ -s $RESULTS ]] || printf 'time\tscenario\tsubject\trun\tseconds\tcommit_seconds\twal_bytes\ttable_bytes\trows\tcpu_busy_steal\tbackend_usage\n' >"$RESULTS"

for s in "${want[@]}"; do
	"scenario_${s//-/_}"
done

say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${SUMMARY[@]}"
