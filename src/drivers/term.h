/* The user's terminal on standard input while a VM's serial console runs on
 * it: raw mode, and the promise that the settings come back whatever way
 * caixa ends (normal exit, errors, fatal signals, a sanitizer's abort). */
#ifndef CAIXA_DRIVERS_TERM_H
#define CAIXA_DRIVERS_TERM_H

#include <stdbool.h>

/* Puts the terminal on fd in raw mode: no echo, no line editing, no signal
 * keys (Ctrl-C, Ctrl-Z, Ctrl-\ go to the guest as bytes), no flow control,
 * CR kept as CR; output processing stays on so that caixa's own messages
 * start their lines. Saves the settings first, and from then on restores
 * them at exit and on fatal signals (those whose action is still the
 * default: a handler that ends the process cleanly, such as the VM's for
 * SIGINT, SIGTERM, SIGHUP, stays and must lead to term_restore). Returns
 * false if fd is not a terminal or cannot be set. A SIGTSTP from outside
 * (Ctrl-Z itself goes to the guest) gives the terminal back while caixa is
 * stopped; SIGCONT makes it raw again. */
bool term_raw(int fd);
/* Gives the terminal its saved settings back and removes the signal
 * handlers term_raw installed. Does nothing if it is not raw. */
void term_restore(void);
bool term_is_raw(void);

#endif
