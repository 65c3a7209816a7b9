/*
 * snsload — closed-loop HTTP/1.1 load generator for the twowayd benchmark.
 *
 * Replays pre-built requests (a file of "<length>\n<bytes>" records, each a
 * complete HTTP request) over C keep-alive connections to 127.0.0.1:PORT, one
 * request outstanding per connection, each record sent exactly once. Nothing
 * is signed or formatted while timing: the cost of making the requests was paid
 * when the file was written. Prints one JSON object: answers by status and body,
 * rate, and latency percentiles (request written to response complete), and
 * the generator's own CPU. It is one thread: when that thread was busy for
 * CLIENT_BOUND_SHARE of the wall time or more, the requests waited for it
 * rather than for the server, so the rates are printed as null and
 * "client_bound" says why.
 *
 *   snsload -p PORT -f FILE [-f FILE...] [-c CONNS] [-t SECONDS]
 *   snsload -p PORT -g PATH [-n COUNT] [-i INTERVAL_MS] [-t SECONDS]   sequential GETs
 *
 * Loopback only; bounded by the record count and by -t.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
/* Past this share of one core, the generator itself bounded the rate. */
#define CLIENT_BOUND_SHARE 0.9
#define RBUF_SIZE 65536

struct record {
        const char *data;
        size_t len;
};

struct conn {
        int fd;
        bool connected;
        long cur;       /* record index in flight, -1 when idle */
        size_t written; /* bytes of the current record written */
        double sent_at;
        char rbuf[RBUF_SIZE];
        size_t rlen;
};

static struct record *records;
static size_t n_records;
static long next_record;
static unsigned port;

static uint32_t *lat_us;
static size_t n_lat;
static unsigned long st_2xx, st_4xx, st_5xx, st_other, body_stored, body_duplicate, errors,
        reconnects;
static unsigned long by_status[600];

static double cpu_at_start; /* this process's CPU seconds when the timed part began */

static double cpu_s(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        fprintf(stderr, "snsload: %s: %s\n", what, strerror(errno));
        exit(2);
}

static int load_records(const char *path, char **ret_buf, size_t *cap_io)
{
        struct stat st;
        char *buf, *p, *end;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &st) < 0)
                die(path);
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                die("malloc");
        for (size_t off = 0; off < (size_t)st.st_size;) {
                ssize_t k = read(fd, buf + off, (size_t)st.st_size - off);

                if (k <= 0)
                        die("read");
                off += (size_t)k;
        }
        close(fd);
        p = buf;
        end = buf + st.st_size;
        while (p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                unsigned long len;

                if (!nl)
                        break;
                len = strtoul(p, NULL, 10);
                p = nl + 1;
                if (len == 0 || len > (size_t)(end - p)) {
                        fprintf(stderr, "snsload: %s: bad record\n", path);
                        exit(2);
                }
                if (n_records == *cap_io) {
                        *cap_io = *cap_io ? *cap_io * 2 : 1024;
                        records = realloc(records, *cap_io * sizeof(*records));
                        if (!records)
                                die("realloc");
                }
                records[n_records++] = (struct record){p, len};
                p += len;
        }
        *ret_buf = buf;
        return 0;
}

static int open_conn(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int one = 1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket");
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                die("connect");
        return fd;
}

/* Parses one complete response at the front of c->rbuf. Returns its length,
 * 0 when incomplete, -1 when malformed. */
static long parse_response(struct conn *c, int *ret_status, const char **ret_body, size_t *ret_blen,
                           bool *ret_close)
{
        char *hdr_end, *p;
        long clen = 0;

        c->rbuf[c->rlen] = '\0';
        hdr_end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!hdr_end)
                return c->rlen >= RBUF_SIZE - 1 ? -1 : 0;
        if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0)
                return -1;
        *ret_status = atoi(c->rbuf + 9);
        *ret_close = false;
        for (p = strstr(c->rbuf, "\r\n"); p && p < hdr_end; p = strstr(p + 2, "\r\n")) {
                if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
                        clen = strtol(p + 17, NULL, 10);
                else if (strncasecmp(p + 2, "Connection: close", 17) == 0)
                        *ret_close = true;
        }
        if ((size_t)(hdr_end + 4 - c->rbuf) + (size_t)clen > c->rlen)
                return 0;
        *ret_body = hdr_end + 4;
        *ret_blen = (size_t)clen;
        return (long)(hdr_end + 4 - c->rbuf) + clen;
}

static void record_answer(int status, const char *body, size_t blen, double lat)
{
        if (status >= 200 && status < 300)
                st_2xx++;
        else if (status >= 400 && status < 500)
                st_4xx++;
        else if (status >= 500 && status < 600)
                st_5xx++;
        else
                st_other++;
        if (status > 0 && status < 600)
                by_status[status]++;
        if (blen >= 6 && memcmp(body, "stored", 6) == 0)
                body_stored++;
        else if (blen >= 9 && memcmp(body, "duplicate", 9) == 0)
                body_duplicate++;
        lat_us[n_lat++] = lat * 1e6 > 4e9 ? 4000000000u : (uint32_t)(lat * 1e6);
}

static void conn_reset(int ep, struct conn *c)
{
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = open_conn();
        c->connected = false;
        c->rlen = 0;
        c->written = 0;
        reconnects++;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
                die("epoll_ctl");
}

static void conn_want(int ep, struct conn *c, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = c};

        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                die("epoll_ctl");
}

/* Write as much of the current record as the socket takes; start the next
 * record when idle. */
static void conn_write(int ep, struct conn *c)
{
        if (c->cur < 0) {
                if (next_record >= (long)n_records) {
                        conn_want(ep, c, EPOLLIN);
                        return;
                }
                c->cur = next_record++;
                c->written = 0;
                c->sent_at = now_s();
        }
        while (c->written < records[c->cur].len) {
                ssize_t k = send(c->fd, records[c->cur].data + c->written,
                                 records[c->cur].len - c->written, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EAGAIN) {
                                conn_want(ep, c, EPOLLIN | EPOLLOUT);
                                return;
                        }
                        errors++;
                        c->cur = -1;
                        conn_reset(ep, c);
                        return;
                }
                c->written += (size_t)k;
        }
        conn_want(ep, c, EPOLLIN);
}

static unsigned long outstanding(const struct conn *conns, unsigned n)
{
        unsigned long k = 0;

        for (unsigned i = 0; i < n; i++)
                k += conns[i].cur >= 0;
        return k;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

static double pct(double p)
{
        size_t i;

        if (!n_lat)
                return 0;
        i = (size_t)(p / 100.0 * (double)n_lat);
        if (i >= n_lat)
                i = n_lat - 1;
        return lat_us[i] / 1000.0;
}

static void print_result(const char *mode, unsigned conns, double elapsed, bool timed_out)
{
        double sum = 0, cpu = cpu_s() - cpu_at_start, share;
        bool bound;
        char answered_rate[32] = "null", ok_rate[32] = "null";

        share = elapsed > 0 ? cpu / elapsed : 0.0;
        bound = share >= CLIENT_BOUND_SHARE;
        if (!bound && elapsed > 0) {
                snprintf(answered_rate, sizeof(answered_rate), "%.1f", (double)n_lat / elapsed);
                snprintf(ok_rate, sizeof(ok_rate), "%.1f", (double)st_2xx / elapsed);
        }
        if (bound)
                fprintf(stderr,
                        "snsload: used %.0f%% of a core over %.3f s: the load generator bounded "
                        "the rate, none is reported\n",
                        share * 100, elapsed);
        for (size_t i = 0; i < n_lat; i++)
                sum += lat_us[i];
        qsort(lat_us, n_lat, sizeof(*lat_us), cmp_u32);
        printf("{\"mode\":\"%s\",\"connections\":%u,\"requests\":%zu,\"answered\":%zu,"
               "\"status_2xx\":%lu,\"status_4xx\":%lu,\"status_5xx\":%lu,\"status_other\":%lu,"
               "\"body_stored\":%lu,\"body_duplicate\":%lu,\"errors\":%lu,\"reconnects\":%lu,"
               "\"timed_out\":%s,\"client_cpu_s\":%.3f,\"client_cpu_share\":%.3f,"
               "\"client_bound\":%s,\"elapsed_s\":%.6f,\"answered_per_s\":%s,\"ok_per_s\":%s,"
               "\"latency_ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
               "\"p99_9\":%.3f,\"max\":%.3f},\"by_status\":{",
               mode, conns, n_records, n_lat, st_2xx, st_4xx, st_5xx, st_other, body_stored,
               body_duplicate, errors, reconnects, timed_out ? "true" : "false", cpu, share,
               bound ? "true" : "false", elapsed, answered_rate, ok_rate,
               n_lat ? sum / n_lat / 1000.0 : 0.0,
               pct(50), pct(90), pct(99), pct(99.9), n_lat ? lat_us[n_lat - 1] / 1000.0 : 0.0);
        for (int s = 0, first = 1; s < 600; s++)
                if (by_status[s]) {
                        printf("%s\"%d\":%lu", first ? "" : ",", s, by_status[s]);
                        first = 0;
                }
        printf("}}\n");
}

static int run_load(unsigned nconns, double limit_s)
{
        struct epoll_event evs[MAX_CONNS];
        struct conn *conns = calloc(nconns, sizeof(*conns));
        double start, deadline, last = 0;
        bool timed_out = false;
        int ep = epoll_create1(EPOLL_CLOEXEC);

        if (!conns || ep < 0)
                die("setup");
        cpu_at_start = cpu_s();
        start = now_s();
        deadline = start + limit_s;
        for (unsigned i = 0; i < nconns; i++) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = &conns[i]};

                conns[i].fd = open_conn();
                conns[i].cur = -1;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
                        die("epoll_ctl");
        }
        while (n_lat + errors < n_records) {
                int n = epoll_wait(ep, evs, MAX_CONNS, 100);

                if (now_s() > deadline) {
                        timed_out = true;
                        break;
                }
                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;

                        if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
                                if (c->cur >= 0)
                                        errors++;
                                c->cur = -1;
                                conn_reset(ep, c);
                                continue;
                        }
                        if (evs[i].events & EPOLLOUT) {
                                c->connected = true;
                                conn_write(ep, c);
                        }
                        if (!(evs[i].events & EPOLLIN))
                                continue;
                        for (;;) {
                                ssize_t k = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - 1 - c->rlen,
                                                 0);
                                int status = 0;
                                const char *body = NULL;
                                size_t blen = 0;
                                bool close_after = false;
                                long used;

                                if (k == 0 || (k < 0 && errno != EAGAIN)) {
                                        if (c->cur >= 0)
                                                errors++;
                                        c->cur = -1;
                                        conn_reset(ep, c);
                                        break;
                                }
                                if (k < 0)
                                        break;
                                c->rlen += (size_t)k;
                                used = parse_response(c, &status, &body, &blen, &close_after);
                                if (used < 0) {
                                        errors++;
                                        c->cur = -1;
                                        conn_reset(ep, c);
                                        break;
                                }
                                if (used == 0)
                                        continue;
                                last = now_s();
                                if (c->cur >= 0)
                                        record_answer(status, body, blen, last - c->sent_at);
                                c->cur = -1;
                                memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
                                c->rlen -= (size_t)used;
                                if (close_after) {
                                        conn_reset(ep, c);
                                        break;
                                }
                                conn_write(ep, c);
                                break;
                        }
                }
        }
        if (timed_out)
                errors += outstanding(conns, nconns);
        print_result("load", nconns, (last > 0 ? last : now_s()) - start, timed_out);
        for (unsigned i = 0; i < nconns; i++)
                close(conns[i].fd);
        free(conns);
        close(ep);
        return 0;
}

/* Sequential GETs on one keep-alive connection, INTERVAL_MS apart. */
static int run_get(const char *path, unsigned count, unsigned interval_ms, double limit_s)
{
        char req[512];
        int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
        double start = now_s(), deadline = start + limit_s;
        struct conn *c = calloc(1, sizeof(*c));
        bool timed_out = false;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev;

        cpu_at_start = cpu_s();
        if (!c || ep < 0 || len <= 0 || (size_t)len >= sizeof(req))
                die("setup");
        n_records = count;
        c->fd = open_conn();
        ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
                die("epoll_ctl");
        for (unsigned i = 0; i < count && !timed_out; i++) {
                struct timespec gap = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
                int fl = 0;

                if (i > 0)
                        nanosleep(&gap, NULL);
                /* Wait for the connect to finish on the first round. */
                for (int tries = 0; tries < 1000; tries++) {
                        ssize_t k = send(c->fd, req, (size_t)len, MSG_NOSIGNAL);

                        if (k == len)
                                break;
                        if (k < 0 && (errno == EAGAIN || errno == ENOTCONN)) {
                                struct timespec t = {0, 1000000};

                                nanosleep(&t, NULL);
                                continue;
                        }
                        die("send");
                }
                c->sent_at = now_s();
                c->rlen = 0;
                for (;;) {
                        int status = 0;
                        const char *body = NULL;
                        size_t blen = 0;
                        bool close_after = false;
                        long used;
                        struct epoll_event out;
                        ssize_t k;

                        if (now_s() > deadline) {
                                timed_out = true;
                                errors++;
                                break;
                        }
                        if (epoll_wait(ep, &out, 1, 100) <= 0)
                                continue;
                        k = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - 1 - c->rlen, 0);
                        if (k <= 0) {
                                if (k < 0 && errno == EAGAIN)
                                        continue;
                                errors++;
                                fl = 1;
                                break;
                        }
                        c->rlen += (size_t)k;
                        used = parse_response(c, &status, &body, &blen, &close_after);
                        if (used == 0)
                                continue;
                        if (used < 0) {
                                errors++;
                                fl = 1;
                                break;
                        }
                        record_answer(status, body, blen, now_s() - c->sent_at);
                        fl = close_after;
                        break;
                }
                if (fl) {
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        close(c->fd);
                        c->fd = open_conn();
                        ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                        reconnects++;
                }
        }
        print_result("get", 1, now_s() - start, timed_out);
        close(c->fd);
        free(c);
        close(ep);
        return 0;
}

static void usage(void)
{
        fprintf(stderr, "usage: snsload -p PORT -f FILE [-c CONNS] [-t SECONDS]\n"
                        "       snsload -p PORT -g PATH [-n COUNT] [-i INTERVAL_MS] [-t SECONDS]\n");
        exit(2);
}

int main(int argc, char **argv)
{
        const char *files[16], *get = NULL;
        char *bufs[16];
        size_t n_files = 0, cap = 0;
        unsigned conns = 64, count = 10, interval_ms = 50;
        double limit_s = 60;
        int opt;

        while ((opt = getopt(argc, argv, "p:f:c:t:g:n:i:")) != -1) {
                switch (opt) {
                case 'p':
                        port = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'f':
                        if (n_files == 16)
                                usage();
                        files[n_files++] = optarg;
                        break;
                case 'c':
                        conns = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        limit_s = strtod(optarg, NULL);
                        break;
                case 'g':
                        get = optarg;
                        break;
                case 'n':
                        count = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'i':
                        interval_ms = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                default:
                        usage();
                }
        }
        if (port == 0 || port > 65535 || (!n_files == !get) || conns == 0 || conns > MAX_CONNS ||
            limit_s <= 0 || limit_s > 600 || count == 0 || count > 1000000)
                usage();
        if (get) {
                lat_us = calloc(count, sizeof(*lat_us));
                if (!lat_us)
                        die("calloc");
                return run_get(get, count, interval_ms, limit_s);
        }
        for (size_t i = 0; i < n_files; i++)
                load_records(files[i], &bufs[i], &cap);
        lat_us = calloc(n_records ? n_records : 1, sizeof(*lat_us));
        if (!lat_us)
                die("calloc");
        run_load(conns, limit_s);
        for (size_t i = 0; i < n_files; i++)
                free(bufs[i]);
        free(records);
        return 0;
}
