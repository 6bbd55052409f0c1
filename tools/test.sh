#!/usr/bin/env bash
# tools/test.sh -- THE test command of import_rollback:  bash tools/test.sh
#
# Run as root on a Debian 12 machine with PostgreSQL 15 from Debian.  It
#   1. installs what is missing with apt (postgresql-server-dev-15,
#      libipc-run-perl for the TAP tests, tmux for the client's terminal
#      test, build tools), skipping apt when all is present;
#   2. per PostgreSQL major, copies the tree (git-tracked + untracked files
#      that are not ignored) into a fresh temp dir owned by "postgres" (the
#      server and its TAP harness refuse to run as root) and there:
#        PG 15:    make clean && make (fails on any compiler warning),
#                  make install into the system PG 15, then runs the REGRESS,
#                  ISOLATION and TAP suites of the Makefile, each on its own,
#                  under pg_virtualenv (a throwaway cluster);
#        PG 17/18: tools/pgmajor.sh provision NN, then
#                  tools/pgmajor.sh installcheck NN <copy>;
#   3. checks the C module structure (tools/layers.sh: calls go down the
#      layers, no cycle, the owner's identity only in storage.c, every
#      SQLSTATE listed) and the PGXN metadata (tools/meta.sh), and counts
#      them;
#   4. counts every test that ran: each pg_regress / isolation test line
#      ("test x ... ok" / "FAILED", or PG 17+'s "ok N - x" / "not ok N - x")
#      and each TAP assertion ("ok N" / "not ok N" from prove -v);
#   5. prints "PG NN: P passed, F failed" per major and, as its very last
#      line, "P passed, F failed" over all majors.
# Exit status is 0 only if nothing failed, no build warned and every suite
# the Makefile defines ran.  A "SKIP:" for TAP on a major whose TAP harness
# cannot run is printed and counted neither way.
#
# Environment:
#   IR_PG_MAJORS="15 17 18"   majors to test (e.g. IR_PG_MAJORS=15)
#   IR_SUITE_TIMEOUT=600      seconds one suite may run before it is killed
#   IR_KEEP=1                 keep the temp dir (printed) for debugging
set -uo pipefail
umask 022

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
. "$TOOLS/lib.sh"
REPO=$IR_REPO
MAJORS=${IR_PG_MAJORS:-15 17 18}
SUITE_TIMEOUT=${IR_SUITE_TIMEOUT:-600}
PG15_BIN=/usr/lib/postgresql/15/bin

ir_require_root
for m in $MAJORS; do
	[[ $m =~ ^[0-9]+$ ]] || ir_die "IR_PG_MAJORS: bad major '$m'"
done

T0=$SECONDS
ir_heading "setup"
ir_ensure_packages postgresql-15 postgresql-client-15 postgresql-server-dev-15 libipc-run-perl tmux
id "$IR_PG_USER" >/dev/null 2>&1 || ir_die "user $IR_PG_USER does not exist (is postgresql-15 installed?)"

# One run at a time on this machine: runs share the system PG 15 install.
exec 8>/tmp/import_rollback-test.lock
flock -w 1800 8 || ir_die "another tools/test.sh run holds /tmp/import_rollback-test.lock"

WORK=$(mktemp -d /tmp/ir-test.XXXXXX)
chmod 755 "$WORK"
# temp files of the suites (pg_virtualenv's cluster, TAP's socket dirs,
# which a failing TAP test leaves behind) go here and are removed with it
mkdir -m 1777 "$WORK/tmp"

cleanup() {
	local d
	for d in "$WORK"/pg* "$WORK/tmp"; do
		[[ -d $d ]] && ir_stop_servers "$d"
	done
	ir_drop_work "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TOTAL_P=0
TOTAL_F=0
SUMMARY=()
# per major, set by run_*:
P=0
F=0
NOTES=()
EXPECT=""
TAP_NOTE=""

fail() { # fail N message...: count N failures that are not test lines
	local n=$1
	shift
	F=$((F + n))
	NOTES+=("FAIL: $*")
	echo "FAIL: $*"
}

# count_log LOG: per section (regress, isolation, tap) print
#   section passed failed skipped planned plan_lines
# A section starts at PGXS's "+++ <name> install-check" line ("# +++ ..."
# from PostgreSQL 17 on).
count_log() {
	awk '
	/^(# )?\+\+\+ regress install-check/   { s = "regress"; seen[s] = 1; next }
	/^(# )?\+\+\+ isolation install-check/ { s = "isolation"; seen[s] = 1; next }
	/^(# )?\+\+\+ tap install-check/       { s = "tap"; seen[s] = 1; next }
	s == "" { next }
	# PG <= 16 pg_regress / pg_isolation_regress: "test x ... ok", "     x ... FAILED"
	/^(test +| +)[^ ]+ +\.\.\. +(ok|FAILED|failed)/ {
		if ($0 ~ /\.\.\. +failed \(ignored\)/) skip[s]++
		else if ($0 ~ /\.\.\. +ok/) pass[s]++
		else fail[s]++
		next
	}
	# TAP: prove -v assertion lines and PG 17+ pg_regress lines (top level only)
	/^not ok [0-9]+/ {
		if ($0 ~ /# *TODO/) skip[s]++; else fail[s]++
		next
	}
	/^ok [0-9]+/ {
		if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) skip[s]++; else pass[s]++
		next
	}
	# a whole TAP file skipped (prove: "t/x.pl .... skipped: reason") is one skip
	/^[^ ]+\.pl \.+ skipped:/ { skip[s]++; plans[s]++; next }
	/^1\.\.[0-9]+/ { plan[s] += substr($1, 4) + 0; plans[s]++; next }
	END {
		for (s in seen)
			printf "%s %d %d %d %d %d\n", s, pass[s], fail[s], skip[s], plan[s], plans[s]
	}' "$1"
}

# judge MAJOR LOG "regress:N isolation:N tap:0|1" [SUITE_RCS]
# Adds the counts of LOG to P/F and checks that every expected suite ran
# completely.  SUITE_RCS is "regress:rc isolation:rc tap:rc" (native run) or
# "all:rc" (pgmajor run).
judge() {
	local major=$1 log=$2 expect=$3 rcs=$4
	local line s p f k plan nplans want rc e
	declare -A SP=() SF=() SK=() SPLAN=() SNPLANS=() SEEN=() WANT=() RC=()
	while read -r s p f k plan nplans; do
		[[ -n $s ]] || continue
		SEEN[$s]=1 SP[$s]=$p SF[$s]=$f SK[$s]=$k SPLAN[$s]=$plan SNPLANS[$s]=$nplans
	done < <(count_log "$log")
	for e in $expect; do WANT[${e%%:*}]=${e#*:}; done
	for e in $rcs; do RC[${e%%:*}]=${e#*:}; done

	for s in regress isolation tap; do
		want=${WANT[$s]:-0}
		[[ $want == 0 ]] && continue
		if [[ -z ${SEEN[$s]:-} ]]; then
			if [[ $s == tap ]] && grep -qi '^SKIP:.*TAP' "$log"; then
				line=$(grep -i '^SKIP:.*TAP' "$log" | head -n 1)
				echo "PG $major: TAP suite not run here: $line"
				NOTES+=("$line")
				continue
			fi
			[[ $s == tap ]] && want=1
			fail "$want" "PG $major: the $s suite did not run"
			continue
		fi
		P=$((P + SP[$s]))
		F=$((F + SF[$s]))
		[[ ${SK[$s]} -gt 0 ]] && echo "PG $major: $s: ${SK[$s]} skipped/ignored"
		local got=$((SP[$s] + SF[$s] + SK[$s]))
		if [[ $s == tap ]]; then
			want=${SPLAN[$s]}
			if [[ $got -eq 0 && ${SNPLANS[$s]} -eq 0 ]]; then
				fail 1 "PG $major: the TAP suite printed no assertion and no plan (prove not verbose?)"
				continue
			fi
		fi
		if [[ $got -lt $want ]]; then
			fail $((want - got)) "PG $major: $s: $want tests expected, only $got reported"
		fi
		rc=${RC[$s]:-0}
		if [[ $rc != 0 && ${SF[$s]} -eq 0 && $got -ge $want ]]; then
			fail 1 "PG $major: $s suite exited with status $rc without a failing test line"
		fi
	done
	rc=${RC[all]:-0}
	if [[ $rc != 0 && $F -eq 0 ]]; then
		fail 1 "PG $major: tools/pgmajor.sh installcheck exited with status $rc"
	fi
	# any other SKIP: is a suite that could not run
	while IFS= read -r line; do
		fail 1 "PG $major: $line"
	done < <(grep '^SKIP:' "$log" | grep -vi 'TAP')
}

# expected_suites DIR [make args]: sets EXPECT to "regress:N isolation:N
# tap:0|1", and TAP_NOTE when the Makefile enables TAP but there is no test
# file.
expected_suites() {
	local dir=$1 regress isolation tap prove_tests files=()
	shift
	regress=$(ir_mk_var "$dir" REGRESS "$@")
	isolation=$(ir_mk_var "$dir" ISOLATION "$@")
	tap=$(ir_mk_var "$dir" TAP_TESTS "$@")
	prove_tests=$(ir_mk_var "$dir" PROVE_TESTS "$@")
	TAP_NOTE=""
	if [[ -n $tap ]]; then
		# the globs prove's shell would expand
		local pat pats
		read -ra pats <<<"${prove_tests:-t/*.pl}"
		for pat in "${pats[@]}"; do
			mapfile -t -O "${#files[@]}" files < <(cd "$dir" && compgen -G "$pat")
		done
		if [[ ${#files[@]} -eq 0 ]]; then
			TAP_NOTE="TAP_TESTS is set but ${prove_tests:-t/*.pl} matches no file: no TAP suite to run"
			tap=""
		fi
	fi
	EXPECT="regress:$(wc -w <<<"$regress") isolation:$(wc -w <<<"$isolation") tap:$([[ -n $tap ]] && echo 1 || echo 0)"
}

show_failure_details() { # DIR
	local dir=$1 f
	for f in "$dir/regression.diffs" "$dir/output_iso/regression.diffs"; do
		if [[ -s $f ]]; then
			echo "----- ${f#"$dir"/} (first 400 lines) -----"
			head -n 400 "$f"
		fi
	done
	for f in "$dir"/tmp_check/log/regress_log_*; do
		if [[ -s $f ]]; then
			echo "----- ${f#"$dir"/} (last 80 lines) -----"
			tail -n 80 "$f"
		fi
	done
	for f in "$dir"/tmp_check/log/*.log; do
		if [[ -s $f ]]; then
			echo "----- ${f#"$dir"/} (server log, last 25 lines) -----"
			tail -n 25 "$f"
		fi
	done
}

# --------------------------------------------------------------------------
# PostgreSQL 15: the machine's own server, pg_virtualenv

run_15() {
	local dir=$WORK/pg15 log=$WORK/pg15.log expect rc
	ir_copy_tree "$REPO" "$dir"
	chown -R "$IR_PG_USER:" "$dir"

	echo "--- build (make clean && make)"
	(cd "$dir" && ir_as_pg make --no-print-directory clean >/dev/null 2>&1 &&
		ir_as_pg make --no-print-directory) >"$WORK/build15.log" 2>&1
	rc=$?
	if [[ $rc -ne 0 ]]; then
		cat "$WORK/build15.log"
		fail 1 "PG 15: build failed (make exited with $rc)"
		return
	fi
	if grep -q 'warning:' "$WORK/build15.log"; then
		echo "----- compiler warnings -----"
		grep -B 2 -A 3 'warning:' "$WORK/build15.log"
		fail 1 "PG 15: the build printed $(grep -c 'warning:' "$WORK/build15.log") warning(s)"
	else
		echo "build: ok, no warnings ($(grep -c -- ' -c ' "$WORK/build15.log") compiler runs)"
	fi

	echo "--- make install (system PostgreSQL 15)"
	if ! make --no-print-directory -C "$dir" install >"$WORK/install15.log" 2>&1; then
		cat "$WORK/install15.log"
		fail 1 "PG 15: make install failed"
		return
	fi

	expected_suites "$dir"
	expect=$EXPECT
	[[ -n $TAP_NOTE ]] && echo "note: $TAP_NOTE"
	echo "suites: $expect"

	# The suites run one after the other in one throwaway cluster, each on
	# its own so that one failing does not hide the others.
	local inner=$WORK/run15.sh
	cat >"$inner" <<-EOF
		cd '$dir' || exit 1
		unset PGDATABASE PGSERVICE PGOPTIONS top_builddir
		# wait (up to 2 min) for the server to accept connections: after a
		# crash in one suite the next one must not fail for that alone
		ready() { for i in \$(seq 120); do psql -XAtqc 'SELECT 1' postgres >/dev/null 2>&1 && return; sleep 1; done; }
		m() { ready; timeout -k 30 $SUITE_TIMEOUT make --no-print-directory "\$@" 8>&-; }
		rcs=""
		if [[ '$expect' != *regress:0* ]]; then
			m installcheck ISOLATION= TAP_TESTS=; rcs="\$rcs regress:\$?"
		fi
		if [[ '$expect' != *isolation:0* ]]; then
			m installcheck REGRESS= TAP_TESTS=; rcs="\$rcs isolation:\$?"
		fi
		if [[ '$expect' != *tap:0* ]]; then
			m installcheck REGRESS= ISOLATION= PROVE_FLAGS=-v; rcs="\$rcs tap:\$?"
		fi
		echo "\$rcs" > '$WORK/rcs15'
	EOF
	chmod 644 "$inner"
	: >"$WORK/rcs15"
	chown "$IR_PG_USER:" "$WORK/rcs15"
	echo "--- make installcheck under pg_virtualenv (PostgreSQL $("$PG15_BIN/postgres" --version | awk '{print $3}'))"
	(cd "$dir" && ir_as_pg env TMPDIR="$WORK/tmp" pg_virtualenv -v 15 bash "$inner" 8>&-) 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	ir_stop_servers "$dir" "$PG15_BIN"
	local rcs
	rcs=$(cat "$WORK/rcs15")
	if [[ -z $rcs && $rc -ne 0 ]]; then
		fail 1 "PG 15: pg_virtualenv exited with status $rc"
	fi
	local f0=$F
	judge 15 "$log" "$expect" "$rcs"
	[[ $F -gt $f0 || $rcs == *:[1-9]* ]] && show_failure_details "$dir"
}

# --------------------------------------------------------------------------
# PostgreSQL 17, 18, ...: tools/pgmajor.sh

run_other() {
	local major=$1 dir=$WORK/pg$1 log=$WORK/pg$1.log err=$WORK/pg$1.err pgm=$REPO/tools/pgmajor.sh
	local expect rc pgconfig
	if [[ ! -f $pgm ]]; then
		fail 1 "PG $major: tools/pgmajor.sh does not exist"
		return
	fi
	echo "--- tools/pgmajor.sh provision $major"
	bash "$pgm" provision "$major" 2>&1 8>&- | tee "$WORK/prov$major.log"
	rc=${PIPESTATUS[0]}
	if [[ $rc -ne 0 ]]; then
		fail 1 "PG $major: tools/pgmajor.sh provision $major failed (status $rc)"
		return
	fi
	pgconfig=$(tail -n 1 "$WORK/prov$major.log")
	echo "pg_config: $pgconfig ($("$pgconfig" --version 2>/dev/null))"

	ir_copy_tree "$REPO" "$dir"
	chown -R "$IR_PG_USER:" "$dir"
	expected_suites "$dir" PG_CONFIG="$pgconfig"
	expect=$EXPECT
	echo "suites: $expect"
	# prove -v so that every TAP assertion is printed and counted; no TAP
	# run at all when there is no TAP test file
	local mf="PROVE_FLAGS=-v"
	if [[ -n $TAP_NOTE ]]; then
		echo "note: $TAP_NOTE"
		mf="$mf TAP_TESTS="
	fi
	echo "--- tools/pgmajor.sh installcheck $major"
	# stdout (pg_regress, isolation and prove output) is parsed; stderr
	# (build output, diffs, logs) is shown and searched for warnings only
	MAKEFLAGS="$mf" TMPDIR="$WORK/tmp" timeout -k 60 $((3 * SUITE_TIMEOUT)) \
		bash "$pgm" installcheck "$major" "$dir" 2> >(tee "$err" >&2) 8>&- | tee "$log"
	rc=${PIPESTATUS[0]}
	wait 2>/dev/null # for the stderr tee
	sleep 0.2
	ir_stop_servers "$dir" "$(dirname "$pgconfig")"
	if [[ $rc -ne 0 && -z $(count_log "$log") ]]; then
		# nothing ran: one failure, with pgmajor's own reason
		fail 1 "PG $major: tools/pgmajor.sh installcheck failed before any suite ran (status $rc): $(grep -m 1 'ERROR' "$err" || true)"
		return
	fi
	if grep -q 'warning:' "$err"; then
		echo "----- compiler warnings (PG $major) -----"
		grep 'warning:' "$err"
		fail 1 "PG $major: the build printed $(grep -c 'warning:' "$err") warning(s)"
	fi
	judge "$major" "$log" "$expect" "all:$rc"
}

# --------------------------------------------------------------------------

# The C module structure (tools/layers.sh: calls go down the layers, no
# cycle, the owner's identity in storage.c only, the SQLSTATE table) and
# the PGXN metadata (tools/meta.sh): two checks, counted with the majors'.
ir_heading "structure"
for check in layers meta; do
	if bash "$TOOLS/$check.sh"; then
		TOTAL_P=$((TOTAL_P + 1))
		SUMMARY+=("structure: tools/$check.sh passed")
	else
		TOTAL_F=$((TOTAL_F + 1))
		SUMMARY+=("structure: tools/$check.sh FAILED")
	fi
done

for major in $MAJORS; do
	P=0 F=0 NOTES=()
	t=$SECONDS
	ir_heading "PostgreSQL $major"
	if [[ $major == 15 ]]; then
		run_15
	else
		run_other "$major"
	fi
	if [[ $((P + F)) -eq 0 ]]; then
		fail 1 "PG $major: no test ran"
	fi
	line="PG $major: $P passed, $F failed ($((SECONDS - t)) s)"
	echo "$line"
	SUMMARY+=("$line")
	for n in "${NOTES[@]}"; do SUMMARY+=("    $n"); done
	TOTAL_P=$((TOTAL_P + P))
	TOTAL_F=$((TOTAL_F + F))
done

cleanup >/dev/null 2>&1
trap - EXIT
ir_heading "summary ($((SECONDS - T0)) s)"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_P passed, $TOTAL_F failed"
[[ $TOTAL_F -eq 0 ]]
