/*
 * jitter.h — the pseudo-random numbers that spread retries apart
 * (xorshift64*): spread, not secrecy. Never use them for anything an attacker
 * must not guess (tokens, UUIDs: OpenSSL's RAND_bytes()).
 *
 * Ownership: the state is a plain uint64_t the caller keeps.
 */
#ifndef TWOWAYD_JITTER_H
#define TWOWAYD_JITTER_H

#include <stdint.h>

/* A non-zero starting state that differs between processes and between
 * owners in one process (pass the owner's address as salt). */
uint64_t jitter_seed(const void *salt);

/* The next number in [0, 1); advances *state (which must not be 0). */
double jitter_next(uint64_t *state);

#endif
