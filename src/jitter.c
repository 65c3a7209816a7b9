/*
 * jitter.c — xorshift64* for retry jitter. See jitter.h.
 */
#include <time.h>
#include <unistd.h>

#include "jitter.h"

uint64_t jitter_seed(const void *salt)
{
        uint64_t s = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)salt;

        return s ? s : UINT64_C(0x9e3779b97f4a7c15);
}

double jitter_next(uint64_t *state)
{
        uint64_t x = *state;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        /* The top 53 bits, as a double in [0, 1). */
        return (double)((x * UINT64_C(2685821657736338717)) >> 11) / 9007199254740992.0;
}
