/* Descriptor-table instructions: LGDT LIDT SGDT SIDT LLDT SLDT LTR STR,
 * and the descriptor probes LAR LSL VERR VERW ARPL (SDM Vol. 2). */
#include "cpu/cpu_sys.h"

static void need_cpl0(struct cpu *cpu)
{
    if (cpu->s.cpl != 0 || cpu_v86(cpu))
        cpu_gp0(cpu);
}

/* SLDT STR LLDT LTR LAR LSL VERR VERW ARPL exist in protected mode only. */
static void need_protected(struct cpu *cpu)
{
    if (!cpu_protected(cpu))
        cpu_ud(cpu);
}

/* LGDT/LIDT m16&32 (m16&64 in 64-bit mode); a 16-bit operand uses 24 bits
 * of the base. */
static void load_dtr(struct cpu *cpu, const struct insn *in, struct dtr *d)
{
    need_cpl0(cpu);
    uint64_t ea = insn_ea(cpu, in);
    uint16_t limit = mem_read16(cpu, in->seg, ea);
    uint64_t base_off = (ea + 2) & size_mask(in->addrsize);
    uint64_t base;
    if (cpu_is64(cpu)) {
        base = mem_read64(cpu, in->seg, base_off);
        if (!is_canonical(base))
            cpu_gp0(cpu);
    } else {
        base = mem_read32(cpu, in->seg, base_off);
        if (in->opsize == 2)
            base &= 0xffffff;
    }
    d->limit = limit;
    d->base = base;
}

static void store_dtr(struct cpu *cpu, const struct insn *in, const struct dtr *d)
{
    uint64_t ea = insn_ea(cpu, in);
    unsigned bsize = cpu_is64(cpu) ? 8 : 4;
    uint64_t base_off = (ea + 2) & size_mask(in->addrsize);
    /* Check both parts before writing either. */
    uint64_t lin_lim = seg_lin(cpu, in->seg, ea, 2, ACC_W);
    uint64_t lin_base = seg_lin(cpu, in->seg, base_off, bsize, ACC_W);
    lin_probe_write(cpu, lin_base, bsize);
    /* The full 32-bit base is stored with a 16-bit operand too. */
    lin_write(cpu, lin_lim, 2, d->limit, ACC_W);
    lin_write(cpu, lin_base, bsize, d->base, ACC_W);
}

static void op_sgdt(struct cpu *cpu, const struct insn *in) { store_dtr(cpu, in, &cpu->s.gdtr); }
static void op_sidt(struct cpu *cpu, const struct insn *in) { store_dtr(cpu, in, &cpu->s.idtr); }

static void op_lgdt(struct cpu *cpu, const struct insn *in)
{
    load_dtr(cpu, in, &cpu->s.gdtr);
}

static void op_lidt(struct cpu *cpu, const struct insn *in)
{
    load_dtr(cpu, in, &cpu->s.idtr);
}

/* SLDT/STR: 16 bits to memory; zero-extended to the operand size in a register. */
static void store_sel(struct cpu *cpu, const struct insn *in, uint16_t sel)
{
    need_protected(cpu);
    if (in->mod == 3)
        greg_write(cpu, in, in->rm, in->opsize, sel);
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), 2, sel);
}

static void op_sldt(struct cpu *cpu, const struct insn *in) { store_sel(cpu, in, cpu->s.seg[S_LDTR].sel); }
static void op_str(struct cpu *cpu, const struct insn *in) { store_sel(cpu, in, cpu->s.seg[S_TR].sel); }

/* 16-byte system descriptors in IA-32e mode: upper base, and the upper
 * half's type field must be 0 (SDM Vol. 3A 7.2.3). */
static uint64_t sys_desc_base_high(struct cpu *cpu, uint16_t sel)
{
    uint64_t h;
    if (!desc_fetch_high(cpu, sel, &h) || ((h >> 40) & 0x1f))
        cpu_raise(cpu, EXC_GP, sel & SEL_MASK);
    uint64_t hi = (h & 0xffffffffull) << 32;
    return hi;
}

static void op_lldt(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    need_cpl0(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    if (!(sel & SEL_MASK)) {
        seg_set_null(cpu, S_LDTR, sel);
        return;
    }
    uint64_t d;
    uint32_t e = sel & SEL_MASK;
    if ((sel & SEL_TI) || !desc_fetch(cpu, sel, &d) || desc_s(d) || desc_type(d) != ST_LDT)
        cpu_raise(cpu, EXC_GP, e);
    uint64_t hi = cpu_lma(cpu) ? sys_desc_base_high(cpu, sel) : 0;
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, e);
    struct seg_cache sc;
    desc_to_cache(d, sel, &sc);
    sc.base |= hi;
    if (!is_canonical(sc.base))
        cpu_raise(cpu, EXC_GP, e);
    cpu->s.seg[S_LDTR] = sc;
}

static void op_ltr(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    need_cpl0(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    uint64_t d;
    uint32_t e = sel & SEL_MASK;
    if (!(sel & SEL_MASK))
        cpu_gp0(cpu);
    if ((sel & SEL_TI) || !desc_fetch(cpu, sel, &d) || desc_s(d))
        cpu_raise(cpu, EXC_GP, e);
    /* Available TSS only; IA-32e mode has only the 64-bit one (type 9). */
    if (desc_type(d) != ST_TSS32 && (cpu_lma(cpu) || desc_type(d) != ST_TSS16))
        cpu_raise(cpu, EXC_GP, e);
    uint64_t hi = cpu_lma(cpu) ? sys_desc_base_high(cpu, sel) : 0;
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, e);
    struct seg_cache sc;
    desc_to_cache(d, sel, &sc);
    sc.base |= hi;
    if (!is_canonical(sc.base))
        cpu_raise(cpu, EXC_GP, e);
    desc_write_type(cpu, sel, d, (unsigned)(d >> 40) | ST_BUSY);
    sc.attr |= ST_BUSY;
    cpu->s.seg[S_TR] = sc;
}

/* Which system types LAR (lsl = false) or LSL accept (SDM Vol. 2 LAR, LSL). */
static bool probe_type_ok(const struct cpu *cpu, uint64_t d, bool lsl)
{
    if (desc_s(d))
        return true;
    unsigned t = desc_type(d);
    if (cpu_lma(cpu))
        return t == ST_LDT || t == ST_TSS32 || t == ST_TSS32_BUSY || (!lsl && t == ST_CALL32);
    switch (t) {
    case ST_TSS16: case ST_LDT: case ST_TSS16_BUSY: case ST_TSS32: case ST_TSS32_BUSY:
        return true;
    case ST_CALL16: case ST_TASK: case ST_CALL32:
        return !lsl;
    default:
        return false;
    }
}

/* The common visibility test of LAR LSL VERR VERW: descriptor inside the
 * table and DPL >= max(CPL, RPL) unless conforming code. Sets ZF. */
static bool probe_desc(struct cpu *cpu, uint16_t sel, uint64_t *d)
{
    if (!(sel & SEL_MASK) || !desc_fetch(cpu, sel, d))
        return false;
    bool conforming = desc_is_code(*d) && (desc_type(*d) & DT_CONFORMING);
    if (!conforming && (desc_dpl(*d) < cpu->s.cpl || desc_dpl(*d) < (sel & SEL_RPL)))
        return false;
    return true;
}

static void set_zf(struct cpu *cpu, bool z)
{
    flags_write(cpu, FL_ZF, z ? FL_ZF : 0);
}

static void op_lar(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    uint64_t d;
    bool ok = probe_desc(cpu, sel, &d) && probe_type_ok(cpu, d, false);
    if (ok) {
        uint64_t v = (d >> 32) & 0x00f0ff00ull;
        greg_write(cpu, in, in->reg, in->opsize == 2 ? 2 : 4, in->opsize == 2 ? v & 0xffff : v);
    }
    set_zf(cpu, ok);
}

static void op_lsl(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    uint64_t d;
    bool ok = probe_desc(cpu, sel, &d) && probe_type_ok(cpu, d, true);
    if (ok) {
        struct seg_cache sc;
        desc_to_cache(d, sel, &sc);
        greg_write(cpu, in, in->reg, in->opsize == 2 ? 2 : 4, in->opsize == 2 ? sc.limit & 0xffff : sc.limit);
    }
    set_zf(cpu, ok);
}

static void op_verr(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    uint64_t d;
    bool ok = probe_desc(cpu, sel, &d) && desc_s(d) && (!desc_is_code(d) || (desc_type(d) & DT_RW));
    set_zf(cpu, ok);
}

static void op_verw(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    uint64_t d;
    bool ok = probe_desc(cpu, sel, &d) && desc_is_data(d) && (desc_type(d) & DT_RW);
    /* Writable data is never conforming: the DPL test applies. */
    set_zf(cpu, ok);
}

/* ARPL r/m16, r16 (63 outside 64-bit mode, where 63 is MOVSXD). */
static void op_arpl(struct cpu *cpu, const struct insn *in)
{
    need_protected(cpu);
    uint16_t dst = (uint16_t)rm_read(cpu, in, 2);
    uint16_t src = (uint16_t)greg_read(cpu, in, in->reg, 2);
    if ((dst & SEL_RPL) < (src & SEL_RPL)) {
        rm_write(cpu, in, 2, (dst & ~SEL_RPL) | (src & SEL_RPL));
        set_zf(cpu, true);
    } else {
        set_zf(cpu, false);
    }
}

#define M OPF_MODRM
static const struct op_def sysdesc_ops[] = {
    {OP0F | 0x01, 0, -1, PFX_ANY, M | OPF_MEM, op_sgdt, "sgdt"},
    {OP0F | 0x01, 1, -1, PFX_ANY, M | OPF_MEM, op_sidt, "sidt"},
    {OP0F | 0x01, 2, -1, PFX_ANY, M | OPF_MEM | OPF_END, op_lgdt, "lgdt"},
    {OP0F | 0x01, 3, -1, PFX_ANY, M | OPF_MEM | OPF_END, op_lidt, "lidt"},
    {OP0F | 0x00, 0, -1, PFX_ANY, M, op_sldt, "sldt"},
    {OP0F | 0x00, 1, -1, PFX_ANY, M, op_str, "str"},
    {OP0F | 0x00, 2, -1, PFX_ANY, M | OPF_END, op_lldt, "lldt"},
    {OP0F | 0x00, 3, -1, PFX_ANY, M | OPF_END, op_ltr, "ltr"},
    {OP0F | 0x00, 4, -1, PFX_ANY, M, op_verr, "verr"},
    {OP0F | 0x00, 5, -1, PFX_ANY, M, op_verw, "verw"},
    {OP0F | 0x02, -1, -1, PFX_ANY, M, op_lar, "lar"},
    {OP0F | 0x03, -1, -1, PFX_ANY, M, op_lsl, "lsl"},
    {OP1 | 0x63, -1, -1, PFX_ANY, M | OPF_NO64, op_arpl, "arpl"},
    OPS_END
};
OPS_REGISTER(sysdesc_ops);
