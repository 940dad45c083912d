/* Intel 8042 keyboard/auxiliary device controller of the PC/AT and PS/2,
 * with a PS/2 keyboard on its first port and a PS/2 mouse on the second.
 * The controller's output buffer holds one byte; it is refilled from its
 * own answers first, then from the keyboard, then from the mouse, when it
 * is empty and that port's clock is enabled. IRQ 1 follows "output buffer
 * full with keyboard data" and IRQ 12 "... with mouse data", each gated by
 * its command byte bit (as the output port's bits 4 and 5 drive the lines).
 * Commands complete at once: the input buffer is never seen full.
 * Reference: IBM PS/2 Hardware Interface Technical Reference (1988),
 * "Keyboard/Auxiliary Device Controller" (status register, command byte,
 * commands, output port); IBM PC/AT Technical Reference, "Keyboard
 * Controller". */
#include "devices/i8042.h"

#include <stdbool.h>
#include <stdint.h>

#include "devices/ps2.h"
#include "vmm/device.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1           /* PC/AT interrupt assignments */
#define I8042_AUX_IRQ 12

/* Status register, read at 0x64 ("Status Register"). */
#define STS_OBF 0x01              /* output buffer full */
#define STS_IBF 0x02              /* input buffer full (never: commands complete at once) */
#define STS_SYS 0x04              /* system flag: 0 after power-on, 1 after self-test */
#define STS_CMD 0x08              /* last write was to 0x64 (command), not 0x60 */
#define STS_UNLOCKED 0x10         /* keyboard inhibit switch off */
#define STS_AUXOBF 0x20           /* the output buffer holds mouse data */

/* Command byte, controller RAM byte 0 ("Command Byte"). */
#define CB_KBD_INT 0x01
#define CB_AUX_INT 0x02
#define CB_SYS 0x04
#define CB_KBD_DISABLE 0x10       /* keyboard clock held low */
#define CB_AUX_DISABLE 0x20
#define CB_XLATE 0x40             /* keyboard codes translated to set 1 */
/* Power-on value: both interrupts enabled, interfaces on, no translation
 * (the firmware sets its own). */
#define CB_POWER_ON (CB_KBD_INT | CB_AUX_INT)

/* Output port, read by 0xD0, written by 0xD1 ("Output Port"). */
#define OP_RESET 0x01             /* system reset line, active low */
#define OP_A20 0x02
#define OP_KBD_OBF 0x10           /* IRQ 1 */
#define OP_AUX_OBF 0x20           /* IRQ 12 */
#define OP_WRITABLE 0xCD          /* aux clock/data, kbd clock/data, reset */
#define OP_POWER_ON 0xCD          /* lines idle high, not in reset */

/* Input port, read by 0xC0: bit 7 = keyboard not inhibited. */
#define IP_VALUE 0x80

/* Controller commands, written to 0x64 ("Commands (I/O Address Hex 64)"). */
#define CMD_READ_RAM 0x20         /* 0x20-0x3F: read RAM byte 0-31 */
#define CMD_WRITE_RAM 0x60        /* 0x60-0x7F: write RAM byte 0-31 */
#define CMD_PASSWORD_TEST 0xA4
#define CMD_AUX_DISABLE 0xA7
#define CMD_AUX_ENABLE 0xA8
#define CMD_AUX_TEST 0xA9
#define CMD_SELF_TEST 0xAA
#define CMD_KBD_TEST 0xAB
#define CMD_KBD_DISABLE 0xAD
#define CMD_KBD_ENABLE 0xAE
#define CMD_READ_INPUT 0xC0
#define CMD_READ_OUTPUT 0xD0
#define CMD_WRITE_OUTPUT 0xD1
#define CMD_WRITE_KBD_OBUF 0xD2
#define CMD_WRITE_AUX_OBUF 0xD3
#define CMD_WRITE_AUX 0xD4
#define CMD_READ_TEST 0xE0
#define CMD_PULSE 0xF0            /* 0xF0-0xFF: pulse output bits 0-3 whose command bit is 0 */

#define SELF_TEST_OK 0x55
#define INTERFACE_OK 0x00
#define NO_PASSWORD 0xF1
#define RAM_SIZE 32

#define ANSWER_MAX 4

struct i8042 {
    device *dev;
    struct ps2kbd kbd;
    struct ps2mouse mouse;
    uint8_t ram[RAM_SIZE];        /* ram[0] is the command byte */
    uint8_t outport;              /* OP_WRITABLE bits as written */
    uint8_t obuf;
    bool obf, obf_aux;
    bool last_was_cmd;
    bool xlate_break;             /* set 2 break prefix seen under translation */
    uint8_t pending;              /* command waiting for its data byte, or 0 */
    struct {
        uint8_t b;
        bool aux;
    } answer[ANSWER_MAX];         /* controller answers waiting for the buffer */
    unsigned n_answers;
    int line_kbd, line_aux;
};

static uint8_t cb(const struct i8042 *s)
{
    return s->ram[0];
}

static void update_irq(struct i8042 *s)
{
    int kbd = s->obf && !s->obf_aux && (cb(s) & CB_KBD_INT);
    int aux = s->obf && s->obf_aux && (cb(s) & CB_AUX_INT);
    if (kbd != s->line_kbd) {
        s->line_kbd = kbd;
        vm_set_irq(s->dev->vm, I8042_KBD_IRQ, kbd);
    }
    if (aux != s->line_aux) {
        s->line_aux = aux;
        vm_set_irq(s->dev->vm, I8042_AUX_IRQ, aux);
    }
}

/* Next keyboard byte, translated to set 1 when the command byte says so:
 * the 0xF0 break prefix is absorbed and sets bit 7 of the code after it. */
static bool kbd_byte(struct i8042 *s, uint8_t *out)
{
    uint8_t b;
    while (ps2_queue_get(&s->kbd.q, &b)) {
        if (!(cb(s) & CB_XLATE)) {
            *out = b;
            return true;
        }
        if (b == 0xF0) {
            s->xlate_break = true;
            continue;
        }
        *out = (uint8_t)(ps2_set2_to_set1(b) | (s->xlate_break ? 0x80 : 0));
        s->xlate_break = false;
        return true;
    }
    return false;
}

static void refill(struct i8042 *s)
{
    if (s->obf)
        return;
    if (s->n_answers) {
        s->obuf = s->answer[0].b;
        s->obf_aux = s->answer[0].aux;
        s->n_answers--;
        for (unsigned i = 0; i < s->n_answers; i++)
            s->answer[i] = s->answer[i + 1];
        s->obf = true;
    } else if (!(cb(s) & CB_KBD_DISABLE) && kbd_byte(s, &s->obuf)) {
        s->obf = true;
        s->obf_aux = false;
    } else if (!(cb(s) & CB_AUX_DISABLE) && ps2_queue_get(&s->mouse.q, &s->obuf)) {
        s->obf = true;
        s->obf_aux = true;
    }
}

static void sync_state(struct i8042 *s)
{
    refill(s);
    update_irq(s);
}

/* A byte the controller itself puts in its output buffer. */
static void answer(struct i8042 *s, uint8_t b, bool aux)
{
    if (s->n_answers < ANSWER_MAX) {
        s->answer[s->n_answers].b = b;
        s->answer[s->n_answers].aux = aux;
        s->n_answers++;
    }
}

static uint8_t read_outport(struct i8042 *s)
{
    return (uint8_t)((s->outport & OP_WRITABLE) | (vm_get_a20(s->dev->vm) ? OP_A20 : 0) |
                     (s->obf && !s->obf_aux ? OP_KBD_OBF : 0) | (s->obf && s->obf_aux ? OP_AUX_OBF : 0));
}

static void write_outport(struct i8042 *s, uint8_t v)
{
    s->outport = v & OP_WRITABLE;
    vm_set_a20(s->dev->vm, (v & OP_A20) != 0);
    if (!(v & OP_RESET)) {
        /* The line stays asserted only for the reset itself. */
        s->outport |= OP_RESET;
        vm_request_reset(s->dev->vm);
    }
}

static void command(struct i8042 *s, uint8_t c)
{
    if (c >= CMD_READ_RAM && c < CMD_READ_RAM + RAM_SIZE) {
        answer(s, s->ram[c - CMD_READ_RAM], false);
        return;
    }
    if ((c >= CMD_WRITE_RAM && c < CMD_WRITE_RAM + RAM_SIZE) ||
        (c >= CMD_WRITE_OUTPUT && c <= CMD_WRITE_AUX)) {
        s->pending = c;
        return;
    }
    if (c >= CMD_PULSE) {
        if (!(c & OP_RESET))
            vm_request_reset(s->dev->vm);
        return;
    }
    switch (c) {
    case CMD_PASSWORD_TEST:
        answer(s, NO_PASSWORD, false);
        break;
    case CMD_AUX_DISABLE:
        s->ram[0] |= CB_AUX_DISABLE;
        break;
    case CMD_AUX_ENABLE:
        s->ram[0] &= (uint8_t)~CB_AUX_DISABLE;
        break;
    case CMD_AUX_TEST:
    case CMD_KBD_TEST:
        answer(s, INTERFACE_OK, false);
        break;
    case CMD_SELF_TEST:
        s->ram[0] |= CB_SYS;
        answer(s, SELF_TEST_OK, false);
        break;
    case CMD_KBD_DISABLE:
        s->ram[0] |= CB_KBD_DISABLE;
        break;
    case CMD_KBD_ENABLE:
        s->ram[0] &= (uint8_t)~CB_KBD_DISABLE;
        break;
    case CMD_READ_INPUT:
        answer(s, IP_VALUE, false);
        break;
    case CMD_READ_OUTPUT:
        answer(s, read_outport(s), false);
        break;
    case CMD_READ_TEST:
        answer(s, 0x00, false);
        break;
    default:
        break;   /* vendor commands (passwords, versions): no effect */
    }
}

static void data(struct i8042 *s, uint8_t v)
{
    uint8_t c = s->pending;
    s->pending = 0;
    if (c >= CMD_WRITE_RAM && c < CMD_WRITE_RAM + RAM_SIZE) {
        s->ram[c - CMD_WRITE_RAM] = v;
        return;
    }
    switch (c) {
    case CMD_WRITE_OUTPUT:
        write_outport(s, v);
        break;
    case CMD_WRITE_KBD_OBUF:
        answer(s, v, false);
        break;
    case CMD_WRITE_AUX_OBUF:
        answer(s, v, true);
        break;
    case CMD_WRITE_AUX:
        ps2mouse_write(&s->mouse, v);
        break;
    default:
        /* To the keyboard; the controller enables its interface to send. */
        s->ram[0] &= (uint8_t)~CB_KBD_DISABLE;
        ps2kbd_write(&s->kbd, v);
        break;
    }
}

static uint32_t data_read(void *opaque, uint16_t off, unsigned size)
{
    struct i8042 *s = opaque;
    (void)off;
    (void)size;
    uint8_t v = s->obuf;
    s->obf = false;
    /* The line drops with OBF before the next byte comes in, so that an
     * edge-triggered interrupt controller sees a new edge for it. */
    update_irq(s);
    sync_state(s);
    return v;
}

static void data_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct i8042 *s = opaque;
    (void)off;
    (void)size;
    s->last_was_cmd = false;
    data(s, (uint8_t)val);
    sync_state(s);
}

static uint32_t status_read(void *opaque, uint16_t off, unsigned size)
{
    struct i8042 *s = opaque;
    (void)off;
    (void)size;
    return (uint32_t)((s->obf ? STS_OBF : 0) | ((s->ram[0] & CB_SYS) ? STS_SYS : 0) | (s->last_was_cmd ? STS_CMD : 0) |
                      STS_UNLOCKED | (s->obf && s->obf_aux ? STS_AUXOBF : 0));
}

static void command_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct i8042 *s = opaque;
    (void)off;
    (void)size;
    s->last_was_cmd = true;
    s->pending = 0;
    command(s, (uint8_t)val);
    sync_state(s);
}

static const pio_ops data_ops = { data_read, data_write };
static const pio_ops command_ops = { status_read, command_write };

void i8042_put_keys(device *dev, const uint8_t *codes, size_t n)
{
    struct i8042 *s = dev->state;
    ps2kbd_put_keys(&s->kbd, codes, n);
    sync_state(s);
}

void i8042_mouse_event(device *dev, int dx, int dy, int dz, unsigned buttons)
{
    struct i8042 *s = dev->state;
    ps2mouse_event(&s->mouse, dx, dy, dz, (uint8_t)(buttons & 0x1F));
    sync_state(s);
}

static void i8042_reset(device *dev)
{
    struct i8042 *s = dev->state;
    ps2kbd_reset(&s->kbd);
    ps2mouse_reset(&s->mouse);
    for (unsigned i = 0; i < RAM_SIZE; i++)
        s->ram[i] = 0;
    s->ram[0] = CB_POWER_ON;
    s->outport = OP_POWER_ON;
    s->obf = s->obf_aux = false;
    s->obuf = 0;
    s->last_was_cmd = false;
    s->xlate_break = false;
    s->pending = 0;
    s->n_answers = 0;
    update_irq(s);
}

static int i8042_create(device *dev)
{
    struct i8042 *s = dev->state;
    s->dev = dev;
    /* Two single ports: 0x61 between them is port B (speaker, refresh). */
    if (vm_register_pio(dev->vm, I8042_DATA_PORT, 1, &data_ops, s) < 0 ||
        vm_register_pio(dev->vm, I8042_CMD_PORT, 1, &command_ops, s) < 0)
        return -1;
    return 0;
}

static const device_desc i8042_desc = {
    .name = "i8042",
    .state_size = sizeof(struct i8042),
    .create = i8042_create,
    .reset = i8042_reset,
};
DEVICE_REGISTER(i8042_desc);
