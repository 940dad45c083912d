/* caixa: entry point and command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/errors.h"
#include "runtime/log.h"

#ifndef CAIXA_VERSION
#define CAIXA_VERSION "0.0.0"
#endif

static const char usage[] =
    "usage: caixa COMMAND [flags]\n"
    "       caixa --version | --help\n"
    "\n"
    "caixa is a hosted PC hypervisor with its own software x86-64 CPU.\n"
    "\n"
    "Commands:\n"
    "  run    boot a PC in the foreground (caixa run --help for its flags)\n"
    "  createmedium, clonemedium, showmediuminfo, modifymedium, checkmedium\n"
    "         disk images (caixa createmedium --help)\n"
    "\n"
    "Exit status: 0 power-off, 2 bad usage or setup error, 3 guest reset under\n"
    "--no-reboot, (V<<1)|1 debug-exit write of V, 128+N signal N.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        log_error("no command given (try 'caixa --help')");
        return CAIXA_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("caixa %s\n", CAIXA_VERSION);
        return CAIXA_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CAIXA_EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } medium_cmds[] = {
        {"createmedium", cmd_createmedium}, {"clonemedium", cmd_clonemedium},
        {"showmediuminfo", cmd_showmediuminfo}, {"modifymedium", cmd_modifymedium},
        {"checkmedium", cmd_checkmedium},
    };
    for (size_t i = 0; i < sizeof medium_cmds / sizeof medium_cmds[0]; i++)
        if (strcmp(cmd, medium_cmds[i].name) == 0)
            return medium_cmds[i].fn(argc - 1, argv + 1);
    if (cmd[0] == '-')
        log_error("unknown option '%s' (try 'caixa --help')", cmd);
    else
        log_error("unknown command '%s' (try 'caixa --help')", cmd);
    return CAIXA_EXIT_USAGE;
}
