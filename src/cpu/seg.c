/* Segmentation: offset -> linear address checks, descriptor tables, and
 * segment-register loads with the protection checks of every mode.
 * SDM Vol. 3A chapter 3 (segments), 5.3-5.6 (limit, type and privilege
 * checks), Vol. 2 MOV/POP (segment register forms). */
#include "cpu/cpu_sys.h"

static _Noreturn void seg_fault(struct cpu *cpu, int seg)
{
    cpu_raise(cpu, seg == S_SS ? EXC_SS : EXC_GP, 0);
}

bool seg_limit_ok(const struct seg_cache *sc, uint64_t off, unsigned size)
{
    uint64_t last = off + size - 1;
    unsigned a = sc->attr;
    if ((a & SEGA_S) && (a & (DT_CODE | DT_EXPDOWN)) == DT_EXPDOWN) {
        /* Expand-down: valid offsets are limit+1 .. 0xffff or 0xffffffff
         * (SDM Vol. 3A 5.3). */
        uint64_t upper = (a & SEGA_DB) ? 0xffffffffull : 0xffffull;
        return off > sc->limit && last <= upper;
    }
    return last <= sc->limit;
}

uint64_t seg_lin_slow(struct cpu *cpu, int seg, uint64_t off, unsigned size, int acc)
{
    const struct seg_cache *s = &cpu->s.seg[seg];

    if (cpu_is64(cpu)) {
        /* Only FS and GS have a base; the address must be canonical
         * (SDM Vol. 3A 3.3.7.1, 5.3.1). */
        uint64_t lin = off + (seg == S_FS || seg == S_GS ? s->base : 0);
        if (!is_canonical(lin))
            seg_fault(cpu, seg);
        return lin;
    }
    if (cpu_protected(cpu)) {
        uint16_t a = s->attr;
        /* A null selector leaves P clear in the cache. */
        if (!(a & SEGA_P))
            seg_fault(cpu, seg);
        if (a & SEGA_S) {
            unsigned type = a & SEGA_TYPE;
            if (type & DT_CODE) {
                if ((acc & ACC_W) || (!(acc & ACC_X) && !(type & DT_RW)))
                    seg_fault(cpu, seg);
            } else if ((acc & ACC_W) && !(type & DT_RW)) {
                seg_fault(cpu, seg);
            }
        }
    }
    /* Real and V86 mode check the cached limit too (SDM Vol. 3A 20.1.1). */
    if (!seg_limit_ok(s, off, size))
        seg_fault(cpu, seg);
    return (s->base + off) & 0xffffffffull;
}

/* --- descriptor tables ------------------------------------------------------ */

/* Linear address of the descriptor of sel, or false if outside its table. */
static bool desc_addr(struct cpu *cpu, uint16_t sel, unsigned bytes, uint64_t *lin)
{
    uint64_t base;
    uint32_t limit;
    if (sel & SEL_TI) {
        const struct seg_cache *l = &cpu->s.seg[S_LDTR];
        if (!(l->attr & SEGA_P))
            return false;
        base = l->base;
        limit = l->limit;
    } else {
        base = cpu->s.gdtr.base;
        limit = cpu->s.gdtr.limit;
    }
    uint32_t idx = sel & SEL_INDEX;
    if (idx + bytes - 1 > limit)
        return false;
    *lin = base + idx;
    return true;
}

bool desc_fetch(struct cpu *cpu, uint16_t sel, uint64_t *desc)
{
    uint64_t a;
    if (!desc_addr(cpu, sel, 8, &a))
        return false;
    *desc = sys_read(cpu, a, 8);
    return true;
}

bool desc_fetch_high(struct cpu *cpu, uint16_t sel, uint64_t *high)
{
    uint64_t a;
    if (!desc_addr(cpu, sel, 16, &a))
        return false;
    *high = sys_read(cpu, a + 8, 8);
    return true;
}

uint64_t desc_read(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    if (!desc_fetch(cpu, sel, &d))
        cpu_raise(cpu, EXC_GP, sel & SEL_MASK);
    return d;
}

void desc_write_type(struct cpu *cpu, uint16_t sel, uint64_t desc, unsigned attr_lo8)
{
    uint64_t a;
    (void)desc;
    if (desc_addr(cpu, sel, 8, &a))
        sys_write(cpu, a + 5, 1, attr_lo8 & 0xff);
}

void desc_set_accessed(struct cpu *cpu, uint16_t sel, uint64_t *desc)
{
    /* The processor sets the accessed bit when it loads a segment register
     * (SDM Vol. 3A 3.4.5.1); only write when it is clear. */
    if (desc_s(*desc) && !(*desc & (1ull << 40))) {
        *desc |= 1ull << 40;
        desc_write_type(cpu, sel, *desc, (unsigned)(*desc >> 40));
    }
}

void desc_to_cache(uint64_t desc, uint16_t sel, struct seg_cache *sc)
{
    uint32_t limit = (uint32_t)(desc & 0xffff) | (uint32_t)((desc >> 32) & 0xf0000);
    if (desc & (1ull << 55))   /* G: 4 KiB granularity */
        limit = (limit << 12) | 0xfff;
    sc->sel = sel;
    sc->attr = (uint16_t)desc_attr(desc);
    sc->limit = limit;
    sc->base = ((desc >> 16) & 0xffffff) | ((desc >> 32) & 0xff000000);
}

/* --- segment register loads ------------------------------------------------- */

void seg_commit(struct cpu *cpu, int seg, uint16_t sel, uint64_t desc)
{
    desc_set_accessed(cpu, sel, &desc);
    /* In 64-bit mode this gives FS/GS the descriptor's 32-bit base; the
     * full base comes from the MSRs (SDM Vol. 3A 3.4.4). */
    desc_to_cache(desc, sel, &cpu->s.seg[seg]);
}

void seg_set_null(struct cpu *cpu, int seg, uint16_t sel)
{
    struct seg_cache *sc = &cpu->s.seg[seg];
    sc->sel = sel;
    sc->attr = 0;
    sc->limit = 0;
    /* Intel clears the base too (FS/GS in 64-bit mode included). */
    sc->base = 0;
}

void seg_commit_cs(struct cpu *cpu, uint16_t sel, uint64_t desc, unsigned cpl)
{
    desc_set_accessed(cpu, sel, &desc);
    desc_to_cache(desc, (uint16_t)((sel & SEL_MASK) | cpl), &cpu->s.seg[S_CS]);
    /* Callers leaving V86 mode clear EFLAGS.VM first: the mode update
     * would force CPL 3 (and it picks the TLB set from the CPL). */
    cpu->s.cpl = (uint8_t)cpl;
    cpu_update_mode(cpu);
}

void seg_load_real(struct cpu *cpu, int seg, uint16_t sel)
{
    if (cpu_v86(cpu)) {
        seg_load_v86(cpu, seg, sel);
        return;
    }
    /* Real mode keeps limit and attributes (unreal mode). */
    struct seg_cache *s = &cpu->s.seg[seg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
}

void seg_load_v86(struct cpu *cpu, int seg, uint16_t sel)
{
    struct seg_cache *s = &cpu->s.seg[seg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    s->limit = 0xffff;
    s->attr = SEGA_P | SEGA_S | (3 << SEGA_DPL_SHIFT) | DT_ACCESSED | DT_RW | (seg == S_CS ? DT_CODE : 0);
}

uint64_t seg_check_ss(struct cpu *cpu, uint16_t sel, unsigned cpl, int vec, unsigned ext)
{
    uint64_t d;
    uint32_t e = (sel & SEL_MASK) | ext;
    if (!(sel & SEL_MASK))
        cpu_raise(cpu, vec, ext);
    if (!desc_fetch(cpu, sel, &d))
        cpu_raise(cpu, vec, e);
    if ((sel & SEL_RPL) != cpl || !desc_is_data(d) || !(desc_type(d) & DT_RW) || desc_dpl(d) != cpl)
        cpu_raise(cpu, vec, e);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_SS, e);
    return d;
}

void seg_load(struct cpu *cpu, int seg, uint16_t sel)
{
    if (!cpu_protected(cpu)) {
        seg_load_real(cpu, seg, sel);
        return;
    }
    unsigned cpl = cpu->s.cpl, rpl = sel & SEL_RPL;
    uint32_t err = sel & SEL_MASK;
    uint64_t d;

    if (seg == S_SS) {
        if (!(sel & SEL_MASK)) {
            /* 64-bit mode allows a null SS below ring 3 with RPL = CPL
             * (SDM Vol. 2 MOV, 64-bit mode exceptions). */
            if (cpu_is64(cpu) && cpl != 3 && rpl == cpl) {
                seg_set_null(cpu, S_SS, sel);
                return;
            }
            cpu_gp0(cpu);
        }
        d = seg_check_ss(cpu, sel, cpl, EXC_GP, 0);
        seg_commit(cpu, S_SS, sel, d);
        return;
    }
    if (!(sel & SEL_MASK)) {
        seg_set_null(cpu, seg, sel);
        return;
    }
    if (!desc_fetch(cpu, sel, &d))
        cpu_raise(cpu, EXC_GP, err);
    if (!desc_s(d) || (desc_is_code(d) && !(desc_type(d) & DT_RW)))
        cpu_raise(cpu, EXC_GP, err);
    /* Data and non-conforming code: DPL >= max(CPL, RPL) (SDM Vol. 3A 5.6). */
    if (!(desc_is_code(d) && (desc_type(d) & DT_CONFORMING)) && (rpl > desc_dpl(d) || cpl > desc_dpl(d)))
        cpu_raise(cpu, EXC_GP, err);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, err);
    seg_commit(cpu, seg, sel, d);
}

void seg_null_inaccessible(struct cpu *cpu)
{
    static const int segs[4] = { S_ES, S_DS, S_FS, S_GS };
    for (int i = 0; i < 4; i++) {
        struct seg_cache *sc = &cpu->s.seg[segs[i]];
        unsigned a = sc->attr;
        bool conforming_code = (a & DT_CODE) && (a & DT_CONFORMING);
        if ((a & SEGA_S) && (a & SEGA_P) && !conforming_code &&
            ((a & SEGA_DPL) >> SEGA_DPL_SHIFT) < cpu->s.cpl) {
            /* The selector becomes null; a 64-bit FS/GS base stays. */
            sc->sel = 0;
            sc->attr = 0;
        }
    }
}

bool code_target_ok(const struct cpu *cpu, uint64_t desc, uint64_t off)
{
    if (cpu_lma(cpu) && (desc & (1ull << 53)))   /* L: 64-bit code */
        return is_canonical(off);
    struct seg_cache sc;
    desc_to_cache(desc, 0, &sc);
    return off <= sc.limit;
}

/* --- stacks not yet committed ---------------------------------------------- */

void stk_init(struct stk *st, const struct seg_cache *ss, uint64_t sp, bool is64, int acc, uint32_t err)
{
    st->base = ss->base;
    st->limit = ss->limit;
    st->attr = ss->attr;
    st->is64 = is64;
    st->mask = is64 ? ~0ull : (ss->attr & SEGA_DB) ? 0xffffffffull : 0xffffull;
    st->sp = sp & st->mask;
    st->acc = acc;
    st->err = err;
}

void stk_init_cur(struct cpu *cpu, struct stk *st, uint32_t err)
{
    stk_init(st, &cpu->s.seg[S_SS], cpu->s.regs[R_SP], cpu_is64(cpu), 0, err);
}

static uint64_t stk_lin(struct cpu *cpu, struct stk *st, uint64_t sp, unsigned size)
{
    if (st->is64) {
        if (!is_canonical(sp))
            cpu_raise(cpu, EXC_SS, st->err);
        return sp;
    }
    struct seg_cache sc = { 0, st->attr, st->limit, st->base };
    if (!seg_limit_ok(&sc, sp, size))
        cpu_raise(cpu, EXC_SS, st->err);
    return (st->base + sp) & 0xffffffffull;
}

void stk_push(struct cpu *cpu, struct stk *st, unsigned size, uint64_t v)
{
    uint64_t sp = (st->sp - size) & st->mask;
    lin_write(cpu, stk_lin(cpu, st, sp, size), size, v, st->acc | ACC_W);
    st->sp = sp;
}

uint64_t stk_pop(struct cpu *cpu, struct stk *st, unsigned size)
{
    uint64_t v = lin_read(cpu, stk_lin(cpu, st, st->sp, size), size, st->acc & ~ACC_W);
    st->sp = (st->sp + size) & st->mask;
    return v;
}

void stk_commit_sp(struct cpu *cpu, const struct stk *st)
{
    uint64_t *rsp = &cpu->s.regs[R_SP];
    if (st->mask == 0xffff)
        *rsp = (*rsp & ~0xffffull) | st->sp;
    else
        *rsp = st->sp;
}
