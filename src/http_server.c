/*
 * http_server.c — libmicrohttpd in external-loop mode on libev.
 *
 * MHD owns an epoll fd that becomes readable whenever any of its sockets
 * (listener, connections, the inter-thread channel used by resume) needs work;
 * an ev_io on it calls MHD_run(), and an ev_timer armed from MHD_get_timeout()
 * covers connection timeouts when no fd fires.
 *
 * A request is handed to the application only when its body is complete. If
 * the application does not reply at once, the connection is suspended, which
 * parks it inside MHD without consuming loop time, and resumed by the reply.
 *
 * Connection policy (the model is nginx's client_header_timeout and
 * client_body_timeout, plus eviction instead of refusal). Every connection is
 * tracked from MHD's connection-notify callback. One that is not working on a
 * complete request ("waiting": still sending its head or body, or kept alive
 * between requests) sits on one of two lists in the order it started waiting:
 *   fresh     accepted, no request yet: must deliver a complete request
 *             within request_timeout of being accepted;
 *   kept      kept alive after a reply: must deliver its next complete request
 *             within timeout + request_timeout of that reply.
 * A connection past its deadline is shut down. When a new connection makes
 * more than max_connections, the connection that has waited longest (the
 * older of the two list heads) is shut down to admit it; only when nothing is
 * waiting is the new one refused. max_per_ip, when set, bounds the waiting
 * connections of one address (a new one over it is refused). Requests in
 * progress are never touched. Because each list is in deadline order, the
 * deadline timer and the choice of a victim look at list heads only.
 *
 * Shutting down is shutdown(2) on MHD's socket, never close(): MHD then sees
 * the end of the stream on its next run and closes the connection itself, so
 * it never meets a descriptor that was closed under it. MHD's own limit is a
 * little above max_connections so that a new connection can be accepted (and
 * told about) while the one it evicts is still being closed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

#include <ev.h>
#include <microhttpd.h>

#include "http_server.h"
#include "log.h"

/* Bounds request line + headers (SNS sends under 1 KiB of them). MHD zeroes
 * this pool on every request and it stays resident per connection, so it is
 * kept small: 16 KiB, not 64 KiB (docs/BENCHMARKS.md). */
#define HTTP_CONNECTION_MEMORY (16u * 1024u)
#define HTTP_LISTEN_BACKLOG    1024
/* Connections MHD may hold beyond max_connections while evicted ones close. */
#define HTTP_EVICTION_SLACK 64u
/* Evictions and refusals are logged at most this often, with counts. */
#define HTTP_POLICY_LOG_INTERVAL_S 10.0

enum conn_list {
        CONN_LIST_NONE, /* working on a request, or being shut down */
        CONN_LIST_FRESH,
        CONN_LIST_KEPT,
        _CONN_LIST_MAX,
};

/* One accepted connection: MHD's socket context. */
struct http_conn {
        struct MHD_Connection *mhd;
        int fd;
        ev_tstamp since; /* when it started waiting */
        enum conn_list list;
        bool closing;
        struct sockaddr_storage addr;
        struct http_conn *prev, *next;
};

struct conn_queue {
        struct http_conn *head, *tail;
        unsigned n;
};

struct http_request {
        struct http_server *srv;
        struct MHD_Connection *conn;
        char *method;
        char *path;
        char *body;
        size_t body_len;
        size_t body_cap;
        bool too_large;
        bool dispatched;
        bool in_handler;
        bool suspended;
        bool replied;
        unsigned status;
        char *content_type;
        char *reply_body;
        size_t reply_len;
        char client[INET6_ADDRSTRLEN];
        http_cancel_fn cancel;
        void *cancel_userdata;
        struct http_request *prev, *next; /* on srv->pending while suspended */
};

struct http_server {
        struct ev_loop *loop;
        struct MHD_Daemon *mhd;
        ev_io io;
        ev_timer timer;
        int listen_fd;
        unsigned max_connections;
        size_t max_body;
        http_handler_fn handler;
        void *userdata;
        struct http_request *pending;
        unsigned n_pending;

        unsigned max_per_ip;
        unsigned request_timeout_s;
        unsigned timeout_s;
        unsigned mhd_limit;
        unsigned n_conns;
        unsigned n_closing_conns;
        struct conn_queue waiting[_CONN_LIST_MAX];
        ev_timer deadline;
        ev_timer policy_log;
        ev_tstamp policy_logged_at;
        struct http_server_stats stats;
        struct http_server_stats stats_logged; /* as of the last policy log */
};

static unsigned connections_now(const struct http_server *s)
{
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

        return info ? info->num_connections : 0;
}

static void http_server_run(struct http_server *s)
{
        MHD_UNSIGNED_LONG_LONG timeout_ms;
        unsigned before = connections_now(s);

        MHD_run(s->mhd);
        /* At max_connections MHD takes the listen socket out of its epoll set,
         * and puts it back only at the start of a later MHD_run(). When this
         * run closed connections and nothing else is due, no event would ever
         * call MHD_run() again: new connections would wait in the backlog
         * forever. Run once more, so that the listener is watched again. */
        if (before >= s->mhd_limit && connections_now(s) < s->mhd_limit)
                MHD_run(s->mhd);
        ev_timer_stop(s->loop, &s->timer);
        if (MHD_get_timeout(s->mhd, &timeout_ms) == MHD_YES) {
                ev_timer_set(&s->timer, (double)timeout_ms / 1000.0, 0.);
                ev_timer_start(s->loop, &s->timer);
        }
}

static void http_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        http_server_run(w->data);
}

static void http_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        http_server_run(w->data);
}

/* --- connection policy ----------------------------------------------------------------------- */

static void conn_unlink(struct http_server *s, struct http_conn *c)
{
        struct conn_queue *q;

        if (c->list == CONN_LIST_NONE)
                return;
        q = &s->waiting[c->list];
        if (c->prev)
                c->prev->next = c->next;
        else
                q->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                q->tail = c->prev;
        c->prev = c->next = NULL;
        c->list = CONN_LIST_NONE;
        q->n--;
}

static void deadline_arm(struct http_server *s);

/* Start waiting now, at the tail of its list (the lists stay in order). */
static void conn_wait(struct http_server *s, struct http_conn *c, enum conn_list list)
{
        struct conn_queue *q = &s->waiting[list];

        conn_unlink(s, c);
        if (c->closing)
                return;
        c->list = list;
        c->since = ev_now(s->loop);
        c->prev = q->tail;
        c->next = NULL;
        if (q->tail)
                q->tail->next = c;
        else
                q->head = c;
        q->tail = c;
        q->n++;
        deadline_arm(s);
}

static double list_grace(const struct http_server *s, enum conn_list list)
{
        return list == CONN_LIST_KEPT ? (double)s->timeout_s + s->request_timeout_s
                                      : (double)s->request_timeout_s;
}

/* Close without an answer: MHD notices the end of the stream on its next run. */
static void conn_shutdown(struct http_server *s, struct http_conn *c)
{
        conn_unlink(s, c);
        if (c->closing)
                return;
        c->closing = true;
        s->n_closing_conns++;
        (void)shutdown(c->fd, SHUT_RDWR);
        /* Make sure MHD runs soon, whatever its epoll set reports. */
        ev_timer_stop(s->loop, &s->timer);
        ev_timer_set(&s->timer, 0., 0.);
        ev_timer_start(s->loop, &s->timer);
}

static void policy_log_now(struct http_server *s)
{
        const struct http_server_stats *n = &s->stats, *o = &s->stats_logged;
        uint64_t evicted = n->evicted_table_full - o->evicted_table_full,
                 expired = n->closed_request_timeout - o->closed_request_timeout,
                 per_ip = n->refused_per_ip - o->refused_per_ip,
                 full = n->refused_table_full - o->refused_table_full;
        char e[24], x[24], p[24], f[24];

        s->stats_logged = s->stats;
        s->policy_logged_at = ev_now(s->loop);
        if (evicted + expired + per_ip + full == 0)
                return;
        snprintf(e, sizeof(e), "%llu", (unsigned long long)evicted);
        snprintf(x, sizeof(x), "%llu", (unsigned long long)expired);
        snprintf(p, sizeof(p), "%llu", (unsigned long long)per_ip);
        snprintf(f, sizeof(f), "%llu", (unsigned long long)full);
        log_warning("http.connections_shed",
                    LOG_FIELDS(LF("EVICTED", e), LF("TIMED_OUT", x), LF("REFUSED_PER_IP", p),
                               LF("REFUSED_FULL", f)),
                    "connections shed: %s waiting ones evicted to admit new ones (table full), "
                    "%s closed past the request deadline, %s refused over the per-address "
                    "limit, %s refused with nothing to evict (since the last report)",
                    e, x, p, f);
}

static void policy_log_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        policy_log_now(w->data);
}

/* Log at once when the last report is old enough, else once the interval has
 * passed, with everything counted meanwhile. */
static void policy_event(struct http_server *s)
{
        ev_tstamp due = s->policy_logged_at + HTTP_POLICY_LOG_INTERVAL_S;

        if (ev_now(s->loop) >= due) {
                policy_log_now(s);
                return;
        }
        if (!ev_is_active(&s->policy_log)) {
                ev_timer_set(&s->policy_log, due - ev_now(s->loop), 0.);
                ev_timer_start(s->loop, &s->policy_log);
        }
}

static void deadline_arm(struct http_server *s)
{
        ev_tstamp due = 0.;
        bool any = false;

        for (int l = CONN_LIST_FRESH; l < _CONN_LIST_MAX; l++) {
                const struct http_conn *h = s->waiting[l].head;

                if (h && (!any || h->since + list_grace(s, l) < due)) {
                        due = h->since + list_grace(s, l);
                        any = true;
                }
        }
        if (!any) {
                ev_timer_stop(s->loop, &s->deadline);
                return;
        }
        if (ev_is_active(&s->deadline) &&
            ev_now(s->loop) + ev_timer_remaining(s->loop, &s->deadline) <= due)
                return;
        ev_timer_stop(s->loop, &s->deadline);
        ev_timer_set(&s->deadline, MAX(due - ev_now(s->loop), 0.), 0.);
        ev_timer_start(s->loop, &s->deadline);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct http_server *s = w->data;
        ev_tstamp now = ev_now(loop);
        unsigned n = 0;

        for (int l = CONN_LIST_FRESH; l < _CONN_LIST_MAX; l++) {
                struct http_conn *h;

                while ((h = s->waiting[l].head) && h->since + list_grace(s, l) <= now) {
                        conn_shutdown(s, h);
                        n++;
                }
        }
        s->stats.closed_request_timeout += n;
        if (n > 0)
                policy_event(s);
        deadline_arm(s);
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
        if (a->ss_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                              &((const struct sockaddr_in6 *)b)->sin6_addr,
                              sizeof(struct in6_addr)) == 0;
        return false;
}

/* Waiting connections from c's address, c excluded. A walk of the lists, only
 * when a per-address limit is set. */
static unsigned waiting_from(const struct http_server *s, const struct http_conn *c)
{
        unsigned n = 0;

        for (int l = CONN_LIST_FRESH; l < _CONN_LIST_MAX; l++)
                for (const struct http_conn *o = s->waiting[l].head; o; o = o->next)
                        n += o != c && same_address(&o->addr, &c->addr);
        return n;
}

/* The connection that has waited longest, other than skip. */
static struct http_conn *eviction_victim(struct http_server *s, const struct http_conn *skip)
{
        struct http_conn *best = NULL;

        for (int l = CONN_LIST_FRESH; l < _CONN_LIST_MAX; l++) {
                struct http_conn *h = s->waiting[l].head;

                if (h == skip)
                        h = h->next;
                if (h && (!best || h->since < best->since))
                        best = h;
        }
        return best;
}

/* A new connection: admit it, evicting if the table is full, or refuse it. */
static void conn_admit(struct http_server *s, struct http_conn *c)
{
        struct http_conn *victim;

        conn_wait(s, c, CONN_LIST_FRESH);
        if (s->max_per_ip > 0 && waiting_from(s, c) >= s->max_per_ip) {
                s->stats.refused_per_ip++;
                conn_shutdown(s, c);
                policy_event(s);
                return;
        }
        /* Connections being shut down no longer count: they are on their way out. */
        if (s->n_conns - s->n_closing_conns <= s->max_connections)
                return;
        victim = eviction_victim(s, c);
        if (victim) {
                s->stats.evicted_table_full++;
                conn_shutdown(s, victim);
        } else {
                s->stats.refused_table_full++;
                conn_shutdown(s, c);
        }
        policy_event(s);
}

static void notify_connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe)
{
        struct http_server *s = cls;
        struct http_conn *c = *socket_context;

        if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                if (!c)
                        return;
                conn_unlink(s, c);
                s->n_conns--;
                s->n_closing_conns -= c->closing;
                free(c);
                *socket_context = NULL;
                return;
        }

        const union MHD_ConnectionInfo *fd_info =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr_info =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        c = calloc(1, sizeof(*c));
        if (!c || !fd_info) {
                /* Untracked: MHD's own limits and idle timeout still apply. */
                free(c);
                return;
        }
        c->mhd = conn;
        c->fd = fd_info->connect_fd;
        /* Only what the family says is there: a Unix socket's address (socket
         * activation may pass one) can be as short as its family. */
        if (addr_info && addr_info->client_addr && addr_info->client_addr->sa_family == AF_INET)
                memcpy(&c->addr, addr_info->client_addr, sizeof(struct sockaddr_in));
        else if (addr_info && addr_info->client_addr &&
                 addr_info->client_addr->sa_family == AF_INET6)
                memcpy(&c->addr, addr_info->client_addr, sizeof(struct sockaddr_in6));
        *socket_context = c;
        s->n_conns++;
        s->stats.accepted++;
        conn_admit(s, c);
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

/* A complete request: it is the application's now, and never evicted. */
static void conn_request_complete(struct http_server *s, struct MHD_Connection *conn)
{
        struct http_conn *c = conn_of(conn);

        if (c)
                conn_unlink(s, c);
}

/* The reply went out and the connection stays open for another request. */
static void conn_request_done(struct http_server *s, struct MHD_Connection *conn)
{
        struct http_conn *c = conn_of(conn);

        if (c)
                conn_wait(s, c, CONN_LIST_KEPT);
}

static void pending_add(struct http_server *s, struct http_request *r)
{
        r->prev = NULL;
        r->next = s->pending;
        if (s->pending)
                s->pending->prev = r;
        s->pending = r;
        s->n_pending++;
}

static void pending_remove(struct http_server *s, struct http_request *r)
{
        if (r->prev)
                r->prev->next = r->next;
        else
                s->pending = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        s->n_pending--;
}

static void request_free(struct http_request *r)
{
        if (!r)
                return;
        free(r->method);
        free(r->path);
        free(r->body);
        free(r->content_type);
        free(r->reply_body);
        free(r);
}

static enum MHD_Result queue_reply(struct MHD_Connection *conn, unsigned status,
                                   const char *content_type, const void *body, size_t len)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        /* MHD wants a non-const buffer but copies it with MUST_COPY. */
        resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        if (content_type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
        return queue_reply(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void client_address(struct MHD_Connection *conn, char *buf, size_t size)
{
        const union MHD_ConnectionInfo *ci;
        const struct sockaddr *sa;

        snprintf(buf, size, "unknown");
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!ci || !ci->client_addr)
                return;
        sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                          (socklen_t)size);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                          buf, (socklen_t)size);
}

static struct http_request *request_new(struct http_server *s, struct MHD_Connection *conn,
                                        const char *method, const char *url)
{
        struct http_request *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->srv = s;
        r->conn = conn;
        r->method = strdup(method);
        r->path = strdup(url);
        if (!r->method || !r->path) {
                request_free(r);
                return NULL;
        }
        client_address(conn, r->client, sizeof(r->client));
        return r;
}

/* Content-Length above the limit: refuse before reading a byte of the body. */
static bool declared_too_large(struct MHD_Connection *conn, size_t max_body)
{
        const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long n;
        char *end;

        if (!cl)
                return false;
        errno = 0;
        n = strtoull(cl, &end, 10);
        return errno != 0 || *end != '\0' || n > max_body;
}

static int body_append(struct http_request *r, const char *data, size_t len)
{
        size_t need = r->body_len + len;

        if (need > r->srv->max_body)
                return -EMSGSIZE;
        if (need + 1 > r->body_cap) {
                size_t cap = MAX(need + 1, r->body_cap * 2);
                char *p;

                cap = MIN(cap, r->srv->max_body + 1);
                p = realloc(r->body, cap);
                if (!p)
                        return -ENOMEM;
                r->body = p;
                r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, data, len);
        r->body_len = need;
        r->body[need] = '\0'; /* handy for text bodies; body_len stays authoritative */
        return 0;
}

static enum MHD_Result refuse_too_large(struct http_request *r)
{
        char limit[32];

        snprintf(limit, sizeof(limit), "%zu", r->srv->max_body);
        log_warning("http.refused",
                    LOG_FIELDS(LF("REASON", "body too large"), LF("CLIENT", r->client),
                               LF("LIMIT_BYTES", limit)),
                    "refused %s %s from %s: body over %zu bytes", r->method, r->path, r->client,
                    r->srv->max_body);
        r->replied = true;
        return queue_text(r->conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
        struct http_server *s = cls;
        struct http_request *r = *con_cls;

        if (!r) {
                r = request_new(s, conn, method, url);
                if (!r)
                        return MHD_NO;
                *con_cls = r;
                if (declared_too_large(conn, s->max_body)) {
                        r->too_large = true;
                        conn_request_complete(s, conn);
                        return refuse_too_large(r);
                }
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                if (!r->too_large && body_append(r, upload_data, *upload_data_size) < 0)
                        r->too_large = true;
                *upload_data_size = 0;
                return MHD_YES;
        }

        conn_request_complete(s, conn);
        if (r->too_large)
                return r->replied ? MHD_YES : refuse_too_large(r);

        if (!r->dispatched) {
                r->dispatched = true;
                r->in_handler = true;
                s->handler(r, s->userdata);
                r->in_handler = false;
                if (!r->replied) {
                        /* Park the connection until http_request_reply(). */
                        r->suspended = true;
                        pending_add(s, r);
                        MHD_suspend_connection(conn);
                        return MHD_YES;
                }
        }
        return queue_reply(conn, r->status, r->content_type, r->reply_body, r->reply_len);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        request_free(*con_cls);
        *con_cls = NULL;
        if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
                conn_request_done(cls, conn);
}

/* The format comes from libmicrohttpd itself, with its arguments. */
_printf_(2, 0) static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
        char msg[512];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        msg[strcspn(msg, "\n")] = '\0';
        log_debug("http.mhd", LOG_NOFIELDS, "libmicrohttpd: %s", msg);
}

int http_request_reply(struct http_request *r, unsigned status, const char *content_type,
                       const void *body, size_t len)
{
        if (r->replied)
                return -EALREADY;
        r->status = status;
        r->content_type = content_type ? strdup(content_type) : NULL;
        r->reply_body = malloc(len ? len : 1);
        if (!r->reply_body || (content_type && !r->content_type)) {
                /* Still answer: a reply that cannot be built is a server error. */
                free(r->reply_body);
                r->reply_body = NULL;
                r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                len = 0;
        } else if (len) {
                memcpy(r->reply_body, body, len);
        }
        r->reply_len = len;
        r->replied = true;
        if (r->suspended) {
                r->suspended = false;
                pending_remove(r->srv, r);
                MHD_resume_connection(r->conn);
                /* MHD picks resumed connections up in its next MHD_run(); its
                 * wake-up through the epoll fd is not reliable in external-loop
                 * mode, so run it from the loop right away. */
                ev_timer_stop(r->srv->loop, &r->srv->timer);
                ev_timer_set(&r->srv->timer, 0., 0.);
                ev_timer_start(r->srv->loop, &r->srv->timer);
        }
        return 0;
}

const char *http_request_method(const struct http_request *r)
{
        return r->method;
}

const char *http_request_path(const struct http_request *r)
{
        return r->path;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const void *http_request_body(const struct http_request *r, size_t *ret_len)
{
        *ret_len = r->body_len;
        return r->body ? r->body : "";
}

const char *http_request_client(const struct http_request *r)
{
        return r->client;
}

void http_request_set_cancel(struct http_request *r, http_cancel_fn fn, void *userdata)
{
        r->cancel = fn;
        r->cancel_userdata = userdata;
}

int http_server_new(struct ev_loop *loop, const struct http_server_options *opts,
                    http_handler_fn handler, void *userdata, struct http_server **ret)
{
        struct http_server *s;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem o[16];
        size_t n = 0;

        /* libmicrohttpd does TLS only when built with GnuTLS (Debian's is). */
        if (opts->tls_cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                close(opts->listen_fd);
                return -EPROTONOSUPPORT;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                close(opts->listen_fd);
                return -ENOMEM;
        }
        s->loop = loop;
        s->listen_fd = opts->listen_fd;
        s->max_connections = opts->max_connections;
        s->max_body = opts->max_body;
        s->max_per_ip = opts->max_per_ip;
        s->timeout_s = opts->timeout_s;
        s->request_timeout_s =
                opts->request_timeout_s ? opts->request_timeout_s : HTTP_REQUEST_TIMEOUT_DEFAULT_S;
        s->mhd_limit = opts->max_connections + HTTP_EVICTION_SLACK;
        s->handler = handler;
        s->userdata = userdata;
        ev_init(&s->deadline, deadline_cb);
        s->deadline.data = s;
        ev_init(&s->policy_log, policy_log_cb);
        s->policy_log.data = s;
        s->policy_logged_at = ev_now(loop) - HTTP_POLICY_LOG_INTERVAL_S;

        o[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, s};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log_cb, s};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
                                         (intptr_t)notify_connection_cb, s};
        /* Our own policy decides (see the top of this file); MHD's per-address
         * limit would refuse a proxy's connections whatever they do. */
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, s->mhd_limit, NULL};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s, NULL};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY,
                                         NULL};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
        if (opts->tls_cert_pem && opts->tls_key_pem) {
                flags |= MHD_USE_TLS;
                o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                                 (void *)(uintptr_t)opts->tls_cert_pem};
                o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                                 (void *)(uintptr_t)opts->tls_key_pem};
        }
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_ARRAY, o,
                                  MHD_OPTION_END);
        if (!s->mhd) {
                close(s->listen_fd);
                free(s);
                return -EINVAL;
        }
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                http_server_free(s);
                return -EINVAL;
        }
        ev_io_init(&s->io, http_io_cb, info->listen_fd, EV_READ);
        s->io.data = s;
        ev_io_start(loop, &s->io);
        ev_init(&s->timer, http_timer_cb);
        s->timer.data = s;
        http_server_run(s);
        *ret = s;
        return 0;
}

void http_server_stop_accepting(struct http_server *s)
{
        MHD_socket fd;

        if (!s || s->listen_fd < 0)
                return;
        fd = MHD_quiesce_daemon(s->mhd);
        if (fd != MHD_INVALID_SOCKET)
                close(fd);
        s->listen_fd = -1;
}

struct http_server *http_server_free(struct http_server *s)
{
        if (!s)
                return NULL;
        /* MHD requires every suspended connection to be resumed before it stops. */
        while (s->pending) {
                struct http_request *r = s->pending;

                if (r->cancel)
                        r->cancel(r, r->cancel_userdata);
                if (!r->replied)
                        http_request_reply(r, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                           "shutting down\n", 14);
        }
        ev_io_stop(s->loop, &s->io);
        ev_timer_stop(s->loop, &s->timer);
        ev_timer_stop(s->loop, &s->deadline);
        ev_timer_stop(s->loop, &s->policy_log);
        /* MHD_stop_daemon() closes every connection, notifying each: the
         * tracking structs go with them. */
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        free(s);
        return NULL;
}

unsigned http_server_pending(const struct http_server *s)
{
        return s ? s->n_pending : 0;
}

unsigned http_server_connections(const struct http_server *s)
{
        const union MHD_DaemonInfo *info;

        if (!s)
                return 0;
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return info ? info->num_connections : 0;
}

void http_server_set_max_body(struct http_server *s, size_t max_body)
{
        s->max_body = max_body;
}

void http_server_get_stats(const struct http_server *s, struct http_server_stats *ret)
{
        *ret = s ? s->stats : (struct http_server_stats){};
}

int http_listen(const char *host, uint16_t port, int *ret_fd)
{
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
        };
        struct addrinfo *ai = NULL;
        _cleanup_close_ int fd = -1;
        char service[8];
        int one = 1, zero = 0, r;

        snprintf(service, sizeof(service), "%u", port);
        r = getaddrinfo(host, service, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM ? negative_errno() : -EADDRNOTAVAIL;

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = negative_errno();
                goto out;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* "::" serves IPv4 too, whatever the system default says. */
        if (ai->ai_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
                r = negative_errno();
                goto out;
        }
        *ret_fd = TAKE_FD(fd);
        r = 0;
out:
        freeaddrinfo(ai);
        return r;
}

int http_local_address(int fd, char *host, size_t size)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return negative_errno();
        if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

                inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)size);
                return ntohs(in->sin_port);
        }
        if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

                inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)size);
                return ntohs(in6->sin6_port);
        }
        return -EAFNOSUPPORT;
}
