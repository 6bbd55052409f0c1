#!/usr/bin/env bash
# tools/layers.sh -- check the C module structure of src/ (README, Project
# layout): which file calls which, that each call goes to the caller's
# layer or a lower one, that no two files call each other
# (directly or round a cycle), that only storage.c takes another role's
# identity or grants, and that every SQLSTATE the code raises is listed in
# src/errors.h and README.  Prints the call graph; exits 1 when a check
# fails.  Run by tools/test.sh.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../src" && pwd)
cd "$SRC"

# function -> file that defines it (non-static, at the start of a line)
declare -A defined_in=()
for f in *.c; do
	while read -r fn; do
		defined_in[$fn]=${f%.c}
	done < <(awk '/^static/ { s = 1; next } /^[a-z_][a-z0-9_]*\(/ { if (!s) { sub(/\(.*/, ""); print } } { s = 0 }' "$f")
done

edges=$(for f in *.c; do
	me=${f%.c}
	# calls in C (not names in SQL text: import_rollback.ir_cast(...))
	{ perl -0777 -pe 's{/\*.*?\*/}{}gs; s{"(?:[^"\\]|\\.)*"}{""}g' "$f" |
		grep -oP '(?<![.\w])ir_[a-z0-9_]*\(' || true; } | tr -d '(' | sort -u | while read -r fn; do
		to=${defined_in[$fn]:-}
		if [[ -n $to && $to != "$me" ]]; then echo "$me $to"; fi
	done
done | sort -u)

echo "calls (file -> files it calls):"
for f in *.c; do
	me=${f%.c}
	callees=$(awk -v m="$me" '$1 == m { printf "%s ", $2 }' <<<"$edges")
	printf '  %-16s -> %s\n' "$me" "${callees:-(none)}"
done

# each file's layer (README, Project layout); a file calls its own layer or lower ones
declare -A layer=(
	[import_rollback]=5
	[stage]=4 [validate]=4 [rules]=4 [typecheck]=4 [cellcheck]=4 [rowcheck]=4 [mapcheck]=4 [livecheck]=4 [collect]=4 [guards]=4 [run]=4 [cascade]=4
	[review]=4 [apply]=4 [rollback]=4 [drill]=4 [reports]=4 [purge]=4
	[catalog]=3 [target]=3 [mapping]=3 [changelog]=3
	[storage]=2
	[options]=1 [settings]=1 [state]=1 [sqlgen]=1 [exec]=1 [convert]=1 [transform]=1 [lookup]=1 [pending]=1 [formats]=1 [compat]=1
)
status=0
for f in *.c; do
	if [[ -z ${layer[${f%.c}]:-} ]]; then
		echo "FAIL: $f has no layer: add it to tools/layers.sh and README (Project layout)"
		status=1
	fi
done
while read -r from to; do
	[[ -z $from || -z ${layer[$from]:-} || -z ${layer[$to]:-} ]] && continue
	if (( layer[$to] > layer[$from] )); then
		echo "FAIL: $from.c (layer ${layer[$from]}) calls up into $to.c (layer ${layer[$to]})"
		status=1
	fi
done <<<"$edges"
if ! tsort <<<"$edges" >/dev/null 2>/tmp/ir-layers.$$; then
	echo "FAIL: the calls between files form a cycle:"
	sed 's/^/  /' /tmp/ir-layers.$$
	status=1
fi
rm -f /tmp/ir-layers.$$

# the extension owner's identity (and any other role's) is taken in storage.c only
if grep -n 'SetUserIdAndSecContext\|GRANT \|REVOKE ' -- *.c | grep -v '^storage\.c:' | grep -v '^\S*:[0-9]*:\s*\*'; then
	echo "FAIL: an identity switch or a grant outside storage.c (above)"
	status=1
fi
# every SQLSTATE raised is in src/errors.h, and README's table has the same codes
used=$(grep -oh 'errcode(ERRCODE_[A-Z0-9_]*' -- *.c | sed 's/^errcode(ERRCODE_//' | tr 'A-Z' 'a-z' | sort -u)
listed=$(sed -n 's/^ \*\t  [0-9A-Z]\{5\} \([a-z_]*\).*/\1/p' errors.h | sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$listed"))
if [[ -n $missing ]]; then
	echo "FAIL: SQLSTATEs raised but not listed in src/errors.h: $missing"
	status=1
fi
codes_h=$(sed -n 's/^ \*\t  \([0-9A-Z]\{5\}\) .*/\1/p' errors.h | sort -u)
codes_readme=$(sed -n '/^Every user error is an/,/^## /p' ../README.md | sed -n 's/^| \([0-9A-Z]\{5\}\) |.*/\1/p' | sort -u)
if [[ $codes_h != "$codes_readme" ]]; then
	echo "FAIL: README's SQLSTATE table and src/errors.h differ:"
	diff <(echo "$codes_h") <(echo "$codes_readme") | sed 's/^/  /'
	status=1
fi
[[ $status -eq 0 ]] && echo "layers: every call goes down or across, no cycle; identity switches and grants only in storage.c; SQLSTATEs listed"
exit $status
