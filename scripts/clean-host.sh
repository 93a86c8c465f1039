#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Removes what Vigil left on this machine and says what it removed (`make clean-host`):
#   - agents started from a build folder: a `vigil` or `tracectl` whose /proc/<pid>/exe lies in
#     a .build directory, stopped by pid (SIGTERM, SIGKILL 15 s later); never this script's
#     shell or one of its ancestors;
#   - pins: /sys/fs/bpf/vigil* and vigil* on any other bpffs mount (the default --bpf-dir is
#     /sys/fs/bpf/vigil; the kernel tests pin in vigil-test-*, the matrix in vigil-matrix-*);
#   - links of Vigil's programs on any hook, detached with `bpftool link detach`, and Vigil's
#     cgroup programs attached without a link, with `bpftool cgroup detach`. A program is
#     Vigil's when its name is one of the SEC() programs in bpf/ or it uses a vg_* map;
#   - test cgroups (vigil-test*, and the suites' vigil-runc-* and vigil-cgtest-*) in the cgroup2
#     hierarchy and the v1 ones: processes left in them are moved to the root cgroup first,
#     then the directories are removed deepest first.
#
#   scripts/clean-host.sh          remove; exit 1 when something could not be removed (printed)
#   scripts/clean-host.sh --check  remove nothing: print what is left, exit 1 if anything, 0 if not
#
# What the kernel releases asynchronously (a link whose last pin or holder just went) gets
# CLEAN_HOST_SETTLE seconds (default 10) before it counts as left. Needs root, python3 and
# bpftool (scripts/install-deps.sh installs it). `make test` ends with --check; .ci/run removes
# before the tests and after them.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK=0
case "${1:-}" in
--check) CHECK=1 ;;
"") ;;
-h | --help)
	sed -n '3,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p'
	exit 0
	;;
*)
	echo "usage: scripts/clean-host.sh [--check]" >&2
	exit 2
	;;
esac
SETTLE=${CLEAN_HOST_SETTLE:-10}

say() { printf 'clean-host: %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || {
	say "needs root (BPF state, other users' processes, cgroups)" >&2
	exit 2
}

# This shell and its ancestors (make, .ci/run, the terminal) are never signalled.
protected=" "
pid=$$
while [ -n "$pid" ] && [ "$pid" != 0 ]; do
	protected+="$pid "
	pid=$(awk '/^PPid:/ { print $2; exit }' "/proc/$pid/status" 2>/dev/null)
done

# --- agents ----------------------------------------------------------------------------------

# A vigil or tracectl executable in a build folder (.build, or a --scratch-path .build-*); the
# kernel shows a replaced binary as "<path> (deleted)".
is_agent_exe() {
	case "${1% (deleted)}" in
	*/.build*/vigil | */.build*/tracectl) return 0 ;;
	esac
	return 1
}

# Still the agent we saw (the pid may have been reused), and not ours to protect.
still_agent() {
	local exe
	case "$protected" in *" $1 "*) return 1 ;; esac
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) && is_agent_exe "$exe"
}

# "pid<TAB>exe" per agent.
find_agents() {
	local p pid exe
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		case "$protected" in *" $pid "*) continue ;; esac
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		is_agent_exe "$exe" && printf '%s\t%s\n' "$pid" "$exe"
	done
}

stop_agents() {
	local pid exe alive deadline pids=()
	while IFS=$'\t' read -r pid exe; do
		[ -n "$pid" ] || continue
		pids+=("$pid")
		# SIGCONT too: a stopped agent acts on SIGTERM only once it runs again.
		kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null
		say "stopping agent pid $pid ($exe)"
	done <<<"$AGENTS"
	[ ${#pids[@]} -gt 0 ] || return 0
	# The agent's own clean stop (detach, flush the export) takes well under 15 s.
	deadline=$((SECONDS + 15))
	while [ $SECONDS -lt $deadline ]; do
		alive=0
		for pid in "${pids[@]}"; do still_agent "$pid" && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.2
	done
	for pid in "${pids[@]}"; do
		if still_agent "$pid"; then
			kill -KILL "$pid" 2>/dev/null && say "killed agent pid $pid (SIGKILL: still running 15 s after SIGTERM)"
		else
			say "agent pid $pid stopped"
		fi
	done
}

# --- mounts ----------------------------------------------------------------------------------

unescape() {
	local s=$1
	s=${s//\\040/ }
	s=${s//\\011/$'\t'}
	s=${s//\\012/$'\n'}
	s=${s//\\134/\\}
	printf '%s' "$s"
}

# Mount points of the given file system types from /proc/self/mountinfo, in its order: one per
# superblock, and only mounts of the file system's root (not a bind of a subdirectory).
mounts_of() {
	local line left right fstype want dev root mnt rest seen=" " ok
	while IFS= read -r line; do
		left=${line%% - *}
		right=${line#* - }
		fstype=${right%% *}
		ok=0
		for want in "$@"; do [ "$fstype" = "$want" ] && ok=1; done
		[ $ok -eq 1 ] || continue
		read -r _ _ dev root mnt rest <<<"$left"
		[ "$root" = / ] || continue
		case "$seen" in *" $dev "*) continue ;; esac
		seen+="$dev "
		printf '%s\n' "$(unescape "$mnt")"
	done </proc/self/mountinfo
}

# --- pins ------------------------------------------------------------------------------------

# The agent's default --bpf-dir, read from the command's source so that a new default is
# covered too; /sys/fs/bpf/vigil when the source is not there.
DEFAULT_BPF_DIR=$(sed -n 's/^ *var bpfDir: String = "\(\/[^"]*\)".*$/\1/p' "$ROOT/Sources/vigil/VigilCommand.swift" 2>/dev/null | head -n 1)
DEFAULT_BPF_DIR=${DEFAULT_BPF_DIR:-/sys/fs/bpf/vigil}
DEFAULT_BPF_DIR=${DEFAULT_BPF_DIR%/}

find_pins() {
	local m d
	{
		while IFS= read -r m; do
			[ -n "$m" ] || continue
			for d in "$m"/vigil*; do
				[ -e "$d" ] || [ -L "$d" ] || continue
				printf '%s\n' "$d"
			done
			# The default directory, when it lies on this mount (never the mount itself).
			case "$DEFAULT_BPF_DIR" in
			"$m"/?*) [ -e "$DEFAULT_BPF_DIR" ] && printf '%s\n' "$DEFAULT_BPF_DIR" ;;
			esac
		done < <({ echo /sys/fs/bpf; mounts_of bpf; } | sort -u)
	} | sort -u
}

# Pinned objects in a pin directory (a pin that is not a directory is one).
pin_count() {
	if [ -d "$1" ]; then timeout 10 find "$1" -mindepth 1 ! -type d 2>/dev/null | wc -l; else echo 1; fi
}

# --- BPF programs attached -------------------------------------------------------------------

# One record per attachment of a Vigil program, tab-separated:
#   link    <link id>  <description>
#   cgprog  <cgroup>   <attach type>  <prog id>  <description>   (cgroup attach without a link)
#   perf    <pid>      <prog id>      <description>              (perf event without a link)
#   error   <message>                                            (state could not be read)
BPF_STATE_PY='
import glob, json, os, re, subprocess, sys

root, cgroup2 = sys.argv[1], sys.argv[2]

def error(message):
    print("error\t" + " ".join(message.split()))
    sys.exit(0)

def bpftool(*args):
    try:
        out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        error("bpftool %s: %s" % (" ".join(args), e))
    try:
        value = json.loads(out.stdout or "[]")
    except ValueError:
        error("bpftool %s: unreadable output: %s" % (" ".join(args), out.stderr.strip()[:200]))
    if out.returncode != 0 or isinstance(value, dict):
        detail = value.get("error") if isinstance(value, dict) else out.stderr.strip()
        error("bpftool %s failed: %s" % (" ".join(args), detail or "exit status %d" % out.returncode))
    return value

# Program names from the SEC() programs in bpf/: a "name##suffix" macro gives a prefix.
names, prefixes = set(), set()
pattern = re.compile(r"SEC\(\"([^\"]+)\"\)\s*(?:\\\s*)?(?:int|long|__u32|__s32|__u64|void)\s+(?:BPF_\w+\(\s*)?(\w+(?:##\w+)?)")
for path in glob.glob(root + "/bpf/progs/*.bpf.c") + glob.glob(root + "/bpf/lib/*.h"):
    with open(path, errors="replace") as f:
        for section, name in pattern.findall(f.read()):
            if section.startswith(".") or section == "license":
                continue
            if "##" in name:
                prefixes.add(name.split("##")[0])
            else:
                names.add(name)
if not names:
    prefixes.update(["vg_", "generic_", "observe_", "enforce_", "connect_result"])
# The kernel keeps 15 characters of a name; newer bpftool prints the whole one from BTF.
short_names = {n[:15] for n in names}

def named_ours(name):
    name = (name or "")[:15]
    return name in short_names or any(name.startswith(p[:15]) for p in prefixes)

progs = {p["id"]: p for p in bpftool("prog", "show")}
our_maps = {m["id"] for m in bpftool("map", "show") if str(m.get("name", "")).startswith(("vg_", "vigil"))}

def ours(prog_id):
    p = progs.get(prog_id)
    return p is not None and (named_ours(p.get("name")) or bool(our_maps.intersection(p.get("map_ids", []))))

def prog_name(prog_id, fallback="?"):
    return progs.get(prog_id, {}).get("name") or fallback

cgroup_paths = None
def cgroup_path(cgroup_id):
    global cgroup_paths
    if cgroup_paths is None:
        cgroup_paths = {}
        if cgroup2:
            for directory, _, _ in os.walk(cgroup2):
                try:
                    cgroup_paths.setdefault(os.stat(directory).st_ino, directory)
                except OSError:
                    pass
    return cgroup_paths.get(cgroup_id, "cgroup id %d" % cgroup_id)

# -f: the pins of each link.
links = bpftool("-f", "link", "show")
linked = set()
for link in links:
    prog_id = link.get("prog_id")
    if not ours(prog_id):
        continue
    linked.add(prog_id)
    kind = link.get("type", "?")
    if kind == "cgroup":
        if not link.get("cgroup_id"):
            continue  # detached; the link object lasts until its holder closes it
        where = "%s on %s" % (link.get("attach_type", "?"), cgroup_path(link["cgroup_id"]))
    else:
        detail = link.get("tp_name") or link.get("func") or link.get("tracepoint") or link.get("attach_type") or ""
        where = ("%s %s" % (kind, detail)).strip()
    holders = ["%s(%s)" % (p.get("comm", "?"), p.get("pid")) for p in link.get("pids", [])]
    extra = ""
    if link.get("pinned"):
        extra += "; pinned at " + ", ".join(sorted(set(link["pinned"])))
    if holders:
        extra += "; held by " + ", ".join(holders)
    print("link\t%d\tlink %d: %s, %s%s" % (link["id"], link["id"], prog_name(prog_id), where, extra))

if cgroup2:
    for group in bpftool("cgroup", "tree", cgroup2):
        for prog in group.get("programs", []):
            if prog.get("id") in linked or not ours(prog.get("id")):
                continue
            print("cgprog\t%s\t%s\t%d\t%s on %s (prog %d, attached without a link)" % (
                group["cgroup"], prog.get("attach_type", "?"), prog["id"],
                prog_name(prog["id"], prog.get("name", "?")), group["cgroup"], prog["id"]))

for event in bpftool("perf"):
    prog_id = event.get("prog_id")
    if prog_id in linked or not ours(prog_id):
        continue
    what = event.get("func") or event.get("tracepoint") or event.get("filename") or event.get("fd_type", "?")
    print("perf\t%s\t%d\t%s on %s %s (perf event of pid %s, fd %s)" % (
        event.get("pid"), prog_id, prog_name(prog_id), event.get("fd_type", "?"), what, event.get("pid"), event.get("fd")))
'

bpf_state() {
	command -v bpftool >/dev/null || {
		printf 'error\tbpftool not found: attached programs not checked (scripts/install-deps.sh installs it)\n'
		return
	}
	command -v python3 >/dev/null || {
		printf 'error\tpython3 not found: attached programs not checked\n'
		return
	}
	timeout 120 python3 -c "$BPF_STATE_PY" "$ROOT" "$CGROUP2" ||
		printf 'error\treading BPF state failed (python3 exit status %s)\n' "$?"
}

# --- test cgroups ----------------------------------------------------------------------------

CGROUP2=$(mounts_of cgroup2 | head -n 1)

# "mount<TAB>directory" per test cgroup (its subtree goes with it).
find_test_cgroups() {
	local m d
	while IFS= read -r m; do
		[ -n "$m" ] || continue
		while IFS= read -r d; do
			[ -n "$d" ] && printf '%s\t%s\n' "$m" "$d"
		done < <(timeout 20 find "$m" -mindepth 1 -maxdepth 2 -type d \
			\( -name 'vigil-test*' -o -name 'vigil-runc-*' -o -name 'vigil-cgtest-*' \) -prune -print 2>/dev/null)
	done < <(mounts_of cgroup2 cgroup)
}

remove_cgroup() {
	local m=$1 d=$2 sub pid comm
	# A cgroup with a process in it cannot be removed: the processes go to the root first.
	while IFS= read -r sub; do
		while read -r pid; do
			[ -n "$pid" ] || continue
			comm=$(cat "/proc/$pid/comm" 2>/dev/null)
			if { echo "$pid" >"$m/cgroup.procs"; } 2>/dev/null; then
				say "moved pid $pid (${comm:-?}) out of $sub to $m"
			else
				say "could not move pid $pid (${comm:-?}) out of $sub"
			fi
		done < <(cat "$sub/cgroup.procs" 2>/dev/null)
	done < <(find "$d" -type d 2>/dev/null)
	while IFS= read -r sub; do
		rmdir "$sub" 2>/dev/null && say "removed cgroup $sub"
	done < <(find "$d" -depth -type d 2>/dev/null)
}

# --- what is left ----------------------------------------------------------------------------

findings=()
scan() {
	local pid exe d kind a b c e
	findings=()
	AGENTS=$(find_agents)
	PINS=$(find_pins)
	BPF=$(bpf_state)
	CGROUPS=$(find_test_cgroups)
	while IFS=$'\t' read -r pid exe; do
		[ -n "$pid" ] && findings+=("agent running: pid $pid ($exe)")
	done <<<"$AGENTS"
	while IFS= read -r d; do
		[ -n "$d" ] && findings+=("pinned: $d ($(pin_count "$d") objects)")
	done <<<"$PINS"
	while IFS=$'\t' read -r kind a b c e; do
		case "$kind" in
		link) findings+=("attached: $b") ;;
		cgprog) findings+=("attached: $e") ;;
		perf) findings+=("attached: $c") ;;
		error) findings+=("cannot check: $a") ;;
		esac
	done <<<"$BPF"
	while IFS=$'\t' read -r a b; do
		[ -n "$b" ] && findings+=("test cgroup: $b")
	done <<<"$CGROUPS"
}

# Scans until nothing is left or SETTLE seconds have passed.
scan_settled() {
	local deadline=$((SECONDS + SETTLE))
	scan
	while [ ${#findings[@]} -gt 0 ] && [ $SECONDS -lt "$deadline" ]; do
		sleep 0.5
		scan
	done
}

report() {
	local f
	if [ ${#findings[@]} -eq 0 ]; then
		say "clean: no Vigil agent, pin, attached program or test cgroup on this machine"
		return 0
	fi
	for f in "${findings[@]}"; do say "left: $f"; done
	say "${#findings[@]} thing(s) of Vigil's left on this machine"
	return 1
}

if [ $CHECK -eq 1 ]; then
	scan_settled
	report
	exit
fi

# --- removing --------------------------------------------------------------------------------

scan
if [ ${#findings[@]} -eq 0 ]; then
	report
	exit 0
fi

# Agents first: a running agent would re-attach or re-pin what is removed after it.
stop_agents

# Pins: the last reference to a pinned link is its pin, so removing it detaches the link.
PINS=$(find_pins)
while IFS= read -r d; do
	[ -n "$d" ] || continue
	n=$(pin_count "$d")
	if rm -rf -- "$d" 2>/dev/null; then say "removed pins $d ($n objects)"; else say "could not remove all of $d"; fi
done <<<"$PINS"

# Links: the ones held by a stopped agent or a removed pin go by themselves, asynchronously;
# what is still attached SETTLE seconds later is detached. (A cgroup program attached without
# a link stays until detached: nothing to wait for.)
deadline=$((SECONDS + SETTLE))
BPF=$(bpf_state)
while [ -n "$AGENTS$PINS" ] && grep -q '^\(link\|perf\)' <<<"$BPF" && [ $SECONDS -lt $deadline ]; do
	sleep 0.5
	BPF=$(bpf_state)
done
while IFS=$'\t' read -r kind a b c e; do
	case "$kind" in
	link)
		if out=$(timeout 20 bpftool link detach id "$a" 2>&1); then
			say "detached $b"
		else
			say "could not detach $b: ${out:-timed out}"
		fi
		;;
	cgprog)
		if out=$(timeout 20 bpftool cgroup detach "$a" "$b" id "$c" 2>&1); then
			say "detached $e"
		else
			say "could not detach $e: ${out:-timed out}"
		fi
		;;
	perf) say "cannot detach $c: it goes when pid $a closes it" ;;
	esac
done <<<"$BPF"

# Test cgroups.
CGROUPS=$(find_test_cgroups)
while IFS=$'\t' read -r a b; do
	[ -n "$b" ] && remove_cgroup "$a" "$b"
done <<<"$CGROUPS"

scan_settled
report
