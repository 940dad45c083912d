/* The gdb stub's protocol layer (src/debug/gdb_packet.c: framing, acks,
 * escapes, GDB manual "Overview" of the Remote Protocol) and register file
 * (src/debug/gdb_regs.c: gdb's amd64 layout and its target description).
 * Run control is covered end to end by tests/e2e/gdb.sh with gdb itself. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu_test_harness.h"
#include "debug/gdb_int.h"

struct pair {
    int stub, peer;
    struct gdb_conn c;
};

static void pair_open(struct pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->stub = sv[0];
    p->peer = sv[1];
    gdb_conn_init(&p->c, p->stub);
}

static void pair_close(struct pair *p)
{
    close(p->stub);
    close(p->peer);
}

/* Feeds a string; returns the event of its last byte. */
static enum gdb_event feed(struct gdb_conn *c, const char *s)
{
    enum gdb_event e = GDB_EV_NONE;
    for (; *s; s++) {
        e = gdb_conn_feed(c, (uint8_t)*s);
        if (s[1])
            assert_int_equal(e, GDB_EV_NONE);
    }
    return e;
}

/* What the stub wrote, NUL-terminated. */
static const char *peer_read(struct pair *p)
{
    static char buf[256];
    ssize_t n = recv(p->peer, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void test_packet_ack(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    /* '+' ack for a good checksum: 'q'+'C' = 0x71+0x43 = 0xb4 */
    assert_int_equal(feed(&p.c, "$qC#b4"), GDB_EV_PACKET);
    assert_string_equal(p.c.body, "qC");
    assert_string_equal(peer_read(&p), "+");
    /* '-' for a bad one, and nothing is delivered */
    assert_int_equal(feed(&p.c, "$qC#b5"), GDB_EV_NONE);
    assert_string_equal(peer_read(&p), "-");
    /* the interrupt byte between packets; stray acks are ignored */
    assert_int_equal(gdb_conn_feed(&p.c, 0x03), GDB_EV_INTERRUPT);
    assert_int_equal(feed(&p.c, "+"), GDB_EV_NONE);
    /* no-ack mode: no acks, checksum not checked */
    p.c.noack = true;
    assert_int_equal(feed(&p.c, "$g#00"), GDB_EV_PACKET);
    assert_string_equal(p.c.body, "g");
    assert_string_equal(peer_read(&p), "");
    pair_close(&p);
}

static void test_send_and_resend(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    gdb_buf_str(&p.c.reply, "OK");
    assert_int_equal(gdb_send_reply(&p.c), 0);
    assert_string_equal(peer_read(&p), "$OK#9a");
    /* a '-' from gdb asks for the last packet again */
    assert_int_equal(feed(&p.c, "-"), GDB_EV_NONE);
    assert_string_equal(peer_read(&p), "$OK#9a");
    pair_close(&p);
}

static void test_overflow_is_flagged(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    p.c.noack = true;
    gdb_conn_feed(&p.c, '$');
    for (int i = 0; i < GDB_PACKET_SIZE + 10; i++)
        gdb_conn_feed(&p.c, 'm');
    assert_int_equal(feed(&p.c, "#00"), GDB_EV_PACKET);
    assert_true(p.c.body_overflow);
    assert_int_equal(p.c.body_len, GDB_PACKET_SIZE);
    pair_close(&p);
}

static void test_binary_escapes(void **state)
{
    (void)state;
    static struct gdb_buf b;
    const uint8_t raw[] = {'a', '#', '$', '}', '*', 0x00, 0xff};
    gdb_buf_reset(&b);
    gdb_buf_bin(&b, raw, sizeof raw);
    const uint8_t want[] = {'a', '}', '#' ^ 0x20, '}', '$' ^ 0x20, '}', '}' ^ 0x20, '}', '*' ^ 0x20,
                            0x00, 0xff};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    uint8_t back[sizeof want];
    memcpy(back, b.data, sizeof want);
    assert_int_equal(gdb_unescape(back, sizeof want), sizeof raw);
    assert_memory_equal(back, raw, sizeof raw);
}

static void test_hex(void **state)
{
    (void)state;
    uint64_t v;
    const char *s = "ffffffffffffffff,";
    assert_true(gdb_parse_hex(&s, &v));
    assert_true(v == UINT64_MAX);
    assert_int_equal(*s, ',');
    s = "00000000000000000000012";
    assert_true(gdb_parse_hex(&s, &v));
    assert_int_equal(v, 0x12);
    s = "1ffffffffffffffff"; /* 65 bits */
    assert_false(gdb_parse_hex(&s, &v));
    s = ",1";
    assert_false(gdb_parse_hex(&s, &v));
    uint8_t out[3];
    assert_true(gdb_unhex("0aFf10", out, 3));
    assert_int_equal(out[0], 0x0a);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0x10);
    assert_false(gdb_unhex("0g", out, 1));
    static struct gdb_buf b;
    gdb_buf_reset(&b);
    gdb_buf_hex(&b, out, 3);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "0aff10", 6);
}

static int find_reg(const char *name)
{
    size_t len;
    const char *xml = gdb_target_xml(&len);
    char pat[64];
    snprintf(pat, sizeof pat, "<reg name=\"%s\" ", name);
    const char *at = strstr(xml, pat);
    assert_non_null(at);
    const char *rn = strstr(at, "regnum=\"");
    assert_non_null(rn);
    return atoi(rn + 8);
}

static uint64_t read_reg(struct cpu *cpu, const char *name)
{
    uint8_t buf[16] = {0};
    int n = find_reg(name);
    size_t size = gdb_reg_size(n);
    assert_true(size > 0 && size <= 8);
    gdb_reg_read(cpu, n, buf);
    uint64_t v = 0;
    memcpy(&v, buf, size); /* gdb's order is little-endian, as the host's */
    return v;
}

static void write_reg(struct cpu *cpu, const char *name, uint64_t v)
{
    int n = find_reg(name);
    uint8_t buf[16] = {0};
    memcpy(buf, &v, gdb_reg_size(n));
    gdb_reg_write(cpu, n, buf);
}

/* The layout gdb's amd64 target expects, and an XML that matches it. */
static void test_layout(void **state)
{
    (void)state;
    static const char *const order[] = {
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "st0", "st1",
        "st2", "st3", "st4", "st5", "st6", "st7", "fctrl", "fstat", "ftag", "fiseg", "fioff",
        "foseg", "fooff", "fop", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "mxcsr",
    };
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
        assert_int_equal(find_reg(order[i]), i);
    /* 16*8 + 8 + 7*4 + 8*10 + 8*4 + 16*16 + 4 bytes up to mxcsr */
    size_t up_to_mxcsr = 0;
    for (int i = 0; i <= find_reg("mxcsr"); i++)
        up_to_mxcsr += gdb_reg_size(i);
    assert_int_equal(up_to_mxcsr, 536);

    size_t len;
    const char *xml = gdb_target_xml(&len);
    assert_int_equal(strlen(xml), len);
    assert_non_null(strstr(xml, "<architecture>i386:x86-64</architecture>"));
    assert_non_null(strstr(xml, "</target>\n"));
    int regs = 0;
    size_t bits = 0;
    for (const char *p = xml; (p = strstr(p, "<reg ")); p++) {
        regs++;
        bits += (size_t)atoi(strstr(p, "bitsize=\"") + 9);
    }
    assert_int_equal(regs, gdb_reg_count());
    assert_int_equal(bits / 8, gdb_regs_total());
    assert_true(find_reg("fs_base") > find_reg("mxcsr"));
    assert_true(find_reg("efer") > 0);
}

static void test_register_values(void **state)
{
    (void)state;
    static struct th t;
    th_init(&t, TH_REAL);
    struct cpu *cpu = &t.cpu;
    cpu->s.regs[R_BX] = 0x1122334455667788ull;
    cpu->s.regs[R_R15] = 15;
    assert_true(read_reg(cpu, "rbx") == 0x1122334455667788ull);
    assert_int_equal(read_reg(cpu, "r15"), 15);
    write_reg(cpu, "rsi", 0xabc);
    assert_int_equal(cpu->s.regs[R_SI], 0xabc);
    write_reg(cpu, "eflags", FL_CF | FL_ZF);
    assert_int_equal(cpu_get_rflags(cpu), FL_CF | FL_ZF | FL_1);
    assert_int_equal(read_reg(cpu, "eflags"), FL_CF | FL_ZF | FL_1);

    /* st(i) is physical register (TOP + i) & 7 */
    cpu->s.fpu.fsw = 3 << 11;
    cpu->s.fpu.st[3].mant = 0x8000000000000000ull;
    cpu->s.fpu.st[3].exp = 0x3fff; /* 1.0 */
    cpu->s.fpu.st[2].exp = 0x4000;
    uint8_t st[16];
    gdb_reg_read(cpu, find_reg("st0"), st);
    assert_int_equal(st[7], 0x80);
    assert_int_equal(st[8], 0xff);
    assert_int_equal(st[9], 0x3f);
    gdb_reg_read(cpu, find_reg("st7"), st);
    assert_int_equal(st[9], 0x40);
    assert_int_equal(read_reg(cpu, "fstat"), 3 << 11);

    cpu->s.fpu.xmm[9].q[0] = 0x0102030405060708ull;
    gdb_reg_read(cpu, find_reg("xmm9"), st);
    assert_int_equal(st[0], 0x08);
    assert_int_equal(st[7], 0x01);

    /* real mode: a selector write sets the base too */
    write_reg(cpu, "ds", 0x1234);
    assert_int_equal(cpu->s.seg[S_DS].sel, 0x1234);
    assert_int_equal(cpu->s.seg[S_DS].base, 0x12340);
    /* rewriting the same selector (a 'G' packet) keeps a base that differs */
    cpu->s.seg[S_CS].sel = 0xf000;
    cpu->s.seg[S_CS].base = 0xffff0000ull;
    write_reg(cpu, "cs", 0xf000);
    assert_true(cpu->s.seg[S_CS].base == 0xffff0000ull);
    th_destroy(&t);
}

static void test_protected_mode_selector(void **state)
{
    (void)state;
    static struct th t;
    th_init(&t, TH_PM32);
    struct cpu *cpu = &t.cpu;
    cpu->s.seg[S_ES].base = 0x5000;
    write_reg(cpu, "es", 0x28);
    assert_int_equal(cpu->s.seg[S_ES].sel, 0x28);
    assert_int_equal(cpu->s.seg[S_ES].base, 0x5000);
    assert_int_equal(read_reg(cpu, "cr0") & CR0_PE, CR0_PE);
    write_reg(cpu, "fs_base", 0x7000);
    assert_int_equal(cpu->s.seg[S_FS].base, 0x7000);
    th_destroy(&t);
}

/* The debugger's view of memory in long mode goes through the page tables. */
static void test_long_mode_memory(void **state)
{
    (void)state;
    static struct th t;
    th_init(&t, TH_LM64);
    struct cpu *cpu = &t.cpu;
    assert_true((read_reg(cpu, "efer") & EFER_LMA) != 0);
    uint32_t v = 0xdeadbeef, back = 0;
    th_poke(&t, TH_DATA, &v, 4);
    assert_int_equal(cpu_debug_access(cpu, TH_DATA, &back, 4, false), 4);
    assert_int_equal(back, v);
    /* beyond the identity-mapped 1 GiB: not mapped */
    assert_int_equal(cpu_debug_access(cpu, 1ull << 40, &back, 4, false), 0);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packet_ack),
        cmocka_unit_test(test_send_and_resend),
        cmocka_unit_test(test_overflow_is_flagged),
        cmocka_unit_test(test_binary_escapes),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_register_values),
        cmocka_unit_test(test_protected_mode_selector),
        cmocka_unit_test(test_long_mode_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
