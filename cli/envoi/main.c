/* envoi: the admin tool. `envoi <cmd> ...` dispatches to cmd_<cmd>().
 *
 * Subcommands written by other people land in parallel: they are referenced
 * as weak symbols, so the tool links (and says "not built in") until their
 * file exists. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

int cmd_sink(int argc, char **argv) __attribute__((weak));
int cmd_dkim(int argc, char **argv) __attribute__((weak));
int cmd_spam(int argc, char **argv) __attribute__((weak));
int cmd_spf(int argc, char **argv) __attribute__((weak));
int cmd_dns(int argc, char **argv) __attribute__((weak));
int cmd_user(int argc, char **argv) __attribute__((weak));

#define EX_USAGE_ENVOI 2

struct envoi_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static void usage(FILE *f, const struct envoi_cmd *cmds, size_t n)
{
    fputs("usage: envoi <command> [options]   (envoi <command> --help for its options)\n\ncommands:\n", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-8s %s%s\n", cmds[i].name, cmds[i].help, cmds[i].fn ? "" : " (not built in)");
}

int main(int argc, char **argv)
{
    /* the table is built at run time: weak symbols are NULL when absent */
    const struct envoi_cmd cmds[] = {
        {"send", cmd_send, "send messages over SMTP (TLS, AUTH, many in parallel)"},
        {"sink", cmd_sink, "SMTP server writing each message to a Maildir or file"},
        {"health", cmd_health, "GET /healthz on an admin port: exit 0 when 200"},
        {"dkim", cmd_dkim, "DKIM keys and signatures"},
        {"spam", cmd_spam, "train and query the spam filter"},
        {"spf", cmd_spf, "evaluate SPF"},
        {"dns", cmd_dns, "zone and DNS tools"},
        {"user", cmd_user, "users of the submission service (git)"},
    };
    const size_t n = sizeof cmds / sizeof cmds[0];

    if (argc < 2) {
        usage(stderr, cmds, n);
        return EX_USAGE_ENVOI;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout, cmds, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "envoi: %s: not built in\n", cmds[i].name);
            return 1;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "envoi: unknown command \"%s\"\n", argv[1]);
    usage(stderr, cmds, n);
    return EX_USAGE_ENVOI;
}
