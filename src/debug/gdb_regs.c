/* The register file gdb sees: gdb's amd64 layout (features
 * org.gnu.gdb.i386.core, .sse and .segments of the GDB manual, "i386
 * Features"), plus caixa's own org.caixa.x86.sys feature with the control
 * registers. One table gives the 'g' packet order, the sizes and the target
 * XML, so the three cannot disagree. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "debug/gdb_int.h"
#include "runtime/util.h"

enum reg_kind {
    RK_GPR,      /* idx: enum cpu_reg */
    RK_RIP,
    RK_EFLAGS,
    RK_SEG,      /* idx: enum cpu_seg */
    RK_ST,       /* idx: stack slot st(idx) */
    RK_FCTRL, RK_FSTAT, RK_FTAG, RK_FISEG, RK_FIOFF, RK_FOSEG, RK_FOOFF, RK_FOP,
    RK_XMM,      /* idx: register number */
    RK_MXCSR,
    RK_SEGBASE,  /* idx: enum cpu_seg */
    RK_CR,       /* idx: 0 2 3 4 8 */
    RK_EFER,
};

enum feature { F_CORE, F_SSE, F_SEGMENTS, F_SYS, F_COUNT };

static const char *const feature_names[F_COUNT] = {
    "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments",
    "org.caixa.x86.sys",
};

struct reg {
    const char *name;
    uint8_t size;       /* bytes */
    uint8_t kind;
    uint8_t idx;
    uint8_t feature;
    const char *type;   /* target XML type */
    const char *group;  /* target XML group, or NULL */
};

#define GPR(n, i, t) {n, 8, RK_GPR, i, F_CORE, t, NULL}
#define SEG(n, i) {n, 4, RK_SEG, i, F_CORE, "int32", NULL}
#define ST(i) {"st" #i, 10, RK_ST, i, F_CORE, "i387_ext", NULL}
#define FPC(n, k) {n, 4, k, 0, F_CORE, "int", "float"}
#define XMM(i) {"xmm" #i, 16, RK_XMM, i, F_SSE, "vec128", NULL}
#define SYS(n, k, i, t) {n, 8, k, i, F_SYS, t, "system"}

static const struct reg regs[] = {
    GPR("rax", R_AX, "int64"), GPR("rbx", R_BX, "int64"), GPR("rcx", R_CX, "int64"),
    GPR("rdx", R_DX, "int64"), GPR("rsi", R_SI, "int64"), GPR("rdi", R_DI, "int64"),
    GPR("rbp", R_BP, "data_ptr"), GPR("rsp", R_SP, "data_ptr"),
    GPR("r8", R_R8, "int64"), GPR("r9", R_R9, "int64"), GPR("r10", R_R10, "int64"),
    GPR("r11", R_R11, "int64"), GPR("r12", R_R12, "int64"), GPR("r13", R_R13, "int64"),
    GPR("r14", R_R14, "int64"), GPR("r15", R_R15, "int64"),
    {"rip", 8, RK_RIP, 0, F_CORE, "code_ptr", NULL},
    {"eflags", 4, RK_EFLAGS, 0, F_CORE, "i386_eflags", NULL},
    SEG("cs", S_CS), SEG("ss", S_SS), SEG("ds", S_DS), SEG("es", S_ES), SEG("fs", S_FS),
    SEG("gs", S_GS),
    ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
    FPC("fctrl", RK_FCTRL), FPC("fstat", RK_FSTAT), FPC("ftag", RK_FTAG),
    FPC("fiseg", RK_FISEG), FPC("fioff", RK_FIOFF), FPC("foseg", RK_FOSEG),
    FPC("fooff", RK_FOOFF), FPC("fop", RK_FOP),
    XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
    XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
    {"mxcsr", 4, RK_MXCSR, 0, F_SSE, "i386_mxcsr", "vector"},
    {"fs_base", 8, RK_SEGBASE, S_FS, F_SEGMENTS, "int", NULL},
    {"gs_base", 8, RK_SEGBASE, S_GS, F_SEGMENTS, "int", NULL},
    SYS("cr0", RK_CR, 0, "int64"), SYS("cr2", RK_CR, 2, "data_ptr"),
    SYS("cr3", RK_CR, 3, "int64"), SYS("cr4", RK_CR, 4, "int64"),
    SYS("cr8", RK_CR, 8, "int64"), SYS("efer", RK_EFER, 0, "int64"),
};

#define NREGS ((int)(sizeof regs / sizeof regs[0]))
#define FSW_TOP_SHIFT 11 /* FPU status word TOP field, bits 11-13 (SDM Vol. 1 8.1.3) */
#define FOP_MASK 0x7ff   /* 11-bit last opcode (SDM Vol. 1 8.1.8) */
#define MXCSR_MASK 0xffff

int gdb_reg_count(void)
{
    return NREGS;
}

size_t gdb_reg_size(int n)
{
    return n >= 0 && n < NREGS ? regs[n].size : 0;
}

size_t gdb_regs_total(void)
{
    size_t t = 0;
    for (int i = 0; i < NREGS; i++)
        t += regs[i].size;
    return t;
}

static uint64_t *cr_slot(struct cpu *cpu, int idx)
{
    switch (idx) {
    case 0: return &cpu->s.cr0;
    case 2: return &cpu->s.cr2;
    case 3: return &cpu->s.cr3;
    case 4: return &cpu->s.cr4;
    default: return &cpu->s.cr8;
    }
}

/* Physical x87 register of stack slot st(i). */
static int st_phys(const struct cpu *cpu, int i)
{
    return (((cpu->s.fpu.fsw >> FSW_TOP_SHIFT) & 7) + i) & 7;
}

void gdb_reg_read(struct cpu *cpu, int n, uint8_t *buf)
{
    const struct reg *r = &regs[n];
    struct fpu_state *f = &cpu->s.fpu;
    uint64_t v = 0;
    switch (r->kind) {
    case RK_GPR: v = cpu->s.regs[r->idx]; break;
    case RK_RIP: v = cpu->s.rip; break;
    case RK_EFLAGS: v = cpu_get_rflags(cpu); break;
    case RK_SEG: v = cpu->s.seg[r->idx].sel; break;
    case RK_ST: {
        int p = st_phys(cpu, r->idx);
        put_le(buf, f->st[p].mant, 8);
        put_le(buf + 8, f->st[p].exp, 2);
        return;
    }
    case RK_FCTRL: v = f->fcw; break;
    case RK_FSTAT: v = f->fsw; break;
    case RK_FTAG: v = f->ftw_full; break;
    case RK_FISEG: v = f->fcs; break;
    case RK_FIOFF: v = f->fip; break;
    case RK_FOSEG: v = f->fds; break;
    case RK_FOOFF: v = f->fdp; break;
    case RK_FOP: v = f->fop; break;
    case RK_XMM: memcpy(buf, f->xmm[r->idx].b, 16); return;
    case RK_MXCSR: v = f->mxcsr; break;
    case RK_SEGBASE: v = cpu->s.seg[r->idx].base; break;
    case RK_CR: v = *cr_slot(cpu, r->idx); break;
    case RK_EFER: v = cpu->s.efer; break;
    }
    put_le(buf, v, r->size);
}

/* In real and virtual-8086 mode a selector write also sets the base, as a
 * MOV to the segment register would; in protected mode only the selector
 * changes (the descriptor cache is kept: gdb has no way to name one). */
static void write_seg(struct cpu *cpu, int s, uint16_t sel)
{
    struct seg_cache *sc = &cpu->s.seg[s];
    if (sc->sel == sel)
        return; /* a 'G' rewrites every register: keep the reset CS base */
    sc->sel = sel;
    if (!(cpu->s.cr0 & CR0_PE) || (cpu_get_rflags(cpu) & FL_VM))
        sc->base = (uint64_t)sel << 4;
}

/* After CR0/CR4/EFER changed: cpu_set_rflags() recomputes the CPU mode, and
 * every cached translation and decoded block may be stale. */
static void system_changed(struct cpu *cpu)
{
    cpu_set_rflags(cpu, cpu_get_rflags(cpu));
    cpu_flush_all(cpu);
}

void gdb_reg_write(struct cpu *cpu, int n, const uint8_t *buf)
{
    const struct reg *r = &regs[n];
    struct fpu_state *f = &cpu->s.fpu;
    uint64_t v = r->kind == RK_ST || r->kind == RK_XMM ? 0 : get_le(buf, r->size);
    switch (r->kind) {
    case RK_GPR: cpu->s.regs[r->idx] = v; break;
    case RK_RIP: cpu->s.rip = v; break;
    case RK_EFLAGS:
        if (v != cpu_get_rflags(cpu))
            cpu_set_rflags(cpu, v);
        break;
    case RK_SEG: write_seg(cpu, r->idx, (uint16_t)v); break;
    case RK_ST: {
        int p = st_phys(cpu, r->idx);
        f->st[p].mant = get_le(buf, 8);
        f->st[p].exp = (uint16_t)get_le(buf + 8, 2);
        break;
    }
    case RK_FCTRL: f->fcw = (uint16_t)v; break;
    case RK_FSTAT: f->fsw = (uint16_t)v; break;
    case RK_FTAG: f->ftw_full = (uint16_t)v; break;
    case RK_FISEG: f->fcs = (uint16_t)v; break;
    case RK_FIOFF: f->fip = v; break;
    case RK_FOSEG: f->fds = (uint16_t)v; break;
    case RK_FOOFF: f->fdp = v; break;
    case RK_FOP: f->fop = (uint16_t)(v & FOP_MASK); break;
    case RK_XMM: memcpy(f->xmm[r->idx].b, buf, 16); break;
    case RK_MXCSR: f->mxcsr = (uint32_t)(v & MXCSR_MASK); break;
    case RK_SEGBASE: cpu->s.seg[r->idx].base = v; break;
    case RK_CR: {
        uint64_t *slot = cr_slot(cpu, r->idx);
        if (*slot != v) {
            *slot = v;
            if (r->idx != 2 && r->idx != 8)
                system_changed(cpu);
        }
        break;
    }
    case RK_EFER:
        if (cpu->s.efer != v) {
            cpu->s.efer = v;
            system_changed(cpu);
        }
        break;
    }
}

/* --- target description (GDB manual, "Target Descriptions") ---------------- */

static const char *const xml_types[F_COUNT] = {
    [F_CORE] =
        "<flags id=\"i386_eflags\" size=\"4\">"
        "<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
        "<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
        "<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
        "<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
        "<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
        "<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
        "<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
        "<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
        "<field name=\"ID\" start=\"21\" end=\"21\"/></flags>\n",
    [F_SSE] =
        "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
        "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
        "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
        "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
        "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
        "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
        "<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
        "<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
        "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
        "<field name=\"uint128\" type=\"uint128\"/></union>\n"
        "<flags id=\"i386_mxcsr\" size=\"4\">"
        "<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>"
        "<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>"
        "<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>"
        "<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>"
        "<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>"
        "<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>"
        "<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>"
        "</flags>\n",
    [F_SEGMENTS] = "",
    [F_SYS] = "",
};

static char xml[8192];
static size_t xml_len;
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void __attribute__((format(printf, 1, 2))) xml_add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(xml + xml_len, sizeof xml - xml_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        xml_len += (size_t)n;
    if (xml_len >= sizeof xml)
        xml_len = sizeof xml - 1; /* truncated: gdb would reject it, the e2e test sees that */
}

/* regs[] is grouped by feature in order, so document order = regnum. */
static void build_xml(void)
{
    xml_len = 0;
    xml_add("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
            "<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n");
    for (int f = 0; f < F_COUNT; f++) {
        xml_add("<feature name=\"%s\">\n%s", feature_names[f], xml_types[f]);
        for (int i = 0; i < NREGS; i++) {
            const struct reg *r = &regs[i];
            if (r->feature != f)
                continue;
            xml_add("<reg name=\"%s\" bitsize=\"%d\" type=\"%s\" regnum=\"%d\"", r->name,
                    r->size * 8, r->type, i);
            if (r->group)
                xml_add(" group=\"%s\"", r->group);
            xml_add("/>\n");
        }
        xml_add("</feature>\n");
    }
    xml_add("</target>\n");
}

const char *gdb_target_xml(size_t *len)
{
    pthread_once(&xml_once, build_xml);
    *len = xml_len;
    return xml;
}
