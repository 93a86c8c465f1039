#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints `vigil --help` inside a fenced Markdown block, to refresh or check docs/flags.md.
# Usage: scripts/gen-flags-doc.sh [VIGIL]   (default: .build/release/vigil, else .build/debug/vigil)
# Builds nothing and starts no agent: --help prints and exits.
set -euo pipefail

vigil="${1:-}"
if [[ -n "$vigil" && "$vigil" != /* ]]; then vigil="$PWD/$vigil"; fi   # before the cd below
cd "$(dirname "$0")/.."
if [[ -z "$vigil" ]]; then
    for candidate in .build/release/vigil .build/debug/vigil; do
        if [[ -x "$candidate" ]]; then vigil="$candidate"; break; fi
    done
fi
if [[ -z "$vigil" || ! -x "$vigil" ]]; then
    echo "gen-flags-doc: no vigil binary (build one with make build or make release, or pass its path)" >&2
    exit 1
fi

help="$("$vigil" --help)"
printf '```\n%s\n```\n' "$help"
