/* Process exit statuses of caixa, one meaning each (docs/cli.md). */
#ifndef CAIXA_RUNTIME_ERRORS_H
#define CAIXA_RUNTIME_ERRORS_H

enum caixa_exit {
    CAIXA_EXIT_OK = 0,       /* guest powered off, or --help/--version */
    CAIXA_EXIT_FAILURE = 1,  /* internal failure while running */
    CAIXA_EXIT_USAGE = 2,    /* bad flags, files, or memory the host cannot give */
    CAIXA_EXIT_RESET = 3,    /* the guest reset the machine under --no-reboot */
    /* --debug-exit: a write of V to the port ends with (V << 1) | 1. */
    /* A signal (SIGINT, SIGTERM, SIGHUP) ends the VM with 128 + signal. */
};

#endif
