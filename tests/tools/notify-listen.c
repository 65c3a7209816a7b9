/*
 * notify-listen — stands in for systemd's notification socket in tests.
 *
 * Binds an AF_UNIX datagram socket at the given path and prints each datagram
 * it receives as one JSON array of its lines (["READY=1","STATUS=..."]) on
 * stdout, flushed at once, until it is killed.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "common.h"

static void print_datagram(const char *buf)
{
        json_t *lines = json_array();
        char *copy = strdup(buf), *save = NULL, *line;

        if (!lines || !copy)
                exit(EXIT_FAILURE);
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                json_array_append_new(lines, json_string(line));
        json_dumpf(lines, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(lines);
        free(copy);
}

int main(int argc, char *argv[])
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char buf[4096];
        int fd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: notify-listen SOCKET_PATH\n");
                return EXIT_FAILURE;
        }
        memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("notify-listen");
                return EXIT_FAILURE;
        }
        /* Tell the test we are bound, so no notification can be sent too early. */
        printf("[\"LISTENING=1\"]\n");
        fflush(stdout);
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("notify-listen: recv");
                        return EXIT_FAILURE;
                }
                buf[n] = '\0';
                print_datagram(buf);
        }
}
