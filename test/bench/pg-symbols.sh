#!/usr/bin/env bash
# test/bench/pg-symbols.sh -- build PostgreSQL 15 with symbols, for profiles.
#
# Usage (as root):
#   test/bench/pg-symbols.sh [PREFIX]
#
# Debian's postgres binary is stripped and its debug symbols are not in the
# archives this machine reaches, so perf and callgrind name only exported
# functions (COPY's line and field splitters, static, show as addresses).
# This fetches Debian bookworm's PostgreSQL 15 source with apt-get source
# (through a private apt configuration: the machine's sources are left
# alone), builds it with Debian's optimisation flags (-O2, frame pointers)
# plus -g and OpenSSL (SHA-256 runs the same code as in Debian's build),
# and installs it into PREFIX (default test/bench/data/pg15-symbols,
# gitignored).  The last line printed is the pg_config to pass on:
#
#   test/bench/run.sh --pg-config "$(test/bench/pg-symbols.sh | tail -n 1)" stage-profile
#
# Takes about 5 minutes on 2 cores the first time; later runs reuse the
# installation.  The minor version is bookworm's (e.g. 15.18), which may
# trail the installed server's security update: fine for profiles, which
# compare COPY with the extension on the same build; the timed "stage"
# scenario keeps using the system's server.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${1:-$BENCH_DIR/data/pg15-symbols}
WORK=$BENCH_DIR/data/pg15-build

die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root"

if [[ -x $PREFIX/bin/pg_config && -x $PREFIX/bin/postgres ]]; then
	echo "$PREFIX/bin/pg_config"
	exit 0
fi

mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
cat >"$WORK/apt/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
EOF
apt_opts=(-o Dir::Etc::SourceList="$WORK/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache"
	-o APT::Sandbox::User=root)
echo "fetching the postgresql-15 source package" >&2
apt-get "${apt_opts[@]}" -q update >/dev/null
(cd "$WORK/src" && apt-get "${apt_opts[@]}" -q source --download-only postgresql-15 >/dev/null)
tarballs=("$WORK"/src/postgresql-15_*.orig.tar.bz2)
orig=${tarballs[-1]}
[[ -f $orig ]] || die "no postgresql-15 source tarball downloaded"
tar -xjf "$orig" -C "$WORK/src"
srcdirs=("$WORK"/src/postgresql-15.*/)
srcdir=${srcdirs[-1]}

echo "building $(basename "$srcdir") into $PREFIX (log: $WORK/build.log)" >&2
(
	cd "$srcdir"
	./configure --prefix="$PREFIX" --with-openssl --without-readline --without-icu \
		--with-system-tzdata=/usr/share/zoneinfo \
		CFLAGS="-g -O2 -fstack-protector-strong -fno-omit-frame-pointer"
	make -j"$(nproc)"
	make install
) >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; die "build failed"; }
rm -rf "$WORK/src" "$WORK/apt"     # ~400 MB of sources and objects
echo "$PREFIX/bin/pg_config"
