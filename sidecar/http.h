/*
 * sidecar/http.h — helpers shared by the daemon's HTTP servers (the JSON-RPC
 * API and /metrics), both on libmicrohttpd.
 *
 * We create and bind the listening socket ourselves and hand it to
 * libmicrohttpd (MHD_OPTION_LISTEN_SOCKET): MHD_start_daemon only says
 * "failed", while a bind of our own can tell "address already in use" from
 * "not an address", which an operator needs to read in the log.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef ZKCAR_SIDECAR_HTTP_H
#define ZKCAR_SIDECAR_HTTP_H

#include <stdint.h>

#include "common/error.h"

#define SC_HTTP_LISTEN_MAX 300 /* longest HOST:PORT text accepted */
#define SC_HTTP_BACKLOG 1024   /* listen(2) backlog: bursts of new clients wait here */

/* Parses `listen` ("127.0.0.1:3050", "0.0.0.0:9464", "localhost:0",
 * "[::1]:3050"; port 0 picks a free port), creates a TCP socket bound to it
 * (SO_REUSEADDR, close-on-exec) and listening. On success *fd is the socket
 * (the caller owns it) and *port the port actually bound. Errors:
 * ZK_ERR_USAGE (not HOST:PORT, unknown host, bad port), ZK_ERR_IO (socket,
 * bind or listen failed; the detail names errno). */
zk_err sc_http_listen(int *fd, uint16_t *port, const char *listen, zk_error_detail *err) ZK_MUST_CHECK;

#endif
