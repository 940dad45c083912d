/* Inside the 8042 family: the PS/2 keyboard and mouse that sit behind the
 * keyboard controller (src/devices/i8042.c). Only i8042.c, ps2kbd.c and
 * ps2mouse.c include this; they are one device to the platform.
 *
 * A PS/2 device takes bytes from the host (commands, parameters) and
 * answers into its own output queue; the controller moves queued bytes to
 * its output buffer one at a time, when that is empty and the port's clock
 * is enabled. All calls run with the platform lock held.
 * Reference: IBM PS/2 Hardware Interface Technical Reference (1988),
 * "Keyboard/Auxiliary Device Controller", "Keyboard", "Pointing Device". */
#ifndef CAIXA_DEVICES_PS2_H
#define CAIXA_DEVICES_PS2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Device answers to the host (IBM PS/2 ref., "Commands to the System"). */
#define PS2_ACK 0xFA
#define PS2_RESEND 0xFE           /* also "invalid command" */
#define PS2_BAT_OK 0xAA           /* basic assurance test passed */
#define PS2_ECHO 0xEE

/* A real keyboard buffers 16 keystrokes; a few packets for the mouse. */
#define PS2_QUEUE_SIZE 64

struct ps2_queue {
    uint8_t buf[PS2_QUEUE_SIZE];
    unsigned head, count;
};

void ps2_queue_clear(struct ps2_queue *q);
bool ps2_queue_put(struct ps2_queue *q, uint8_t b);    /* false: full, dropped */
unsigned ps2_queue_room(const struct ps2_queue *q);
bool ps2_queue_get(struct ps2_queue *q, uint8_t *b);   /* false: empty */

/* --- keyboard (ps2kbd.c) -------------------------------------------------- */
struct ps2kbd {
    struct ps2_queue q;
    uint8_t pending_cmd;          /* command that waits for its parameter, or 0 */
    uint8_t last;                 /* last byte sent, for the resend command */
    uint8_t set;                  /* scan code set 1, 2 or 3 */
    uint8_t leds;
    uint8_t typematic;
    bool scanning;                /* keystrokes are reported */
};

void ps2kbd_reset(struct ps2kbd *k);              /* power-on: set 2, scanning */
void ps2kbd_write(struct ps2kbd *k, uint8_t b);   /* a byte from the host */
/* Key codes from a front end, in scan code set 2 (make codes, 0xF0 break
 * prefixes, 0xE0/0xE1 escapes). With set 1 selected the keyboard sends
 * them converted; set 3 is reported as selected but not converted to. */
void ps2kbd_put_keys(struct ps2kbd *k, const uint8_t *codes, size_t n);
/* Set 2 -> set 1 conversion of one code (the 8042's translation table). */
uint8_t ps2_set2_to_set1(uint8_t code);

/* --- mouse (ps2mouse.c) --------------------------------------------------- */
#define PS2_MOUSE_LEFT 0x01
#define PS2_MOUSE_RIGHT 0x02
#define PS2_MOUSE_MIDDLE 0x04
#define PS2_MOUSE_BUTTON4 0x08
#define PS2_MOUSE_BUTTON5 0x10

struct ps2mouse {
    struct ps2_queue q;
    uint8_t pending_cmd;          /* command that waits for its parameter, or 0 */
    uint8_t last[5];              /* last answer or packet, for the resend command */
    uint8_t last_len;
    uint8_t id;                   /* 0 standard, 3 IntelliMouse, 4 IntelliMouse Explorer */
    uint8_t rate, resolution;
    uint8_t rate_hist[3];         /* last sample rates: the IntelliMouse knock */
    bool scaling21, remote, wrap, enabled;
    uint8_t buttons;              /* PS2_MOUSE_* */
    int dx, dy, dz;               /* movement not reported yet */
};

void ps2mouse_reset(struct ps2mouse *m);
void ps2mouse_write(struct ps2mouse *m, uint8_t b);
/* Movement from a front end: dx right, dy up, dz wheel (positive: towards
 * the user), buttons PS2_MOUSE_*. */
void ps2mouse_event(struct ps2mouse *m, int dx, int dy, int dz, uint8_t buttons);

#endif
