/*
 * sigv4.c — AWS Signature Version 4 (header form), see sigv4.h.
 *
 * Everything is built in memory from the caller's inputs; OpenSSL supplies
 * SHA-256 and HMAC. Character classes are tested by hand rather than with
 * <ctype.h>, whose answers depend on the process locale.
 */
#include "sigv4.h"

#include "common.h"
#include "strbuf.h"
#include "text.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <time.h>

#define ALGORITHM      "AWS4-HMAC-SHA256"
#define SCOPE_TERMINAL "aws4_request"
#define SHA256_LEN     32
#define SHA256_HEX_LEN 64
#define AMZ_DATE_LEN   16
#define DATE_LEN       8 /* the YYYYMMDD prefix of the x-amz-date, used in the scope */
#define MAX_HEADERS    256

/* ---- path segments ------------------------------------------------------ */

/* Cuts the text after `start` back to before its last '/' (a ".." in a path). */
static void buf_drop_segment(struct strbuf *b, size_t start)
{
        if (b->err < 0 || b->len <= start)
                return;
        while (b->len > start && b->data[b->len - 1] != '/')
                b->len--;
        if (b->len > start)
                b->len--;
        b->data[b->len] = '\0';
}

/* ---- character classes and hex -------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static char ascii_lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* RFC 9110 token characters: what a header name or method may be made of. */
static bool is_tchar(unsigned char c)
{
        return is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c));
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

static int unhex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xf];
        }
        out[2 * n] = '\0';
}

/* ---- percent encoding ---------------------------------------------------- */

static void uri_encode_into(struct strbuf *b, const char *s, size_t len, bool keep_slash)
{
        static const char digits[] = "0123456789ABCDEF";

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];

                if (is_unreserved(c) || (keep_slash && c == '/')) {
                        strbuf_putc(b, (char)c);
                } else {
                        char esc[3] = {'%', digits[c >> 4], digits[c & 0xf]};
                        strbuf_add(b, esc, sizeof(esc));
                }
        }
}

char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash)
{
        struct strbuf b = {0};

        uri_encode_into(&b, s, len, keep_slash);
        return strbuf_steal(&b);
}

/* Decode %XX escapes only (SigV4 does not treat '+' as a space). A '%' not
 * followed by two hex digits is ambiguous, so it is refused. */
static int uri_decode_into(struct strbuf *b, const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                if (s[i] != '%') {
                        strbuf_putc(b, s[i]);
                        continue;
                }
                if (len - i < 3 || unhex(s[i + 1]) < 0 || unhex(s[i + 2]) < 0)
                        return -EINVAL;
                strbuf_putc(b, (char)(unhex(s[i + 1]) << 4 | unhex(s[i + 2])));
                i += 2;
        }
        return 0;
}

/* Canonical form of one query name or value, or of one S3 path segment. */
static int reencode_into(struct strbuf *b, const char *s, size_t len)
{
        _cleanup_(strbuf_done) struct strbuf plain = {0};
        int r;

        r = uri_decode_into(&plain, s, len);
        if (r < 0)
                return r;
        if (plain.err < 0)
                return -ENOMEM;
        uri_encode_into(b, plain.data ? plain.data : "", plain.len, false);
        return 0;
}

/* ---- canonical URI --------------------------------------------------------- */

/* Non-S3: resolve "." / ".." and drop empty segments on the wire form, then
 * encode every segment once more. Encoded segments never contain a raw '/', so
 * ".." can pop the last segment by cutting back to the last '/'. */
static void canonical_path_normalized(struct strbuf *b, const char *path)
{
        size_t start = b->len;
        const char *p = path;

        while (*p) {
                size_t n;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.')) {
                        /* empty or "." segment: nothing to keep */
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        buf_drop_segment(b, start);
                } else {
                        strbuf_putc(b, '/');
                        uri_encode_into(b, p, n, false);
                }
                p += n;
        }
        if (b->err < 0)
                return;
        if (b->len == start || path[strlen(path) - 1] == '/')
                strbuf_putc(b, '/');
}

/* S3: the path keeps every segment, each encoded exactly once. */
static int canonical_path_s3(struct strbuf *b, const char *path)
{
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                int r = reencode_into(b, p, n);

                if (r < 0)
                        return r;
                p += n;
                if (*p == '/') {
                        strbuf_putc(b, '/');
                        p++;
                }
        }
        return 0;
}

static int canonical_uri(struct strbuf *b, const char *path, bool s3_style)
{
        if (isempty(path))
                path = "/";
        if (path[0] != '/' || text_has_control(path, strlen(path)) || strpbrk(path, "?#"))
                return -EINVAL;
        if (s3_style)
                return canonical_path_s3(b, path);
        canonical_path_normalized(b, path);
        return 0;
}

/* ---- canonical query string ---------------------------------------------- */

struct query_param {
        char *key; /* both already in canonical (re-encoded) form */
        char *value;
};

struct query_params {
        struct query_param *items;
        size_t n;
};

static void query_params_done(struct query_params *q)
{
        for (size_t i = 0; i < q->n; i++) {
                free(q->items[i].key);
                free(q->items[i].value);
        }
        free(q->items);
        *q = (struct query_params){0};
}

static int query_param_cmp(const void *a, const void *b)
{
        const struct query_param *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        return c ? c : strcmp(x->value, y->value);
}

static char *reencode(const char *s, size_t len, int *ret_err)
{
        struct strbuf b = {0};
        int r = reencode_into(&b, s, len);

        if (r < 0) {
                strbuf_done(&b);
                *ret_err = r;
                return NULL;
        }
        *ret_err = -ENOMEM;
        return strbuf_steal(&b);
}

/* Split "k=v&k2" into canonical pairs; a name without '=' has an empty value and
 * empty pieces ("a=1&&b=2") carry nothing, so they are skipped. */
static int query_parse(const char *query, struct query_params *q)
{
        size_t max = 1;
        int r;

        for (const char *p = query; *p; p++)
                max += *p == '&';
        q->items = calloc(max, sizeof(*q->items));
        if (!q->items)
                return -ENOMEM;

        for (const char *p = query; *p;) {
                size_t n = strcspn(p, "&");
                size_t klen = strcspn(p, "=&");
                struct query_param *item = &q->items[q->n];

                if (n > 0) {
                        const char *v = p + klen + (klen < n);

                        item->key = reencode(p, klen, &r);
                        if (!item->key)
                                return r;
                        q->n++; /* owned by q from here on, even if the value fails */
                        item->value = reencode(v, (size_t)(p + n - v), &r);
                        if (!item->value)
                                return r;
                }
                p += n + (p[n] == '&');
        }
        return 0;
}

static int canonical_query(struct strbuf *b, const char *query)
{
        _cleanup_(query_params_done) struct query_params q = {0};
        int r;

        if (isempty(query))
                return 0;
        if (text_has_control(query, strlen(query)) || strchr(query, '#'))
                return -EINVAL;
        r = query_parse(query, &q);
        if (r < 0)
                return r;
        qsort(q.items, q.n, sizeof(*q.items), query_param_cmp);
        for (size_t i = 0; i < q.n; i++) {
                if (i > 0)
                        strbuf_putc(b, '&');
                strbuf_puts(b, q.items[i].key);
                strbuf_putc(b, '=');
                strbuf_puts(b, q.items[i].value);
        }
        return 0;
}

/* ---- canonical headers ----------------------------------------------------- */

struct header_ref {
        const char *name; /* borrowed; compared case-insensitively */
        const char *value;
        size_t order; /* input position: same-name values keep their order */
};

static int ascii_casecmp(const char *a, const char *b)
{
        for (;; a++, b++) {
                unsigned char x = (unsigned char)ascii_lower(*a);
                unsigned char y = (unsigned char)ascii_lower(*b);

                if (x != y || !x)
                        return x - y;
        }
}

static int header_ref_cmp(const void *a, const void *b)
{
        const struct header_ref *x = a, *y = b;
        int c = ascii_casecmp(x->name, y->name);

        if (c)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

static bool header_name_valid(const char *name)
{
        if (isempty(name))
                return false;
        for (const char *p = name; *p; p++)
                if (!is_tchar((unsigned char)*p))
                        return false;
        return true;
}

/* Values may hold tabs and UTF-8 but no line breaks: a CR or LF would let a
 * value smuggle a header line into the request. */
static bool header_value_valid(const char *value)
{
        if (!value)
                return false;
        for (const char *p = value; *p; p++)
                if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return false;
        return true;
}

/* Trim and collapse runs of blanks into one space, as the canonical form wants. */
static void put_trimmed_value(struct strbuf *b, const char *v)
{
        bool pending_space = false;

        v += strspn(v, " \t");
        for (; *v; v++) {
                if (is_blank(*v)) {
                        pending_space = true;
                        continue;
                }
                if (pending_space)
                        strbuf_putc(b, ' ');
                pending_space = false;
                strbuf_putc(b, *v);
        }
}

static void put_lower(struct strbuf *b, const char *s)
{
        for (; *s; s++)
                strbuf_putc(b, ascii_lower(*s));
}

/* Emits "name:v1,v2\n" lines into `canon` and "name;name" into `signed_hdrs`;
 * hdrs must be sorted. */
static void put_headers(struct strbuf *canon, struct strbuf *signed_hdrs,
                        const struct header_ref *hdrs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                bool same_as_prev = i > 0 && ascii_casecmp(hdrs[i - 1].name, hdrs[i].name) == 0;

                if (same_as_prev) {
                        strbuf_putc(canon, ',');
                } else {
                        if (i > 0) {
                                strbuf_putc(canon, '\n');
                                strbuf_putc(signed_hdrs, ';');
                        }
                        put_lower(canon, hdrs[i].name);
                        strbuf_putc(canon, ':');
                        put_lower(signed_hdrs, hdrs[i].name);
                }
                put_trimmed_value(canon, hdrs[i].value);
        }
        if (n > 0)
                strbuf_putc(canon, '\n');
}

/* ---- signing ----------------------------------------------------------------- */

/* Everything the stages share; the added header values live here so the
 * canonical headers can borrow them. */
struct signing {
        const struct sigv4_request *req;
        const struct sigv4_credentials *creds;
        const struct sigv4_params *params;
        char payload_hash_buf[SHA256_HEX_LEN + 1];
        const char *payload_hash;
        struct header_ref hdrs[MAX_HEADERS];
        size_t n_hdrs;
};

int sigv4_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
        unsigned char md[SHA256_LEN];
        unsigned int md_len = 0;

        if (!EVP_Digest(len ? data : "", len, md, &md_len, EVP_sha256(), NULL) ||
            md_len != SHA256_LEN) {
                out[0] = '\0';
                return -EIO;
        }
        hex_lower(md, SHA256_LEN, out);
        return 0;
}

static int hmac_sha256(const void *key, size_t key_len, const char *msg, size_t msg_len,
                       unsigned char out[static SHA256_LEN])
{
        unsigned int out_len = 0;

        if (key_len > INT_MAX)
                return -EINVAL;
        if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, out,
                  &out_len) ||
            out_len != SHA256_LEN)
                return -EIO;
        return 0;
}

/* Checks the digits and field ranges of "YYYYMMDDTHHMMSSZ". */
static bool amz_date_valid(const char *d)
{
        static const struct {
                unsigned off, min, max;
        } fields[] = {{4, 1, 12}, {6, 1, 31}, {9, 0, 23}, {11, 0, 59}, {13, 0, 60}};

        if (!d || strlen(d) != AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
                return false;
        for (unsigned i = 0; i < AMZ_DATE_LEN - 1; i++)
                if (i != 8 && !is_digit(d[i]))
                        return false;
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                unsigned v = (unsigned)(d[fields[i].off] - '0') * 10 +
                             (unsigned)(d[fields[i].off + 1] - '0');

                if (v < fields[i].min || v > fields[i].max)
                        return false;
        }
        return true;
}

/* Scope parts (region, service) and the key id end up between '/' in the
 * credential scope, so they are held to a conservative alphabet. */
static bool scope_part_valid(const char *s)
{
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (!is_unreserved((unsigned char)*s) || *s == '~')
                        return false;
        return true;
}

static bool payload_hash_valid(const char *h)
{
        if (isempty(h))
                return false;
        for (; *h; h++)
                if ((unsigned char)*h <= 0x20 || *h == 0x7f)
                        return false;
        return true;
}

static int check_inputs(const struct sigv4_request *req, const struct sigv4_credentials *creds,
                        const struct sigv4_params *params)
{
        if (!req || !creds || !params)
                return -EINVAL;
        if (!header_name_valid(req->method) || (req->body_len > 0 && !req->body))
                return -EINVAL;
        if (req->n_headers > 0 && !req->headers)
                return -EINVAL;
        if (req->payload_hash && !payload_hash_valid(req->payload_hash))
                return -EINVAL;
        if (!scope_part_valid(creds->access_key_id) || isempty(creds->secret_access_key))
                return -EINVAL;
        if (creds->session_token && !header_value_valid(creds->session_token))
                return -EINVAL;
        if (!scope_part_valid(params->region) || !scope_part_valid(params->service))
                return -EINVAL;
        if (!amz_date_valid(params->amz_date))
                return -EINVAL;
        return 0;
}

/* Headers this module adds itself; the caller passing one too would send a
 * duplicate whose merged value no longer matches the signature. */
static bool header_is_reserved(const struct signing *s, const char *name)
{
        return ascii_casecmp(name, "authorization") == 0 ||
               ascii_casecmp(name, "x-amz-date") == 0 ||
               (s->creds->session_token && ascii_casecmp(name, "x-amz-security-token") == 0) ||
               (s->params->add_content_sha256 && ascii_casecmp(name, "x-amz-content-sha256") == 0);
}

static int add_header_ref(struct signing *s, const char *name, const char *value)
{
        if (s->n_hdrs >= MAX_HEADERS)
                return -E2BIG;
        s->hdrs[s->n_hdrs] = (struct header_ref){name, value, s->n_hdrs};
        s->n_hdrs++;
        return 0;
}

static int collect_headers(struct signing *s)
{
        const struct sigv4_request *req = s->req;
        bool have_host = false;
        int r = 0;

        for (size_t i = 0; i < req->n_headers && r >= 0; i++) {
                const struct sigv4_header *h = &req->headers[i];

                if (!header_name_valid(h->name) || !header_value_valid(h->value) ||
                    header_is_reserved(s, h->name))
                        return -EINVAL;
                if (ascii_casecmp(h->name, "host") == 0) {
                        if (h->value[strspn(h->value, " \t")] == '\0')
                                return -EINVAL;
                        have_host = true;
                }
                r = add_header_ref(s, h->name, h->value);
        }
        if (r < 0)
                return r;
        if (!have_host)
                return -EINVAL;

        r = add_header_ref(s, "x-amz-date", s->params->amz_date);
        if (r >= 0 && s->creds->session_token)
                r = add_header_ref(s, "x-amz-security-token", s->creds->session_token);
        if (r >= 0 && s->params->add_content_sha256)
                r = add_header_ref(s, "x-amz-content-sha256", s->payload_hash);
        if (r < 0)
                return r;

        qsort(s->hdrs, s->n_hdrs, sizeof(s->hdrs[0]), header_ref_cmp);
        return 0;
}

static int resolve_payload_hash(struct signing *s)
{
        int r;

        if (s->req->payload_hash) {
                s->payload_hash = s->req->payload_hash;
                return 0;
        }
        r = sigv4_sha256_hex(s->req->body, s->req->body_len, s->payload_hash_buf);
        if (r < 0)
                return r;
        s->payload_hash = s->payload_hash_buf;
        return 0;
}

static int build_canonical_request(struct signing *s, char **ret_creq, char **ret_signed_headers)
{
        _cleanup_(strbuf_done) struct strbuf creq = {0};
        _cleanup_(strbuf_done) struct strbuf signed_hdrs = {0};
        int r;

        strbuf_puts(&creq, s->req->method);
        strbuf_putc(&creq, '\n');
        r = canonical_uri(&creq, s->req->path, s->params->s3_style);
        if (r < 0)
                return r;
        strbuf_putc(&creq, '\n');
        r = canonical_query(&creq, s->req->query);
        if (r < 0)
                return r;
        strbuf_putc(&creq, '\n');
        put_headers(&creq, &signed_hdrs, s->hdrs, s->n_hdrs);
        strbuf_putc(&creq, '\n');
        strbuf_add(&creq, signed_hdrs.data ? signed_hdrs.data : "", signed_hdrs.len);
        strbuf_putc(&creq, '\n');
        strbuf_puts(&creq, s->payload_hash);
        if (creq.err < 0 || signed_hdrs.err < 0)
                return -ENOMEM;

        *ret_creq = strbuf_steal(&creq);
        *ret_signed_headers = strbuf_steal(&signed_hdrs);
        return 0;
}

static void put_scope(struct strbuf *b, const struct sigv4_params *params)
{
        strbuf_add(b, params->amz_date, DATE_LEN);
        strbuf_putc(b, '/');
        strbuf_puts(b, params->region);
        strbuf_putc(b, '/');
        strbuf_puts(b, params->service);
        strbuf_puts(b, "/" SCOPE_TERMINAL);
}

static int build_string_to_sign(const struct signing *s, const char *creq, char **ret)
{
        _cleanup_(strbuf_done) struct strbuf sts = {0};
        char creq_hash[SHA256_HEX_LEN + 1];
        int r;

        r = sigv4_sha256_hex(creq, strlen(creq), creq_hash);
        if (r < 0)
                return r;
        strbuf_puts(&sts, ALGORITHM "\n");
        strbuf_puts(&sts, s->params->amz_date);
        strbuf_putc(&sts, '\n');
        put_scope(&sts, s->params);
        strbuf_putc(&sts, '\n');
        strbuf_puts(&sts, creq_hash);
        *ret = strbuf_steal(&sts);
        return *ret ? 0 : -ENOMEM;
}

/* kDate → kRegion → kService → kSigning, then the signature. Every
 * intermediate key is a credential in its own right (kSigning is valid for a
 * whole day), so all of them are wiped before returning. */
static int compute_signature(const struct signing *s, const char *sts, char out[SHA256_HEX_LEN + 1])
{
        _cleanup_(strbuf_done) struct strbuf secret = {0};
        unsigned char k1[SHA256_LEN], k2[SHA256_LEN], sig[SHA256_LEN];
        int r;

        strbuf_puts(&secret, "AWS4");
        strbuf_puts(&secret, s->creds->secret_access_key);
        if (secret.err < 0)
                return -ENOMEM;

        r = hmac_sha256(secret.data, secret.len, s->params->amz_date, DATE_LEN, k1);
        if (r >= 0)
                r = hmac_sha256(k1, SHA256_LEN, s->params->region, strlen(s->params->region), k2);
        if (r >= 0)
                r = hmac_sha256(k2, SHA256_LEN, s->params->service, strlen(s->params->service), k1);
        if (r >= 0)
                r = hmac_sha256(k1, SHA256_LEN, SCOPE_TERMINAL, STRLEN(SCOPE_TERMINAL), k2);
        if (r >= 0)
                r = hmac_sha256(k2, SHA256_LEN, sts, strlen(sts), sig);
        if (r >= 0)
                hex_lower(sig, SHA256_LEN, out);

        explicit_wipe(k1, sizeof(k1));
        explicit_wipe(k2, sizeof(k2));
        explicit_wipe(sig, sizeof(sig));
        return r;
}

static char *build_authorization(const struct signing *s, const char *signed_headers,
                                 const char *signature)
{
        struct strbuf b = {0};

        strbuf_puts(&b, ALGORITHM " Credential=");
        strbuf_puts(&b, s->creds->access_key_id);
        strbuf_putc(&b, '/');
        put_scope(&b, s->params);
        strbuf_puts(&b, ", SignedHeaders=");
        strbuf_puts(&b, signed_headers);
        strbuf_puts(&b, ", Signature=");
        strbuf_puts(&b, signature);
        return strbuf_steal(&b);
}

static int add_result_header(struct sigv4_result *res, const char *name, const char *value)
{
        size_t i = res->n_add_headers;

        if (i >= ARRAY_SIZE(res->add_headers))
                return -E2BIG;
        res->add_headers[i].name = strdup(name);
        res->add_headers[i].value = strdup(value);
        res->n_add_headers++;
        if (!res->add_headers[i].name || !res->add_headers[i].value)
                return -ENOMEM;
        return 0;
}

static int fill_added_headers(const struct signing *s, struct sigv4_result *res)
{
        int r;

        r = add_result_header(res, "X-Amz-Date", s->params->amz_date);
        if (r >= 0 && s->creds->session_token)
                r = add_result_header(res, "X-Amz-Security-Token", s->creds->session_token);
        if (r >= 0 && s->params->add_content_sha256)
                r = add_result_header(res, "X-Amz-Content-SHA256", s->payload_hash);
        return r;
}

static void sigv4_result_donep(struct sigv4_result *r)
{
        sigv4_result_done(r);
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *creds,
               const struct sigv4_params *params, struct sigv4_result *ret)
{
        _cleanup_(sigv4_result_donep) struct sigv4_result res = {0};
        _cleanup_free_ char *signed_headers = NULL;
        _cleanup_free_ struct signing *s = NULL;
        char signature[SHA256_HEX_LEN + 1];
        int r;

        if (!ret)
                return -EINVAL;
        r = check_inputs(req, creds, params);
        if (r < 0)
                return r;
        /* The header table is a few KiB: keep it off the daemon's stack. */
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct signing){.req = req, .creds = creds, .params = params};

        r = resolve_payload_hash(s);
        if (r >= 0)
                r = collect_headers(s);
        if (r >= 0)
                r = build_canonical_request(s, &res.canonical_request, &signed_headers);
        if (r >= 0)
                r = build_string_to_sign(s, res.canonical_request, &res.string_to_sign);
        if (r >= 0)
                r = compute_signature(s, res.string_to_sign, signature);
        if (r < 0)
                return r;

        res.signature = strdup(signature);
        res.authorization = build_authorization(s, signed_headers, signature);
        if (!res.signature || !res.authorization)
                return -ENOMEM;
        r = fill_added_headers(s, &res);
        if (r < 0)
                return r;

        *ret = res;
        res = (struct sigv4_result){0};
        return 0;
}

void sigv4_result_done(struct sigv4_result *r)
{
        if (!r)
                return;
        erase_and_free(r->canonical_request);
        erase_and_free(r->string_to_sign);
        erase_and_free(r->signature);
        erase_and_free(r->authorization);
        for (size_t i = 0; i < r->n_add_headers && i < ARRAY_SIZE(r->add_headers); i++) {
                erase_and_free(r->add_headers[i].name);
                erase_and_free(r->add_headers[i].value);
        }
        *r = (struct sigv4_result){0};
}

int sigv4_format_amz_date(long long epoch_seconds, char out[AMZ_DATE_LEN + 1])
{
        /* 9999-12-31T23:59:59Z: the format has room for four year digits only. */
        const long long max_epoch = 253402300799LL;
        struct tm tm;
        time_t t;

        if (epoch_seconds < 0 || epoch_seconds > max_epoch)
                return -ERANGE;
        t = (time_t)epoch_seconds;
        if (!gmtime_r(&t, &tm))
                return -ERANGE;
        if (strftime(out, AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != AMZ_DATE_LEN)
                return -ERANGE;
        return 0;
}
