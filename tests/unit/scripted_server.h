/*
 * scripted_server.h — for the unit tests of the outbound side (http_client,
 * aws, dedup): an HTTP server on 127.0.0.1 that answers each request with the
 * next reply of a script and records what it received, byte for byte.
 *
 * libmicrohttpd with its own polling thread, so the test's libev loop (which
 * runs the client under test) and the server never wait on each other. The
 * path and query are recorded as sent (no unescaping), so that a test can
 * recompute a SigV4 signature from what arrived. A reply with close set
 * answers nothing: the connection is closed after the request was read.
 * Once the script is used up, every request gets the fallback reply.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_SCRIPTED_SERVER_H
#define TWOWAYD_TEST_SCRIPTED_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "loop_wait.h"

#define SCRIPT_MAX         16
#define RECORDED_MAX       16
#define RECORDED_HEADERS   32
#define SCRIPT_BODY_MAX    (256u * 1024)
#define SCRIPT_HEADERS_MAX 4

struct scripted_reply {
        unsigned status;
        const char *content_type; /* NULL: none */
        const char *headers[SCRIPT_HEADERS_MAX][2];
        const char *body; /* NULL: empty */
        size_t body_len;  /* 0: strlen(body) */
        bool close;       /* no answer: close the connection */
};

struct recorded_request {
        char method[16];
        char path[512];
        char query[512];
        struct {
                char name[64];
                char value[1024];
        } headers[RECORDED_HEADERS];
        size_t n_headers;
        char *body;
        size_t body_len;
        unsigned short client_port; /* a new one: a new connection */
};

struct scripted_server {
        struct MHD_Daemon *mhd;
        unsigned short port;
        char base_url[64];
        pthread_mutex_t lock;
        struct scripted_reply script[SCRIPT_MAX];
        size_t n_script, next_reply;
        struct scripted_reply fallback;
        struct recorded_request requests[RECORDED_MAX];
        size_t n_requests;
        /* Optional: choose the reply by what was asked (its X-Amz-Target and
         * body) instead of the script; called from the server's thread under
         * the lock, for every request (also those past RECORDED_MAX). */
        struct scripted_reply (*answer)(const char *target, const char *body, void *userdata);
        void *answer_userdata;
};

struct scripted_upload {
        char *body;
        size_t len;
        bool too_big;
};

/* Keep the path and query exactly as sent. */
static inline size_t scripted_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
        (void)cls;
        (void)c;
        return strlen(s);
}

static inline enum MHD_Result scripted_copy_header(void *cls, enum MHD_ValueKind kind,
                                                   const char *key, const char *value)
{
        struct recorded_request *r = cls;

        (void)kind;
        if (r->n_headers < RECORDED_HEADERS) {
                snprintf(r->headers[r->n_headers].name, sizeof(r->headers[0].name), "%s", key);
                snprintf(r->headers[r->n_headers].value, sizeof(r->headers[0].value), "%s",
                         value ? value : "");
                r->n_headers++;
        }
        return MHD_YES;
}

static inline enum MHD_Result scripted_copy_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                                const char *value)
{
        struct recorded_request *r = cls;
        size_t len = strlen(r->query);

        (void)kind;
        snprintf(r->query + len, sizeof(r->query) - len, "%s%s%s%s", len ? "&" : "", key,
                 value ? "=" : "", value ? value : "");
        return MHD_YES;
}

static inline enum MHD_Result scripted_handler(void *cls, struct MHD_Connection *conn,
                                               const char *url, const char *method,
                                               const char *version, const char *upload_data,
                                               size_t *upload_data_size, void **con_cls)
{
        struct scripted_server *s = cls;
        struct scripted_upload *up = *con_cls;
        struct scripted_reply reply;
        struct recorded_request *rec = NULL;
        const union MHD_ConnectionInfo *info;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char *copy;
        size_t len;

        (void)version;
        if (!up) {
                up = calloc(1, sizeof(*up));
                if (!up)
                        return MHD_NO;
                *con_cls = up;
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (up->len + *upload_data_size > SCRIPT_BODY_MAX)
                        up->too_big = true;
                else {
                        char *grown = realloc(up->body, up->len + *upload_data_size + 1);
                        if (!grown)
                                return MHD_NO;
                        up->body = grown;
                        memcpy(up->body + up->len, upload_data, *upload_data_size);
                        up->len += *upload_data_size;
                        up->body[up->len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        pthread_mutex_lock(&s->lock);
        if (s->n_requests < RECORDED_MAX) {
                rec = &s->requests[s->n_requests++];
                snprintf(rec->method, sizeof(rec->method), "%s", method);
                snprintf(rec->path, sizeof(rec->path), "%s", url);
                MHD_get_connection_values(conn, MHD_HEADER_KIND, scripted_copy_header, rec);
                MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, scripted_copy_arg, rec);
                info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                if (info && info->client_addr->sa_family == AF_INET)
                        rec->client_port =
                                ntohs(((const struct sockaddr_in *)(const void *)info->client_addr)
                                              ->sin_port);
                rec->body = up->body ? up->body : strdup("");
                rec->body_len = up->len;
                up->body = NULL;
        }
        if (s->answer)
                reply = s->answer(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                              "X-Amz-Target"),
                                  rec ? rec->body : up->body ? up->body : "", s->answer_userdata);
        else
                reply = s->next_reply < s->n_script ? s->script[s->next_reply++] : s->fallback;
        pthread_mutex_unlock(&s->lock);

        if (reply.close)
                return MHD_NO;
        len = reply.body_len ? reply.body_len : reply.body ? strlen(reply.body) : 0;
        copy = malloc(len + 1);
        if (!copy)
                return MHD_NO;
        memcpy(copy, reply.body ? reply.body : "", len);
        resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(copy);
                return MHD_NO;
        }
        if (reply.content_type)
                MHD_add_response_header(resp, "Content-Type", reply.content_type);
        for (size_t i = 0; i < SCRIPT_HEADERS_MAX && reply.headers[i][0]; i++)
                MHD_add_response_header(resp, reply.headers[i][0], reply.headers[i][1]);
        ret = MHD_queue_response(conn, reply.status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static inline void scripted_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                      enum MHD_RequestTerminationCode toe)
{
        struct scripted_upload *up = *con_cls;

        (void)cls;
        (void)conn;
        (void)toe;
        if (up) {
                free(up->body);
                free(up);
                *con_cls = NULL;
        }
}

static inline int scripted_server_start(struct scripted_server *s)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
        const union MHD_DaemonInfo *info;

        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
        s->fallback = (struct scripted_reply){
                .status = 200,
                .content_type = "application/x-amz-json-1.0",
                .body = "{}",
        };
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* MHD_USE_ITC: a connection handed over with MHD_add_connection() is
         * served at once, not at the polling thread's next wake-up. */
        s->mhd = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL, scripted_handler, s,
                MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_UNESCAPE_CALLBACK, scripted_no_unescape,
                NULL, MHD_OPTION_NOTIFY_COMPLETED, scripted_completed, NULL, MHD_OPTION_END);
        if (!s->mhd)
                return -1;
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        if (!info || !info->port)
                return -1;
        s->port = info->port;
        snprintf(s->base_url, sizeof(s->base_url), "http://127.0.0.1:%u", (unsigned)s->port);
        return 0;
}

static inline void scripted_server_stop(struct scripted_server *s)
{
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        for (size_t i = 0; i < s->n_requests; i++)
                free(s->requests[i].body);
        s->n_requests = 0;
        pthread_mutex_destroy(&s->lock);
}

/* Replace the script (the recorded requests stay). */
static inline void scripted_server_script(struct scripted_server *s,
                                          const struct scripted_reply *replies, size_t n)
{
        pthread_mutex_lock(&s->lock);
        s->n_script = n < SCRIPT_MAX ? n : SCRIPT_MAX;
        if (s->n_script)
                memcpy(s->script, replies, s->n_script * sizeof(*replies));
        s->next_reply = 0;
        pthread_mutex_unlock(&s->lock);
}

static inline size_t scripted_server_count(struct scripted_server *s)
{
        size_t n;

        pthread_mutex_lock(&s->lock);
        n = s->n_requests;
        pthread_mutex_unlock(&s->lock);
        return n;
}

/* A socket on 127.0.0.1 that listens and never accepts: connections
 * complete in the kernel's backlog and no request is ever answered. url_out
 * gets "http://127.0.0.1:PORT"; the caller closes the socket (after which
 * nobody listens on that port). -1 on failure. */
static inline int silent_listener(char *url_out, size_t size)
{
        struct sockaddr_in sin = {.sin_family = AF_INET};
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0 ||
            getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
                close(fd);
                return -1;
        }
        snprintf(url_out, size, "http://127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
        return fd;
}

/* The value of a recorded header (names case-insensitive), or NULL. */
static inline const char *recorded_header(const struct recorded_request *r, const char *name)
{
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

#endif
