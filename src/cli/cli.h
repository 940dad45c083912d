/* The caixa command line (VBoxManage's role): one file per command. */
#ifndef CAIXA_CLI_CLI_H
#define CAIXA_CLI_CLI_H

/* `caixa run [flags]`: argv[0] is "run". Returns the exit status. */
int cmd_run(int argc, char **argv);

#endif
