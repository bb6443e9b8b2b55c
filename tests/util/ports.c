/* SPDX-License-Identifier: MIT */
/* ports.c - loopback TCP ports for daemons under test; see ports.h. */
#include "ports.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint16_t
px_ports_kernel(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;

    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

bool
px_ports_is_free(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0) {
        return false;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* xorshift64*, seeded once per process from the clock and the pid. */
static uint64_t
next_rand(void)
{
    static uint64_t s;

    if (s == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
            ((uint64_t)getpid() << 32) ^ 1;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * UINT64_C(2685821657736338717);
}

uint16_t
px_ports_below_ephemeral(uint16_t *given, size_t *n_given, size_t cap, unsigned attempts)
{
    unsigned low = 0, high = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f != NULL) {
        if (fscanf(f, "%u %u", &low, &high) != 2) {
            low = 0;
        }
        fclose(f);
    }
    for (unsigned attempt = 0; low > 12288 && attempt < attempts; attempt++) {
        uint16_t port = (uint16_t)(low - 1 - next_rand() % 8192);
        bool taken = false;

        for (size_t i = 0; i < *n_given; i++) {
            taken = taken || given[i] == port;
        }
        if (!taken && px_ports_is_free(port)) {
            if (*n_given < cap) {
                given[(*n_given)++] = port;
            }
            return port;
        }
    }
    return 0;
}
