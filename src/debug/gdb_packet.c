/* gdb remote protocol framing (GDB manual, "Remote Protocol", "Overview"):
 * packets $data#cs with a two-digit modulo-256 checksum, '+'/'-' acks until
 * QStartNoAckMode, '}' escapes in binary data, the 0x03 interrupt byte. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "debug/gdb_int.h"

#define PKT_START '$'
#define PKT_END '#'
#define PKT_ESCAPE '}'
#define PKT_ESCAPE_XOR 0x20
#define PKT_RLE '*'
#define ACK '+'
#define NAK '-'
#define INTERRUPT_BYTE 0x03

enum { RX_IDLE, RX_BODY, RX_CS1, RX_CS2 };

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char hexchars[] = "0123456789abcdef";

void gdb_conn_init(struct gdb_conn *c, int fd)
{
    c->fd = fd;
    c->noack = false;
    c->rx_state = RX_IDLE;
    c->body_len = 0;
    c->tx_len = 0;
    gdb_buf_reset(&c->reply);
}

int gdb_write_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static void ack(struct gdb_conn *c, char a)
{
    if (!c->noack)
        (void)gdb_write_all(c->fd, &a, 1); /* a dead peer shows up as EOF on read */
}

enum gdb_event gdb_conn_feed(struct gdb_conn *c, uint8_t byte)
{
    switch (c->rx_state) {
    case RX_IDLE:
        if (byte == PKT_START) {
            c->rx_state = RX_BODY;
            c->rx_sum = 0;
            c->body_len = 0;
            c->rx_overflow = false;
        } else if (byte == INTERRUPT_BYTE) {
            return GDB_EV_INTERRUPT;
        } else if (byte == NAK && c->tx_len && !c->noack) {
            (void)gdb_write_all(c->fd, c->tx, c->tx_len);
        }
        /* '+' and line noise between packets are ignored. */
        return GDB_EV_NONE;
    case RX_BODY:
        if (byte == PKT_END) {
            c->rx_state = RX_CS1;
            return GDB_EV_NONE;
        }
        c->rx_sum = (uint8_t)(c->rx_sum + byte);
        if (c->body_len < GDB_PACKET_SIZE)
            c->body[c->body_len++] = (char)byte;
        else
            c->rx_overflow = true;
        return GDB_EV_NONE;
    case RX_CS1: {
        int d = hex_digit(byte);
        c->rx_cs = (uint8_t)((d < 0 ? 0 : d) << 4);
        c->rx_state = d < 0 ? RX_IDLE : RX_CS2;
        if (d < 0)
            ack(c, NAK);
        return GDB_EV_NONE;
    }
    default: {
        int d = hex_digit(byte);
        c->rx_state = RX_IDLE;
        /* In no-ack mode the checksum is still sent but need not be checked. */
        if (d < 0 || (!c->noack && (uint8_t)(c->rx_cs | d) != c->rx_sum)) {
            ack(c, NAK);
            return GDB_EV_NONE;
        }
        ack(c, ACK);
        c->body[c->body_len] = '\0';
        c->body_overflow = c->rx_overflow;
        return GDB_EV_PACKET;
    }
    }
}

int gdb_send_reply(struct gdb_conn *c)
{
    struct gdb_buf *b = &c->reply;
    uint8_t sum = 0;
    c->tx[0] = PKT_START;
    memcpy(c->tx + 1, b->data, b->len);
    for (size_t i = 0; i < b->len; i++)
        sum = (uint8_t)(sum + (uint8_t)b->data[i]);
    c->tx[1 + b->len] = PKT_END;
    c->tx[2 + b->len] = hexchars[sum >> 4];
    c->tx[3 + b->len] = hexchars[sum & 15];
    c->tx_len = b->len + 4;
    return gdb_write_all(c->fd, c->tx, c->tx_len);
}

void gdb_buf_reset(struct gdb_buf *b)
{
    b->len = 0;
    b->full = false;
}

static void put(struct gdb_buf *b, char ch)
{
    if (b->len < sizeof b->data)
        b->data[b->len++] = ch;
    else
        b->full = true;
}

void gdb_buf_str(struct gdb_buf *b, const char *s)
{
    while (*s)
        put(b, *s++);
}

void gdb_buf_fmt(struct gdb_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->full = true;
    else
        gdb_buf_str(b, tmp);
}

void gdb_buf_hex(struct gdb_buf *b, const void *p, size_t len)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < len; i++) {
        put(b, hexchars[s[i] >> 4]);
        put(b, hexchars[s[i] & 15]);
    }
}

void gdb_buf_bin(struct gdb_buf *b, const void *p, size_t len)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = s[i];
        if (ch == PKT_START || ch == PKT_END || ch == PKT_ESCAPE || ch == PKT_RLE) {
            put(b, PKT_ESCAPE);
            ch ^= PKT_ESCAPE_XOR;
        }
        put(b, (char)ch);
    }
}

bool gdb_parse_hex(const char **p, uint64_t *val)
{
    const char *s = *p;
    uint64_t v = 0;
    int d, n = 0;
    while ((d = hex_digit((unsigned char)*s)) >= 0) {
        if (n == 16)
            return false; /* more than 64 bits */
        v = (v << 4) | (uint64_t)d;
        s++;
        if (v != 0 || n > 0)
            n++;
    }
    if (s == *p)
        return false;
    *val = v;
    *p = s;
    return true;
}

bool gdb_unhex(const char *s, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit((unsigned char)s[2 * i]);
        int lo = hi < 0 ? -1 : hex_digit((unsigned char)s[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

size_t gdb_unescape(uint8_t *p, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == PKT_ESCAPE && i + 1 < len)
            p[o++] = p[++i] ^ PKT_ESCAPE_XOR;
        else
            p[o++] = p[i];
    }
    return o;
}
