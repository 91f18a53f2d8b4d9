/*
 * digest.h - SHA-256, for the SHA256SUMS file that seals a model set: the
 * same format as sha256sum(1), so an operator can check a set by hand with
 * `sha256sum -c SHA256SUMS`. The only file that includes OpenSSL's libcrypto
 * (already in the process through libcurl and Paho's TLS).
 */
#ifndef FIELDGATE_AGENT_DIGEST_H
#define FIELDGATE_AGENT_DIGEST_H

#include <stddef.h>

#define DIGEST_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* The SHA-256 of buf[0..len) as lower-case hex into out. Returns 0, or -1
 * when libcrypto fails (out of memory). */
int digest_sha256_hex(const void *buf, size_t len, char out[DIGEST_SHA256_HEX]);

#endif
