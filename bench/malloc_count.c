// SPDX-License-Identifier: Apache-2.0
// Allocation counter for the pipeline benchmark, loaded with LD_PRELOAD: malloc & co. count
// and forward to glibc's own entry points; vigil-pipeline-bench reads the counter through
// dlsym. free needs no wrapper, every block still comes from glibc's allocator.
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

unsigned long vigil_bench_allocations;

static inline void count(void)
{
	__atomic_fetch_add(&vigil_bench_allocations, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
	count();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count();
	return __libc_realloc(p, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
	count();
	void *p = __libc_memalign(alignment, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
	count();
	return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size)
{
	count();
	return __libc_memalign(alignment, size);
}
