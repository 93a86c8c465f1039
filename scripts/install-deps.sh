#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian/Ubuntu packages Vigil builds and runs with, only those missing.
# Swift itself (6.1 or newer) must already be on PATH: it is not a Debian package.
set -euo pipefail

# Extra packages come as arguments (make test-kernels: qemu-system-x86 busybox-static).
packages=(libbpf-dev libelf-dev zlib1g-dev libseccomp-dev bpftool pkg-config make "$@")
# BPF objects are compiled with clang -target bpf; the Swift toolchain's clang does it.
command -v clang >/dev/null 2>&1 || packages+=(clang)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v swift >/dev/null 2>&1; then
	echo "install-deps: swift is not on PATH; install a Swift 6.1+ toolchain first" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
