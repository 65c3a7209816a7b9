/*
 * http_client.c — libcurl multi on libev.
 *
 * Shape (after curl's docs/examples/evhiperfifo.c): curl asks, through the
 * socket callback, for an ev_io per socket and, through the timer callback,
 * for one ev_timer; both watchers feed curl_multi_socket_action() and then
 * collect finished transfers with curl_multi_info_read().
 *
 * Invariants:
 *   - a transfer is in exactly one of: the FIFO queue (not yet added to the
 *     multi handle), the active list (added), the done list (finished or
 *     cancelled, its callback not yet run);
 *   - n_active == length of the active list <= max_in_flight;
 *   - curl handles are never added or removed from inside a curl callback:
 *     cancellation inside one only marks the transfer, and the "kick" timer
 *     (zero delay) removes it and runs deferred callbacks on the next loop
 *     iteration; this is also how the "never synchronously" rule is kept.
 */
#include <stdio.h>
#include <strings.h>

#include <curl/curl.h>
#include <ev.h>

#include "common.h"
#include "http_client.h"

#ifndef TWOWAYD_VERSION
#define TWOWAYD_VERSION "0"
#endif

enum transfer_state {
        TRANSFER_QUEUED,
        TRANSFER_ACTIVE,
        TRANSFER_DONE,
};

struct transfer_list {
        struct http_transfer *head, *tail;
        unsigned n;
};

struct http_transfer {
        struct http_client *client;
        struct http_transfer *prev, *next;
        enum transfer_state state;

        CURL *easy;
        struct curl_slist *slist;
        char *url;

        http_done_cb done_cb;
        http_data_cb data_cb;
        void *userdata;

        bool cancelled;
        bool sensitive;
        int abort_reason; /* why a callback stopped the transfer */
        int result;       /* for transfers on the done list */

        long status;
        struct http_header *headers;
        size_t n_headers, headers_alloc, header_bytes;

        uint8_t *body;
        size_t body_len, body_alloc, max_response;
        size_t streamed;

        char errbuf[CURL_ERROR_SIZE];
};

struct sock_watch {
        ev_io io;
        struct http_client *client;
        struct sock_watch *prev, *next;
};

struct http_client {
        struct ev_loop *loop;
        CURLM *multi;
        ev_timer timer; /* curl's timeout */
        ev_timer kick;  /* deferred completions and removals */

        struct transfer_list queue, active, done;
        struct sock_watch *socks;
        unsigned max_in_flight;
        unsigned n_cancel_pending;

        long connect_timeout_ms, timeout_ms;
        size_t max_response;
        char *ca_bundle;
        char *user_agent;
};

static void list_append(struct transfer_list *l, struct http_transfer *t)
{
        t->prev = l->tail;
        t->next = NULL;
        if (l->tail)
                l->tail->next = t;
        else
                l->head = t;
        l->tail = t;
        l->n++;
}

static void list_remove(struct transfer_list *l, struct http_transfer *t)
{
        if (t->prev)
                t->prev->next = t->next;
        else
                l->head = t->next;
        if (t->next)
                t->next->prev = t->prev;
        else
                l->tail = t->prev;
        t->prev = t->next = NULL;
        l->n--;
}

int http_client_errno_from_curl(int code)
{
        switch ((CURLcode)code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTO;
        case CURLE_SSL_CONNECT_ERROR:
                return -ECONNABORTED;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return -EKEYREJECTED;
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_FILESIZE_EXCEEDED:
                return -EMSGSIZE;
        default:
                return -EIO;
        }
}

static void transfer_free(struct http_transfer *t)
{
        if (!t)
                return;
        if (t->easy)
                curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->slist);
        free(t->url);
        for (size_t i = 0; i < t->n_headers; i++) {
                free(t->headers[i].name);
                free(t->headers[i].value);
        }
        free(t->headers);
        if (t->sensitive)
                explicit_wipe(t->body, t->body_alloc);
        free(t->body);
        free(t);
}

static void transfer_response(const struct http_transfer *t, struct http_client_response *ret)
{
        *ret = (struct http_client_response){
                .status = t->status,
                .headers = t->headers,
                .n_headers = t->n_headers,
                .body = t->body,
                .body_len = t->body_len,
                .streamed = t->streamed,
                .error = t->errbuf,
                .local_url = t->url,
        };
}

/* Run the callback of a finished transfer and free it. */
static void transfer_complete(struct http_transfer *t, int r)
{
        struct http_client_response resp;

        if (r >= 0)
                t->errbuf[0] = '\0';
        else if (!t->errbuf[0])
                (void)snprintf(t->errbuf, sizeof(t->errbuf), "%s", strerror(-r));
        transfer_response(t, &resp);
        t->done_cb(t, r, &resp, t->userdata);
        transfer_free(t);
}

static void kick_arm(struct http_client *c)
{
        if (!ev_is_active(&c->kick)) {
                ev_timer_set(&c->kick, 0., 0.);
                ev_timer_start(c->loop, &c->kick);
        }
}

static void transfer_defer(struct http_transfer *t, int r)
{
        t->state = TRANSFER_DONE;
        t->result = r;
        list_append(&t->client->done, t);
        kick_arm(t->client);
}

static void pump(struct http_client *c)
{
        while (c->queue.head && c->active.n < c->max_in_flight) {
                struct http_transfer *t = c->queue.head;
                CURLMcode mc;

                list_remove(&c->queue, t);
                mc = curl_multi_add_handle(c->multi, t->easy);
                if (mc != CURLM_OK) {
                        (void)snprintf(t->errbuf, sizeof(t->errbuf), "%s", curl_multi_strerror(mc));
                        transfer_defer(t, mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO);
                        continue;
                }
                t->state = TRANSFER_ACTIVE;
                list_append(&c->active, t);
        }
}

static void check_multi_info(struct http_client *c)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                struct http_transfer *t = NULL;
                CURLcode code;
                int r;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                code = msg->data.result;
                (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
                if (!t)
                        continue;
                (void)curl_multi_remove_handle(c->multi, t->easy);
                list_remove(&c->active, t);
                t->state = TRANSFER_DONE;
                if (t->cancelled) {
                        c->n_cancel_pending--;
                        r = -ECANCELED;
                } else if (code == CURLE_OK)
                        r = 0;
                else if (t->abort_reason < 0)
                        r = t->abort_reason;
                else
                        r = http_client_errno_from_curl((int)code);
                transfer_complete(t, r);
        }
        pump(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct sock_watch *s = w->data;
        struct http_client *c = s->client;
        int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
                     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
        int running;

        (void)curl_multi_socket_action(c->multi, w->fd, action, &running);
        check_multi_info(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct http_client *c = w->data;
        int running;

        (void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_multi_info(c);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct http_client *c = w->data;
        struct transfer_list done;

        /* Cancelled active transfers leave the multi handle here, outside any
         * curl callback. */
        if (c->n_cancel_pending > 0) {
                struct http_transfer *t = c->active.head;
                while (t) {
                        struct http_transfer *next = t->next;
                        if (t->cancelled) {
                                (void)curl_multi_remove_handle(c->multi, t->easy);
                                list_remove(&c->active, t);
                                c->n_cancel_pending--;
                                transfer_defer(t, -ECANCELED);
                        }
                        t = next;
                }
        }

        /* Take the current batch: callbacks may defer more, for the next turn. */
        done = c->done;
        c->done = (struct transfer_list){0};
        while (done.head) {
                struct http_transfer *t = done.head;
                list_remove(&done, t);
                transfer_complete(t, t->result);
        }
        pump(c);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct http_client *c = userp;
        struct sock_watch *s = socketp;
        int events;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        ev_io_stop(c->loop, &s->io);
                        if (s->prev)
                                s->prev->next = s->next;
                        else
                                c->socks = s->next;
                        if (s->next)
                                s->next->prev = s->prev;
                        free(s);
                        (void)curl_multi_assign(c->multi, fd, NULL);
                }
                return 0;
        }

        events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return -1;
                s->client = c;
                s->next = c->socks;
                if (c->socks)
                        c->socks->prev = s;
                c->socks = s;
                ev_io_init(&s->io, io_cb, fd, events);
                s->io.data = s;
                (void)curl_multi_assign(c->multi, fd, s);
        } else {
                ev_io_stop(c->loop, &s->io);
                ev_io_set(&s->io, fd, events);
        }
        ev_io_start(c->loop, &s->io);
        return 0;
}

static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        struct http_client *c = userp;

        ev_timer_stop(c->loop, &c->timer);
        if (timeout_ms >= 0) {
                /* Zero means "as soon as possible": let the loop call us back
                 * rather than re-entering curl from inside its own callback. */
                ev_timer_set(&c->timer, (double)timeout_ms / 1000., 0.);
                ev_timer_start(c->loop, &c->timer);
        }
        return 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
        struct http_transfer *t = userp;
        size_t len = size * nmemb, nlen, vlen;
        const char *colon, *v;
        struct http_header *h;

        if (t->cancelled)
                return 0;
        t->header_bytes += len;
        if (t->header_bytes > HTTP_CLIENT_MAX_HEADER_BYTES) {
                t->abort_reason = -EMSGSIZE;
                return 0;
        }

        if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
                /* A new response (after 100 Continue, say): start over. */
                const char *sp = memchr(data, ' ', len);
                long status = 0;

                for (size_t i = 0; i < t->n_headers; i++) {
                        free(t->headers[i].name);
                        free(t->headers[i].value);
                }
                t->n_headers = 0;
                if (sp) {
                        for (sp++; sp < data + len && *sp >= '0' && *sp <= '9'; sp++)
                                status = status * 10 + (*sp - '0');
                }
                t->status = status;
                return len;
        }

        colon = memchr(data, ':', len);
        if (!colon || colon == data)
                return len; /* the blank line, or junk */
        nlen = (size_t)(colon - data);
        v = colon + 1;
        vlen = len - nlen - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
                            v[vlen - 1] == '\t'))
                vlen--;

        if (t->n_headers == t->headers_alloc) {
                size_t n = t->headers_alloc ? t->headers_alloc * 2 : 16;
                struct http_header *nh = reallocarray(t->headers, n, sizeof(*nh));
                if (!nh) {
                        t->abort_reason = -ENOMEM;
                        return 0;
                }
                t->headers = nh;
                t->headers_alloc = n;
        }
        h = &t->headers[t->n_headers];
        h->name = strndup(data, nlen);
        h->value = strndup(v, vlen);
        if (!h->name || !h->value) {
                free(h->name);
                free(h->value);
                t->abort_reason = -ENOMEM;
                return 0;
        }
        t->n_headers++;
        return len;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
        struct http_transfer *t = userp;
        size_t len = size * nmemb;

        if (t->cancelled)
                return 0;
        if (t->body_len + t->streamed + len > t->max_response) {
                t->abort_reason = -EMSGSIZE;
                return 0;
        }

        if (t->data_cb && t->status >= 200 && t->status < 300) {
                struct http_client_response head;
                int r;

                transfer_response(t, &head);
                r = t->data_cb(t, &head, data, len, t->userdata);
                if (r < 0) {
                        t->abort_reason = r;
                        return 0;
                }
                t->streamed += len;
                return len;
        }

        if (t->body_len + len + 1 > t->body_alloc) {
                size_t n = MAX(t->body_alloc * 2, t->body_len + len + 1);
                uint8_t *nb;

                n = MAX(n, (size_t)4096);
                n = MIN(n, t->max_response + 1);
                if (t->sensitive) {
                        /* No realloc: it could leave a copy of secrets behind. */
                        nb = malloc(n);
                        if (nb && t->body) {
                                memcpy(nb, t->body, t->body_len);
                                explicit_wipe(t->body, t->body_alloc);
                                free(t->body);
                        }
                } else
                        nb = realloc(t->body, n);
                if (!nb) {
                        t->abort_reason = -ENOMEM;
                        return 0;
                }
                t->body = nb;
                t->body_alloc = n;
        }
        memcpy(t->body + t->body_len, data, len);
        t->body_len += len;
        t->body[t->body_len] = '\0';
        return len;
}

int http_client_new(struct ev_loop *loop, const struct http_client_options *opts,
                    struct http_client **ret)
{
        static const struct http_client_options none = {0};
        struct http_client *c;

        if (!loop || !ret)
                return -EINVAL;
        if (!opts)
                opts = &none;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->loop = loop;
        c->max_in_flight =
                opts->max_in_flight ? opts->max_in_flight : HTTP_CLIENT_MAX_IN_FLIGHT_DEFAULT;
        c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                             : HTTP_CLIENT_CONNECT_TIMEOUT_MS;
        c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : HTTP_CLIENT_TIMEOUT_MS;
        c->max_response =
                opts->max_response ? opts->max_response : HTTP_CLIENT_MAX_RESPONSE_DEFAULT;
        if (opts->ca_bundle && !(c->ca_bundle = strdup(opts->ca_bundle)))
                goto oom;
        c->user_agent = strdup(opts->user_agent ? opts->user_agent : "twowayd/" TWOWAYD_VERSION);
        if (!c->user_agent)
                goto oom;

        c->multi = curl_multi_init();
        if (!c->multi)
                goto oom;
        (void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        (void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        (void)curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
        (void)curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
        (void)curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_in_flight);

        ev_timer_init(&c->timer, timer_cb, 0., 0.);
        c->timer.data = c;
        ev_timer_init(&c->kick, kick_cb, 0., 0.);
        c->kick.data = c;

        *ret = c;
        return 0;
oom:
        free(c->ca_bundle);
        free(c->user_agent);
        free(c);
        return -ENOMEM;
}

struct http_client *http_client_free(struct http_client *c)
{
        struct http_transfer *t;

        if (!c)
                return NULL;

        while ((t = c->queue.head)) {
                list_remove(&c->queue, t);
                transfer_complete(t, -ECANCELED);
        }
        while ((t = c->active.head)) {
                (void)curl_multi_remove_handle(c->multi, t->easy);
                list_remove(&c->active, t);
                transfer_complete(t, -ECANCELED);
        }
        while ((t = c->done.head)) {
                list_remove(&c->done, t);
                transfer_complete(t, t->result);
        }
        /* Callbacks above must not start new transfers; if one did, it is
         * cancelled too rather than leaked. */
        while ((t = c->queue.head)) {
                list_remove(&c->queue, t);
                transfer_complete(t, -ECANCELED);
        }

        ev_timer_stop(c->loop, &c->timer);
        ev_timer_stop(c->loop, &c->kick);
        (void)curl_multi_cleanup(c->multi);
        while (c->socks) {
                struct sock_watch *s = c->socks;
                c->socks = s->next;
                ev_io_stop(c->loop, &s->io);
                free(s);
        }
        free(c->ca_bundle);
        free(c->user_agent);
        free(c);
        return NULL;
}

static int transfer_setup(struct http_client *c, struct http_transfer *t,
                          const struct http_client_req *req)
{
        const char *method = req->method ? req->method : "GET";
        CURL *e = t->easy;
        struct curl_slist *l;
        long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : c->connect_timeout_ms;
        long to = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;
        CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (rc == CURLE_OK)                                                                \
                        rc = curl_easy_setopt(e, opt, val);                                        \
        } while (0)

        SET(CURLOPT_URL, t->url);
        SET(CURLOPT_PRIVATE, t);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_ERRORBUFFER, t->errbuf);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, t);
        SET(CURLOPT_HEADERFUNCTION, header_cb);
        SET(CURLOPT_HEADERDATA, t);
        SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
        SET(CURLOPT_TIMEOUT_MS, to);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_USERAGENT, c->user_agent);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response);
        if (c->ca_bundle)
                SET(CURLOPT_CAINFO, c->ca_bundle);
        if (req->fresh_connection)
                SET(CURLOPT_FRESH_CONNECT, 1L);

        if (strcasecmp(method, "GET") == 0 && req->body_len == 0)
                SET(CURLOPT_HTTPGET, 1L);
        else {
                /* POST-style body; other methods keep the body and rename the
                 * request line. COPYPOSTFIELDS copies, so req->body is only
                 * borrowed for this call. */
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
                SET(CURLOPT_COPYPOSTFIELDS, req->body_len ? (const char *)req->body : "");
                if (strcasecmp(method, "POST") != 0)
                        SET(CURLOPT_CUSTOMREQUEST, method);
        }
#undef SET
        if (rc != CURLE_OK)
                return rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;

        for (size_t i = 0; i < req->n_headers; i++) {
                if (!req->headers[i] || strpbrk(req->headers[i], "\r\n"))
                        return -EINVAL;
                l = curl_slist_append(t->slist, req->headers[i]);
                if (!l)
                        return -ENOMEM;
                t->slist = l;
        }
        /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
        l = curl_slist_append(t->slist, "Expect:");
        if (!l)
                return -ENOMEM;
        t->slist = l;
        if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->slist) != CURLE_OK)
                return -ENOMEM;
        return 0;
}

int http_client_start(struct http_client *c, const struct http_client_req *req, http_done_cb cb,
                      void *userdata, struct http_transfer **ret)
{
        struct http_transfer *t;
        int r;

        if (!c || !req || !cb || isempty(req->url))
                return -EINVAL;
        if (req->body_len > 0 && !req->body)
                return -EINVAL;
        if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
                return -EINVAL;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->client = c;
        t->done_cb = cb;
        t->data_cb = req->on_data;
        t->sensitive = req->sensitive;
        t->userdata = userdata;
        t->max_response = req->max_response ? req->max_response : c->max_response;
        t->url = strdup(req->url);
        t->easy = curl_easy_init();
        if (!t->url || !t->easy) {
                transfer_free(t);
                return -ENOMEM;
        }
        r = transfer_setup(c, t, req);
        if (r < 0) {
                transfer_free(t);
                return r;
        }

        t->state = TRANSFER_QUEUED;
        list_append(&c->queue, t);
        /* Add to the multi handle from the loop: curl may call back into us
         * from curl_multi_add_handle(), and a failure there must not complete
         * the transfer synchronously. */
        kick_arm(c);
        if (ret)
                *ret = t;
        return 0;
}

void http_transfer_cancel(struct http_transfer *t)
{
        struct http_client *c;

        if (!t || t->cancelled || t->state == TRANSFER_DONE)
                return;
        c = t->client;
        t->cancelled = true;
        if (t->state == TRANSFER_QUEUED) {
                list_remove(&c->queue, t);
                transfer_defer(t, -ECANCELED);
                return;
        }
        /* Active: removed from the multi handle by kick_cb (we may be inside
         * a curl callback right now). */
        c->n_cancel_pending++;
        kick_arm(c);
}

const char *http_response_header(const struct http_client_response *r, const char *name)
{
        const char *found = NULL;

        if (!r || !name)
                return NULL;
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        found = r->headers[i].value;
        return found;
}
