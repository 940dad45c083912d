/* Lazy arithmetic flags: the last flag-setting operation is kept in
 * cpu->s.lf and each flag is computed only when something reads it. */
#include "cpu/cpu_int.h"

static const uint8_t parity_even[256] = {
#define P2(n) n, n ^ 1, n ^ 1, n
#define P4(n) P2(n), P2(n ^ 1), P2(n ^ 1), P2(n)
#define P6(n) P4(n), P4(n ^ 1), P4(n ^ 1), P4(n)
    P6(1), P6(0), P6(0), P6(1)
#undef P2
#undef P4
#undef P6
};

/* Carry-in of ADC/SBB, recovered from operands and result. */
static uint64_t carry_in(const struct lazy_flags *lf)
{
    uint64_t m = size_mask(lf->size);
    if (lf->op == LF_ADC)
        return (lf->res - lf->dst - lf->src) & m;
    return (lf->dst - lf->src - lf->res) & m;
}

static bool lf_cf(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->s.lf;
    unsigned bits = lf->size * 8;
    switch (lf->op) {
    case LF_ADD: return lf->res < lf->dst;
    case LF_ADC: return carry_in(lf) ? lf->res <= lf->dst : lf->res < lf->dst;
    case LF_SUB: return lf->dst < lf->src;
    case LF_SBB: return carry_in(lf) ? lf->dst <= lf->src : lf->dst < lf->src;
    case LF_LOGIC: return false;
    case LF_INC: case LF_DEC: return lf->src;  /* the CF from before, kept in src */
    case LF_SHL: return lf->src <= bits ? (lf->dst >> (bits - lf->src)) & 1 : 0;
    case LF_SHR: return lf->src <= bits ? (lf->dst >> (lf->src - 1)) & 1 : 0;
    case LF_SAR: {
        unsigned c = lf->src < bits ? (unsigned)lf->src : bits;
        return ((uint64_t)sext(lf->dst, lf->size) >> (c - 1)) & 1;
    }
    default: return cpu->s.rflags & FL_CF;
    }
}

static bool lf_of(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->s.lf;
    if (lf->op == LF_NONE)
        return cpu->s.rflags & FL_OF;
    uint64_t sb = sign_bit(lf->size);
    switch (lf->op) {
    case LF_ADD: case LF_ADC: return ((lf->dst ^ lf->res) & (lf->src ^ lf->res) & sb) != 0;
    case LF_SUB: case LF_SBB: return ((lf->dst ^ lf->src) & (lf->dst ^ lf->res) & sb) != 0;
    case LF_LOGIC: return false;
    case LF_INC: return lf->res == sb;
    case LF_DEC: return lf->res == sb - 1;
    /* The top two bits of the operand, for any count (as Intel parts do;
     * the SDM defines OF for count 1 only, where this is MSB(res) ^ CF). */
    case LF_SHL: return ((lf->dst ^ (lf->dst << 1)) & sb) != 0;
    case LF_SHR: return (lf->dst & sb) != 0;
    case LF_SAR: return false;
    default: return cpu->s.rflags & FL_OF;
    }
}

static bool lf_af(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->s.lf;
    switch (lf->op) {
    case LF_ADD: case LF_ADC: case LF_SUB: case LF_SBB:
        return ((lf->dst ^ lf->src ^ lf->res) & 0x10) != 0;
    case LF_INC: return (lf->res & 0xf) == 0;
    case LF_DEC: return (lf->res & 0xf) == 0xf;
    case LF_LOGIC: case LF_SHL: case LF_SHR: case LF_SAR: return false;
    default: return cpu->s.rflags & FL_AF;
    }
}

bool flag_cf(struct cpu *cpu) { return lf_cf(cpu); }
bool flag_of(struct cpu *cpu) { return lf_of(cpu); }
bool flag_af(struct cpu *cpu) { return lf_af(cpu); }
bool flag_zf(struct cpu *cpu)
{
    if (cpu->s.lf.op == LF_NONE)
        return cpu->s.rflags & FL_ZF;
    return cpu->s.lf.res == 0;
}
bool flag_sf(struct cpu *cpu)
{
    if (cpu->s.lf.op == LF_NONE)
        return cpu->s.rflags & FL_SF;
    return (cpu->s.lf.res & sign_bit(cpu->s.lf.size)) != 0;
}
bool flag_pf(struct cpu *cpu)
{
    if (cpu->s.lf.op == LF_NONE)
        return cpu->s.rflags & FL_PF;
    return parity_even[cpu->s.lf.res & 0xff];
}

void flags_materialize(struct cpu *cpu)
{
    if (cpu->s.lf.op == LF_NONE)
        return;
    uint64_t f = cpu->s.rflags & ~(uint64_t)FL_ARITH;
    f |= flag_cf(cpu) ? FL_CF : 0;
    f |= flag_pf(cpu) ? FL_PF : 0;
    f |= flag_af(cpu) ? FL_AF : 0;
    f |= flag_zf(cpu) ? FL_ZF : 0;
    f |= flag_sf(cpu) ? FL_SF : 0;
    f |= flag_of(cpu) ? FL_OF : 0;
    cpu->s.rflags = f;
    cpu->s.lf.op = LF_NONE;
}

void flags_write(struct cpu *cpu, uint32_t mask, uint32_t val)
{
    flags_materialize(cpu);
    cpu->s.rflags = (cpu->s.rflags & ~(uint64_t)mask) | (val & mask);
}

void lf_inc_dec(struct cpu *cpu, bool inc, unsigned size, uint64_t dst, uint64_t res)
{
    lf_set(cpu, inc ? LF_INC : LF_DEC, size, dst, lf_cf(cpu), res);
}

bool cond_true(struct cpu *cpu, unsigned cc)
{
    bool r;
    if (likely(lf_cond_quick(&cpu->s.lf, cc >> 1, &r)))
        goto out;
    switch (cc >> 1) {
    case 0: r = flag_of(cpu); break;
    case 1: r = flag_cf(cpu); break;
    case 2: r = flag_zf(cpu); break;
    case 3: r = flag_cf(cpu) || flag_zf(cpu); break;
    case 4: r = flag_sf(cpu); break;
    case 5: r = flag_pf(cpu); break;
    case 6: r = flag_sf(cpu) != flag_of(cpu); break;
    default: r = flag_zf(cpu) || (flag_sf(cpu) != flag_of(cpu)); break;
    }
out:
    return (cc & 1) ? !r : r;
}
