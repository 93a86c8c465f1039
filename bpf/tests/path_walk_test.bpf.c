// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF unit test of the bounded path walk (lib/path.h, vg_path_walk_bounded), the one the exec
 * program uses on kernels without bpf_loop() (progs/process_bounded.bpf.c). The kernels that
 * need it are covered by the kernel matrix's 5.10 column; this test checks, on any kernel the
 * suite runs on, that it gives the paths d_path() would: path_walk_test.c execs known binaries
 * from known directories and compares.
 *
 * An observer on sched_process_exec, like the real one, that acts only for the harness's child
 * (target_tgid): it walks the new image's file and the working directory and leaves both, with
 * the walk's flag bits, in .bss. It observes and never acts, so it needs no fence.
 */
#define VIGIL_BOUNDED_PATH_WALK 1
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u32 target_tgid;
__u32 runs;
__u32 exe_result, cwd_result;
char exe_path[VIGIL_PATH_AREA];
char cwd_path[VIGIL_PATH_AREA];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_path_buf);
} walk_buf SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(walk_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vg_path_buf *buf;
	struct fs_struct *fs;
	struct file *exe;
	struct path root;
	__u32 zero = 0;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	buf = bpf_map_lookup_elem(&walk_buf, &zero);
	if (!buf)
		return 0;
	fs = BPF_CORE_READ(task, fs);
	root = BPF_CORE_READ(fs, root);
	exe = BPF_CORE_READ(task, mm, exe_file);
	vg_path_walk_bounded(BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), root.dentry, root.mnt,
			     buf);
	exe_result = vg_path_bounded_result(buf);
	vg_path_copy(exe_path, buf, exe_result);
	vg_path_walk_bounded(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), root.dentry, root.mnt, buf);
	cwd_result = vg_path_bounded_result(buf);
	vg_path_copy(cwd_path, buf, cwd_result);
	runs++;
	return 0;
}
