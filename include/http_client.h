/*
 * http_client.h — outbound HTTP(S) on the libev loop (libcurl multi).
 *
 * One curl multi handle per client, driven by libev the way curl's
 * evhiperfifo example does: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one ev_io each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one ev_timer). Nothing here blocks; name
 * resolution uses curl's asynchronous resolver.
 *
 * Properties: connections are reused (the multi handle's connection cache);
 * every transfer has a connect timeout and a total timeout; at most
 * max_in_flight transfers run at once and the excess waits in FIFO order
 * (queued, never failed); a response body above max_response aborts the
 * transfer with -EMSGSIZE; TLS peer and host verification are always on
 * (ca_bundle only chooses the trust store); http:// is allowed (endpoint
 * overrides, IMDS); redirects are not followed; no signals (CURLOPT_NOSIGNAL).
 *
 * Callback contract: if http_client_start() returns an error, the callback is
 * never called. Otherwise it is called exactly once, from the loop, never from
 * inside http_client_start(). http_transfer_cancel() completes the transfer
 * with -ECANCELED (later, from the loop). The only exception is
 * http_client_free(), which completes every outstanding transfer with
 * -ECANCELED before it returns. Callbacks may start and cancel transfers but
 * must not free the client.
 *
 * Result: r == 0 means an HTTP response was received completely — whatever
 * its status; r < 0 is a transport failure: -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH, -ECONNRESET (connection dropped, truncated response),
 * -ECONNABORTED (TLS handshake failed), -EKEYREJECTED (peer certificate not
 * trusted), -EPROTO (malformed HTTP), -EMSGSIZE (body or headers too large),
 * -EINVAL, -ENOMEM, -EIO, -ECANCELED, or the error a data callback returned.
 *
 * Streaming: with on_data set, the body of a 2xx response is handed to
 * on_data chunk by chunk instead of being buffered (max_response still bounds
 * the total); non-2xx bodies are always buffered, for error parsing.
 *
 * Ownership: the client is owned by its creator. Everything in struct
 * http_client_req is copied by http_client_start(). struct http_transfer is
 * owned by the client: the pointer stored in *ret stays valid until the
 * callback returns and must not be used after. The struct
 * http_client_response passed to callbacks, and everything it points to, is
 * valid only during the callback.
 *
 * Loop thread only.
 */
#ifndef TWOWAYD_HTTP_CLIENT_H
#define TWOWAYD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_client;
struct http_transfer;

#define HTTP_CLIENT_MAX_IN_FLIGHT_DEFAULT 64
#define HTTP_CLIENT_CONNECT_TIMEOUT_MS    3000
#define HTTP_CLIENT_TIMEOUT_MS            30000
#define HTTP_CLIENT_MAX_RESPONSE_DEFAULT  (4u * 1024 * 1024)
#define HTTP_CLIENT_MAX_HEADER_BYTES      (64u * 1024)

struct http_client_options {
        const char *ca_bundle;   /* CURLOPT_CAINFO; NULL: the system store */
        unsigned max_in_flight;  /* 0: HTTP_CLIENT_MAX_IN_FLIGHT_DEFAULT */
        long connect_timeout_ms; /* default per transfer; 0: HTTP_CLIENT_CONNECT_TIMEOUT_MS */
        long timeout_ms;         /* default per transfer; 0: HTTP_CLIENT_TIMEOUT_MS */
        size_t max_response;     /* default per transfer; 0: HTTP_CLIENT_MAX_RESPONSE_DEFAULT */
        const char *user_agent;  /* NULL: "twowayd/<version>" */
};

struct http_header {
        char *name;  /* as received */
        char *value; /* trimmed */
};

struct http_client_response {
        long status; /* 0 when no status line arrived */
        const struct http_header *headers;
        size_t n_headers;
        const uint8_t *body; /* buffered body, NUL-terminated (not counted); NULL if none */
        size_t body_len;
        size_t streamed;       /* bytes handed to on_data */
        const char *error;     /* transport error text when r < 0, else "" */
        const char *local_url; /* the URL requested */
};

/* Return 0 to continue, a negative errno to abort the transfer with it. */
typedef int (*http_data_cb)(struct http_transfer *t, const struct http_client_response *head,
                            const void *data, size_t len, void *userdata);
typedef void (*http_done_cb)(struct http_transfer *t, int r,
                             const struct http_client_response *resp, void *userdata);

struct http_client_req {
        const char *method;         /* "GET" (default when NULL), "POST", "PUT", ... */
        const char *url;            /* http:// or https:// */
        const char *const *headers; /* "Name: value" lines */
        size_t n_headers;
        const void *body; /* sent as is; may be NULL when body_len is 0 */
        size_t body_len;
        long connect_timeout_ms; /* 0: client default */
        long timeout_ms;         /* 0: client default */
        size_t max_response;     /* 0: client default */
        http_data_cb on_data;    /* NULL: buffer the body */
        bool sensitive;          /* the body holds secrets: wipe buffers before freeing */
        /* Send on a new connection (CURLOPT_FRESH_CONNECT), never on a reused
         * keep-alive one. libcurl silently sends a request again when a reused
         * connection dies before any response byte; for a call that must not
         * run twice (SendTextMessage) that replay could act twice. A request
         * on a fresh connection is never replayed by curl. The connection may
         * serve other transfers afterwards. */
        bool fresh_connection;
};

int http_client_new(struct ev_loop *loop, const struct http_client_options *opts,
                    struct http_client **ret);
/* Completes outstanding transfers with -ECANCELED, then frees. NULL-safe. */
struct http_client *http_client_free(struct http_client *c);

int http_client_start(struct http_client *c, const struct http_client_req *req, http_done_cb cb,
                      void *userdata, struct http_transfer **ret);
/* Idempotent; does nothing once the callback has started. */
void http_transfer_cancel(struct http_transfer *t);

/* Case-insensitive lookup of the last header with that name; NULL if absent. */
const char *http_response_header(const struct http_client_response *r, const char *name);

/* Map a CURLcode (as int) to a negative errno (exposed for tests). */
int http_client_errno_from_curl(int curl_code);

#endif
