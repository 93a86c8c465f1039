/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Picks the committed, BTF-generated vmlinux.h for the target architecture. The per-arch files
 * are generated with `make -C bpf vmlinux` on a machine of that architecture and never edited:
 * the build must work where /sys/kernel/btf does not exist (image builds), and CO-RE
 * relocations adapt field offsets to the running kernel at load time.
 */
#ifndef VIGIL_VMLINUX_SWITCH_H
#define VIGIL_VMLINUX_SWITCH_H

#if defined(__TARGET_ARCH_x86)
#include "vmlinux/x86/vmlinux.h"
#else
#error "no vmlinux.h for this architecture: run `make -C bpf vmlinux` on such a machine and commit it"
#endif

#endif
