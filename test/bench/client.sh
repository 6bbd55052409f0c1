#!/usr/bin/env bash
# test/bench/client.sh -- the command-line client's staging throughput and
# memory, against the ways a client can already load the same file.
#
# Usage (as root; it builds the tree into a private copy of PostgreSQL 15
# and runs a throwaway cluster as postgres, like test/bench/run.sh):
#   test/bench/client.sh [--rows N] [--runs N] [--warmup N] [--ref GITREF] [--keep]
#
# Subjects, each a fresh client process timed from the shell (wall clock,
# process start and connection included) on the same cached CSV of ROWS
# customers (test/bench/gen_customers.py, 1,000,000 rows by default, about
# 78 MB, shared with run.sh's cache in test/bench/data):
#   stage      import_rollback stage FILE -t customers
#              (1 MB lo_write()s into a large object and
#              ir_stage_large_object, one transaction)
#   stage -P   the same with progress (a second connection polls
#              pg_stat_progress_copy once a second)
#   lo_import  psql: \lo_import FILE, then SELECT ir_stage_large_object(...,
#              :LASTOID) in the same session (the README's psql way)
#   \copy      psql: \copy customers_text FROM FILE (FORMAT csv, HEADER):
#              the plain load of the file into an all-text table, no batch
#   lo write   psql: SELECT lo_from_bytea(0, pg_read_binary_file(FILE)), the
#              server writing the file into a large object and nothing
#              else: the least any large-object upload costs (shown to
#              explain the ratio to \copy)
# Every round runs each subject once, in a rotating order, each after
# CHECKPOINT and sync; batches are cancelled and purged between runs.
# Printed: per round the seconds and each process's peak RSS (GNU time's
# %M), then per subject the median and best, and the ratios of stage to
# lo_import and to \copy by medians, paired per round (the median of the
# round ratios) and best runs, beside the issue's targets (<= 1.15 and
# <= 1.5).  Nothing is asserted: the machine is noisy; read the ratios.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
DATA_DIR=$BENCH_DIR/data
SYS_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_USER=postgres
DB=bench
ROWS=1000000
RUNS=7
WARMUP=1
REF=
KEEP=0

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
say() { printf '%s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
	case $1 in
		--rows) ROWS=$2; shift 2 ;;
		--runs) RUNS=$2; shift 2 ;;
		--warmup) WARMUP=$2; shift 2 ;;
		--ref) REF=$2; shift 2 ;;
		--keep) KEEP=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $ROWS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] ||
	die "--rows and --runs take positive whole numbers, --warmup a whole number"
[[ $EUID -eq 0 ]] || die "run as root: it builds, installs and starts a cluster as $PG_USER"
[[ -x $SYS_PG_CONFIG ]] || die "no pg_config at $SYS_PG_CONFIG"
# shellcheck source=tools/lib.sh
. "$REPO/tools/lib.sh"
[[ -x /usr/bin/time ]] || ir_ensure_packages time

WORK=$(mktemp -d /tmp/ir-bench-client.XXXXXX)
chmod 755 "$WORK"
INST=$WORK/inst
PGDATA_DIR=$WORK/pgdata
SOCK=$WORK/sock
BUILD=$WORK/src
PG_BIN=
PORT=

cleanup() {
	local rc=$?
	if [[ $KEEP -eq 1 && -n $PORT ]]; then
		say "kept: $WORK (cluster: psql -h $SOCK -p $PORT -U $PG_USER $DB)"
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

# --- build: the work tree (or --ref) into a private copy of PostgreSQL -------
mkdir -p "$BUILD"
if [[ -n $REF ]]; then
	git -c safe.directory='*' -C "$REPO" archive "$REF" | tar -xf - -C "$BUILD"
	SRC_DESC="git $REF ($(git -c safe.directory='*' -C "$REPO" rev-parse --short "$REF"))"
else
	ir_copy_tree "$REPO" "$BUILD"
	SRC_DESC="work tree at $(git -c safe.directory='*' -C "$REPO" rev-parse --short HEAD)"
fi
bindir=$("$SYS_PG_CONFIG" --bindir)
sharedir=$("$SYS_PG_CONFIG" --sharedir)
mkdir -p "$INST$(dirname "${bindir%/bin}")" "$INST$(dirname "$sharedir")"
cp -a "${bindir%/bin}" "$INST$(dirname "${bindir%/bin}")/"
cp -a "$sharedir" "$INST$(dirname "$sharedir")/"
PG_BIN=$INST$bindir
say "building import_rollback and its client from $SRC_DESC"
make -C "$BUILD" -j2 PG_CONFIG="$SYS_PG_CONFIG" >"$WORK/build.log" 2>&1 ||
	{ tail -n 30 "$WORK/build.log" >&2; die "build failed"; }
make -C "$BUILD" PG_CONFIG="$SYS_PG_CONFIG" DESTDIR="$INST" install >>"$WORK/build.log" 2>&1 ||
	{ tail -n 30 "$WORK/build.log" >&2; die "make install failed"; }
CLIENT=$PG_BIN/import_rollback
[[ -x $CLIENT ]] || die "the client was not installed ($CLIENT)"

# --- the file ---------------------------------------------------------------
CSV=$DATA_DIR/customers_$ROWS.csv
mkdir -p "$DATA_DIR"
if [[ ! -s $CSV || $BENCH_DIR/gen_customers.py -nt $CSV ]]; then
	say "generating $CSV"
	python3 "$BENCH_DIR/gen_customers.py" "$ROWS" "$CSV"
fi
chmod 644 "$CSV"
chmod 755 "$DATA_DIR"
runuser -u "$PG_USER" -- test -r "$CSV" || die "$PG_USER cannot read $CSV"
CSV_BYTES=$(stat -c %s "$CSV")
cat "$CSV" >/dev/null   # in the page cache for every subject alike

# --- the cluster (run.sh's settings) ----------------------------------------
PORT=$(ir_free_port) || die "no free port"
mkdir -p "$PGDATA_DIR" "$SOCK"
chown "$PG_USER" "$PGDATA_DIR" "$SOCK" "$WORK"
runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_USER" -A trust \
	-E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA_DIR/postgresql.conf" <<-EOF

	# --- test/bench/client.sh (as test/bench/run.sh) ---
	listen_addresses = ''
	port = $PORT
	unix_socket_directories = '$SOCK'
	shared_buffers = 1GB
	max_wal_size = 8GB
	min_wal_size = 2GB
	checkpoint_timeout = 30min
	wal_level = replica
	autovacuum = off
EOF
runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$SOCK/server.log" -w -t 120 start >/dev/null ||
	{ tail -n 20 "$SOCK/server.log" >&2; die "the cluster did not start"; }

as_pg() { runuser -u "$PG_USER" -- env PGHOST="$SOCK" PGPORT="$PORT" PGUSER="$PG_USER" PGDATABASE="$DB" "$@"; }
psql_val() { as_pg "$PG_BIN/psql" -X -At -q -v ON_ERROR_STOP=1 -c "$1"; }
runuser -u "$PG_USER" -- "$PG_BIN/createdb" -h "$SOCK" -p "$PORT" "$DB"
psql_val "
CREATE EXTENSION import_rollback;
CREATE TABLE customers (
    id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, phone text,
    country char(2), signup_date date, credit_limit numeric(12,2), notes text);
CREATE TABLE customers_text (
    id text, email text, name text, phone text, country text,
    signup_date text, credit_limit text, notes text);" >/dev/null
say "server: $(psql_val 'SELECT version()' | cut -d, -f1), port $PORT"
say "file: $CSV ($CSV_BYTES bytes, $ROWS rows)"

# between runs: no batch, no staging table, no large object, no text rows;
# then a checkpoint, so each run starts alike
reset() {
	psql_val "
SELECT count(ir_cancel(batch_id, 'bench')) FROM ir_batches WHERE state IN ('received', 'staged', 'validated');
SELECT count(*) FROM ir_purge('0 seconds');
SELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata;
TRUNCATE customers_text;
CHECKPOINT;" >/dev/null
	sync
}

# the newest batch must hold every row: "ok" or what is wrong
check_batch() {
	psql_val "SELECT CASE WHEN state = 'staged' AND rows_total = $ROWS AND rows_rejected = 0 THEN 'ok'
	                      ELSE format('batch %s: %s, %s rows, %s rejected', batch_id, state, rows_total, rows_rejected) END
	            FROM ir_batches ORDER BY batch_id DESC LIMIT 1"
}

SUBJECTS=(stage stage-P lo_import copy lo_write)
declare -A LABEL=([stage]="import_rollback stage" [stage-P]="import_rollback stage -P"
	[lo_import]="psql \\lo_import + ir_stage_large_object" [copy]="psql \\copy into a text table"
	[lo_write]="lo_from_bytea: the large object write alone")
declare -A SECS=() RSS=()

# run_subject NAME ROUND: time one run; record seconds and peak RSS (kB)
run_subject() {
	local s=$1 round=$2 t0 t1 secs rss
	reset
	t0=$(date +%s.%N)
	case $s in
		stage)
			as_pg /usr/bin/time -f '%M' -o "$WORK/rss" "$CLIENT" stage "$CSV" -t customers >/dev/null 2>"$WORK/err" ||
				{ cat "$WORK/err" >&2; die "stage failed"; } ;;
		stage-P)
			as_pg /usr/bin/time -f '%M' -o "$WORK/rss" "$CLIENT" stage "$CSV" -t customers -P >/dev/null 2>"$WORK/err" ||
				{ cat "$WORK/err" >&2; die "stage -P failed"; } ;;
		lo_import)
			printf '\\lo_import %s\nSELECT ir_stage_large_object('"'customers', 'customers.csv'"', :LASTOID);\n' "'$CSV'" |
				as_pg /usr/bin/time -f '%M' -o "$WORK/rss" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 >/dev/null 2>"$WORK/err" ||
				{ cat "$WORK/err" >&2; die "lo_import failed"; } ;;
		copy)
			as_pg /usr/bin/time -f '%M' -o "$WORK/rss" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
				-c "\\copy customers_text FROM '$CSV' WITH (FORMAT csv, HEADER true)" >/dev/null 2>"$WORK/err" ||
				{ cat "$WORK/err" >&2; die "\\copy failed"; } ;;
		lo_write)
			as_pg /usr/bin/time -f '%M' -o "$WORK/rss" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
				-c "SELECT lo_from_bytea(0, pg_read_binary_file('$CSV'))" >/dev/null 2>"$WORK/err" ||
				{ cat "$WORK/err" >&2; die "lo_from_bytea failed"; } ;;
	esac
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	rss=$(tail -n 1 "$WORK/rss")
	if [[ $s == copy ]]; then
		[[ $(psql_val 'SELECT count(*) FROM customers_text') == "$ROWS" ]] || die "\\copy loaded a wrong count"
	elif [[ $s == lo_write ]]; then
		[[ $(psql_val 'SELECT sum(length(data)) FROM pg_largeobject') == "$CSV_BYTES" ]] || die "lo_from_bytea wrote a wrong size"
	else
		local ok
		ok=$(check_batch)
		[[ $ok == ok ]] || die "$s: $ok"
	fi
	if [[ $round != warmup ]]; then
		SECS[$s]+="$secs "
		RSS[$s]+="$rss "
	fi
	printf '  %-44s %7.3f s   peak RSS %6.1f MB\n' "${LABEL[$s]}" "$secs" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
}

say "$WARMUP warm-up + $RUNS timed rounds, subjects in a rotating order"
for ((r = 1 - WARMUP; r <= RUNS; r++)); do
	if ((r < 1)); then round=warmup; else round=$r/$RUNS; fi
	say "round $round"
	n=${#SUBJECTS[@]}
	for ((i = 0; i < n; i++)); do
		run_subject "${SUBJECTS[$(((i + r + n) % n))]}" "$round"
	done
done

# --- figures ------------------------------------------------------------------
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | head -n 1; }
peak() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | tail -n 1; }
# paired A B: the median over rounds of A's run / B's run
paired() {
	paste <(tr ' ' '\n' <<<"$1" | sed '/^$/d') <(tr ' ' '\n' <<<"$2" | sed '/^$/d') |
		awk '{ print $1 / $2 }' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say ""
say "file: $ROWS rows, $(awk -v b="$CSV_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MB; $RUNS timed rounds; $SRC_DESC"
printf '%-46s %9s %9s %14s\n' "subject" "median" "best" "peak RSS"
for s in "${SUBJECTS[@]}"; do
	printf '%-46s %7.3f s %7.3f s %11.1f MB\n' "${LABEL[$s]}" "$(median "${SECS[$s]}")" "$(best "${SECS[$s]}")" \
		"$(awk -v k="$(peak "${RSS[$s]}")" 'BEGIN { print k / 1024 }')"
done
say ""
printf '%-46s %-28s %s\n' "ratio" "median / paired / best" "target"
for pair in "stage lo_import 1.15" "stage copy 1.5" "stage-P lo_import 1.15" "stage-P copy 1.5" "lo_write copy -"; do
	read -r a b target <<<"$pair"
	printf '%-46s %-28s %s\n' "${LABEL[$a]} / ${b/copy/\\copy}" \
		"$(ratio "$(median "${SECS[$a]}")" "$(median "${SECS[$b]}")") / $(paired "${SECS[$a]}" "${SECS[$b]}") / $(ratio "$(best "${SECS[$a]}")" "$(best "${SECS[$b]}")")" \
		"$([[ $target == - ]] && echo "(the floor of any large-object path)" || echo "<= $target")"
done
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
