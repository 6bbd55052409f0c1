#!/usr/bin/env bash
# tools/meta.sh -- check the PGXN metadata (META.json) against the tree:
#
#   bash tools/meta.sh [DIR [VERSION]]
#
# DIR is the top of a tree (default: this checkout; `make dist` passes the
# unpacked archive).  It checks that
#   1. DIR/META.json is valid JSON (with jq if installed, else python3);
#   2. it names a meta-spec 1.0.x and has the fields the spec requires
#      (name, version, abstract, maintainer, license, provides);
#   3. its "version" equals default_version of DIR's control file (and
#      VERSION, when given: `make dist` passes $(EXTVERSION));
#   4. "provides" has an entry for the control file's extension, every entry
#      has the same version, and every entry's "file" (and "docfile", if set)
#      exists in DIR; a file named EXT--X.sql must be the default_version's.
# Prints one "META.json: ok ..." line, or every problem found and exits 1.
# Needs no root and no PostgreSQL.
set -uo pipefail

PROG=tools/meta.sh
DIR=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
WANT_VERSION=${2:-}
META=$DIR/META.json
ERRORS=()

die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
problem() { ERRORS+=("$*"); }

[[ -d $DIR ]] || die "no such directory: $DIR"
[[ -f $META ]] || die "$META does not exist"

# the control file: exactly one *.control at the top of DIR
shopt -s nullglob
controls=("$DIR"/*.control)
shopt -u nullglob
[[ ${#controls[@]} -eq 1 ]] ||
	die "expected exactly one *.control file in $DIR, found ${#controls[@]}"
CONTROL=${controls[0]}
EXT=$(basename "$CONTROL" .control)
CTL_VERSION=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$CONTROL")
[[ -n $CTL_VERSION ]] || die "$CONTROL has no default_version = '...' line"

# META.json flattened to lines of fields separated by \x1f (unit separator,
# not whitespace, so empty fields stay fields):
#   field NAME VALUE            for the top-level scalars checked below
#   provides EXT FILE VERSION DOCFILE
if command -v jq >/dev/null 2>&1; then
	PARSER=jq
	flat=$(jq -r '
		def s: if . == null then "" elif type == "string" then . else tojson end;
		"field\u001fname\u001f\(.name | s)",
		"field\u001fversion\u001f\(.version | s)",
		"field\u001fabstract\u001f\(.abstract | s)",
		"field\u001fmaintainer\u001f\(.maintainer | s)",
		"field\u001flicense\u001f\(.license | s)",
		"field\u001fmeta-spec\u001f\(."meta-spec".version | s)",
		(.provides // {} | to_entries[] |
			"provides\u001f\(.key)\u001f\(.value.file | s)\u001f\(.value.version | s)\u001f\(.value.docfile | s)")
	' "$META" 2>&1) || die "$META is not valid JSON (jq): $flat"
elif command -v python3 >/dev/null 2>&1; then
	PARSER=python3
	python3 -m json.tool "$META" >/dev/null 2>"${TMPDIR:-/tmp}/meta-sh.$$" || {
		msg=$(cat "${TMPDIR:-/tmp}/meta-sh.$$")
		rm -f "${TMPDIR:-/tmp}/meta-sh.$$"
		die "$META is not valid JSON (python3 -m json.tool): $msg"
	}
	rm -f "${TMPDIR:-/tmp}/meta-sh.$$"
	flat=$(python3 - "$META" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
def s(v):
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v)
for k in ("name", "version", "abstract", "maintainer", "license"):
    print("field\x1f%s\x1f%s" % (k, s(m.get(k))))
print("field\x1fmeta-spec\x1f%s" % s((m.get("meta-spec") or {}).get("version")))
for name, p in (m.get("provides") or {}).items():
    p = p if isinstance(p, dict) else {}
    print("provides\x1f%s\x1f%s\x1f%s\x1f%s" % (name, s(p.get("file")), s(p.get("version")), s(p.get("docfile"))))
EOF
	) || die "cannot read $META with python3"
else
	die "neither jq nor python3 is installed (apt-get install jq)"
fi

declare -A F=()
PROVIDES=()
while IFS=$'\x1f' read -r kind a b c d; do
	case $kind in
	field) F[$a]=$b ;;
	provides) PROVIDES+=("$a"$'\x1f'"$b"$'\x1f'"$c"$'\x1f'"$d") ;;
	esac
done <<<"$flat"

for k in name version abstract maintainer license; do
	[[ -n ${F[$k]:-} ]] || problem "META.json has no \"$k\""
done
[[ ${F[meta-spec]:-} =~ ^1\.0\.[0-9]+$ ]] ||
	problem "META.json meta-spec version is '${F[meta-spec]:-}', expected 1.0.x"

VERSION=${F[version]:-}
if [[ $VERSION != "$CTL_VERSION" ]]; then
	problem "META.json version '$VERSION' != default_version '$CTL_VERSION' of ${CONTROL##*/}"
fi
if [[ -n $WANT_VERSION && $VERSION != "$WANT_VERSION" ]]; then
	problem "META.json version '$VERSION' != the expected '$WANT_VERSION'"
fi

seen_ext=""
for p in "${PROVIDES[@]}"; do
	IFS=$'\x1f' read -r name file pver doc <<<"$p"
	[[ $name == "$EXT" ]] && seen_ext=1
	if [[ -z $file ]]; then
		problem "provides.$name has no \"file\""
	elif [[ ! -f $DIR/$file ]]; then
		problem "provides.$name.file '$file' does not exist"
	elif [[ $file =~ ^(.*/)?$EXT--([^-]+)\.sql$ && ${BASH_REMATCH[2]} != "$CTL_VERSION" ]]; then
		problem "provides.$name.file '$file' is not the install script of default_version $CTL_VERSION ($EXT--$CTL_VERSION.sql)"
	fi
	if [[ $pver != "$VERSION" ]]; then
		problem "provides.$name.version '$pver' != META.json version '$VERSION'"
	fi
	if [[ -n $doc && ! -f $DIR/$doc ]]; then
		problem "provides.$name.docfile '$doc' does not exist"
	fi
done
[[ ${#PROVIDES[@]} -gt 0 ]] || problem "META.json has no \"provides\" entry"
[[ -n $seen_ext || ${#PROVIDES[@]} -eq 0 ]] ||
	problem "META.json provides no \"$EXT\" (the extension of ${CONTROL##*/})"

if [[ ${#ERRORS[@]} -gt 0 ]]; then
	for e in "${ERRORS[@]}"; do printf '%s: ERROR: %s\n' "$PROG" "$e" >&2; done
	printf '%s: %s: %d problem(s)\n' "$PROG" "$META" "${#ERRORS[@]}" >&2
	exit 1
fi
echo "META.json: ok ($EXT $VERSION = ${CONTROL##*/} default_version; ${#PROVIDES[@]} provides entr$([[ ${#PROVIDES[@]} -eq 1 ]] && echo y || echo ies), files present; parsed with $PARSER)"
