/*
 * fuzz_sns_cert_url.c — the SigningCertURL and SubscribeURL rules.
 *
 * Input: one control byte, then the URL, optionally followed by "\n" and a
 * TopicArn (else a fixed topic is used). Control bits: 0 SubscribeURL rule
 * instead of SigningCertURL; 1 with an operator host rule; 2-3 which fixed
 * topic. An accepted URL is re-read naively (no libcurl) and must name the
 * expected host, no userinfo, port 443 at most, and for certificates the
 * /SimpleNotificationService-<hex>.pem path: a URL libcurl reads differently
 * from its plain text would be caught here.
 */
#include <ctype.h>
#include <regex.h>

#include "common.h"
#include "fuzz_common.h"
#include "sns_verify.h"

static const char *const topics[] = {
        "arn:aws:sns:us-east-1:123456789012:twowayd-inbound",
        "arn:aws-cn:sns:cn-north-1:123456789012:inbound",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:inbound.fifo",
        "arn:aws:sns:eu-west-1:123456789012:x",
};

static regex_t override;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        if (sns_host_regex_compile("(sns|signing)\\.[a-z0-9-]+\\.example\\.(com|net)", &override) <
            0)
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *in, *url, *nl;
        const char *topic;
        char expected[128], authority[SNS_URL_MAX + 1];
        const char *reason = NULL, *a, *path;
        bool cert, with_override;
        uint8_t ctl;
        size_t an;
        int r;

        if (size < 1)
                return 0;
        ctl = data[0];
        cert = !(ctl & 1);
        with_override = ctl & 2;
        in = fuzz_strndup(data + 1, size - 1);
        url = in;
        topic = topics[(ctl >> 2) & 3];
        nl = strchr(in, '\n');
        if (nl) {
                *nl = '\0';
                topic = nl + 1;
        }

        r = cert ? sns_cert_url_check(url, topic, with_override ? &override : NULL, &reason)
                 : sns_subscribe_url_check(url, topic, with_override ? &override : NULL, &reason);
        if (r < 0) {
                FUZZ_CHECK(reason && *reason);
                FUZZ_CHECK(r == -EBADMSG || r == -EINVAL || r == -ENOMEM);
                goto out;
        }
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(strlen(url) <= SNS_URL_MAX);
        FUZZ_CHECK(strncmp(url, "https://", 8) == 0);
        for (const char *p = url; *p; p++)
                FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '\\');
        FUZZ_CHECK(!strchr(url, '#'));
        if (cert)
                FUZZ_CHECK(!strchr(url, '?'));

        /* The authority as plain text: no userinfo, host[:port]. */
        a = url + 8;
        an = strcspn(a, "/?#");
        memcpy(authority, a, an);
        authority[an] = '\0';
        FUZZ_CHECK(!strchr(authority, '@'));
        for (char *p = authority; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (!with_override) {
                char *colon = strchr(authority, ':');

                /* An empty port is the default port (RFC 3986 3.2.3), and "0443" is
                 * 443, as libcurl reads them. */
                if (colon) {
                        FUZZ_CHECK(colon[1] == '\0' ||
                                   (strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
                                    strtoul(colon + 1, NULL, 10) == 443));
                        *colon = '\0';
                }
                FUZZ_CHECK(sns_topic_arn_endpoint_host(topic, expected, sizeof(expected)) == 0);
                FUZZ_CHECK(streq(authority, expected));
        } else {
                regmatch_t pm[1];
                char *colon = strchr(authority, ':');

                if (colon)
                        *colon = '\0';
                FUZZ_CHECK(regexec(&override, authority, 1, pm, 0) == 0 && pm[0].rm_so == 0 &&
                           pm[0].rm_eo == (regoff_t)strlen(authority));
        }
        if (cert) {
                size_t n, hex;

                path = a + an;
                FUZZ_CHECK(strncmp(path, "/SimpleNotificationService-", 27) == 0);
                n = strlen(path);
                FUZZ_CHECK(n > 31 && streq(path + n - 4, ".pem"));
                hex = strspn(path + 27, "0123456789abcdef");
                FUZZ_CHECK(27 + hex == n - 4);
        }
out:
        free(in);
        return 0;
}
