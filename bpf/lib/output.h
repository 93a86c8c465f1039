/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Ring-buffer output with batched wake-ups and a counter for every record that is lost. */
#ifndef VIGIL_OUTPUT_H
#define VIGIL_OUTPUT_H

#include "maps.h"

/* Bytes waiting in the ring buffer before a record forces a reader wake-up; 0 wakes on every
 * record. Waking the reader costs 3-6 us per record on our machines, a record that does not
 * wake it ~0.5 us; the reader also drains on a short timer, so nothing waits for long. */
const volatile __u64 vg_wakeup_bytes __weak = 256 * 1024;

static __always_inline void vg_count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&vg_counters, &counter);

	if (value)
		*value += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline __u64 vg_rb_flags(void)
{
	if (!vg_wakeup_bytes)
		return 0;
	if (bpf_ringbuf_query(&vg_events, BPF_RB_AVAIL_DATA) >= vg_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Copies a fully built record to the ring buffer; counts it under drop_counter if full. */
static __always_inline void vg_output(void *record, __u64 size, __u32 drop_counter)
{
	if (bpf_ringbuf_output(&vg_events, record, size, vg_rb_flags()) < 0)
		vg_count(drop_counter);
}

#endif
