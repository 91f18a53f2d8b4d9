/*
 * digest.c - SHA-256 through OpenSSL's EVP interface (see digest.h).
 */
#include "agent/digest.h"

#include <stdio.h>

#include <openssl/evp.h>

int digest_sha256_hex(const void *buf, size_t len, char out[DIGEST_SHA256_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -1;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}
