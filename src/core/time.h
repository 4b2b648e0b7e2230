/* The two clocks the library reads, in one place.
 *
 * Monotonic time (intervals, deadlines, RTTs) comes from uv_hrtime: it never
 * jumps with the wall clock. Code that runs on a loop and can live with the
 * loop's cached time (timers, idle checks) uses uv_now(loop) instead, which
 * costs no system call.
 *
 * Wall-clock time (token signing and expiry, log timestamps, presence
 * phx_refs, a node's incarnation) comes from CLOCK_REALTIME: it is what
 * other machines and Phoenix compare against, and it can jump. */
#ifndef BN_CORE_TIME_H
#define BN_CORE_TIME_H

#include <stdint.h>
#include <time.h>

#include <uv.h>

/* Monotonic, arbitrary origin. */
static inline uint64_t bn_mono_ns(void)
{
    return uv_hrtime();
}
static inline uint64_t bn_mono_us(void)
{
    return uv_hrtime() / 1000u;
}
static inline uint64_t bn_mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Since the Unix epoch. */
static inline uint64_t bn_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t bn_wall_ms(void)
{
    return bn_wall_ns() / 1000000u;
}

#endif
