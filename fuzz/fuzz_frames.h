/*
 * fuzz_frames.h — event-stream helpers for the fuzz targets: CRC repair (so
 * that mutated frames get past the CRC checks and reach the header parser)
 * slice sizes derived from the input, and the input layout of the stream
 * targets.
 */
#ifndef TWOWAYD_FUZZ_FRAMES_H
#define TWOWAYD_FUZZ_FRAMES_H

#include <zlib.h>

#include "fuzz_common.h"

static inline uint32_t fuzz_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void fuzz_put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static inline uint32_t fuzz_crc32(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Rewrite the prelude and message CRCs of every frame found by walking
 * total_length fields, as far as the frames are present. */
static inline void fuzz_fix_crcs(uint8_t *p, size_t len)
{
        size_t o = 0;

        while (len - o >= 12) {
                uint32_t total = fuzz_be32(p + o);

                fuzz_put_be32(p + o + 8, fuzz_crc32(p + o, 8));
                if (total < 16 || total > len - o)
                        break;
                fuzz_put_be32(p + o + total - 4, fuzz_crc32(p + o, total - 4));
                o += total;
        }
}

/* Slice sizes: a small xorshift generator seeded from the input, biased
 * towards tiny slices (1..16 bytes) with the occasional large one. */
struct fuzz_slicer {
        uint32_t state;
};

static inline size_t fuzz_next_slice(struct fuzz_slicer *s, size_t left)
{
        uint32_t x = s->state ? s->state : 0x9e3779b9u;
        size_t n;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s->state = x;
        n = (x & 7) == 0 ? (x >> 8) % 4096 + 1 : (x >> 8) % 16 + 1;
        return n < left ? n : left;
}

/* The input of the stream targets: a control byte (bit 0: repair the CRCs),
 * four bytes seeding *slicer, then the stream, copied into a malloc'd buffer
 * of *ret_len bytes. NULL (nothing to run) when the input is shorter than the
 * five leading bytes. */
static inline uint8_t *fuzz_stream_input(const uint8_t *data, size_t size,
                                         struct fuzz_slicer *slicer, size_t *ret_len)
{
        uint8_t *stream;
        size_t len;

        if (size < 5)
                return NULL;
        slicer->state = fuzz_be32(data + 1);
        len = size - 5;
        stream = malloc(len ? len : 1);
        FUZZ_CHECK(stream);
        memcpy(stream, data + 5, len);
        if (data[0] & 1)
                fuzz_fix_crcs(stream, len);
        *ret_len = len;
        return stream;
}

#endif
