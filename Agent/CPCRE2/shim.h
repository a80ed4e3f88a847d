#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
/* glibc declares memmem only under _GNU_SOURCE; content search uses it. */
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
