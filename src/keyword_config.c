/*
 * keyword_config.c — keyword rules from the [consent] word lists.
 */
#include "common.h"
#include "config.h"
#include "keyword.h"
#include "keyword_config.h"

char **keyword_config_words_free(char **words)
{
        if (!words)
                return NULL;
        for (char **w = words; *w; w++)
                free(*w);
        free(words);
        return NULL;
}

int keyword_config_split(const char *list, char ***ret)
{
        char **words;
        size_t n = 0, max = 1;

        if (!ret)
                return -EINVAL;
        if (!list) {
                *ret = NULL;
                return 0;
        }
        for (const char *s = list; *s; s++)
                if (*s == ',')
                        max++;
        words = calloc(max + 1, sizeof(*words));
        if (!words)
                return -ENOMEM;
        for (const char *s = list;;) {
                const char *end = strchr(s, ',');
                const char *a = s, *b = end ? end : s + strlen(s);

                while (a < b && (*a == ' ' || *a == '\t'))
                        a++;
                while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                        b--;
                if (b > a) {
                        words[n] = strndup(a, (size_t)(b - a));
                        if (!words[n]) {
                                keyword_config_words_free(words);
                                return -ENOMEM;
                        }
                        n++;
                }
                if (!end)
                        break;
                s = end + 1;
        }
        *ret = words;
        return (int)n;
}

int keyword_config_rules(const struct config *c, struct keyword_rules **ret)
{
        char **out = NULL, **in = NULL, **help = NULL;
        int r;

        r = keyword_config_split(c->consent_opt_out_words, &out);
        if (r >= 0)
                r = keyword_config_split(c->consent_opt_in_words, &in);
        if (r >= 0)
                r = keyword_config_split(c->consent_help_words, &help);
        if (r >= 0)
                r = keyword_rules_new(
                        &(struct keyword_config){
                                .opt_out = (const char *const *)out,
                                .opt_in = (const char *const *)in,
                                .help = (const char *const *)help,
                        },
                        ret);
        keyword_config_words_free(out);
        keyword_config_words_free(in);
        keyword_config_words_free(help);
        return r < 0 ? r : 0;
}
