/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* O_LARGEFILE */
#include "cfanotify.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int cfan_init(unsigned int flags, unsigned int event_f_flags) {
    return fanotify_init(flags, event_f_flags);
}

int cfan_mark(int fanotify_fd, unsigned int flags, uint64_t mask, int dirfd, const char *pathname) {
    return fanotify_mark(fanotify_fd, flags, mask, dirfd, pathname);
}

int cfan_respond(int fanotify_fd, int event_fd, uint32_t response) {
    struct fanotify_response r = {.fd = event_fd, .response = response};
    for (;;) {
        ssize_t n = write(fanotify_fd, &r, sizeof r);
        if (n == (ssize_t)sizeof r) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

int cfan_o_largefile(void) {
    return O_LARGEFILE;
}

int cfan_o_path(void) {
    return O_PATH;
}

int cfan_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void cfan_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    pthread_setname_np(pthread_self(), buf);
}
