/* The envoi admin tool's subcommands: each takes the argv after its own name
 * (argv[0] is the subcommand) and returns the process exit status. */
#ifndef ENVOI_CLI_CMDS_H
#define ENVOI_CLI_CMDS_H

int cmd_send(int argc, char **argv);   /* build and send one message */
int cmd_sink(int argc, char **argv);   /* SMTP server writing messages to a Maildir/file */
int cmd_health(int argc, char **argv); /* GET /healthz on an admin port: exit 0 if 200 */
int cmd_dkim(int argc, char **argv);
int cmd_spam(int argc, char **argv);
int cmd_spf(int argc, char **argv);
int cmd_dns(int argc, char **argv);
int cmd_user(int argc, char **argv);

#endif
