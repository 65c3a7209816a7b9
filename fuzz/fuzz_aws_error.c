/*
 * fuzz_aws_error.c — the AWS error response parser (JSON, XML, anything).
 *
 * Input: two bytes of HTTP status (mod 1000), a flags byte (bit 0: an
 * x-amzn-ErrorType header follows, bit 1: a request id follows; each is
 * NUL-terminated), then the body, passed without a terminating NUL.
 * The result must hold terminated strings, a normalised code (no ':' and no
 * '#', no surrounding blanks unless cut to fit) and the classification of itself.
 */
#include "aws_error.h"
#include "common.h"
#include "fuzz_common.h"

static const char *take_cstr(struct fuzz_input *in, char **owned)
{
        const uint8_t *nul = memchr(in->p, '\0', in->left);
        size_t n = nul ? (size_t)(nul - in->p) : in->left;

        *owned = fuzz_strndup(in->p, n);
        in->p += n + (nul ? 1 : 0);
        in->left -= n + (nul ? 1 : 0);
        return *owned;
}

/* size: the buffer the code was written to; a code cut to fit may end in a
 * blank, and so may one cut short by a NUL byte in the body (C strings). */
static void check_code(const char *code, size_t size, bool nul_in_body)
{
        size_t n = strlen(code);

        FUZZ_CHECK(!strchr(code, ':') && !strchr(code, '#'));
        if (n && n < size - 1 && !nul_in_body) {
                FUZZ_CHECK(code[0] != ' ' && code[0] != '\t');
                FUZZ_CHECK(!strchr(" \t\r\n", code[n - 1]));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_input in = {data, size};
        char *header = NULL, *request_id = NULL, *body;
        struct aws_error e;
        char small[5];
        long status;
        uint8_t flags;
        size_t n;

        status = fuzz_u16(&in) % 1000;
        flags = fuzz_u8(&in);
        if (flags & 1)
                take_cstr(&in, &header);
        if (flags & 2)
                take_cstr(&in, &request_id);
        body = malloc(in.left ? in.left : 1);
        FUZZ_CHECK(body);
        memcpy(body, in.p, in.left);

        aws_error_from_response(status, header, request_id, (flags & 4) ? NULL : body,
                                (flags & 4) ? 0 : in.left, &e);
        FUZZ_CHECK(memchr(e.code, '\0', sizeof(e.code)));
        FUZZ_CHECK(memchr(e.message, '\0', sizeof(e.message)));
        FUZZ_CHECK(memchr(e.request_id, '\0', sizeof(e.request_id)));
        check_code(e.code, sizeof(e.code), memchr(body, '\0', in.left) != NULL);
        FUZZ_CHECK(e.http_status == status && e.local == 0);
        FUZZ_CHECK(e.kind == aws_error_classify(&e));
        FUZZ_CHECK(e.kind < _AWS_ERROR_KIND_MAX);
        (void)aws_error_retryable(&e);
        (void)aws_error_kind_to_string(e.kind);

        /* The normaliser on its own, with a tight buffer too. */
        n = aws_error_normalize_code(body, in.left, small, sizeof(small));
        FUZZ_CHECK(n < sizeof(small) && small[n] == '\0');
        {
                char big[AWS_ERROR_CODE_MAX];

                n = aws_error_normalize_code(body, in.left, big, sizeof(big));
                FUZZ_CHECK(n < sizeof(big) && big[n] == '\0');
                if (!memchr(big, '\0', n))
                        check_code(big, sizeof(big), false);
        }

        free(body);
        free(header);
        free(request_id);
        return 0;
}
