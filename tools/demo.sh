#!/usr/bin/env bash
# tools/demo.sh -- import_rollback's main job end to end:  bash tools/demo.sh
#
# As root on a Debian 12 machine with PostgreSQL 15 from Debian: installs
# what is missing (apt), builds and installs the extension into the system
# PostgreSQL 15, starts a throwaway cluster as "postgres" (initdb into a temp
# dir, unix socket only, in that dir), runs tools/demo.sql in psql, and tears
# the cluster down.  The demo stages test/fixtures/demo_customers.csv (a
# messy customers export) with ir_stage_file and a second, clean export
# (tools/demo_customers_week2.csv) through the client path (ir_stage_begin,
# COPY ... FROM STDIN fed by psql, ir_stage_finish); validation, review,
# apply and rollback steps run as soon as the extension has them.
#
# Environment:  IR_KEEP=1  keep the temp dir (cluster stopped) for a look.
set -euo pipefail
umask 022

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
. "$TOOLS/lib.sh"
REPO=$IR_REPO
PGBIN=/usr/lib/postgresql/15/bin

ir_require_root
ir_heading "setup: packages"
ir_ensure_packages postgresql-15 postgresql-client-15 postgresql-server-dev-15
echo "ok"

WORK=$(mktemp -d /tmp/ir-demo.XXXXXX)
chmod 755 "$WORK"
CLUSTER_UP=""
cleanup() {
	if [[ -n $CLUSTER_UP ]]; then
		ir_as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 ||
			ir_as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
		CLUSTER_UP=""
	fi
	ir_drop_work "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ir_heading "setup: build and install the extension (PostgreSQL 15)"
SRC=$WORK/src
ir_copy_tree "$REPO" "$SRC"
chown -R "$IR_PG_USER:" "$WORK"
if ! ir_as_pg make --no-print-directory -C "$SRC" >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	ir_die "build failed"
fi
grep 'warning:' "$WORK/build.log" || true
# (the lock keeps this from racing a tools/test.sh run's install)
if ! flock -w 1800 /tmp/import_rollback-test.lock \
	make --no-print-directory -C "$SRC" install >"$WORK/install.log" 2>&1; then
	cat "$WORK/install.log"
	ir_die "make install failed"
fi
echo "installed into $("$PGBIN/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)"

ir_heading "setup: throwaway PostgreSQL 15 cluster"
PORT=$(ir_free_port) || ir_die "no free port"
ir_as_pg mkdir "$WORK/sock"
ir_as_pg "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
	>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; ir_die "initdb failed"; }
ir_as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 120 \
	-o "-c port=$PORT -c listen_addresses='' -c unix_socket_directories='$WORK/sock' -c fsync=off" \
	start >/dev/null || { cat "$WORK/server.log"; ir_die "the cluster did not start"; }
CLUSTER_UP=1
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on socket $WORK/sock, port $PORT"

export PGHOST=$WORK/sock PGPORT=$PORT PGUSER=postgres PGCLIENTENCODING=UTF8
unset PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD
ir_as_pg "$PGBIN/createdb" demo

# The fixture is read by the server (ir_stage_file): use the copy the
# postgres user owns.  The week-2 file is read by the client (psql).
FILE=$SRC/test/fixtures/demo_customers.csv
WEEK2=$SRC/tools/demo_customers_week2.csv
[[ -f $FILE ]] || ir_die "missing $FILE"
[[ -f $WEEK2 ]] || ir_die "missing $WEEK2"

ir_heading "demo (tools/demo.sql)"
rc=0
ir_as_pg env PGDATABASE=demo IR_DEMO_WEEK2="$WEEK2" \
	"$PGBIN/psql" -X -v ON_ERROR_STOP=1 \
	-v file="$FILE" -v week2="$WEEK2" -v week2_header="$(head -n 1 "$WEEK2")" \
	-v week2_bytes="$(stat -c %s "$WEEK2")" -v week2_sha256="$(sha256sum "$WEEK2" | cut -d' ' -f1)" \
	-f "$SRC/tools/demo.sql" 2>&1 || rc=$?

if [[ $rc -ne 0 ]]; then
	echo "--- server log (tail)"
	tail -n 30 "$WORK/server.log"
	ir_heading "demo FAILED (psql exited with status $rc)"
	exit "$rc"
fi
cleanup
trap - EXIT
ir_heading "demo finished; cluster stopped and removed"
