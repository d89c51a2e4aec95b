#include "sidecar/http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Splits HOST:PORT (HOST may be [v6]) into host and port text. */
static zk_err split_listen(char *host, size_t hostcap, char *port, size_t portcap, const char *s,
                           zk_error_detail *err)
{
    size_t len = strnlen(s, SC_HTTP_LISTEN_MAX + 1);
    if (len == 0 || len > SC_HTTP_LISTEN_MAX)
        return zk_error_set(err, ZK_ERR_USAGE, "listen address: empty or longer than %d bytes",
                            SC_HTTP_LISTEN_MAX);
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || close[1] != ':')
            return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": expected [IPv6]:PORT", s);
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": expected HOST:PORT", s);
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostcap)
        return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": empty or long host", s);
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || plen >= portcap)
        return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": bad port", s);
    unsigned long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9')
            return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": bad port", s);
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > 65535)
        return zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": port above 65535", s);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen);
    port[plen] = '\0';
    return ZK_OK;
}

zk_err sc_http_listen(int *fd, uint16_t *port, const char *listen_addr, zk_error_detail *err)
{
    char host[SC_HTTP_LISTEN_MAX + 1], portstr[8];
    struct addrinfo *ai = NULL;
    int s = -1;
    zk_err rc = split_listen(host, sizeof host, portstr, sizeof portstr, listen_addr, err);
    if (rc != ZK_OK)
        return rc;

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0 || ai == NULL) {
        rc = zk_error_set(err, ZK_ERR_USAGE, "listen address \"%s\": %s", listen_addr, gai_strerror(g));
        goto cleanup;
    }
    s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "socket: %s", strerror(errno));
        goto cleanup;
    }
    int one = 1;
    (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "bind %s: %s", listen_addr, strerror(errno));
        goto cleanup;
    }
    if (listen(s, SC_HTTP_BACKLOG) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "listen %s: %s", listen_addr, strerror(errno));
        goto cleanup;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &sl) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "getsockname: %s", strerror(errno));
        goto cleanup;
    }
    if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    s = -1;
    rc = ZK_OK;
cleanup:
    if (s >= 0)
        close(s);
    if (ai != NULL)
        freeaddrinfo(ai);
    return rc;
}
