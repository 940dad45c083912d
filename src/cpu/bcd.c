/* BCD adjustments: DAA DAS AAA AAS AAM AAD, all invalid in 64-bit mode
 * (Intel SDM Vol. 2 instruction pages; the flag rules follow their
 * pseudo-code). Flags are computed eagerly. */
#include "cpu/cpu_int.h"

static uint32_t szp8(uint8_t v)
{
    uint32_t f = 0;
    if (v == 0)
        f |= FL_ZF;
    if (v & 0x80)
        f |= FL_SF;
    if (!__builtin_parity(v))
        f |= FL_PF;
    return f;
}

static uint8_t get_al(const struct cpu *cpu) { return (uint8_t)cpu->s.regs[R_AX]; }
static uint8_t get_ah(const struct cpu *cpu) { return (uint8_t)(cpu->s.regs[R_AX] >> 8); }
static void set_ax(struct cpu *cpu, uint16_t ax)
{
    cpu->s.regs[R_AX] = (cpu->s.regs[R_AX] & ~0xffffull) | ax;
}
static void set_al(struct cpu *cpu, uint8_t al)
{
    cpu->s.regs[R_AX] = (cpu->s.regs[R_AX] & ~0xffull) | al;
}

/* 27 DAA; OF is undefined: cleared, as Intel processors do. */
static void op_daa(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    uint8_t al = get_al(cpu), old_al = al;
    bool old_cf = flag_cf(cpu), cf = false, af = false;
    if ((al & 0x0f) > 9 || flag_af(cpu)) {
        cf = old_cf || al > 0xff - 6;
        al = (uint8_t)(al + 6);
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = (uint8_t)(al + 0x60);
        cf = true;
    } else {
        cf = false;
    }
    uint32_t f = szp8(al) | (cf ? FL_CF : 0) | (af ? FL_AF : 0);
    set_al(cpu, al);
    flags_write(cpu, FL_ARITH, f);
}

/* 2F DAS; OF cleared as for DAA */
static void op_das(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    uint8_t al = get_al(cpu), old_al = al;
    bool old_cf = flag_cf(cpu), cf = false, af = false;
    if ((al & 0x0f) > 9 || flag_af(cpu)) {
        cf = old_cf || al < 6;
        al = (uint8_t)(al - 6);
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = (uint8_t)(al - 0x60);
        cf = true;
    }
    uint32_t f = szp8(al) | (cf ? FL_CF : 0) | (af ? FL_AF : 0);
    set_al(cpu, al);
    flags_write(cpu, FL_ARITH, f);
}

/* 37 AAA / 3F AAS: CF = AF = adjustment made; OF SF ZF PF are undefined:
 * as on Intel processors OF is cleared and SF ZF PF follow the final AL. */
static void aaa_aas(struct cpu *cpu, bool add)
{
    uint16_t ax = (uint16_t)cpu->s.regs[R_AX];
    uint8_t al = (uint8_t)ax;
    bool adj = (al & 0x0f) > 9 || flag_af(cpu);
    if (adj) {
        if (add)
            ax = (uint16_t)(ax + 0x106);
        else
            ax = (uint16_t)(ax - 6 - 0x100); /* AX -= 6, then AH -= 1 */
    }
    ax &= 0xff0f;
    set_ax(cpu, ax);
    flags_write(cpu, FL_ARITH, szp8((uint8_t)ax) | (adj ? FL_CF | FL_AF : 0));
}

static void op_aaa(struct cpu *cpu, const struct insn *in) { (void)in; aaa_aas(cpu, true); }
static void op_aas(struct cpu *cpu, const struct insn *in) { (void)in; aaa_aas(cpu, false); }

/* D4 ib AAM: AH = AL / imm, AL = AL % imm; #DE for imm 0 (SDM AAM) */
static void op_aam(struct cpu *cpu, const struct insn *in)
{
    uint8_t base = (uint8_t)in->imm, al = get_al(cpu);
    if (base == 0)
        cpu_raise(cpu, EXC_DE, 0);
    uint8_t q = al / base, r = al % base;
    set_ax(cpu, (uint16_t)(q << 8 | r));
    flags_write(cpu, FL_ARITH, szp8(r));
}

/* D5 ib AAD: AL = AL + AH * imm, AH = 0 (SDM AAD); OF AF CF undefined, set
 * as the final 8-bit addition would. */
static void op_aad(struct cpu *cpu, const struct insn *in)
{
    uint8_t base = (uint8_t)in->imm, al = get_al(cpu), ah = get_ah(cpu);
    uint8_t prod = (uint8_t)(ah * base);
    uint8_t res = (uint8_t)(al + prod);
    uint32_t f = szp8(res);
    if (res < al)
        f |= FL_CF;
    if (((al ^ prod ^ res) & 0x10))
        f |= FL_AF;
    if ((~(al ^ prod) & (al ^ res)) & 0x80)
        f |= FL_OF;
    set_ax(cpu, res);
    flags_write(cpu, FL_ARITH, f);
}

static const struct op_def bcd_ops[] = {
    {OP1 | 0x27, -1, -1, PFX_ANY, OPF_NO64, op_daa, "daa"},
    {OP1 | 0x2f, -1, -1, PFX_ANY, OPF_NO64, op_das, "das"},
    {OP1 | 0x37, -1, -1, PFX_ANY, OPF_NO64, op_aaa, "aaa"},
    {OP1 | 0x3f, -1, -1, PFX_ANY, OPF_NO64, op_aas, "aas"},
    {OP1 | 0xd4, -1, -1, PFX_ANY, OPF_NO64 | OPF_IMM8U, op_aam, "aam"},
    {OP1 | 0xd5, -1, -1, PFX_ANY, OPF_NO64 | OPF_IMM8U, op_aad, "aad"},
    OPS_END};
OPS_REGISTER(bcd_ops);
