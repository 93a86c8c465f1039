#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Generates Sources/Tracefs/SyscallTableX86_64.swift and Sources/Tracefs/SyscallTableI386.swift
# from the kernel UAPI headers of linux-libc-dev (Debian/Ubuntu):
#
#   /usr/include/x86_64-linux-gnu/asm/unistd_64.h   (x86_64, Tetragon ABI "x64")
#   /usr/include/x86_64-linux-gnu/asm/unistd_32.h   (i386,   Tetragon ABI "i386")
#
# The installed headers can be older than the kernels the agent runs on, so syscalls added
# upstream after them are appended from the supplement lists below (taken from the kernel's
# arch/x86/entry/syscalls/syscall_{64,32}.tbl: numbers 451..469 are the same on both ABIs,
# 335/336 exist on x86_64 only).
# A supplement entry is used only when the headers do not define that number already; a header
# that defines the same number with a different name makes the script fail.
#
# Usage: scripts/gen-syscall-tables.sh [UNISTD_64_H [UNISTD_32_H]]
# Run from anywhere; output goes next to the Tracefs sources of this checkout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="$here/../Sources/Tracefs"
h64="${1:-/usr/include/x86_64-linux-gnu/asm/unistd_64.h}"
h32="${2:-/usr/include/x86_64-linux-gnu/asm/unistd_32.h}"

# number name, one per line; syscalls newer than linux-libc-dev 6.1.
# x86_64 only (Linux 6.11, 6.16):
SUPPLEMENT_64='335 uretprobe
336 uprobe'
# x86_64 and i386 (Linux 6.5..6.17):
SUPPLEMENT_COMMON='451 cachestat
452 fchmodat2
453 map_shadow_stack
454 futex_wake
455 futex_wait
456 futex_requeue
457 statmount
458 listmount
459 lsm_get_self_attr
460 lsm_set_self_attr
461 lsm_list_modules
462 mseal
463 setxattrat
464 getxattrat
465 listxattrat
466 removexattrat
467 open_tree_attr
468 file_getattr
469 file_setattr'

for h in "$h64" "$h32"; do
    [[ -r "$h" ]] || { echo "gen-syscall-tables: cannot read $h (install linux-libc-dev)" >&2; exit 1; }
done

pkg_version="$(dpkg-query -W -f='${Version}' linux-libc-dev 2>/dev/null || echo unknown)"

# generate HEADER ABI_LABEL SWIFT_NAME OUT_FILE SUPPLEMENT
generate() {
    local header="$1" label="$2" swift_name="$3" out="$4" supplement="$5"
    local tmp
    tmp="$(mktemp)"
    {
        awk '$1 == "#define" && $2 ~ /^__NR_/ && $3 ~ /^[0-9]+$/ { sub(/^__NR_/, "", $2); print $3, $2, "h" }' "$header"
        printf '%s\n' "$supplement" | awk 'NF == 2 { print $1, $2, "s" }'
    } | sort -n -k1,1 -k3,3 | awk -v label="$label" -v swift_name="$swift_name" \
        -v header="$header" -v pkg="$pkg_version" '
        {
            n = $1 + 0; name = $2; src = $3
            if (n in names) {
                if (names[n] != name) {
                    printf "gen-syscall-tables: %s: number %d is %s in the header but %s in the supplement\n", label, n, names[n], name > "/dev/stderr"
                    failed = 1
                }
                next
            }
            if (name in seen) {
                printf "gen-syscall-tables: %s: %s has two numbers (%d, %d)\n", label, name, seen[name], n > "/dev/stderr"
                failed = 1
            }
            names[n] = name; seen[name] = n; origin[n] = src
            if (n > max) max = n
            if (src == "h") fromHeader++; else fromSupplement++
        }
        END {
            if (failed) exit 1
            print "// SPDX-License-Identifier: Apache-2.0"
            print "//"
            print "// GENERATED FILE, DO NOT EDIT. Regenerate with: scripts/gen-syscall-tables.sh"
            printf "// Source: %s (linux-libc-dev %s): %d syscalls,\n", header, pkg, fromHeader
            printf "// plus %d newer syscalls from the supplement lists in the script (marked `// +`).\n", fromSupplement
            print ""
            print "extension SyscallTables {"
            printf "    /// %s syscall names indexed by number (\"\" for numbers with no syscall).\n", label
            printf "    static let %s: [String] = [\n", swift_name
            for (i = 0; i <= max; i++) {
                if (i in names) {
                    mark = (origin[i] == "s") ? " +" : ""
                    printf "        \"%s\", // %d%s\n", names[i], i, mark
                } else {
                    printf "        \"\", // %d\n", i
                }
            }
            print "    ]"
            print "}"
        }' > "$tmp"
    mv "$tmp" "$out"
    echo "wrote $out"
}

generate "$h64" "x86_64 (x64)" "x86_64" "$out_dir/SyscallTableX86_64.swift" "$SUPPLEMENT_64
$SUPPLEMENT_COMMON"
generate "$h32" "i386" "i386" "$out_dir/SyscallTableI386.swift" "$SUPPLEMENT_COMMON"
