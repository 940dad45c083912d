/* The caixa command line (VBoxManage's role): one file per command. */
#ifndef CAIXA_CLI_CLI_H
#define CAIXA_CLI_CLI_H

/* `caixa run [flags]`: argv[0] is "run". Returns the exit status. */
int cmd_run(int argc, char **argv);

/* The media commands (medium.c), argv[0] being the command's name. */
int cmd_createmedium(int argc, char **argv);
int cmd_clonemedium(int argc, char **argv);
int cmd_showmediuminfo(int argc, char **argv);
int cmd_modifymedium(int argc, char **argv);
int cmd_checkmedium(int argc, char **argv);

#endif
