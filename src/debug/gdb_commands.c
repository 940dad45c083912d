/* The gdb commands (GDB manual, "Packets", "General Query Packets",
 * "Stop Reply Packets"): one received packet in g->conn.body, one reply.
 * vCPU 0 is gdb's thread 1 (thread ids are vCPU index + 1). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "debug/gdb_int.h"
#include "runtime/errors.h"
#include "vmm/device.h"
#include "vmm/vm.h"

_Static_assert(GDB_MAX_BREAKPOINTS == sizeof(((struct cpu *)0)->breakpoints) / sizeof(uint64_t),
               "one stub slot per CPU breakpoint");

/* Error replies: errno values, as gdbserver sends them. */
#define E_PERM "E01"   /* the VM is not stopped */
#define E_FAULT "E14"  /* memory not accessible */
#define E_INVAL "E16"  /* malformed packet */
#define E_NOSPC "E1c"  /* no breakpoint slot left */

#define GDB_THREAD 1
#define MEM_MAX (GDB_PACKET_SIZE / 2 - 16) /* bytes per m reply, hex-encoded */

static const char supported[] =
    "PacketSize=4000;QStartNoAckMode+;swbreak+;hwbreak+;qXfer:features:read+;vContSupported+";

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "1", "01", "-1" (all) and "0" (any) name vCPU 0's thread. */
static bool our_thread(const char *s)
{
    uint64_t t;
    if (strcmp(s, "-1") == 0)
        return true;
    return gdb_parse_hex(&s, &t) && *s == '\0' && (t == 0 || t == GDB_THREAD);
}

static void regs_all(struct gdbstub *g, struct gdb_buf *r)
{
    uint8_t v[16];
    for (int i = 0; i < gdb_reg_count(); i++) {
        gdb_reg_read(g->cpu, i, v);
        gdb_buf_hex(r, v, gdb_reg_size(i));
    }
}

static const char *regs_write_all(struct gdbstub *g, const char *hex)
{
    static uint8_t buf[1024];
    size_t n = strlen(hex) / 2;
    if (strlen(hex) % 2 || n > gdb_regs_total() || n > sizeof buf || !gdb_unhex(hex, buf, n))
        return E_INVAL;
    size_t off = 0;
    for (int i = 0; i < gdb_reg_count() && off + gdb_reg_size(i) <= n; i++) {
        gdb_reg_write(g->cpu, i, buf + off);
        off += gdb_reg_size(i);
    }
    return "OK";
}

static void reg_one(struct gdbstub *g, const char *p, struct gdb_buf *r)
{
    uint64_t n;
    uint8_t v[16];
    if (!gdb_parse_hex(&p, &n) || *p || n >= (uint64_t)gdb_reg_count()) {
        gdb_buf_str(r, E_INVAL);
        return;
    }
    gdb_reg_read(g->cpu, (int)n, v);
    gdb_buf_hex(r, v, gdb_reg_size((int)n));
}

static const char *reg_write_one(struct gdbstub *g, const char *p)
{
    uint64_t n;
    uint8_t v[16];
    if (!gdb_parse_hex(&p, &n) || *p++ != '=' || n >= (uint64_t)gdb_reg_count())
        return E_INVAL;
    size_t size = gdb_reg_size((int)n);
    if (strlen(p) != 2 * size || !gdb_unhex(p, v, size))
        return E_INVAL;
    gdb_reg_write(g->cpu, (int)n, v);
    return "OK";
}

/* "ADDR,LEN" then `end` (':' or NUL). */
static bool addr_len(const char **p, uint64_t *addr, uint64_t *len, char end)
{
    return gdb_parse_hex(p, addr) && *(*p)++ == ',' && gdb_parse_hex(p, len) && **p == end;
}

static void mem_read(struct gdbstub *g, const char *p, struct gdb_buf *r)
{
    static uint8_t buf[MEM_MAX];
    uint64_t addr, len;
    if (!addr_len(&p, &addr, &len, '\0')) {
        gdb_buf_str(r, E_INVAL);
        return;
    }
    if (len > MEM_MAX)
        len = MEM_MAX; /* a shorter reply is allowed; gdb asks for the rest */
    size_t done = cpu_debug_access(g->cpu, addr, buf, (size_t)len, false);
    if (done == 0 && len > 0)
        gdb_buf_str(r, E_FAULT);
    else
        gdb_buf_hex(r, buf, done);
}

static const char *mem_write(struct gdbstub *g, const char *p, const char *body_end, bool binary)
{
    static uint8_t buf[GDB_PACKET_SIZE];
    uint64_t addr, len;
    if (!addr_len(&p, &addr, &len, ':') || len > sizeof buf)
        return E_INVAL;
    p++;
    if (binary) {
        size_t n = (size_t)(body_end - p);
        memcpy(buf, p, n);
        if (gdb_unescape(buf, n) != len)
            return E_INVAL;
    } else if (strlen(p) != 2 * len || !gdb_unhex(p, buf, (size_t)len)) {
        return E_INVAL;
    }
    if (len && cpu_debug_access(g->cpu, addr, buf, (size_t)len, true) != len)
        return E_FAULT;
    return "OK";
}

/* Z/z TYPE,ADDR,KIND: software (0) and hardware (1) execution breakpoints
 * share the CPU's breakpoint list; watchpoints are not supported. */
static const char *breakpoint(struct gdbstub *g, const char *p, bool insert)
{
    struct cpu *cpu = g->cpu;
    uint64_t type, addr;
    if (!gdb_parse_hex(&p, &type) || *p++ != ',' || !gdb_parse_hex(&p, &addr) || *p != ',')
        return E_INVAL;
    if (type > 1)
        return "";
    int n = cpu->n_breakpoints, found = -1;
    for (int i = 0; i < n; i++)
        if (cpu->breakpoints[i] == addr && g->bp_type[i] == type)
            found = i;
    if (insert && found < 0) {
        if (n == GDB_MAX_BREAKPOINTS)
            return E_NOSPC;
        cpu->breakpoints[n] = addr;
        g->bp_type[n] = (uint8_t)type;
        cpu->n_breakpoints = n + 1;
    } else if (!insert && found >= 0) {
        cpu->breakpoints[found] = cpu->breakpoints[n - 1];
        g->bp_type[found] = g->bp_type[n - 1];
        cpu->n_breakpoints = n - 1;
    }
    return "OK";
}

/* c/s [ADDR], C/S SIG[;ADDR]: the signal is ignored (nothing to deliver it to). */
static const char *resume_cmd(struct gdbstub *g, const char *p, bool step, bool with_sig)
{
    uint64_t addr = 0, sig;
    bool has_addr = false;
    if (with_sig) {
        if (!gdb_parse_hex(&p, &sig))
            return E_INVAL;
        if (*p == ';')
            p++;
    }
    if (*p) {
        if (!gdb_parse_hex(&p, &addr) || *p)
            return E_INVAL;
        has_addr = true;
    }
    gdb_resume(g, step, has_addr, addr);
    return NULL;
}

/* vCont;ACTION[:TID]...: the first action that names our thread (or all). */
static const char *vcont(struct gdbstub *g, const char *p, struct gdb_buf *r)
{
    while (*p == ';') {
        p++;
        char a = *p++;
        uint64_t sig;
        if ((a == 'C' || a == 'S') && !gdb_parse_hex(&p, &sig))
            return E_INVAL;
        const char *end = strchr(p, ';');
        size_t tlen = end ? (size_t)(end - p) : strlen(p);
        bool ours = true;
        if (tlen > 0) {
            char tid[32];
            if (*p != ':' || tlen > sizeof tid)
                return E_INVAL;
            memcpy(tid, p + 1, tlen - 1);
            tid[tlen - 1] = '\0';
            ours = our_thread(tid);
        }
        p += tlen;
        if (!ours)
            continue;
        switch (a) {
        case 'c': case 'C':
            gdb_resume(g, false, false, 0);
            return NULL;
        case 's': case 'S':
            gdb_resume(g, true, false, 0);
            return NULL;
        case 't':
            gdb_buf_str(r, g->stop_reply); /* already stopped */
            return "";
        default:
            return E_INVAL;
        }
    }
    return "OK"; /* nothing for our thread: it stays stopped */
}

static void xfer_features(const char *p, struct gdb_buf *r)
{
    uint64_t off, len;
    size_t xml_len;
    const char *xml = gdb_target_xml(&xml_len);
    if (!starts(p, "target.xml:")) {
        gdb_buf_str(r, E_INVAL);
        return;
    }
    p += strlen("target.xml:");
    if (!addr_len(&p, &off, &len, '\0')) {
        gdb_buf_str(r, E_INVAL);
        return;
    }
    if (len > GDB_PACKET_SIZE / 2)
        len = GDB_PACKET_SIZE / 2; /* room for escapes */
    if (off >= xml_len) {
        gdb_buf_str(r, "l");
        return;
    }
    size_t n = xml_len - (size_t)off < len ? xml_len - (size_t)off : (size_t)len;
    gdb_buf_str(r, off + n < xml_len ? "m" : "l");
    gdb_buf_bin(r, xml + off, n);
}

static void query(struct gdbstub *g, const char *p, struct gdb_buf *r)
{
    if (starts(p, "qSupported")) {
        gdb_buf_str(r, supported);
    } else if (strcmp(p, "qAttached") == 0 || starts(p, "qAttached:")) {
        gdb_buf_str(r, "1");
    } else if (strcmp(p, "qC") == 0) {
        gdb_buf_fmt(r, "QC%02x", GDB_THREAD);
    } else if (strcmp(p, "qfThreadInfo") == 0) {
        gdb_buf_fmt(r, "m%02x", GDB_THREAD);
    } else if (strcmp(p, "qsThreadInfo") == 0) {
        gdb_buf_str(r, "l");
    } else if (starts(p, "qThreadExtraInfo,")) {
        char s[32];
        snprintf(s, sizeof s, "vCPU %d", g->cpu->index);
        gdb_buf_hex(r, s, strlen(s));
    } else if (starts(p, "qXfer:features:read:")) {
        xfer_features(p + strlen("qXfer:features:read:"), r);
    }
    /* Anything else (qOffsets, qTStatus, qSymbol...): empty = unsupported. */
}

/* Power the VM off with status 0 and let the parked vCPU see it. */
static void kill_vm(struct gdbstub *g)
{
    vm_request_poweroff(g->vm, CAIXA_EXIT_OK);
    g->run = GDB_DETACHED;
    pthread_cond_broadcast(&g->cond);
}

/* Lock held. Returns the reply (NULL: none now, the stop reply comes later). */
static const char *dispatch(struct gdbstub *g, enum gdb_after *after, bool *noack_after)
{
    struct gdb_conn *c = &g->conn;
    struct gdb_buf *r = &c->reply;
    const char *b = c->body;
    const char *end = c->body + c->body_len;

    if (c->body_overflow)
        return E_INVAL;
    switch (b[0]) {
    case 'q':
        query(g, b, r);
        return "";
    case 'Q':
        if (strcmp(b, "QStartNoAckMode") == 0) {
            *noack_after = true;
            return "OK";
        }
        return "";
    case 'H':
        return b[1] && our_thread(b + 2) ? "OK" : E_INVAL;
    case 'T':
        return our_thread(b + 1) ? "OK" : E_INVAL;
    case 'k':
        kill_vm(g);
        *after = GDB_END_KILL;
        return NULL;
    case 'v':
        if (strcmp(b, "vCont?") == 0)
            return "vCont;c;C;s;S;t";
        if (starts(b, "vKill")) {
            kill_vm(g);
            *after = GDB_END_KILL;
            return "OK";
        }
        if (starts(b, "vCont;")) {
            if (!gdb_cpu_ready(g))
                return E_PERM;
            return vcont(g, b + 5, r);
        }
        return "";
    default:
        break;
    }

    /* The rest needs the vCPU parked. */
    if (!strchr("?gGpPmMXcsCSDZz", b[0]) || b[0] == '\0')
        return "";
    if (!gdb_cpu_ready(g))
        return E_PERM;
    switch (b[0]) {
    case '?':
        return g->stop_reply;
    case 'g':
        regs_all(g, r);
        return "";
    case 'G':
        return regs_write_all(g, b + 1);
    case 'p':
        reg_one(g, b + 1, r);
        return "";
    case 'P':
        return reg_write_one(g, b + 1);
    case 'm':
        mem_read(g, b + 1, r);
        return "";
    case 'M':
        return mem_write(g, b + 1, end, false);
    case 'X':
        return mem_write(g, b + 1, end, true);
    case 'c': case 's': case 'C': case 'S':
        return resume_cmd(g, b + 1, b[0] == 's' || b[0] == 'S', b[0] == 'C' || b[0] == 'S');
    case 'D':
        gdb_detach(g);
        *after = GDB_END_DETACH;
        return "OK";
    case 'Z': case 'z':
        return breakpoint(g, b + 1, b[0] == 'Z');
    }
    return "";
}

enum gdb_after gdb_handle_packet(struct gdbstub *g)
{
    struct gdb_conn *c = &g->conn;
    enum gdb_after after = GDB_SERVE;
    bool noack_after = false;
    gdb_buf_reset(&c->reply);
    pthread_mutex_lock(&g->lock);
    const char *rep = dispatch(g, &after, &noack_after);
    pthread_mutex_unlock(&g->lock);
    if (!rep)
        return after;
    if (*rep) {
        gdb_buf_reset(&c->reply);
        gdb_buf_str(&c->reply, rep);
    }
    if (c->reply.full) {
        gdb_buf_reset(&c->reply);
        gdb_buf_str(&c->reply, E_INVAL);
    }
    if (gdb_send_reply(c) < 0)
        return GDB_END_DETACH;
    if (noack_after)
        c->noack = true;
    return after;
}
