/* PS/2 keyboard (IBM Enhanced Keyboard as on the PS/2): its command set and
 * output queue. Key codes come from a front end in scan code set 2.
 * Reference: IBM PS/2 Hardware Interface Technical Reference, "Keyboard",
 * sections "Commands from the System" and "Commands to the System". */
#include "devices/ps2.h"

/* Commands from the system (IBM PS/2 ref., keyboard, "Commands from the System"). */
#define KBD_CMD_SET_LEDS 0xED
#define KBD_CMD_ECHO 0xEE
#define KBD_CMD_SCANSET 0xF0      /* parameter 0: report the set, 1-3: select */
#define KBD_CMD_IDENTIFY 0xF2
#define KBD_CMD_TYPEMATIC 0xF3
#define KBD_CMD_ENABLE 0xF4
#define KBD_CMD_DEFAULT_DISABLE 0xF5
#define KBD_CMD_SET_DEFAULT 0xF6
#define KBD_CMD_SET3_FIRST 0xF7   /* F7-FD: set 3 key types */
#define KBD_CMD_SET3_LAST 0xFD
#define KBD_CMD_RESEND 0xFE
#define KBD_CMD_RESET 0xFF

/* Keyboard ID: 0xAB 0x83 (IBM PS/2 ref., "Read ID"). */
#define KBD_ID1 0xAB
#define KBD_ID2 0x83
/* Overrun: 0x00 in sets 2 and 3, 0xFF in set 1 ("Keyboard Buffer"). */
#define KBD_OVERRUN_SET1 0xFF
#define KBD_OVERRUN_SET2 0x00
/* Default typematic: 10.9 characters/s, 500 ms delay ("Set Default"). */
#define KBD_TYPEMATIC_DEFAULT 0x2B
#define KBD_BREAK_PREFIX 0xF0
#define KBD_SET1_BREAK 0x80

/* The 8042's set 2 -> set 1 translation of codes 0x00-0x7F (IBM PS/2 ref.,
 * keyboard controller, "Scan Code Translation"); codes from 0x80 pass
 * unchanged but for 0x83 (F7) and 0x84 (SysRq). */
static const uint8_t set2_to_set1[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t ps2_set2_to_set1(uint8_t code)
{
    if (code < 0x80)
        return set2_to_set1[code];
    if (code == 0x83)
        return 0x41;
    if (code == 0x84)
        return 0x54;
    return code;
}

static void kbd_send(struct ps2kbd *k, uint8_t b)
{
    k->last = b;
    ps2_queue_put(&k->q, b);
}

static void kbd_defaults(struct ps2kbd *k)
{
    k->set = 2;
    k->typematic = KBD_TYPEMATIC_DEFAULT;
    k->leds = 0;
}

void ps2kbd_reset(struct ps2kbd *k)
{
    ps2_queue_clear(&k->q);
    kbd_defaults(k);
    k->pending_cmd = 0;
    k->last = 0;
    k->scanning = true;
}

/* The parameter byte of ED, F0 or F3. */
static void kbd_parameter(struct ps2kbd *k, uint8_t cmd, uint8_t b)
{
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        k->leds = b & 0x07;
        kbd_send(k, PS2_ACK);
        break;
    case KBD_CMD_TYPEMATIC:
        k->typematic = b & 0x7F;
        kbd_send(k, PS2_ACK);
        break;
    case KBD_CMD_SCANSET:
        if (b == 0) {
            kbd_send(k, PS2_ACK);
            kbd_send(k, k->set);
        } else if (b <= 3) {
            k->set = b;
            kbd_send(k, PS2_ACK);
        } else {
            kbd_send(k, PS2_RESEND);
        }
        break;
    }
}

void ps2kbd_write(struct ps2kbd *k, uint8_t b)
{
    if (k->pending_cmd) {
        uint8_t cmd = k->pending_cmd;
        k->pending_cmd = 0;
        /* A command byte in place of the parameter starts that command
         * instead (the keyboard ends the one it waited on). */
        if (b < KBD_CMD_SET_LEDS) {
            kbd_parameter(k, cmd, b);
            return;
        }
    }
    switch (b) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_TYPEMATIC:
    case KBD_CMD_SCANSET:
        /* The keyboard stops scanning until the parameter comes. */
        k->pending_cmd = b;
        kbd_send(k, PS2_ACK);
        break;
    case KBD_CMD_ECHO:
        kbd_send(k, PS2_ECHO);
        break;
    case KBD_CMD_IDENTIFY:
        kbd_send(k, PS2_ACK);
        kbd_send(k, KBD_ID1);
        kbd_send(k, KBD_ID2);
        break;
    case KBD_CMD_ENABLE:
        ps2_queue_clear(&k->q);
        k->scanning = true;
        kbd_send(k, PS2_ACK);
        break;
    case KBD_CMD_DEFAULT_DISABLE:
    case KBD_CMD_SET_DEFAULT:
        ps2_queue_clear(&k->q);
        kbd_defaults(k);
        k->scanning = b == KBD_CMD_SET_DEFAULT;
        kbd_send(k, PS2_ACK);
        break;
    case KBD_CMD_RESEND:
        ps2_queue_put(&k->q, k->last);
        break;
    case KBD_CMD_RESET:
        ps2kbd_reset(k);
        kbd_send(k, PS2_ACK);
        kbd_send(k, PS2_BAT_OK);
        break;
    default:
        if (b >= KBD_CMD_SET3_FIRST && b <= KBD_CMD_SET3_LAST) {
            /* Set 3 key types: accepted; key codes are not sent in set 3. */
            kbd_send(k, PS2_ACK);
            break;
        }
        kbd_send(k, PS2_RESEND);
        break;
    }
}

void ps2kbd_put_keys(struct ps2kbd *k, const uint8_t *codes, size_t n)
{
    if (!k->scanning || k->pending_cmd || n == 0)
        return;
    uint8_t out[16];
    size_t m = 0;
    bool brk = false;
    for (size_t i = 0; i < n && m < sizeof out; i++) {
        if (k->set != 1) {
            out[m++] = codes[i];
        } else if (codes[i] == KBD_BREAK_PREFIX) {
            brk = true;
        } else {
            uint8_t c = codes[i] >= 0xE0 ? codes[i] : ps2_set2_to_set1(codes[i]);
            out[m++] = brk ? (uint8_t)(c | KBD_SET1_BREAK) : c;
            brk = false;
        }
    }
    /* One free place stays for the overrun code. */
    if (ps2_queue_room(&k->q) > m) {
        for (size_t i = 0; i < m; i++)
            ps2_queue_put(&k->q, out[i]);
    } else {
        ps2_queue_put(&k->q, k->set == 1 ? KBD_OVERRUN_SET1 : KBD_OVERRUN_SET2);
    }
}
