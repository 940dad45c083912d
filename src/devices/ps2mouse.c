/* PS/2 mouse (IBM PS/2 pointing device) with the Microsoft IntelliMouse
 * wheel and IntelliMouse Explorer button extensions.
 * Reference: IBM PS/2 Hardware Interface Technical Reference, "Pointing
 * Device"; Microsoft "IntelliMouse" PS/2 protocol notes (sample-rate knock
 * 200,100,80 -> ID 3; 200,200,80 -> ID 4). */
#include "devices/ps2.h"

/* Commands from the system (IBM PS/2 ref., pointing device, "Commands"). */
#define MOUSE_CMD_SCALING_11 0xE6
#define MOUSE_CMD_SCALING_21 0xE7
#define MOUSE_CMD_RESOLUTION 0xE8
#define MOUSE_CMD_STATUS 0xE9
#define MOUSE_CMD_STREAM 0xEA
#define MOUSE_CMD_READ_DATA 0xEB
#define MOUSE_CMD_RESET_WRAP 0xEC
#define MOUSE_CMD_WRAP 0xEE
#define MOUSE_CMD_REMOTE 0xF0
#define MOUSE_CMD_READ_ID 0xF2
#define MOUSE_CMD_SAMPLE_RATE 0xF3
#define MOUSE_CMD_ENABLE 0xF4
#define MOUSE_CMD_DISABLE 0xF5
#define MOUSE_CMD_SET_DEFAULT 0xF6
#define MOUSE_CMD_RESEND 0xFE
#define MOUSE_CMD_RESET 0xFF

#define MOUSE_ID_STANDARD 0x00
#define MOUSE_ID_WHEEL 0x03
#define MOUSE_ID_EXPLORER 0x04

/* Defaults ("Set Default"): 100 samples/s, 4 counts/mm, 1:1, stream, disabled. */
#define MOUSE_RATE_DEFAULT 100
#define MOUSE_RES_DEFAULT 2

/* Packet byte 1 (IBM PS/2 ref., "Data Report"). */
#define PKT_ALWAYS1 0x08
#define PKT_X_SIGN 0x10
#define PKT_Y_SIGN 0x20
/* Status byte 1 ("Status Request"). */
#define STAT_RIGHT 0x01
#define STAT_MIDDLE 0x02
#define STAT_LEFT 0x04
#define STAT_SCALING21 0x10
#define STAT_ENABLED 0x20
#define STAT_REMOTE 0x40

/* A packet carries 9-bit two's complement counts; the wheel byte 4 bits
 * for the Explorer. Larger movement goes out in further packets. */
#define MOUSE_MAX_XY 255
#define MOUSE_MIN_XY (-256)
#define MOUSE_MAX_Z 7
#define MOUSE_MIN_Z (-8)

static void mouse_answer(struct ps2mouse *m, const uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        ps2_queue_put(&m->q, b[i]);
    m->last_len = (uint8_t)n;
    for (unsigned i = 0; i < n; i++)
        m->last[i] = b[i];
}

static void mouse_ack(struct ps2mouse *m)
{
    uint8_t b = PS2_ACK;
    mouse_answer(m, &b, 1);
}

static void mouse_defaults(struct ps2mouse *m)
{
    m->rate = MOUSE_RATE_DEFAULT;
    m->resolution = MOUSE_RES_DEFAULT;
    m->scaling21 = false;
    m->remote = false;
    m->enabled = false;
    m->dx = m->dy = m->dz = 0;
}

void ps2mouse_reset(struct ps2mouse *m)
{
    ps2_queue_clear(&m->q);
    mouse_defaults(m);
    m->pending_cmd = 0;
    m->last_len = 0;
    m->wrap = false;
    m->id = MOUSE_ID_STANDARD;
    m->rate_hist[0] = m->rate_hist[1] = m->rate_hist[2] = 0;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* 2:1 scaling in stream mode ("Scaling"): 1->1, 2->1, 3->3, 4->6, 5->9, n->2n. */
static int scale21(int v)
{
    static const int small[6] = { 0, 1, 1, 3, 6, 9 };
    int a = v < 0 ? -v : v;
    int r = a < 6 ? small[a] : 2 * a;
    return v < 0 ? -r : r;
}

static unsigned packet_size(const struct ps2mouse *m)
{
    return m->id == MOUSE_ID_STANDARD ? 3 : 4;
}

/* Builds one packet from the pending movement and takes it off. */
static unsigned make_packet(struct ps2mouse *m, uint8_t *p, bool stream)
{
    int dx = clamp(m->dx, MOUSE_MIN_XY, MOUSE_MAX_XY);
    int dy = clamp(m->dy, MOUSE_MIN_XY, MOUSE_MAX_XY);
    int dz = clamp(m->dz, MOUSE_MIN_Z, MOUSE_MAX_Z);
    m->dx -= dx;
    m->dy -= dy;
    m->dz -= dz;
    if (stream && m->scaling21) {
        dx = clamp(scale21(dx), MOUSE_MIN_XY, MOUSE_MAX_XY);
        dy = clamp(scale21(dy), MOUSE_MIN_XY, MOUSE_MAX_XY);
    }
    p[0] = (uint8_t)(PKT_ALWAYS1 | (m->buttons & (PS2_MOUSE_LEFT | PS2_MOUSE_RIGHT | PS2_MOUSE_MIDDLE)) |
                     (dx < 0 ? PKT_X_SIGN : 0) | (dy < 0 ? PKT_Y_SIGN : 0));
    p[1] = (uint8_t)(dx & 0xFF);
    p[2] = (uint8_t)(dy & 0xFF);
    if (m->id == MOUSE_ID_WHEEL) {
        p[3] = (uint8_t)(dz & 0xFF);
    } else if (m->id == MOUSE_ID_EXPLORER) {
        p[3] = (uint8_t)((dz & 0x0F) | (m->buttons & PS2_MOUSE_BUTTON4 ? 0x10 : 0) |
                         (m->buttons & PS2_MOUSE_BUTTON5 ? 0x20 : 0));
    }
    return packet_size(m);
}

/* Stream mode: reports while there is movement and room for a packet. */
static void mouse_flush(struct ps2mouse *m, bool force)
{
    if (m->remote || !m->enabled || m->wrap || m->pending_cmd)
        return;
    while ((force || m->dx || m->dy || m->dz) && ps2_queue_room(&m->q) >= packet_size(m)) {
        uint8_t p[4];
        mouse_answer(m, p, make_packet(m, p, true));
        force = false;
    }
}

void ps2mouse_event(struct ps2mouse *m, int dx, int dy, int dz, uint8_t buttons)
{
    bool changed = buttons != m->buttons;
    m->buttons = buttons;
    /* Bounded, so that a stalled guest cannot make the sums overflow. */
    m->dx = clamp(m->dx + clamp(dx, -65536, 65536), -65536, 65536);
    m->dy = clamp(m->dy + clamp(dy, -65536, 65536), -65536, 65536);
    m->dz = clamp(m->dz + clamp(dz, -256, 256), -256, 256);
    mouse_flush(m, changed);
}

static void sample_rate(struct ps2mouse *m, uint8_t rate)
{
    m->rate = rate;
    m->rate_hist[0] = m->rate_hist[1];
    m->rate_hist[1] = m->rate_hist[2];
    m->rate_hist[2] = rate;
    if (m->rate_hist[0] == 200 && m->rate_hist[1] == 100 && m->rate_hist[2] == 80)
        m->id = MOUSE_ID_WHEEL;
    else if (m->id == MOUSE_ID_WHEEL && m->rate_hist[0] == 200 && m->rate_hist[1] == 200 &&
             m->rate_hist[2] == 80)
        m->id = MOUSE_ID_EXPLORER;
}

void ps2mouse_write(struct ps2mouse *m, uint8_t b)
{
    if (m->wrap && b != MOUSE_CMD_RESET_WRAP && b != MOUSE_CMD_RESET) {
        mouse_answer(m, &b, 1);
        return;
    }
    if (m->pending_cmd) {
        uint8_t cmd = m->pending_cmd;
        m->pending_cmd = 0;
        if (cmd == MOUSE_CMD_RESOLUTION) {
            m->resolution = b & 0x03;
            mouse_ack(m);
        } else {
            sample_rate(m, b);
            mouse_ack(m);
        }
        return;
    }
    uint8_t a[4];
    switch (b) {
    case MOUSE_CMD_SCALING_11:
    case MOUSE_CMD_SCALING_21:
        m->scaling21 = b == MOUSE_CMD_SCALING_21;
        mouse_ack(m);
        break;
    case MOUSE_CMD_RESOLUTION:
    case MOUSE_CMD_SAMPLE_RATE:
        m->pending_cmd = b;
        mouse_ack(m);
        break;
    case MOUSE_CMD_STATUS:
        a[0] = PS2_ACK;
        a[1] = (uint8_t)((m->buttons & PS2_MOUSE_LEFT ? STAT_LEFT : 0) |
                         (m->buttons & PS2_MOUSE_MIDDLE ? STAT_MIDDLE : 0) |
                         (m->buttons & PS2_MOUSE_RIGHT ? STAT_RIGHT : 0) |
                         (m->scaling21 ? STAT_SCALING21 : 0) | (m->enabled ? STAT_ENABLED : 0) |
                         (m->remote ? STAT_REMOTE : 0));
        a[2] = m->resolution;
        a[3] = m->rate;
        mouse_answer(m, a, 4);
        break;
    case MOUSE_CMD_STREAM:
    case MOUSE_CMD_REMOTE:
        m->remote = b == MOUSE_CMD_REMOTE;
        m->dx = m->dy = m->dz = 0;
        mouse_ack(m);
        break;
    case MOUSE_CMD_READ_DATA: {
        uint8_t p[5];
        p[0] = PS2_ACK;
        unsigned n = make_packet(m, p + 1, false);
        mouse_answer(m, p, n + 1);
        break;
    }
    case MOUSE_CMD_RESET_WRAP:
        m->wrap = false;
        mouse_ack(m);
        break;
    case MOUSE_CMD_WRAP:
        m->wrap = true;
        m->dx = m->dy = m->dz = 0;
        mouse_ack(m);
        break;
    case MOUSE_CMD_READ_ID:
        a[0] = PS2_ACK;
        a[1] = m->id;
        mouse_answer(m, a, 2);
        break;
    case MOUSE_CMD_ENABLE:
    case MOUSE_CMD_DISABLE:
        m->enabled = b == MOUSE_CMD_ENABLE;
        m->dx = m->dy = m->dz = 0;
        mouse_ack(m);
        break;
    case MOUSE_CMD_SET_DEFAULT:
        mouse_defaults(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_RESEND:
        for (unsigned i = 0; i < m->last_len; i++)
            ps2_queue_put(&m->q, m->last[i]);
        break;
    case MOUSE_CMD_RESET:
        ps2mouse_reset(m);
        a[0] = PS2_ACK;
        a[1] = PS2_BAT_OK;
        a[2] = MOUSE_ID_STANDARD;
        mouse_answer(m, a, 3);
        break;
    default:
        a[0] = PS2_RESEND;
        mouse_answer(m, a, 1);
        break;
    }
}
