/*
 * keyword_config.h — the keyword rules (keyword.h) as the config sets them:
 * the [consent] opt_out_words, opt_in_words and help_words lists.
 *
 * The ingress classifies each message with these rules when it stores it
 * (the spool keeps the class) and the dispatcher classifies it again under
 * the sender's consent state; both build their rules here, so that the two
 * read the same lists.
 *
 * Ownership: keyword_config_split() returns a NULL-terminated array of
 * strings owned by the caller (keyword_config_words_free()); the rules are
 * the caller's (keyword_rules_free()).
 */
#ifndef TWOWAYD_KEYWORD_CONFIG_H
#define TWOWAYD_KEYWORD_CONFIG_H

struct config;
struct keyword_rules;

/* Split a *_words value ("STOP, STOP ALL") at commas, trimming blanks and
 * dropping empty items, into a NULL-terminated array (*ret). list NULL gives
 * *ret NULL (the built-in list). Returns the number of words, -EINVAL,
 * -ENOMEM. */
int keyword_config_split(const char *list, char ***ret);
char **keyword_config_words_free(char **words);

/* The rules of config's [consent] lists. -EINVAL (a list keyword.h refuses), -ENOMEM. */
int keyword_config_rules(const struct config *config, struct keyword_rules **ret);

#endif
