#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds Vigil's OCI image with buildah (no Docker daemon): the agent and tracectl of a build of
# this checkout, stripped, with exactly the shared libraries they link (as ldd lists them, at
# the same paths) on an empty base: no shell, no package manager, no toolchain. `make image`.
#
#   scripts/build-image.sh [VIGIL]     VIGIL: the agent binary (default .build/release/vigil);
#                                      tracectl is taken from next to it
#   IMAGE=registry.example.com/vigil:1.0 scripts/build-image.sh     the name (default localhost/vigil:latest)
#   IMAGE_ARCHIVE=vigil.tar scripts/build-image.sh                   also an oci-archive file
#
# The image lands in the local containers storage (podman images, buildah images); push it with
# `podman push IMAGE` (or `skopeo copy containers-storage:IMAGE docker://REGISTRY/...`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${1:-$ROOT/.build/release/vigil}
TRACECTL=$(dirname "$VIGIL")/tracectl
IMAGE=${IMAGE:-localhost/vigil:latest}

die() { echo "build-image: $*" >&2; exit 2; }
command -v buildah >/dev/null || die "buildah is not installed (scripts/install-deps.sh buildah podman)"
[ -x "$VIGIL" ] || die "no agent binary at $VIGIL (make release)"
[ -x "$TRACECTL" ] || die "no tracectl next to the agent at $TRACECTL"

context=$(mktemp -d /tmp/vigil-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
rootfs=$context/rootfs
mkdir -p "$rootfs"/usr/local/bin "$rootfs"/etc/vigil/tracing-policies "$rootfs"/var/log/vigil "$rootfs"/tmp
strip -o "$rootfs/usr/local/bin/vigil" "$VIGIL"
strip -o "$rootfs/usr/local/bin/tracectl" "$TRACECTL"
# The libraries (Swift runtime, Foundation, libbpf, libelf, zlib, libseccomp, glibc and its
# loader) where the dynamic loader looks for them, so the binaries run unchanged.
for lib in $( (ldd "$VIGIL"; ldd "$TRACECTL") | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp -L "$lib" "$rootfs$lib"
done
# The detection library (docs/detections.md), monitor-only, where the agent's default policy
# directory reads it (one level down). The DaemonSet's base mounts its ConfigMap over that
# directory, hiding it; deploy/overlays/detection-library mounts the ConfigMap below it instead.
mkdir -p "$rootfs/etc/vigil/tracing-policies/library"
cp "$ROOT"/policies/library/*.yaml "$rootfs/etc/vigil/tracing-policies/library/"
echo "root:x:0:0:root:/:/usr/sbin/nologin" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
cp "$ROOT/deploy/Containerfile" "$context/Containerfile"

buildah build --quiet --layers=false -f "$context/Containerfile" -t "$IMAGE" "$context" >/dev/null
[ -z "${IMAGE_ARCHIVE:-}" ] || buildah push --quiet "$IMAGE" "oci-archive:$IMAGE_ARCHIVE"
echo "build-image: $IMAGE ($(du -sh "$rootfs" | cut -f1) unpacked)"
