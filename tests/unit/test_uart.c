/* 16550A UART on COM1: loopback, FIFOs, interrupt identification and
 * priorities, modem status deltas, IRQ gating by OUT2, host output; values
 * from the PC16550D datasheet register tables. */
#include <stdio.h>
#include <unistd.h>

#include "device_test_harness.h"
#include "drivers/chardev.h"
#include "runtime/evloop.h"

#define COM1 0x3F8
#define THR (COM1 + 0)
#define RBR (COM1 + 0)
#define DLL (COM1 + 0)
#define IER (COM1 + 1)
#define DLM (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)
#define COM1_IRQ 4

static void test_reset_values_and_divisor(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inb(vm, IER), 0x00);
    assert_int_equal(inb(vm, IIR), 0x01);          /* no interrupt, FIFOs off */
    assert_int_equal(inb(vm, LCR), 0x00);
    assert_int_equal(inb(vm, MCR), 0x00);
    assert_int_equal(inb(vm, LSR), 0x60);          /* THRE | TEMT */
    outb(vm, LCR, 0x80);                           /* DLAB */
    outb(vm, DLL, 0x01);
    outb(vm, DLM, 0x02);
    assert_int_equal(inb(vm, DLL), 0x01);
    assert_int_equal(inb(vm, DLM), 0x02);
    outb(vm, LCR, 0x03);                           /* 8N1 */
    assert_int_equal(inb(vm, IER), 0x00);          /* DLM did not touch IER */
    outb(vm, SCR, 0x5A);
    assert_int_equal(inb(vm, SCR), 0x5A);
    vm_destroy(vm);
}

static void test_loopback_fifo(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x03);
    outb(vm, MCR, 0x10);                           /* loopback */
    outb(vm, FCR, 0xC7);                           /* enable, reset both, trigger 14 */
    assert_int_equal(inb(vm, IIR) & 0xC0, 0xC0);   /* FIFOs enabled */
    outb(vm, IER, 0x01);                           /* received data interrupt */
    for (int i = 0; i < 13; i++)
        outb(vm, THR, (uint8_t)('a' + i));
    assert_int_equal(inb(vm, LSR) & 0x01, 0x01);
    assert_int_equal(inb(vm, IIR), 0xC1);          /* 13 < trigger level */
    outb(vm, THR, 'n');
    assert_int_equal(inb(vm, IIR), 0xC4);          /* received data available */
    for (int i = 0; i < 14; i++)
        assert_int_equal(inb(vm, RBR), 'a' + i);
    assert_int_equal(inb(vm, LSR) & 0x01, 0x00);
    assert_int_equal(inb(vm, IIR), 0xC1);
    /* Overrun: the 17th character is lost and OE set (then cleared by the read). */
    for (int i = 0; i < 17; i++)
        outb(vm, THR, (uint8_t)i);
    assert_int_equal(inb(vm, LSR) & 0x03, 0x03);
    assert_int_equal(inb(vm, LSR) & 0x02, 0x00);
    for (int i = 0; i < 16; i++)
        assert_int_equal(inb(vm, RBR), i);
    /* FCR bit 1 clears the receive FIFO. */
    outb(vm, THR, 'x');
    outb(vm, FCR, 0xC3);
    assert_int_equal(inb(vm, LSR) & 0x01, 0x00);
    /* Without FIFOs the holding register takes one byte; a second overruns. */
    outb(vm, FCR, 0x00);
    outb(vm, THR, 'p');
    outb(vm, THR, 'q');
    assert_int_equal(inb(vm, LSR) & 0x03, 0x03);
    assert_int_equal(inb(vm, RBR), 'q');
    vm_destroy(vm);
}

static void test_iir_priorities_and_thre(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x03);
    outb(vm, MCR, 0x10);
    outb(vm, FCR, 0x01);                           /* FIFO on, trigger 1 */
    outb(vm, IER, 0x02);                           /* THRE interrupt */
    assert_int_equal(inb(vm, IIR), 0xC2);          /* raised by enabling it */
    assert_int_equal(inb(vm, IIR), 0xC1);          /* cleared by reading IIR */
    outb(vm, THR, 'z');                            /* transmitted at once: THRE again */
    outb(vm, IER, 0x07);                           /* + RDA + line status */
    assert_int_equal(inb(vm, IIR), 0xC4);          /* RDA beats THRE */
    for (int i = 0; i < 16; i++)
        outb(vm, THR, 'o');                        /* overrun */
    assert_int_equal(inb(vm, IIR), 0xC6);          /* line status beats RDA */
    inb(vm, LSR);
    assert_int_equal(inb(vm, IIR), 0xC4);
    for (int i = 0; i < 16; i++)
        inb(vm, RBR);
    assert_int_equal(inb(vm, IIR), 0xC2);
    assert_int_equal(inb(vm, IIR), 0xC1);
    /* Re-enabling ETBEI with THR empty raises THRE again. */
    outb(vm, IER, 0x00);
    outb(vm, IER, 0x02);
    assert_int_equal(inb(vm, IIR), 0xC2);
    vm_destroy(vm);
}

static void test_modem_status_loopback(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inb(vm, MSR), 0xB0);          /* host end: CTS, DSR, DCD */
    outb(vm, MCR, 0x10);                           /* loopback: all inputs drop */
    assert_int_equal(inb(vm, MSR), 0x0B);          /* DCTS | DDSR | DDCD */
    assert_int_equal(inb(vm, MSR), 0x00);          /* deltas clear on read */
    outb(vm, MCR, 0x1F);                           /* RTS->CTS DTR->DSR OUT1->RI OUT2->DCD */
    assert_int_equal(inb(vm, MSR), 0xFB);          /* RI rising: no TERI */
    outb(vm, IER, 0x08);
    outb(vm, MCR, 0x1B);                           /* OUT1 off: RI trailing edge */
    assert_int_equal(inb(vm, IIR), 0x00);          /* modem status interrupt */
    assert_int_equal(inb(vm, MSR), 0xB4);          /* CTS DSR DCD | TERI */
    assert_int_equal(inb(vm, IIR), 0x01);
    vm_destroy(vm);
}

static void test_irq_out2_gating(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, IER, 0x02);                           /* THRE pending */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);     /* OUT2 off: no IRQ */
    outb(vm, MCR, 0x08);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 1);
    outb(vm, MCR, 0x18);                           /* loopback forces OUT2 inactive */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    outb(vm, MCR, 0x08);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 1);
    inb(vm, IIR);                                  /* THRE cleared */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    vm_destroy(vm);
}

static void test_char_timeout(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x80);
    outb(vm, DLL, 0x01);                           /* 115200 baud: 86.8 us a character */
    outb(vm, DLM, 0x00);
    outb(vm, LCR, 0x03);
    outb(vm, MCR, 0x10);
    outb(vm, FCR, 0x81);                           /* trigger 8 */
    outb(vm, IER, 0x01);
    outb(vm, THR, '1');
    outb(vm, THR, '2');
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 200000);                        /* < 4 character times of 86.8 us... */
    /* ...unless the host overslept. */
    assert_int_equal(inb(vm, IIR), dt_now(vm) - t0 >= 4 * 86805 ? 0xCC : 0xC1);
    dt_advance(vm, 400000);
    assert_int_equal(inb(vm, IIR), 0xCC);          /* character timeout */
    assert_int_equal(inb(vm, RBR), '1');
    assert_int_equal(inb(vm, IIR), 0xC1);          /* the read restarts the timer */
    dt_advance(vm, 600000);
    assert_int_equal(inb(vm, IIR), 0xCC);
    assert_int_equal(inb(vm, RBR), '2');
    dt_advance(vm, 600000);
    assert_int_equal(inb(vm, IIR), 0xC1);          /* empty FIFO: no timeout */
    vm_destroy(vm);
}

static void test_host_output(void **st)
{
    (void)st;
    char path[] = "/tmp/caixa_test_uart_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char spec[64];
    snprintf(spec, sizeof spec, "file:%s", path);
    struct dt_opts o = { .serial = spec };
    struct vm *vm = dt_vm_new_opts(&o);
    outb(vm, LCR, 0x03);
    const char *msg = "COM1 ok\n";
    for (const char *p = msg; *p; p++) {
        assert_int_equal(inb(vm, LSR) & 0x20, 0x20);
        outb(vm, THR, (uint8_t)*p);
    }
    outb(vm, MCR, 0x10);
    outb(vm, THR, '!');                            /* loopback: not on the wire */
    vm_destroy(vm);
    char buf[32] = { 0 };
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    assert_int_equal(n, strlen(msg));
    assert_string_equal(buf, msg);
}

/* Host input: the chardev hands over only what the FIFO has room for and
 * resumes when the guest drains it (stdin from a pipe, the event loop on). */
static void test_host_input_flow_control(void **st)
{
    (void)st;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[0], STDIN_FILENO) >= 0);
    close(p[0]);
    struct dt_opts o = { .serial = "stdio" };
    struct vm *vm = dt_vm_new_opts(&o);
    outb(vm, LCR, 0x03);
    outb(vm, FCR, 0x01);
    assert_int_equal(chardev_attach(vm->chardevs[0].cd, vm->loop, &vm->lock), 0);
    assert_int_equal(evloop_start(vm->loop), 0);
    char in[21] = "abcdefghijklmnopqrst";
    assert_int_equal(write(p[1], in, 20), 20);
    /* Wait until the FIFO is full (16 bytes). */
    for (int i = 0; i < 2000 && !(inb(vm, LSR) & 0x01); i++)
        usleep(1000);
    usleep(20000);
    char got[21] = { 0 };
    int n = 0;
    for (int tries = 0; n < 20 && tries < 2000; tries++) {
        if (inb(vm, LSR) & 0x01)
            got[n++] = (char)inb(vm, RBR);
        else
            usleep(1000);
        assert_int_equal(inb(vm, LSR) & 0x02, 0);  /* never an overrun */
    }
    assert_string_equal(got, in);
    evloop_stop(vm->loop);
    vm_destroy(vm);
    close(p[1]);
    dup2(saved, STDIN_FILENO);
    close(saved);
}

/* FCR bits other than the enable are only programmed with FCR0 = 1
 * (datasheet 8.6.3): an RX reset without it leaves the holding register. */
static void test_fcr_needs_enable(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x03);
    outb(vm, MCR, 0x10);
    outb(vm, THR, 'k');
    outb(vm, FCR, 0x02);                           /* RX reset, FIFOs stay off */
    assert_int_equal(inb(vm, LSR) & 0x01, 0x01);
    assert_int_equal(inb(vm, RBR), 'k');
    outb(vm, FCR, 0x01);
    outb(vm, THR, 'l');
    outb(vm, FCR, 0x03);                           /* with FCR0: cleared */
    assert_int_equal(inb(vm, LSR) & 0x01, 0x00);
    assert_int_equal(inb(vm, IIR) & 0xC0, 0xC0);
    vm_destroy(vm);
}

/* The probes of Linux's 8250 driver (8250_port.c autoconfig and
 * serial8250_do_startup) must find a plain 16550A with working THRE. */
static void test_linux_8250_probe(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    /* Existence: IER holds 0x00 and 0x0F. */
    outb(vm, IER, 0x00);
    assert_int_equal(inb(vm, IER) & 0x0F, 0x00);
    outb(vm, IER, 0x0F);
    assert_int_equal(inb(vm, IER) & 0x0F, 0x0F);
    outb(vm, IER, 0x00);
    /* Loopback: RTS -> CTS, OUT2 -> DCD gives MSR high nibble 0x90. */
    outb(vm, MCR, 0x1A);
    assert_int_equal(inb(vm, MSR) & 0xF0, 0x90);
    outb(vm, MCR, 0x00);
    /* FIFO: IIR bits 7-6 = 11 with FCR0 set: a 16550A. */
    outb(vm, FCR, 0x01);
    assert_int_equal(inb(vm, IIR) >> 6, 3);
    /* No EFR behind LCR 0x80 / 0xBF: offset 2 reads the IIR, never 0. */
    outb(vm, LCR, 0x80);
    assert_int_not_equal(inb(vm, IIR), 0);
    outb(vm, LCR, 0xBF);
    assert_int_not_equal(inb(vm, IIR), 0);
    /* No SuperIO EXCR1 behind LCR 0xE0: offset 2 does not follow MCR LOOP. */
    outb(vm, LCR, 0x00);
    outb(vm, MCR, 0x10);
    outb(vm, LCR, 0xE0);
    assert_int_equal(inb(vm, IIR) & 0x10, 0x00);
    outb(vm, LCR, 0x00);
    outb(vm, MCR, 0x00);
    /* No 16750: IIR bit 5 stays 0 with FCR bit 5, with and without DLAB. */
    outb(vm, FCR, 0x21);
    assert_int_equal(inb(vm, IIR) & 0xE0, 0xC0);
    outb(vm, LCR, 0x80);
    outb(vm, FCR, 0x21);
    assert_int_equal(inb(vm, IIR) & 0xE0, 0xC0);
    outb(vm, LCR, 0x00);
    /* No XScale: IER bit 6 (UUE) reads 0. */
    outb(vm, IER, 0x40);
    assert_int_equal(inb(vm, IER) & 0x40, 0x00);
    outb(vm, IER, 0x00);
    /* Startup: clear FIFOs, clear the interrupt registers. */
    outb(vm, FCR, 0x01);
    outb(vm, FCR, 0x07);
    outb(vm, FCR, 0x00);
    inb(vm, LSR);
    inb(vm, RBR);
    inb(vm, IIR);
    inb(vm, MSR);
    assert_int_not_equal(inb(vm, LSR), 0xFF);
    /* UART_BUG_THRE test: THRE reasserted when ETBEI is enabled again. */
    outb(vm, LCR, 0x03);
    assert_int_equal(inb(vm, LSR) & 0x60, 0x60);
    outb(vm, IER, 0x02);
    uint8_t iir1 = inb(vm, IIR);
    outb(vm, IER, 0x00);
    outb(vm, IER, 0x02);
    uint8_t iir = inb(vm, IIR);
    outb(vm, IER, 0x00);
    assert_int_equal(iir1 & 0x0F, 0x02);
    assert_int_equal(iir & 0x0F, 0x02);
    /* UART_BUG_TXEN test, with OUT2 up: the interrupt comes on the line. */
    outb(vm, MCR, 0x0B);
    outb(vm, IER, 0x02);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 1);
    assert_int_equal(inb(vm, LSR) & 0x40, 0x40);
    assert_int_equal(inb(vm, IIR) & 0x0F, 0x02);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    outb(vm, IER, 0x00);
    vm_destroy(vm);
}

/* Interrupt-driven transmit as Linux does it: enable ETBEI, the interrupt
 * comes, the handler writes up to 16 bytes, THRE comes again (a new edge
 * on the line), and ETBEI goes off when the buffer is empty. */
static void test_interrupt_driven_tx(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x03);
    outb(vm, FCR, 0xC7);
    outb(vm, MCR, 0x0B);
    outb(vm, IER, 0x01);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    outb(vm, IER, 0x03);                           /* start_tx */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 1);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(inb(vm, IIR), 0xC2);
        assert_int_equal(dt_gsi(vm, COM1_IRQ), 0); /* the IIR read took it */
        assert_int_equal(inb(vm, LSR) & 0x20, 0x20);
        for (int i = 0; i < 16; i++)
            outb(vm, THR, 'x');
        assert_int_equal(dt_gsi(vm, COM1_IRQ), 1); /* FIFO empty again: a new edge */
    }
    outb(vm, IER, 0x01);                           /* stop_tx */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    assert_int_equal(inb(vm, IIR), 0xC1);
    vm_destroy(vm);
}

/* A typed byte below the trigger level raises the line through the
 * character timeout, and reading it lowers the line. */
static void test_timeout_raises_irq(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, LCR, 0x80);
    outb(vm, DLL, 0x01);
    outb(vm, LCR, 0x03);
    outb(vm, FCR, 0x81);                           /* trigger 8 */
    outb(vm, MCR, 0x1B);                           /* loopback to feed it */
    outb(vm, THR, 'q');
    outb(vm, MCR, 0x0B);                           /* back to the line: OUT2 on */
    outb(vm, IER, 0x01);
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    dt_advance(vm, 600000);                        /* > 4 character times */
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 1);
    assert_int_equal(inb(vm, IIR), 0xCC);
    assert_int_equal(inb(vm, RBR), 'q');
    assert_int_equal(dt_gsi(vm, COM1_IRQ), 0);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_values_and_divisor),
        cmocka_unit_test(test_loopback_fifo),
        cmocka_unit_test(test_iir_priorities_and_thre),
        cmocka_unit_test(test_modem_status_loopback),
        cmocka_unit_test(test_irq_out2_gating),
        cmocka_unit_test(test_char_timeout),
        cmocka_unit_test(test_host_output),
        cmocka_unit_test(test_host_input_flow_control),
        cmocka_unit_test(test_fcr_needs_enable),
        cmocka_unit_test(test_linux_8250_probe),
        cmocka_unit_test(test_interrupt_driven_tx),
        cmocka_unit_test(test_timeout_raises_irq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
