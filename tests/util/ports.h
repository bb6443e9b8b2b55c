/* SPDX-License-Identifier: MIT */
/*
 * ports.h - loopback TCP ports for daemons under test, without Criterion, so both the
 * integration tests (through daemon_util.h, which adds asserts) and praxis-bench use it.
 */
#ifndef PX_PORTS_H
#define PX_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A port the kernel picks: binds 127.0.0.1:0, reads the port it chose, closes the socket.
 * 0 on failure, with errno set.
 */
uint16_t px_ports_kernel(void);

/* Is 127.0.0.1:port free to listen on now? false also when no socket can be made. */
bool px_ports_is_free(uint16_t port);

/*
 * A port for a daemon that other nodes dial while it starts or restarts. Each outgoing
 * connection takes a port from the kernel's ephemeral range and could land on the port of
 * a daemon that is not listening yet, so the port comes from the 8192 just below that range
 * (which connect() never hands out): free now and not among given[0..*n_given). Tries up
 * to attempts random ports; the one found is appended to given when *n_given < cap.
 * 0 when none was found, or the range cannot be read or leaves no room below it.
 */
uint16_t px_ports_below_ephemeral(uint16_t *given, size_t *n_given, size_t cap, unsigned attempts);

#endif
