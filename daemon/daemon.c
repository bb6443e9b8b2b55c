/* SPDX-License-Identifier: MIT */
/* daemon.c - the daemon's clock helpers; see daemon.h. */
#include "daemon.h"

#include <time.h>

uint64_t
px_daemon_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
px_daemon_next_created(struct px_daemon *d)
{
    uint64_t now = px_daemon_now_ms();

    d->last_created = now > d->last_created ? now : d->last_created + 1;
    return d->last_created;
}
