/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#if __has_include("generated/vigil.skel.h")
#include "generated/vigil.skel.h"
#else
#error "BPF skeleton missing: run `make bpf` (or `make`) before swift build"
#endif

#include "vigil_bpf.h"
#include "vigil_abi.h"

struct vigil_bpf {
	struct vigil *skel;
	__u32 attach_mode;
	struct bpf_link *links[3];
	struct bpf_link *connect_links[5]; /* connect4/6, sendmsg4/6, and connect_result at sys_exit */
	struct bpf_link *syscall_links[2]; /* the sys_enter and sys_exit dispatchers */
	struct bpf_link *exec_dispatch_link; /* the exec dispatcher at sched_process_exec */
	struct bpf_link *uring_open_link;  /* io_uring opens, attached with the sys_exit dispatcher */
	int uring_opens;                   /* 1 attached, 0 not tried, -errno refused */
	struct bpf_link *flow_links[3];    /* inet_sock_set_state, sys_exit_accept4, sys_exit_accept */
	int flows;                         /* the flow programs loaded */
	struct bpf_link *dns_link;         /* the DNS answer program on the cgroup2 root */
	int dns;                           /* the DNS answer program loaded */
	struct bpf_link *lsm_links[VIGIL_LSM_HOOKS]; /* at enum vigil_lsm_hook, attached on first use */
	int lsm;                                  /* the BPF-LSM programs loaded */
	int kprobes;                       /* the generic kprobe programs loaded */
	int uprobes;                       /* the generic uprobe programs loaded */
	int trampolines;                   /* 0 not probed yet, 1 they load, -errno they do not */
	int procs_taken_over;              /* vg_procs is a previous run's pinned map */
	int process_only;                  /* only exec (bounded path walk), fork and exit loaded */
};

/* The BPF-LSM program of each enum vigil_lsm_hook. */
static struct bpf_program *lsm_program(struct vigil *skel, int which)
{
	switch (which) {
	case VIGIL_LSM_FILE_OPEN: return skel->progs.vg_lsm_file_open;
	case VIGIL_LSM_BPRM_CHECK: return skel->progs.vg_lsm_bprm_check;
	case VIGIL_LSM_SOCKET_CONNECT: return skel->progs.vg_lsm_socket_connect;
	}
	return NULL;
}

static vigil_bpf_log_fn log_sink;

static int forward_print(enum libbpf_print_level level, const char *format, va_list args)
{
	char *message = NULL;

	/* Heap, not a fixed line: libbpf hands over a whole verifier log in one call. */
	if (!log_sink || vasprintf(&message, format, args) < 0)
		return 0;
	log_sink((int)level, message);
	free(message);
	return 0;
}

void vigil_bpf_set_log_sink(vigil_bpf_log_fn sink)
{
	log_sink = sink;
	libbpf_set_print(sink ? forward_print : NULL);
}

int vigil_bpf_possible_cpus(void)
{
	return libbpf_num_possible_cpus();
}

/* Whether the map behind fd has the shape this build gives vg_procs: libbpf would refuse the
 * load otherwise, and an agent whose --process-map-entries changed starts with a map of its own. */
static int procs_map_compatible(const struct bpf_map *map, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	       info.value_size == bpf_map__value_size(map) && info.max_entries == bpf_map__max_entries(map) &&
	       info.map_flags == bpf_map__map_flags(map);
}

static int open_load(const struct vigil_bpf_options *options, int kprobes, int uprobes, struct vigil_bpf **out)
{
	int procs_taken_over = 0;
	struct vigil_bpf *bpf;
	struct vigil *skel;
	int cpus, err;
	int raw = options->attach_mode == VIGIL_ATTACH_RAW_TP;
	int process_only = options->process_only != 0;
	/* Flows are tp_btf programs (bpf_get_socket_cookie, bpf_skc_to_tcp_sock): not in raw_tp
	 * mode, where the caller refuses --enable-flows, nor with the process sensor only. */
	int flows = options->flows && !raw && !process_only;

	*out = NULL;
	cpus = libbpf_num_possible_cpus();
	if (cpus <= 0)
		return cpus < 0 ? cpus : -EINVAL;
	skel = vigil__open();
	if (!skel)
		return -errno;

	skel->rodata->vg_args_max = options->args_max;
	skel->rodata->vg_wakeup_bytes = options->wakeup_bytes;
	skel->rodata->vg_fence_cgroup = options->fence_cgroup;
	err = bpf_map__set_max_entries(skel->maps.vg_events, options->rb_size);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.vg_procs, options->procs_max);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.vg_exec_scratch, (__u32)cpus);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.vg_generic_scratch, (__u32)cpus);
	/* Without flows the preallocated flow map shrinks to one entry. */
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.vg_flows, flows && options->flows_max ? options->flows_max : 1);
	bpf_program__set_autoload(skel->progs.flow_state, flows);
	bpf_program__set_autoload(skel->progs.flow_accept4, flows);
	bpf_program__set_autoload(skel->progs.flow_accept, flows);
	bpf_program__set_autoload(skel->progs.dns_answers, options->dns && !process_only);
	/* A previous run's process identities, kept by its pinned exec/fork/exit links: taking the
	 * map over leaves no moment in which pinned enforcement reads an identity nobody maintains. */
	if (!err && options->procs_fd >= 0 && procs_map_compatible(skel->maps.vg_procs, options->procs_fd)) {
		err = bpf_map__reuse_fd(skel->maps.vg_procs, options->procs_fd);
		procs_taken_over = !err;
	}

	/* One family of hooks only: the other is not even loaded. */
	bpf_program__set_autoload(skel->progs.observe_exec, !raw && !process_only);
	bpf_program__set_autoload(skel->progs.observe_exec_raw, raw && !process_only);
	bpf_program__set_autoload(skel->progs.observe_exec_bounded, !raw && process_only);
	bpf_program__set_autoload(skel->progs.observe_exec_bounded_raw, raw && process_only);
	bpf_program__set_autoload(skel->progs.observe_fork, !raw);
	bpf_program__set_autoload(skel->progs.observe_exit, !raw);
	bpf_program__set_autoload(skel->progs.observe_fork_raw, raw);
	bpf_program__set_autoload(skel->progs.observe_exit_raw, raw);
	/* The syscall dispatchers are tp_btf programs: where those do not load, syscall hooks use
	 * the perf tracepoint copies. */
	bpf_program__set_autoload(skel->progs.generic_sys_enter, !raw);
	bpf_program__set_autoload(skel->progs.generic_sys_exit, !raw);
	bpf_program__set_autoload(skel->progs.generic_exec_dispatch, !raw);
	bpf_program__set_autoload(skel->progs.connect_result, !raw);
	/* It runs the dispatcher's hook lists: only where the dispatcher runs. */
	bpf_program__set_autoload(skel->progs.generic_uring_open, !raw);
	skel->rodata->vg_connect_results = !raw && !process_only;
	/* BPF-LSM programs only where the caller's probe found BPF-LSM running: elsewhere the
	 * kernel refuses them (EPERM on a locked-down kernel), which would fail the whole load. */
	for (int i = 0; i < VIGIL_LSM_HOOKS; i++)
		bpf_program__set_autoload(lsm_program(skel, i), options->lsm != 0);
	/* Generic kprobes only where the kernel has them: elsewhere (our build machines) loading a
	 * kprobe program fails and would take the whole object down with it. */
	bpf_program__set_autoload(skel->progs.generic_kprobe, kprobes);
	bpf_program__set_autoload(skel->progs.generic_kprobe_ret_entry, kprobes);
	bpf_program__set_autoload(skel->progs.generic_kretprobe, kprobes);
	/* Generic uprobes likewise, on the uprobe PMU (present here where the kprobe one is not). */
	bpf_program__set_autoload(skel->progs.generic_uprobe, uprobes);
	bpf_program__set_autoload(skel->progs.generic_uprobe_ret_entry, uprobes);
	bpf_program__set_autoload(skel->progs.generic_uretprobe, uprobes);
	/* `return: true` records wait there for a kretprobe or a uretprobe. */
	if (!err && (process_only || (!kprobes && !uprobes)))
		err = bpf_map__set_max_entries(skel->maps.vg_kret_pending, 1);
	/* Trampoline programs load per hook, bound to their function (vigil_bpf_attach_policy_trampoline). */
	bpf_program__set_autoload(skel->progs.generic_fentry, false);
	bpf_program__set_autoload(skel->progs.generic_fexit, false);
	bpf_program__set_autoload(skel->progs.generic_fmod_ret, false);
	/* Raw tracepoint programs likewise, one per hook with its slot (vigil_bpf_attach_policy_raw_tp). */
	bpf_program__set_autoload(skel->progs.generic_raw_tp, false);

	/* Before bpf_loop() (5.17) only the process sensor loads: every other program calls global
	 * functions with pointer arguments (5.12+) and walks in bpf_loop(). */
	if (process_only) {
		struct bpf_program *p;

		bpf_object__for_each_program(p, skel->obj) {
			if (strncmp(bpf_program__name(p), "observe_", strlen("observe_")) != 0)
				bpf_program__set_autoload(p, false);
		}
	}

	if (!err)
		err = vigil__load(skel);
	if (err) {
		vigil__destroy(skel);
		return err < 0 ? err : -err;
	}
	bpf = calloc(1, sizeof(*bpf));
	if (!bpf) {
		vigil__destroy(skel);
		return -ENOMEM;
	}
	bpf->skel = skel;
	bpf->attach_mode = options->attach_mode;
	bpf->lsm = options->lsm != 0 && !process_only;
	bpf->kprobes = kprobes && !process_only;
	bpf->uprobes = uprobes && !process_only;
	bpf->process_only = process_only;
	bpf->procs_taken_over = procs_taken_over;
	bpf->flows = flows;
	bpf->dns = options->dns && !process_only;
	*out = bpf;
	return 0;
}

int vigil_bpf_open_load(const struct vigil_bpf_options *options, struct vigil_bpf **out)
{
	/* The perf kprobe PMU is what libbpf attaches kprobes through; without it (CONFIG_KPROBES
	 * off) the kprobe programs are not even tried. A kernel that has it but refuses kprobe
	 * programs (lockdown) gets a second load without them. */
	int kprobes = access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0;
	/* The same for uprobes and their PMU. A refusal of one family must not cost the other: the
	 * loads go from both, to each alone, to neither. */
	int uprobes = access("/sys/bus/event_source/devices/uprobe/type", F_OK) == 0;
	int err = open_load(options, kprobes, uprobes, out);

	if (err && uprobes)
		err = open_load(options, kprobes, 0, out);
	if (err && kprobes && uprobes)
		err = open_load(options, 0, uprobes, out);
	if (err && kprobes)
		err = open_load(options, 0, 0, out);
	return err;
}

/* Pins link at dir/name unless it is pinned already: 1 pinned now, 0 already, or -errno. */
static int pin_link(struct bpf_link *link, const char *dir, const char *name)
{
	char path[4096];
	int err;

	if (!link)
		return -ENOENT;
	if (bpf_link__pin_path(link))
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	err = bpf_link__pin(link, path);
	return err ? err : 1;
}

int vigil_bpf_procs_taken_over(const struct vigil_bpf *bpf)
{
	return bpf->procs_taken_over;
}

int vigil_bpf_seed_process(struct vigil_bpf *bpf, __u32 tgid, const char *binary, __u32 len)
{
	struct vigil_proc_state state = {};

	/* Too long to keep: as the exec hook does, the length says so and the path stays out. */
	state.binary_len = len;
	if (len < VIGIL_BINARY_MAX)
		memcpy(state.binary, binary, len);
	if (bpf_map__update_elem(bpf->skel->maps.vg_procs, &tgid, sizeof(tgid), &state, sizeof(state), BPF_NOEXIST))
		return -errno;
	return 0;
}

int vigil_bpf_pin_process(struct vigil_bpf *bpf, const char *dir)
{
	static const char *const names[3] = {"process_exec", "process_fork", "process_exit"};
	char path[4096];

	for (int i = 0; i < 3; i++) {
		int err = pin_link(bpf->links[i], dir, names[i]);

		if (err < 0)
			return err;
	}
	if (bpf_map__is_pinned(bpf->skel->maps.vg_procs))
		return 0;
	if (snprintf(path, sizeof(path), "%s/vg_procs", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return bpf_map__pin(bpf->skel->maps.vg_procs, path);
}

int vigil_bpf_attach(struct vigil_bpf *bpf)
{
	int raw = bpf->attach_mode == VIGIL_ATTACH_RAW_TP;
	struct bpf_program *exec = bpf->process_only ? (raw ? bpf->skel->progs.observe_exec_bounded_raw
							 : bpf->skel->progs.observe_exec_bounded)
						 : (raw ? bpf->skel->progs.observe_exec_raw : bpf->skel->progs.observe_exec);
	struct bpf_program *progs[3] = {
		exec,
		raw ? bpf->skel->progs.observe_fork_raw : bpf->skel->progs.observe_fork,
		raw ? bpf->skel->progs.observe_exit_raw : bpf->skel->progs.observe_exit,
	};

	/* Exit and fork before exec: a process seen at exec must have its exit seen too. */
	for (int i = 2; i >= 0; i--) {
		bpf->links[i] = bpf_program__attach(progs[i]);
		if (!bpf->links[i]) {
			int err = -errno;

			for (int j = 2; j > i; j--) {
				bpf_link__destroy(bpf->links[j]);
				bpf->links[j] = NULL;
			}
			return err;
		}
	}
	return 0;
}

int vigil_bpf_attach_flows(struct vigil_bpf *bpf)
{
	struct bpf_program *progs[3] = {
		bpf->skel->progs.flow_state, bpf->skel->progs.flow_accept4, bpf->skel->progs.flow_accept,
	};

	if (!bpf->flows)
		return -EOPNOTSUPP;
	/* The accept exits first: a flow whose handshake completes meanwhile gets its owner. */
	for (int i = 2; i >= 0; i--) {
		if (bpf->flow_links[i])
			continue;
		bpf->flow_links[i] = bpf_program__attach(progs[i]);
		if (!bpf->flow_links[i]) {
			int err = -errno;

			for (int j = 0; j < 3; j++) {
				bpf_link__destroy(bpf->flow_links[j]);
				bpf->flow_links[j] = NULL;
			}
			return err;
		}
	}
	return 0;
}

int vigil_bpf_attach_dns(struct vigil_bpf *bpf, const char *path)
{
	int fd, err = 0;

	if (!bpf->dns)
		return -EOPNOTSUPP;
	if (bpf->dns_link)
		return 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A link, never pinned: the program leaves the root cgroup when the agent's last fd of it
	 * closes, exit and crash alike. */
	bpf->dns_link = bpf_program__attach_cgroup(bpf->skel->progs.dns_answers, fd);
	if (!bpf->dns_link)
		err = -errno;
	close(fd);
	return err;
}

void vigil_bpf_destroy(struct vigil_bpf *bpf)
{
	if (!bpf)
		return;
	bpf_link__destroy(bpf->dns_link);
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(bpf->links[i]);
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(bpf->flow_links[i]);
	vigil_bpf_detach_connect(bpf);
	vigil_bpf_detach_syscalls(bpf, 0);
	vigil_bpf_detach_syscalls(bpf, 1);
	vigil_bpf_detach_exec_dispatch(bpf);
	for (int i = 0; i < VIGIL_LSM_HOOKS; i++)
		vigil_bpf_detach_lsm(bpf, i);
	vigil__destroy(bpf->skel);
	free(bpf);
}

int vigil_bpf_events_fd(const struct vigil_bpf *bpf)
{
	return bpf_map__fd(bpf->skel->maps.vg_events);
}

__u32 vigil_bpf_object_abi_version(const struct vigil_bpf *bpf)
{
	return bpf->skel->rodata->vg_abi_version;
}

int vigil_bpf_read_counter(const struct vigil_bpf *bpf, __u32 index, __u64 *sum)
{
	int cpus = libbpf_num_possible_cpus();
	__u64 *values;
	int err;

	if (cpus <= 0)
		return cpus < 0 ? cpus : -EINVAL;
	values = calloc((size_t)cpus, sizeof(__u64));
	if (!values)
		return -ENOMEM;
	err = bpf_map__lookup_elem(bpf->skel->maps.vg_counters, &index, sizeof(index), values,
				   sizeof(__u64) * (size_t)cpus, 0);
	if (!err) {
		*sum = 0;
		for (int i = 0; i < cpus; i++)
			*sum += values[i];
	}
	free(values);
	return err;
}

int vigil_bpf_policy_map_fd(const struct vigil_bpf *bpf, enum vigil_policy_map map)
{
	switch (map) {
	case VIGIL_MAP_HOOKS: return bpf_map__fd(bpf->skel->maps.vg_hooks);
	case VIGIL_MAP_POLICY_MODE: return bpf_map__fd(bpf->skel->maps.vg_policy_mode);
	case VIGIL_MAP_STR_EQ: return bpf_map__fd(bpf->skel->maps.vg_str_eq);
	case VIGIL_MAP_STR_PREFIX: return bpf_map__fd(bpf->skel->maps.vg_str_prefix);
	case VIGIL_MAP_STR_POSTFIX: return bpf_map__fd(bpf->skel->maps.vg_str_postfix);
	case VIGIL_MAP_INT_SET: return bpf_map__fd(bpf->skel->maps.vg_int_set);
	case VIGIL_MAP_ADDR: return bpf_map__fd(bpf->skel->maps.vg_addr);
	case VIGIL_MAP_CONNECT_HOOKS: return bpf_map__fd(bpf->skel->maps.vg_connect_hooks);
	case VIGIL_MAP_SYSCALL_HOOKS: return bpf_map__fd(bpf->skel->maps.vg_syscall_hooks);
	case VIGIL_MAP_POLICY_SCOPE: return bpf_map__fd(bpf->skel->maps.vg_policy_scope);
	case VIGIL_MAP_SCOPE_CGROUPS: return bpf_map__fd(bpf->skel->maps.vg_scope_cgroups);
	case VIGIL_MAP_LSM_HOOKS: return bpf_map__fd(bpf->skel->maps.vg_lsm_hooks);
	case VIGIL_MAP_FILE_IDS: return bpf_map__fd(bpf->skel->maps.vg_file_ids);
	case VIGIL_MAP_FQDN_SETS: return bpf_map__fd(bpf->skel->maps.vg_fqdn_sets);
	case VIGIL_MAP_AGENT_STATE: return bpf_map__fd(bpf->skel->maps.vg_agent_state);
	}
	return -EINVAL;
}

struct bpf_link *vigil_bpf_attach_policy_tracepoint(struct vigil_bpf *bpf, const char *category,
						    const char *name, __u64 cookie)
{
	LIBBPF_OPTS(bpf_tracepoint_opts, opts, .bpf_cookie = cookie);
	struct bpf_program *copies[VIGIL_TRACEPOINT_COPIES] = {
		bpf->skel->progs.generic_tracepoint_0, bpf->skel->progs.generic_tracepoint_1,
		bpf->skel->progs.generic_tracepoint_2, bpf->skel->progs.generic_tracepoint_3,
		bpf->skel->progs.generic_tracepoint_4, bpf->skel->progs.generic_tracepoint_5,
		bpf->skel->progs.generic_tracepoint_6, bpf->skel->progs.generic_tracepoint_7,
		bpf->skel->progs.generic_tracepoint_8, bpf->skel->progs.generic_tracepoint_9,
		bpf->skel->progs.generic_tracepoint_10, bpf->skel->progs.generic_tracepoint_11,
		bpf->skel->progs.generic_tracepoint_12, bpf->skel->progs.generic_tracepoint_13,
		bpf->skel->progs.generic_tracepoint_14, bpf->skel->progs.generic_tracepoint_15,
	};
	libbpf_print_fn_t print;

	/* A program sits on a tracepoint at most once (EEXIST): take the first free copy. The
	 * expected EEXISTs are not worth libbpf's warnings, so it is silenced meanwhile. */
	print = libbpf_set_print(NULL);
	for (int i = 0; i < VIGIL_TRACEPOINT_COPIES; i++) {
		struct bpf_link *link = bpf_program__attach_tracepoint_opts(copies[i], category, name, &opts);

		if (link || errno != EEXIST) {
			int saved = errno;

			libbpf_set_print(print);
			errno = saved;
			return link;
		}
	}
	libbpf_set_print(print);
	errno = EBUSY; /* every copy is on this tracepoint already */
	return NULL;
}

void vigil_bpf_detach(struct bpf_link *link)
{
	bpf_link__destroy(link);
}

int vigil_bpf_pin_link(struct bpf_link *link, const char *path)
{
	return bpf_link__pin(link, path);
}

void vigil_bpf_unpin_link(struct bpf_link *link)
{
	if (link && bpf_link__pin_path(link))
		bpf_link__unpin(link);
}

int vigil_bpf_attach_connect(struct vigil_bpf *bpf, const char *path)
{
	struct bpf_program *progs[4] = {
		bpf->skel->progs.enforce_connect4, bpf->skel->progs.enforce_connect6,
		bpf->skel->progs.enforce_sendmsg4, bpf->skel->progs.enforce_sendmsg6,
	};
	int fd, err = 0;

	if (bpf->connect_links[0])
		return 0;
	/* The result program first: a hook that parks a record always has it completed. */
	if (bpf->skel->rodata->vg_connect_results) {
		bpf->connect_links[4] = bpf_program__attach(bpf->skel->progs.connect_result);
		if (!bpf->connect_links[4])
			return -errno;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		vigil_bpf_detach_connect(bpf);
		return err;
	}
	for (int i = 0; i < 4; i++) {
		bpf->connect_links[i] = bpf_program__attach_cgroup(progs[i], fd);
		if (!bpf->connect_links[i]) {
			err = -errno;
			vigil_bpf_detach_connect(bpf);
			break;
		}
	}
	close(fd);
	return err;
}

void vigil_bpf_detach_connect(struct vigil_bpf *bpf)
{
	for (int i = 0; i < 5; i++) {
		bpf_link__destroy(bpf->connect_links[i]);
		bpf->connect_links[i] = NULL;
	}
}

int vigil_bpf_syscall_dispatch_available(const struct vigil_bpf *bpf)
{
	return bpf->attach_mode != VIGIL_ATTACH_RAW_TP && !bpf->process_only;
}

int vigil_bpf_attach_syscalls(struct vigil_bpf *bpf, int is_exit)
{
	struct bpf_program *prog = is_exit ? bpf->skel->progs.generic_sys_exit : bpf->skel->progs.generic_sys_enter;

	if (!vigil_bpf_syscall_dispatch_available(bpf))
		return -EOPNOTSUPP;
	if (bpf->syscall_links[!!is_exit])
		return 0;
	bpf->syscall_links[!!is_exit] = bpf_program__attach(prog);
	if (!bpf->syscall_links[!!is_exit])
		return -errno;
	if (is_exit) {
		/* io_uring opens reach file_open hooks only through this; a kernel without io_uring
		 * (or without the tracepoint) still gets the syscall hooks: the caller reports it. */
		bpf->uring_open_link = bpf_program__attach_raw_tracepoint(bpf->skel->progs.generic_uring_open, "io_uring_complete");
		bpf->uring_opens = bpf->uring_open_link ? 1 : -errno;
	}
	return 0;
}

int vigil_bpf_attach_exec_dispatch(struct vigil_bpf *bpf)
{
	if (!vigil_bpf_syscall_dispatch_available(bpf))
		return -EOPNOTSUPP;
	if (bpf->exec_dispatch_link)
		return 0;
	bpf->exec_dispatch_link = bpf_program__attach(bpf->skel->progs.generic_exec_dispatch);
	return bpf->exec_dispatch_link ? 0 : -errno;
}

void vigil_bpf_detach_exec_dispatch(struct vigil_bpf *bpf)
{
	vigil_bpf_unpin_link(bpf->exec_dispatch_link);
	bpf_link__destroy(bpf->exec_dispatch_link);
	bpf->exec_dispatch_link = NULL;
}

int vigil_bpf_pin_exec_dispatch(struct vigil_bpf *bpf, const char *dir)
{
	return pin_link(bpf->exec_dispatch_link, dir, "sched_process_exec");
}

int vigil_bpf_uring_opens(const struct vigil_bpf *bpf)
{
	return bpf->uring_opens;
}

void vigil_bpf_detach_syscalls(struct vigil_bpf *bpf, int is_exit)
{
	bpf_link__destroy(bpf->syscall_links[!!is_exit]);
	bpf->syscall_links[!!is_exit] = NULL;
	if (is_exit) {
		bpf_link__destroy(bpf->uring_open_link);
		bpf->uring_open_link = NULL;
		bpf->uring_opens = 0;
	}
}

int vigil_bpf_pin_syscalls(struct vigil_bpf *bpf, int is_exit, const char *dir)
{
	int err = pin_link(bpf->syscall_links[!!is_exit], dir, is_exit ? "sys_exit" : "sys_enter");
	int uring;

	/* The io_uring completion program serves file_open hooks beside the exit dispatcher. */
	if (err < 0 || !is_exit || !bpf->uring_open_link)
		return err;
	uring = pin_link(bpf->uring_open_link, dir, "io_uring_complete");
	return uring < 0 ? uring : err;
}

void vigil_bpf_unpin_syscalls(struct vigil_bpf *bpf, int is_exit)
{
	vigil_bpf_unpin_link(bpf->syscall_links[!!is_exit]);
	if (is_exit)
		vigil_bpf_unpin_link(bpf->uring_open_link);
}

int vigil_bpf_connect_results_available(const struct vigil_bpf *bpf)
{
	return bpf->skel->rodata->vg_connect_results != 0;
}

int vigil_bpf_pin_connect(struct vigil_bpf *bpf, const char *dir)
{
	static const char *const names[5] = {"connect4", "connect6", "sendmsg4", "sendmsg6", "connect_result"};

	for (int i = 0; i < 5; i++) {
		/* connect_result completes what the cgroup hooks park: it goes with them when present. */
		if (i == 4 && !bpf->connect_links[i])
			continue;
		int err = pin_link(bpf->connect_links[i], dir, names[i]);

		if (err < 0)
			return err;
	}
	return 0;
}

int vigil_bpf_lsm_available(const struct vigil_bpf *bpf)
{
	return bpf->lsm;
}

int vigil_bpf_attach_lsm(struct vigil_bpf *bpf, int which)
{
	if (!bpf->lsm)
		return -EOPNOTSUPP;
	if (which < 0 || which >= VIGIL_LSM_HOOKS)
		return -EINVAL;
	if (bpf->lsm_links[which])
		return 0;
	bpf->lsm_links[which] = bpf_program__attach_lsm(lsm_program(bpf->skel, which));
	return bpf->lsm_links[which] ? 0 : -errno;
}

void vigil_bpf_detach_lsm(struct vigil_bpf *bpf, int which)
{
	if (which < 0 || which >= VIGIL_LSM_HOOKS)
		return;
	bpf_link__destroy(bpf->lsm_links[which]);
	bpf->lsm_links[which] = NULL;
}

int vigil_bpf_pin_lsm(struct vigil_bpf *bpf, int which, const char *dir)
{
	static const char *const names[VIGIL_LSM_HOOKS] = {"lsm_file_open", "lsm_bprm_check_security", "lsm_socket_connect"};

	if (which < 0 || which >= VIGIL_LSM_HOOKS)
		return -EINVAL;
	return pin_link(bpf->lsm_links[which], dir, names[which]);
}

/* ---------------------------------------------------------------------------------------------
 * Generic kprobes.
 * ------------------------------------------------------------------------------------------- */

int vigil_bpf_kprobes_available(const struct vigil_bpf *bpf)
{
	return bpf->kprobes;
}

struct bpf_link *vigil_bpf_attach_policy_kprobe(struct vigil_bpf *bpf, const char *symbol, __u64 cookie,
						enum vigil_kprobe_kind kind)
{
	LIBBPF_OPTS(bpf_kprobe_opts, opts, .bpf_cookie = cookie, .retprobe = kind == VIGIL_KPROBE_RETURN);
	struct bpf_program *prog;

	if (!bpf->kprobes) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	switch (kind) {
	case VIGIL_KPROBE_ENTRY: prog = bpf->skel->progs.generic_kprobe; break;
	case VIGIL_KPROBE_RETURN_ENTRY: prog = bpf->skel->progs.generic_kprobe_ret_entry; break;
	case VIGIL_KPROBE_RETURN: prog = bpf->skel->progs.generic_kretprobe; break;
	default: errno = EINVAL; return NULL;
	}
	return bpf_program__attach_kprobe_opts(prog, symbol, &opts);
}

/* ---------------------------------------------------------------------------------------------
 * Generic uprobes.
 * ------------------------------------------------------------------------------------------- */

int vigil_bpf_uprobes_available(const struct vigil_bpf *bpf)
{
	return bpf->uprobes;
}

struct bpf_link *vigil_bpf_attach_policy_uprobe(struct vigil_bpf *bpf, const char *binary, const char *symbol,
						__u64 offset, __u64 cookie, enum vigil_kprobe_kind kind)
{
	/* pid -1: every process that maps the file, as Tetragon's uprobes; the selectors narrow. */
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = kind == VIGIL_KPROBE_RETURN,
		    .func_name = symbol);
	struct bpf_program *prog;

	if (!bpf->uprobes) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	switch (kind) {
	case VIGIL_KPROBE_ENTRY: prog = bpf->skel->progs.generic_uprobe; break;
	case VIGIL_KPROBE_RETURN_ENTRY: prog = bpf->skel->progs.generic_uprobe_ret_entry; break;
	case VIGIL_KPROBE_RETURN: prog = bpf->skel->progs.generic_uretprobe; break;
	default: errno = EINVAL; return NULL;
	}
	return bpf_program__attach_uprobe_opts(prog, -1, binary, (size_t)offset, &opts);
}

/* ---------------------------------------------------------------------------------------------
 * BPF trampolines. The target of a trampoline program is fixed when it loads, and policies come
 * and go while the agent runs, so each hook gets its own instance of the embedded object with
 * just its program loaded (bound to `symbol`) and every map taken over from the running object.
 * ------------------------------------------------------------------------------------------- */

static const char *trampoline_program(enum vigil_trampoline_kind kind)
{
	switch (kind) {
	case VIGIL_TRAMPOLINE_FENTRY: return "generic_fentry";
	case VIGIL_TRAMPOLINE_FEXIT: return "generic_fexit";
	case VIGIL_TRAMPOLINE_FMOD_RET: return "generic_fmod_ret";
	}
	return NULL;
}

/* Per-hook programs (trampolines, raw tracepoints) load in a second instance of the object
 * that loads only them: an instance with only the program `name` to load, in *prog (NULL
 * and errno set when the object does not open; *prog NULL when it has no such program). The
 * skeleton's object name keeps the internal maps' names (vigil.rodata, ...) matching. */
static struct bpf_object *open_instance(const char *name, struct bpf_program **prog)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "vigil");
	struct bpf_program *p;
	struct bpf_object *obj;
	const void *elf;
	size_t size;

	*prog = NULL;
	elf = vigil__elf_bytes(&size);
	obj = bpf_object__open_mem(elf, size, &open_opts);
	if (!obj)
		return NULL;
	bpf_object__for_each_program(p, obj) {
		int wanted = strcmp(bpf_program__name(p), name) == 0;

		bpf_program__set_autoload(p, wanted);
		if (wanted)
			*prog = p;
	}
	return obj;
}

/* One set of maps: hands `obj` the running object's maps (the hooks, scratch, counters and ring
 * buffer), all but the map whose running counterpart is `except` (NULL: none), which stays the
 * instance's own and is returned in *own_copy. */
static int reuse_maps(struct vigil_bpf *bpf, struct bpf_object *obj, const struct bpf_map *except,
		      struct bpf_map **own_copy)
{
	struct bpf_map *map;
	int err = 0;

	bpf_object__for_each_map(map, obj) {
		struct bpf_map *own = bpf_object__find_map_by_name(bpf->skel->obj, bpf_map__name(map));

		if (except && own == except) {
			*own_copy = map;
			continue;
		}
		if (own && bpf_map__fd(own) >= 0)
			err = bpf_map__reuse_fd(map, bpf_map__fd(own));
		if (err)
			break;
	}
	return err;
}

/* Loads the instance, attaches its program with `attach`, and closes the instance (the link
 * keeps the program; the instance's map fds are duplicates). The link, or NULL with errno. */
static struct bpf_link *load_and_attach(struct bpf_object *obj, int err,
					struct bpf_link *(*attach)(struct bpf_program *, const void *), struct bpf_program *prog,
					const void *arg)
{
	struct bpf_link *link = NULL;

	if (!err)
		err = bpf_object__load(obj);
	if (!err) {
		link = attach(prog, arg);
		if (!link)
			err = -errno;
	}
	bpf_object__close(obj);
	if (err)
		errno = err < 0 ? -err : err;
	return link;
}

static struct bpf_link *attach_trace(struct bpf_program *prog, const void *opts)
{
	return bpf_program__attach_trace_opts(prog, opts);
}

static struct bpf_link *attach_raw_tp(struct bpf_program *prog, const void *event)
{
	return bpf_program__attach_raw_tracepoint(prog, event);
}

struct bpf_link *vigil_bpf_attach_policy_trampoline(struct vigil_bpf *bpf, const char *symbol, __u64 cookie,
						    enum vigil_trampoline_kind kind)
{
	LIBBPF_OPTS(bpf_trace_opts, trace_opts, .cookie = cookie);
	const char *name = trampoline_program(kind);
	struct bpf_program *prog;
	struct bpf_object *obj;
	int err;

	if (!name) {
		errno = EINVAL;
		return NULL;
	}
	obj = open_instance(name, &prog);
	if (!obj)
		return NULL;
	err = prog ? bpf_program__set_attach_target(prog, 0, symbol) : -ENOENT;
	/* .rodata too: frozen, so the verifier sees the same constants. */
	if (!err)
		err = reuse_maps(bpf, obj, NULL, NULL);
	return load_and_attach(obj, err, attach_trace, prog, &trace_opts);
}

struct bpf_link *vigil_bpf_attach_policy_raw_tp(struct vigil_bpf *bpf, const char *event, __u32 slot)
{
	struct bpf_map *own_rodata = NULL;
	struct vigil__rodata *rodata = NULL;
	struct bpf_program *prog;
	struct bpf_object *obj;
	size_t rodata_size = 0;
	int err;

	obj = open_instance("generic_raw_tp", &prog);
	if (!obj)
		return NULL;
	/* The running object's maps, except .rodata: this instance's own, a copy of the running
	 * one (the same constants for the verifier) with this hook's slot. */
	err = prog ? reuse_maps(bpf, obj, bpf->skel->maps.rodata, &own_rodata) : -ENOENT;
	if (!err && own_rodata)
		rodata = bpf_map__initial_value(own_rodata, &rodata_size);
	/* The whole section (static constants too, which the skeleton's struct leaves out): the
	 * running object's map holds as much, mapped. */
	if (!err && (!rodata || rodata_size != bpf_map__value_size(bpf->skel->maps.rodata) ||
		     rodata_size < offsetof(struct vigil__rodata, vg_raw_tp_slot) + sizeof(__u32)))
		err = -EINVAL;
	if (!err) {
		memcpy(rodata, bpf->skel->rodata, rodata_size);
		rodata->vg_raw_tp_slot = slot;
	}
	return load_and_attach(obj, err, attach_raw_tp, prog, event);
}

int vigil_bpf_trampolines_probe(struct vigil_bpf *bpf)
{
	struct bpf_link *link;

	if (!bpf->trampolines) {
		/* Cookie 0xffffffff is no hook slot: the program returns at its first lookup. */
		link = vigil_bpf_attach_policy_trampoline(bpf, "security_file_open", 0xffffffffULL, VIGIL_TRAMPOLINE_FENTRY);
		if (link) {
			bpf_link__destroy(link);
			bpf->trampolines = 1;
		} else {
			bpf->trampolines = errno ? -errno : -EINVAL;
		}
	}
	return bpf->trampolines > 0 ? 0 : bpf->trampolines;
}
