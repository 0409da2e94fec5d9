/*
 * imagedata._cwalk: little endian numbers and VR classes shared by the element walk
 * (_cwalk.c), the functional-groups walk (_cwalk_fastenh.c) and the CSA reader (_cwalk_csa.c).
 */
#ifndef IMAGEDATA_CWALK_BYTES_H
#define IMAGEDATA_CWALK_BYTES_H

#include <stdint.h>

static inline uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* VRs with a 4-byte value length in explicit VR (PS3.5 7.1.2; pydicom's
 * EXPLICIT_VR_LENGTH_32, _fastenh._LONG_VRS) */
static inline int is_long_vr(uint8_t a, uint8_t b) {
    switch (a) {
    case 'O':
        return b == 'B' || b == 'W' || b == 'F' || b == 'D' || b == 'L' || b == 'V';
    case 'S':
        return b == 'Q' || b == 'V';
    case 'U':
        return b == 'C' || b == 'R' || b == 'T' || b == 'N' || b == 'V';
    default:
        return 0;
    }
}

/* pydicom's EXPLICIT_VR_LENGTH_16 (_fastenh._SHORT_VRS):
 * with is_long_vr, every VR pydicom knows */
static inline int is_short_vr(uint8_t a, uint8_t b) {
    switch (a) {
    case 'A':
        return b == 'E' || b == 'S' || b == 'T';
    case 'C':
        return b == 'S';
    case 'D':
        return b == 'A' || b == 'S' || b == 'T';
    case 'F':
        return b == 'D' || b == 'L';
    case 'I':
        return b == 'S';
    case 'L':
        return b == 'O' || b == 'T';
    case 'P':
        return b == 'N';
    case 'S':
        return b == 'H' || b == 'L' || b == 'S' || b == 'T';
    case 'T':
        return b == 'M';
    case 'U':
        return b == 'I' || b == 'L' || b == 'S';
    default:
        return 0;
    }
}

#endif
