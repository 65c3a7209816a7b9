/*
 * http_server.h — the inbound HTTP listener: libmicrohttpd on the libev loop.
 *
 * libmicrohttpd parses HTTP; it runs in external-loop mode over its epoll fd,
 * which we watch with an ev_io, and a timer re-armed from MHD_get_timeout()
 * after every MHD_run() (the systemd-journal-remote pattern). Nothing here
 * blocks.
 *
 * Connections: each must deliver a complete request (head and body) within
 * request_timeout_s of being accepted, or of its previous reply plus
 * timeout_s when kept alive; when max_connections are open, a new one evicts
 * the connection that has waited longest for its request; requests in
 * progress are never cut. See http_server.c for the details.
 *
 * Requests reach the handler once, complete: method, path, headers and the
 * whole body (bounded by max_body: a Content-Length above it gets 413 before
 * anything is buffered; a chunked body that grows past it gets 413 too).
 *
 * Replies: the handler calls http_request_reply() exactly once, either inside
 * the handler or later from the loop (the connection is suspended meanwhile,
 * so slow work never holds the loop). The request stays valid until it has
 * been replied to; after http_request_reply() the caller must not touch it.
 * If the server is freed with requests still unanswered, each gets a 503 and
 * its cancel callback (if set) runs first.
 *
 * Ownership: struct http_server is owned by its creator (http_server_free());
 * struct http_request is owned by the server. Strings returned by the
 * accessors are valid until the reply.
 */
#ifndef TWOWAYD_HTTP_SERVER_H
#define TWOWAYD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_server;
struct http_request;

typedef void (*http_handler_fn)(struct http_request *req, void *userdata);
typedef void (*http_cancel_fn)(struct http_request *req, void *userdata);

#define HTTP_REQUEST_TIMEOUT_DEFAULT_S 10u

struct http_server_options {
        int listen_fd;              /* a bound, listening socket: ours or systemd's */
        unsigned max_connections;   /* past it, the longest-waiting connection is evicted */
        unsigned max_per_ip;        /* waiting connections of one address; 0: no limit */
        unsigned timeout_s;         /* idle seconds before a connection is closed */
        unsigned request_timeout_s; /* to deliver a complete request (0: the default) */
        size_t max_body;
        const char *tls_cert_pem; /* NULL for plain HTTP; PEM text, not paths */
        const char *tls_key_pem;
};

/* Counters of the connection policy, monotonic since http_server_new(). */
struct http_server_stats {
        uint64_t accepted;
        uint64_t evicted_table_full;     /* waiting connections shut down to admit a new one */
        uint64_t closed_request_timeout; /* no complete request within the deadline */
        uint64_t refused_per_ip;         /* over max_per_ip waiting connections of one address */
        uint64_t refused_table_full;     /* full, and every connection had a request in progress */
};

/* Takes ownership of opts->listen_fd (closed by http_server_free()). */
int http_server_new(struct ev_loop *loop, const struct http_server_options *opts,
                    http_handler_fn handler, void *userdata, struct http_server **ret);
struct http_server *http_server_free(struct http_server *s);

/* Stop accepting new connections; open ones keep being served. */
void http_server_stop_accepting(struct http_server *s);
/* Requests whose reply is still pending (suspended connections). */
unsigned http_server_pending(const struct http_server *s);
unsigned http_server_connections(const struct http_server *s);
void http_server_set_max_body(struct http_server *s, size_t max_body);
void http_server_get_stats(const struct http_server *s, struct http_server_stats *ret);

const char *http_request_method(const struct http_request *r);
const char *http_request_path(const struct http_request *r);
/* Case-insensitive; NULL when absent. */
const char *http_request_header(const struct http_request *r, const char *name);
const void *http_request_body(const struct http_request *r, size_t *ret_len);
/* "127.0.0.1" or "::1"; never NULL. */
const char *http_request_client(const struct http_request *r);
void http_request_set_cancel(struct http_request *r, http_cancel_fn fn, void *userdata);

/* Queue the reply (copies body). Returns 0, or -EALREADY when replied before. */
int http_request_reply(struct http_request *r, unsigned status, const char *content_type,
                       const void *body, size_t len);

/* Create a listening TCP socket for "host" (a numeric address) and port,
 * non-blocking and close-on-exec. port 0 picks a free port. */
int http_listen(const char *host, uint16_t port, int *ret_fd);
/* The address (into host, at least INET6_ADDRSTRLEN bytes) and port (the
 * return value) a listening socket is bound to. */
int http_local_address(int fd, char *host, size_t size);

#endif
