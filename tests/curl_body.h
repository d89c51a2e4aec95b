/* Shared by the test programs that read HTTP replies with libcurl: one
 * accumulator of a reply's body, NUL-terminated, with an optional cap. */
#ifndef ZKCAR_TESTS_CURL_BODY_H
#define ZKCAR_TESTS_CURL_BODY_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Appends data[0..n) to the malloc'd text *p of *len bytes (kept
 * NUL-terminated). False when out of memory or when the text would pass
 * `cap` bytes (0: no cap); *p and *len are then unchanged. */
static inline bool curl_body_append(char **p, size_t *len, size_t cap, const char *data, size_t n)
{
    if (cap != 0 && (*len > cap || n > cap - *len))
        return false;
    char *q = realloc(*p, *len + n + 1);
    if (q == NULL)
        return false;
    memcpy(q + *len, data, n);
    *p = q;
    *len += n;
    q[*len] = '\0';
    return true;
}

/* A body on its own; `p` is the caller's to free. */
typedef struct curl_body {
    char *p;
    size_t len;
    size_t cap; /* 0: no cap */
} curl_body;

/* CURLOPT_WRITEFUNCTION with a curl_body as CURLOPT_WRITEDATA. */
static inline size_t curl_body_write(char *data, size_t size, size_t n, void *ud)
{
    curl_body *b = ud;
    return curl_body_append(&b->p, &b->len, b->cap, data, size * n) ? size * n : 0;
}

#endif
