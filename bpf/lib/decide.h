/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Decisions and actions: for one hook whose arguments are read, the pod scope, the selectors,
 * the actions (signals, Override), the enforcement fence, monitor mode, rate limits and the event
 * to user space. Every mechanism (tracepoints, the syscall dispatcher, cgroup connect, BPF-LSM,
 * kprobes, trampolines) ends in vg_decide().
 */
#ifndef VIGIL_DECIDE_H
#define VIGIL_DECIDE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"
#include "policy_maps.h"
#include "selectors.h"

/* Loader settings (.rodata, set before load): __weak, since every entry file of the object
 * includes this header.
 *
 * Set by the loader where the tp_btf sys_exit program that completes connect events loads:
 * connect events then wait for their result (and a Sigkill is sent there); elsewhere they post
 * at once, without result, and Sigkill on connect hooks is refused at load. */
const volatile __u32 vg_connect_results __weak = 0;

/*
 * The enforcement fence (--enforcement-cgroup): the cgroup2 id of the one subtree whose tasks
 * kills and denies may reach; 0 for none (the whole node). Read-only data set before load and
 * frozen: pinned links keep their programs and with them this value, so the fence holds while
 * the agent is down, and nothing in user space can widen it after start.
 */
const volatile __u64 vg_fence_cgroup __weak = 0;

/* Kernel side only, in a parked connect record: send its signal, post nothing. */
#define VG_F_NOPOST (1 << 15)
/* Kernel side only, passed to vg_decide(): park the record for the kretprobe of the hook. */
#define VG_F_PARK_RET (1 << 14)

/* vg_decide's can_deny: how the calling hook fails an operation (Override). */
#define VG_DENY_CGROUP 1 /* cgroup connect/sendmsg: return 0 (EPERM), bpf_set_retval for another errno */
#define VG_DENY_LSM    2 /* BPF-LSM: return the errno; signals sent in place (lsm.h) */
#define VG_DENY_RETURN 3 /* fmod_ret: the program returns the errno, the function does not run */

/* FNV-1a over the arg values and the first bytes of the tail: Tetragon keys rate limits on
 * the first 40 bytes of each arg; this is the same idea at a fixed cost. */
static __always_inline __u64 vg_args_hash(struct vigil_generic_scratch *s, __u32 tail_len)
{
	__u64 h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		h ^= s->ev.args[i].value;
		h *= 0x100000001b3ULL;
	}
	for (i = 0; i < 64; i++) {
		if (i >= tail_len)
			break;
		h ^= (__u8)s->tail[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Whether the current task's cgroup, or one of its ancestors at a depth set in `levels`, is in
 * scope set `id`. Ancestors, not only the cgroup itself: a pod-level entry covers every container
 * of the pod, including those started after the agent last looked, and a container entry covers
 * cgroups made below it (crun's `container`, systemd in a container). */
static __always_inline int vg_scope_member(__u32 id, __u32 levels)
{
	struct vigil_scope_key key = { .policy_id = id };
	__u32 level;

	for (level = 0; level < VIGIL_SCOPE_LEVELS; level++) {
		if (!(levels & (1U << level)))
			continue;
		key.cgroup_id = bpf_get_current_ancestor_cgroup_id(level);
		if (!key.cgroup_id)
			break; /* the task's cgroup is shallower than this level */
		if (bpf_map_lookup_elem(&vg_scope_cgroups, &key))
			return 1;
	}
	return 0;
}

/*
 * Fail-closed pod scope: whether the agent is away and the current task's cgroup is one it has
 * not classified. Away: its heartbeat (`alive_until_ns`, pushed a few seconds ahead every second
 * and zeroed at a clean exit) has run out. A heartbeat rather than an "alive" flag alone: kill -9
 * or a crash clears no flag, and a hung agent keeps no scope current either. Classified: cgroup
 * ids are kernfs node ids, handed out in increasing order (kernfs_new_node: idr_alloc_cyclic,
 * plus a generation in the upper 32 bits when the lower ones wrap), so every cgroup made after
 * the agent's last full scan has a higher id than any it saw: one number instead of a set. The
 * task's own cgroup, not the pod's: a container cgroup made meanwhile is unclassified too (it may
 * belong to a pod the agent never saw). While the agent is up this is never asked to decide: the
 * scope is exactly its set, so a new pod's first process is not denied by it.
 */
static __always_inline int vg_unclassified_while_agent_down(void)
{
	struct vigil_agent_state *agent;
	__u32 zero = 0;

	agent = bpf_map_lookup_elem(&vg_agent_state, &zero);
	if (!agent || bpf_ktime_get_ns() <= agent->alive_until_ns)
		return 0;
	return bpf_get_current_cgroup_id() > agent->classified_cgroup_max;
}

/* Whether policy `policy_id` applies to the current task: unscoped policies apply everywhere; a
 * pod-scoped one only in its set's cgroups (plus, with hostSelector {}, outside every pod, and
 * fail-closed, while no agent runs, in every cgroup it has not classified). */
static __always_inline int vg_in_scope(__u32 policy_id)
{
	struct vigil_scope *scope = bpf_map_lookup_elem(&vg_policy_scope, &policy_id);
	__u32 any = VIGIL_SCOPE_ANY_POD;
	struct vigil_scope *pods;

	if (!scope || !(scope->flags & VIGIL_SCOPE_F_SCOPED))
		return 1;
	if (vg_scope_member(policy_id, scope->levels))
		return 1;
	if ((scope->flags & VIGIL_SCOPE_F_FAIL_CLOSED) && vg_unclassified_while_agent_down())
		return 1;
	if (!(scope->flags & VIGIL_SCOPE_F_HOST))
		return 0;
	pods = bpf_map_lookup_elem(&vg_policy_scope, &any);
	return !pods || !vg_scope_member(any, pods->levels);
}


/*
 * Whether the current task may be acted on: no fence, or its cgroup is the fence cgroup or below
 * it. Walks the task's cgroup ancestors from the root (level 0) down; the fence's own level is not
 * needed, so a fence path seen through a cgroup namespace works alike. Only runs when an action
 * is due (rare), so the walk's cost never lands on hooks that merely post. 64 levels is deeper
 * than any real hierarchy (kubelet's are 4-6); the bound is the verifier's.
 */
static __always_inline int vg_in_fence(void)
{
	__u64 id;
	int level;

	if (!vg_fence_cgroup)
		return 1;
	for (level = 0; level < 64; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			return 0; /* past the task's own cgroup: not below the fence */
		if (id == vg_fence_cgroup)
			return 1;
	}
	return 0;
}

/*
 * Selectors, actions and the event, for one hook whose arguments are in s. Returns 1 to let the
 * operation go on, 0 to fail it (Override, on hooks that can: connect). Inlined with can_deny
 * a constant, so tracepoint programs keep bpf_send_signal() and connect programs (which may not
 * call it) never reference it.
 */
static __always_inline int vg_decide(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 slot,
				     __u32 tail_len, const int can_deny, __u16 extra_flags)
{
	struct vigil_selector *selector = NULL;
	struct vigil_proc_state *proc;
	__u32 i, *mode;
	__u64 rate_ns = 0;
	int sel = -1, post = 1, rate_scope = 0, deny = 0, error = 0;
	__u8 action = VIGIL_ACTION_POST;
	__u16 sig = 0;

	/* First, before any selector: every hook (tracepoints, the syscall dispatcher, connect and
	 * whatever else ends here) honours the policy's pod scope. */
	if (!vg_in_scope(hook->policy_id)) {
		vg_count(VIGIL_CTR_POLICY_OUT_OF_SCOPE);
		return 1;
	}

	sel = vg_select(hook, s, &selector);
	if (sel == VG_SEL_FILTERED) {
		vg_count(VIGIL_CTR_POLICY_FILTERED);
		return 1;
	}
	vg_count(VIGIL_CTR_POLICY_MATCHED);

	if (selector) {
		for (i = 0; i < VIGIL_ACTIONS; i++) {
			struct vigil_action *a = &selector->actions[i];

			if (i >= selector->nactions)
				break;
			switch (a->kind) {
			case VIGIL_ACTION_POST:
				action = VIGIL_ACTION_POST;
				rate_ns = a->rate_ns;
				rate_scope = a->rate_scope;
				break;
			case VIGIL_ACTION_NOPOST:
				post = 0;
				break;
			case VIGIL_ACTION_SIGKILL:
				action = VIGIL_ACTION_SIGKILL;
				sig = 9;
				break;
			case VIGIL_ACTION_SIGNAL:
				action = VIGIL_ACTION_SIGNAL;
				sig = a->signal;
				break;
			case VIGIL_ACTION_OVERRIDE:
				action = VIGIL_ACTION_OVERRIDE;
				deny = can_deny;
				error = a->error;
				break;
			}
		}
	}

	s->ev.hdr.flags = (extra_flags & ~VG_F_PARK_RET) | (s->has_result ? VIGIL_GENERIC_F_RESULT : 0);
	if (sig || deny) {
		mode = bpf_map_lookup_elem(&vg_policy_mode, &hook->policy_id);
		if (mode && *mode == VIGIL_MODE_MONITOR) {
			s->ev.hdr.flags |= VIGIL_GENERIC_F_MONITOR;
			deny = 0;
		} else if (!vg_in_fence()) {
			/* Outside the fence: reported, not done. Like monitor mode, the flag also
			 * keeps connect_result from sending a parked signal. */
			s->ev.hdr.flags |= VIGIL_GENERIC_F_FENCED;
			vg_count(VIGIL_CTR_POLICY_FENCED);
			deny = 0;
		} else if (sig && can_deny != VG_DENY_CGROUP) {
			/* In the hook itself: the process dies before the syscall returns to it. */
			bpf_send_signal(sig);
			vg_count(VIGIL_CTR_POLICY_SIGNALS);
		}
	}
	if (deny) {
		s->ev.hdr.flags |= VIGIL_GENERIC_F_DENIED;
		/* An LSM hook returns the errno itself (s->result, also the event's result); so does
		 * an fmod_ret program, in place of the function it skips. */
		if (can_deny == VG_DENY_LSM || can_deny == VG_DENY_RETURN)
			s->result = -(__s64)(error ? error : 1);
		/* Another errno than the default EPERM (kernel >= 5.18 for bpf_set_retval). */
		else if (can_deny == VG_DENY_CGROUP && error && error != 1)
			bpf_set_retval(-error);
	}
	if (!post) {
		vg_count(VIGIL_CTR_POLICY_NOPOST);
		/* A connect hook's Sigkill is sent at the syscall's exit: park the record there
		 * anyway, marked to be dropped once the signal is out. */
		if (can_deny == VG_DENY_CGROUP && sig && vg_connect_results &&
		    !(s->ev.hdr.flags & (VIGIL_GENERIC_F_MONITOR | VIGIL_GENERIC_F_FENCED))) {
			__u64 id = bpf_get_current_pid_tgid();
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			s->ev.hdr.flags |= VG_F_NOPOST;
			s->ev.signal = sig;
			s->ev.hdr.size = sizeof(s->ev);
			if (sv)
				bpf_map_update_elem(&vg_connect_pending, &id, sv, BPF_ANY);
		}
		return !deny;
	}
	if (rate_ns) {
		struct vg_rate_key key = { .slot = slot, .selector = sel };
		__u64 now = bpf_ktime_get_ns(), *last;
		__u64 id = bpf_get_current_pid_tgid();

		key.scope = rate_scope == VIGIL_RATE_THREAD ? id : rate_scope == VIGIL_RATE_PROCESS ? id >> 32 : 0;
		key.args_hash = vg_args_hash(s, tail_len);
		last = bpf_map_lookup_elem(&vg_rate, &key);
		if (last && now - *last < rate_ns) {
			vg_count(VIGIL_CTR_POLICY_RATE_LIMITED);
			return !deny;
		}
		bpf_map_update_elem(&vg_rate, &key, &now, BPF_ANY);
	}

	{
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u64 size;

		s->ev.hdr.kind = VIGIL_EVENT_GENERIC;
		s->ev.hdr.ktime_ns = bpf_ktime_get_ns();
		s->ev.hdr.cgroup_id = bpf_get_current_cgroup_id();
		s->ev.hdr.pid = tgid;
		s->ev.hdr.tid = (__u32)bpf_get_current_pid_tgid();
		proc = bpf_map_lookup_elem(&vg_procs, &tgid);
		s->ev.process_ktime_ns = proc ? proc->ktime_ns : 0;
		s->ev.hook_slot = slot;
		s->ev.policy_id = hook->policy_id;
		s->ev.selector = sel < 0 ? 0xff : sel;
		s->ev.action = action;
		s->ev.signal = sig;
		s->ev.nargs = hook->nargs;
		s->ev.result = s->has_result ? s->result : 0;
		size = sizeof(s->ev) + tail_len;
		/* The compiler proves the check below unreachable and drops it, which leaves the
		 * 6.1 verifier without a bound on size; the barrier keeps the check in the object. */
		barrier_var(size);
		if (size > sizeof(s->ev) + VIGIL_GENERIC_TAIL)
			return !deny; /* unreachable; states the bound for bpf_ringbuf_output */
		s->ev.hdr.size = size;
		if ((extra_flags & VG_F_PARK_RET) && size <= sizeof(struct vg_kret_record)) {
			/* A kretprobe hook: the event goes out at the function's return, with what
			 * it returned (generic_kretprobe). */
			struct vg_kret_key key = { .id = bpf_get_current_pid_tgid(), .slot = slot };
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			if (sv && bpf_map_update_elem(&vg_kret_pending, &key, sv, BPF_ANY) == 0)
				return !deny;
		}
		if (can_deny == VG_DENY_CGROUP && vg_connect_results && size <= sizeof(struct vg_connect_record)) {
			/* Completed by connect_result at the syscall's exit. A record still waiting
			 * for this thread (a second hook on the same connect, or a connect that never
			 * returned through a syscall, as io_uring's) goes out now, without result. */
			__u64 id = bpf_get_current_pid_tgid();
			struct vg_connect_record *prev = bpf_map_lookup_elem(&vg_connect_pending, &id);
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			if (prev) {
				__u32 prev_size = prev->ev.hdr.size;

				if (!(prev->ev.hdr.flags & VG_F_NOPOST) && prev_size <= sizeof(*prev))
					vg_output(prev, prev_size, VIGIL_CTR_RB_DROPS_GENERIC);
			}
			if (sv && bpf_map_update_elem(&vg_connect_pending, &id, sv, BPF_ANY) == 0)
				return !deny;
		}
		vg_output(s, size, VIGIL_CTR_RB_DROPS_GENERIC);
	}
	return !deny;
}

#endif
