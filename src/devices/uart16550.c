/* National Semiconductor PC16550D UART (16550A compatible) with 16-byte
 * FIFOs. Output goes to a host chardev at once (no baud-rate pacing); input
 * comes from the chardev's receive callback, as much as the FIFO has room.
 * The interrupt output is gated by MCR OUT2, as on PC serial ports.
 * Reference: PC16550D datasheet (National Semiconductor, June 1995),
 * tables II (registers), IV (interrupt control). */
#include <stdbool.h>
#include <stdint.h>

#include "drivers/chardev.h"
#include "vmm/device.h"

#define UART_FIFO_SIZE 16
#define UART_XTAL_HZ 1843200u       /* PC serial clock: 16 x 115200 baud */
#define NS_PER_SEC 1000000000ull
/* Character timeout: no FIFO activity for four character times (8.6.4). */
#define UART_TIMEOUT_CHARS 4

/* Register offsets (table II). */
enum { R_RBR_THR_DLL = 0, R_IER_DLM = 1, R_IIR_FCR = 2, R_LCR = 3, R_MCR = 4, R_LSR = 5, R_MSR = 6, R_SCR = 7 };

#define IER_RDA 0x01
#define IER_THRE 0x02
#define IER_RLS 0x04
#define IER_MS 0x08
#define IER_MASK 0x0F

#define IIR_NONE 0x01
#define IIR_RLS 0x06
#define IIR_RDA 0x04
#define IIR_TIMEOUT 0x0C
#define IIR_THRE 0x02
#define IIR_MS 0x00
#define IIR_FIFO_ON 0xC0

#define FCR_ENABLE 0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_DMA 0x08
#define FCR_TRIGGER_SHIFT 6

#define LCR_WLS 0x03
#define LCR_STB 0x04
#define LCR_PEN 0x08
#define LCR_BREAK 0x40
#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0F
/* With no modem on the host end, the cable looks connected. */
#define MSR_HOST_LINES (MSR_CTS | MSR_DSR | MSR_DCD)

static const uint8_t rx_trigger[4] = { 1, 4, 8, 14 };   /* FCR bits 7-6 */

struct uart {
    device *dev;
    struct chardev *cd;
    chardev_client client;
    struct timer *timer;
    unsigned irq;
    uint16_t divisor;
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    bool thr_ipending;              /* THRE interrupt latched */
    bool timeout_ipending;          /* character timeout latched */
    int line;                       /* level driven on the GSI */
};

static bool uart_fifo(const struct uart *s)
{
    return s->fcr & FCR_ENABLE;
}

static unsigned uart_rx_capacity(const struct uart *s)
{
    return uart_fifo(s) ? UART_FIFO_SIZE : 1;
}

/* Highest-priority pending interrupt (table IV), as the IIR low nibble. */
static uint8_t uart_iid(const struct uart *s)
{
    if ((s->ier & IER_RLS) && (s->lsr & LSR_ERRORS))
        return IIR_RLS;
    if (s->ier & IER_RDA) {
        if (s->timeout_ipending)
            return IIR_TIMEOUT;
        unsigned trig = uart_fifo(s) ? rx_trigger[s->fcr >> FCR_TRIGGER_SHIFT] : 1;
        if (s->rx_count >= trig)
            return IIR_RDA;
    }
    if ((s->ier & IER_THRE) && s->thr_ipending)
        return IIR_THRE;
    if ((s->ier & IER_MS) && (s->msr & MSR_DELTAS))
        return IIR_MS;
    return IIR_NONE;
}

static void uart_update_irq(struct uart *s)
{
    /* OUT2 enables the PC's interrupt buffer; in loopback the OUT2 pin is
     * forced inactive (datasheet 8.6.5), which disables it. */
    int level = uart_iid(s) != IIR_NONE && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
    if (level != s->line) {
        s->line = level;
        vm_set_irq(s->dev->vm, s->irq, level);
    }
}

static uint64_t uart_char_ns(const struct uart *s)
{
    /* start + 5..8 data + parity + 1 or 1.5/2 stop bits */
    unsigned bits = 1 + 5 + (s->lcr & LCR_WLS) + ((s->lcr & LCR_PEN) ? 1 : 0) + ((s->lcr & LCR_STB) ? 2 : 1);
    uint64_t div = s->divisor ? s->divisor : 65536u;
    return bits * div * 16 * NS_PER_SEC / UART_XTAL_HZ;
}

static void uart_arm_timeout(struct uart *s)
{
    if (!uart_fifo(s) || s->rx_count == 0) {
        vm_timer_del(s->timer);
        return;
    }
    vm_timer_mod(s->timer, vm_clock_ns(s->dev->vm) + UART_TIMEOUT_CHARS * uart_char_ns(s));
}

static void uart_timer_cb(void *opaque)
{
    struct uart *s = opaque;
    if (uart_fifo(s) && s->rx_count) {
        s->timeout_ipending = true;
        uart_update_irq(s);
    }
}

static void uart_rx_reset(struct uart *s)
{
    bool was_full = s->rx_count >= uart_rx_capacity(s);
    s->rx_head = s->rx_count = 0;
    s->lsr &= (uint8_t)~LSR_DR;
    s->timeout_ipending = false;
    vm_timer_del(s->timer);
    if (was_full && s->cd)
        chardev_accept_input(s->cd);
}

/* One character arrives from the line (or from loopback). */
static void uart_rx_put(struct uart *s, uint8_t c)
{
    unsigned cap = uart_rx_capacity(s);
    if (s->rx_count >= cap) {
        s->lsr |= LSR_OE;
        if (!uart_fifo(s))   /* the holding register is overwritten */
            s->rx[s->rx_head] = c;
    } else {
        s->rx[(s->rx_head + s->rx_count) % UART_FIFO_SIZE] = c;
        s->rx_count++;
    }
    s->lsr |= LSR_DR;
    s->timeout_ipending = false;
    uart_arm_timeout(s);
}

static uint8_t uart_rx_get(struct uart *s)
{
    if (!s->rx_count)
        return 0;
    bool was_full = s->rx_count >= uart_rx_capacity(s);
    uint8_t c = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
    s->rx_count--;
    if (!s->rx_count)
        s->lsr &= (uint8_t)~LSR_DR;
    s->timeout_ipending = false;
    uart_arm_timeout(s);
    if (was_full && s->cd && !(s->mcr & MCR_LOOP))
        chardev_accept_input(s->cd);
    return c;
}

/* Modem inputs: host lines, or the MCR outputs in loopback (8.6.5). */
static uint8_t uart_modem_inputs(const struct uart *s)
{
    if (!(s->mcr & MCR_LOOP))
        return MSR_HOST_LINES;
    uint8_t v = 0;
    if (s->mcr & MCR_RTS) v |= MSR_CTS;
    if (s->mcr & MCR_DTR) v |= MSR_DSR;
    if (s->mcr & MCR_OUT1) v |= MSR_RI;
    if (s->mcr & MCR_OUT2) v |= MSR_DCD;
    return v;
}

static void uart_set_modem_inputs(struct uart *s, uint8_t in)
{
    uint8_t old = s->msr & 0xF0, ch = old ^ in;
    uint8_t d = 0;
    if (ch & MSR_CTS) d |= MSR_DCTS;
    if (ch & MSR_DSR) d |= MSR_DDSR;
    if (ch & MSR_DCD) d |= MSR_DDCD;
    if ((old & MSR_RI) && !(in & MSR_RI)) d |= MSR_TERI;   /* trailing edge only */
    s->msr = (uint8_t)(in | (s->msr & MSR_DELTAS) | d);
}

static void uart_transmit(struct uart *s, uint8_t c)
{
    /* THR write clears the THRE interrupt; the line drops before the byte
     * leaves so an edge-triggered PIC sees the next THRE edge. */
    s->thr_ipending = false;
    uart_update_irq(s);
    if (s->mcr & MCR_LOOP)
        uart_rx_put(s, c);
    else if (s->cd)
        chardev_write(s->cd, &c, 1);
    s->lsr |= LSR_THRE | LSR_TEMT;
    s->thr_ipending = true;
}

static uint32_t uart_read_reg(struct uart *s, unsigned reg)
{
    uint8_t v;
    switch (reg) {
    case R_RBR_THR_DLL:
        if (s->lcr & LCR_DLAB)
            return s->divisor & 0xFF;
        return uart_rx_get(s);
    case R_IER_DLM:
        if (s->lcr & LCR_DLAB)
            return s->divisor >> 8;
        return s->ier;
    case R_IIR_FCR:
        v = uart_iid(s);
        if (v == IIR_THRE)
            s->thr_ipending = false;   /* reading IIR clears THRE when it is the source */
        return v | (uart_fifo(s) ? IIR_FIFO_ON : 0);
    case R_LCR:
        return s->lcr;
    case R_MCR:
        return s->mcr;
    case R_LSR:
        v = s->lsr;
        s->lsr &= (uint8_t)~LSR_ERRORS;
        return v;
    case R_MSR:
        v = s->msr;
        s->msr &= (uint8_t)~MSR_DELTAS;
        return v;
    default:
        return s->scr;
    }
}

static void uart_write_fcr(struct uart *s, uint8_t val)
{
    /* Toggling the enable clears both FIFOs; the other bits are only
     * programmed together with FCR0 = 1 (8.6.3). */
    if ((val ^ s->fcr) & FCR_ENABLE) {
        uart_rx_reset(s);
        s->lsr &= (uint8_t)~LSR_OE;
    } else if ((val & (FCR_ENABLE | FCR_RX_RESET)) == (FCR_ENABLE | FCR_RX_RESET)) {
        uart_rx_reset(s);
    }
    /* TX reset: the transmitter is always empty here. */
    s->fcr = val & (FCR_ENABLE | FCR_DMA | (3u << FCR_TRIGGER_SHIFT));
    if (!uart_fifo(s))
        s->fcr = 0;
}

static void uart_write_reg(struct uart *s, unsigned reg, uint8_t val)
{
    switch (reg) {
    case R_RBR_THR_DLL:
        if (s->lcr & LCR_DLAB)
            s->divisor = (uint16_t)((s->divisor & 0xFF00) | val);
        else
            uart_transmit(s, val);
        break;
    case R_IER_DLM:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0x00FF) | val << 8);
        } else {
            uint8_t old = s->ier;
            s->ier = val & IER_MASK;
            /* Enabling ETBEI with THR empty raises THRE at once. */
            if ((s->ier & ~old & IER_THRE) && (s->lsr & LSR_THRE))
                s->thr_ipending = true;
        }
        break;
    case R_IIR_FCR:
        uart_write_fcr(s, val);
        break;
    case R_LCR:
        s->lcr = val;
        break;
    case R_MCR: {
        bool was_loop = s->mcr & MCR_LOOP;
        s->mcr = val & MCR_MASK;
        uart_set_modem_inputs(s, uart_modem_inputs(s));
        if (was_loop && !(s->mcr & MCR_LOOP) && s->cd)
            chardev_accept_input(s->cd);
        break;
    }
    case R_LSR:
    case R_MSR:
        break;   /* factory test / read-only */
    default:
        s->scr = val;
        break;
    }
}

static uint32_t uart_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct uart *s = opaque;
    (void)size;
    uint32_t v = uart_read_reg(s, off & 7u);
    uart_update_irq(s);
    return v;
}

static void uart_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct uart *s = opaque;
    (void)size;
    uart_write_reg(s, off & 7u, (uint8_t)val);
    uart_update_irq(s);
}

static size_t uart_can_receive(void *opaque)
{
    struct uart *s = opaque;
    if (s->mcr & MCR_LOOP)
        return 0;   /* the serial input is disconnected in loopback */
    unsigned cap = uart_rx_capacity(s);
    return s->rx_count < cap ? cap - s->rx_count : 0;
}

static void uart_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct uart *s = opaque;
    if (s->mcr & MCR_LOOP)
        return;
    for (size_t i = 0; i < len; i++)
        uart_rx_put(s, buf[i]);
    uart_update_irq(s);
}

static const pio_ops uart_ops = { uart_io_read, uart_io_write };

/* Master reset (table II "Reset control"): the divisor and scratch keep. */
static void uart_reset(device *dev)
{
    struct uart *s = dev->state;
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = MSR_HOST_LINES;
    s->thr_ipending = false;
    uart_rx_reset(s);
    uart_update_irq(s);
}

static int uart_create(device *dev)
{
    struct uart *s = dev->state;
    s->dev = dev;
    uint64_t base = cfg_get_u64(dev->cfg, "iobase", 0x3F8);
    uint64_t irq = cfg_get_u64(dev->cfg, "irq", 4);
    if (base > 0xFFF8 || irq >= 24) {
        vm_error(dev->vm, "bad iobase 0x%llx or irq %llu", (unsigned long long)base,
                 (unsigned long long)irq);
        return -1;
    }
    s->irq = (unsigned)irq;
    s->divisor = 12;   /* 9600 baud */
    s->timer = vm_timer_new(dev->vm, uart_timer_cb, s);
    if (!s->timer) {
        vm_error(dev->vm, "cannot create timer");
        return -1;
    }
    const char *name = cfg_get_str(dev->cfg, "chardev", "serial0");
    s->cd = name ? vm_chardev(dev->vm, name) : NULL;
    uart_reset(dev);
    if (vm_register_pio(dev->vm, (uint16_t)base, 8, &uart_ops, s) < 0)
        return -1;
    if (s->cd) {
        s->client = (chardev_client){ .opaque = s, .can_receive = uart_can_receive, .receive = uart_receive };
        chardev_set_client(s->cd, &s->client);
    }
    return 0;
}

static void uart_destroy(device *dev)
{
    struct uart *s = dev->state;
    if (s->cd)
        chardev_set_client(s->cd, NULL);
    if (s->timer)
        vm_timer_free(s->timer);
    s->timer = NULL;
}

static const device_desc uart_desc = {
    .name = "uart",
    .state_size = sizeof(struct uart),
    .create = uart_create,
    .reset = uart_reset,
    .destroy = uart_destroy,
};
DEVICE_REGISTER(uart_desc);
