# shellcheck shell=bash
# tools/lib.sh -- helpers shared by tools/test.sh and tools/demo.sh.
# Sourced, not run.  Everything here is plain bash; no side effects on load
# beyond defining functions and IR_REPO.

IR_REPO=${IR_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
IR_PG_USER=${IR_PG_USER:-postgres}

ir_say() { printf '%s\n' "$*"; }
ir_heading() { printf '\n===== %s =====\n' "$*"; }
ir_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

ir_require_root() {
	[[ $EUID -eq 0 ]] || ir_die "run this as root: it installs packages and the extension into the system PostgreSQL"
}

# Is a Debian package installed?
ir_pkg_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# ir_ensure_packages PKG...: install whatever of PKG... is missing (plus
# build-essential if gcc or make is missing).  No apt at all when everything
# is present.
ir_ensure_packages() {
	local p missing=()
	for p in "$@"; do
		ir_pkg_installed "$p" || missing+=("$p")
	done
	if ! command -v gcc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
		missing+=(build-essential)
	fi
	[[ ${#missing[@]} -eq 0 ]] && return 0
	ir_say "installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	local apt=(apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold)
	"${apt[@]}" update >/dev/null || ir_die "apt-get update failed"
	"${apt[@]}" install --no-install-recommends "${missing[@]}" >/tmp/ir-apt.log 2>&1 ||
		{ tail -n 40 /tmp/ir-apt.log >&2; ir_die "apt-get install ${missing[*]} failed"; }
	rm -f /tmp/ir-apt.log
}

# ir_copy_tree SRC DEST: copy the source tree (git-tracked files plus
# untracked, not ignored ones; no build products) into DEST.
ir_copy_tree() {
	local src=$1 dest=$2
	mkdir -p "$dest"
	if git -c safe.directory='*' -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$src" &&
			git -c safe.directory='*' ls-files -z -co --exclude-standard |
			while IFS= read -r -d '' f; do
				# tracked files deleted in the work tree are still listed
				[[ -e $f || -L $f ]] && printf '%s\0' "$f"
			done | tar --null -T - -cf -) | tar -xf - -C "$dest"
	else
		tar -C "$src" -cf - \
			--exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
			--exclude=./results --exclude=./output_iso --exclude=./tmp_check \
			--exclude=./tmp_check_iso --exclude=./log --exclude=./build \
			--exclude=./regression.diffs --exclude=./regression.out . |
			tar -xf - -C "$dest"
	fi
}

# ir_as_pg CMD...: run as the unprivileged server user.
ir_as_pg() { runuser -u "$IR_PG_USER" -- "$@"; }

# ir_mk_var DIR VAR [make args...]: value of a make variable of DIR's Makefile.
ir_mk_var() {
	local dir=$1 var=$2 helper
	shift 2
	helper=$(mktemp /tmp/ir-print.XXXXXX.mk)
	# shellcheck disable=SC2016  # make syntax
	printf 'ir-print-%%:\n\t@echo $($*)\n' >"$helper"
	chmod 644 "$helper"
	make -s --no-print-directory -C "$dir" -f Makefile -f "$helper" "$@" "ir-print-$var" 2>/dev/null
	rm -f "$helper"
}

# ir_stop_servers DIR: immediate-stop every server a killed TAP run may have
# left behind under DIR (its postmaster.pid files).
ir_stop_servers() {
	local dir=$1 pidfile bindir=${2:-/usr/lib/postgresql/15/bin}
	[[ -d $dir ]] || return 0
	while IFS= read -r pidfile; do
		ir_as_pg "$bindir/pg_ctl" -D "${pidfile%/postmaster.pid}" -m immediate -w stop >/dev/null 2>&1 ||
			kill -9 "$(head -n 1 "$pidfile")" 2>/dev/null || true
	done < <(find "$dir" -name postmaster.pid 2>/dev/null)
}

# ir_free_port: a TCP port nothing listens on (never 5499, the dev cluster's).
ir_free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 30000))
		[[ $p -eq 5499 ]] && continue
		if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ir_drop_work DIR: remove a script's temp dir, or keep it (IR_KEEP=1)
# and say where.
ir_drop_work() {
	if [[ ${IR_KEEP:-} == 1 ]]; then
		echo "kept $1" >&2
	else
		rm -rf "$1"
	fi
}
