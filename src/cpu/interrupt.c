/* Interrupt and exception delivery (SDM Vol. 3A chapter 6, Vol. 2 INT n):
 * the real-mode IVT, V86 mode (IOPL and VME redirection, SDM 20.3), the
 * protected-mode IDT with interrupt, trap and task gates, and the IA-32e
 * IDT with IST stacks. */
#include "cpu/cpu_sys.h"

/* Fault-class exceptions push RF=1 in their EFLAGS image (SDM Vol. 3A
 * 17.3.1.1); #DB is left out as its instruction-breakpoint form must not. */
static bool is_fault(int vec)
{
    switch (vec) {
    case EXC_DE: case EXC_BR: case EXC_UD: case EXC_NM: case EXC_TS: case EXC_NP:
    case EXC_SS: case EXC_GP: case EXC_PF: case EXC_MF: case EXC_AC: case EXC_XM:
        return true;
    default:
        return false;
    }
}

static void set_ip(struct cpu *cpu, uint64_t ip)
{
    cpu->s.rip = ip;
    cpu->next_rip = ip;
}

/* Real-address mode: the IVT at IDTR.base (SDM Vol. 3A 20.1.4). */
static void deliver_real(struct cpu *cpu, int vec, uint64_t ret, uint64_t fl)
{
    uint32_t off = (uint32_t)vec * 4;
    if (off + 3 > cpu->s.idtr.limit)
        cpu_gp0(cpu);
    uint32_t ent = (uint32_t)lin_read(cpu, (cpu->s.idtr.base + off) & 0xffffffffull, 4, ACC_R);
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    stk_push(cpu, &st, 2, fl);
    stk_push(cpu, &st, 2, cpu->s.seg[S_CS].sel);
    stk_push(cpu, &st, 2, ret);
    stk_commit_sp(cpu, &st);
    seg_load_real(cpu, S_CS, (uint16_t)(ent >> 16));
    cpu_set_rflags(cpu, cpu->s.rflags & ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF));
    set_ip(cpu, ent & 0xffff);
}

/* V86 INT n redirected to the V86 program's own IVT at linear 0 (VME,
 * SDM Vol. 3A 20.3.3.5, table 20-2 method 5). */
static void deliver_v86_redirect(struct cpu *cpu, int vec, uint64_t ret, uint64_t fl)
{
    uint32_t ent = (uint32_t)lin_read(cpu, (uint64_t)vec * 4, 4, ACC_R);
    uint64_t image = fl & 0xffff;
    uint64_t clear = FL_TF;
    if (cpu_iopl(cpu) < 3) {
        /* The image shows IF = VIF and IOPL = 3; VIF is cleared instead of IF. */
        image = (image & ~(uint64_t)FL_IF) | ((fl & FL_VIF) ? FL_IF : 0) | FL_IOPL;
        clear |= FL_VIF;
    } else {
        clear |= FL_IF;
    }
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    stk_push(cpu, &st, 2, image);
    stk_push(cpu, &st, 2, cpu->s.seg[S_CS].sel);
    stk_push(cpu, &st, 2, ret);
    stk_commit_sp(cpu, &st);
    seg_load_v86(cpu, S_CS, (uint16_t)(ent >> 16));
    cpu_set_rflags(cpu, fl & ~clear);
    set_ip(cpu, ent & 0xffff);
}

/* VME interrupt redirection bitmap: the 32 bytes below the I/O bitmap in
 * the 32-bit TSS (SDM Vol. 3A 20.3.3.4). True: the INT goes to the
 * protected-mode handler. */
static bool v86_int_to_pm(struct cpu *cpu, int vec)
{
    const struct seg_cache *tr = &cpu->s.seg[S_TR];
    if ((tr->attr & SEGA_TYPE) != ST_TSS32_BUSY || tr->limit < 0x67)
        cpu_gp0(cpu);
    uint32_t iomap = (uint32_t)sys_read(cpu, tr->base + 0x66, 2);
    uint32_t off = iomap - 32 + (uint32_t)vec / 8;
    if (iomap < 32 || off > tr->limit)
        cpu_gp0(cpu);
    return (sys_read(cpu, tr->base + off, 1) >> (vec & 7)) & 1;
}

static void check_cs(struct cpu *cpu, uint16_t csel, uint64_t *cd, unsigned ext)
{
    uint32_t e = (csel & SEL_MASK) | ext;
    if (!(csel & SEL_MASK))
        cpu_raise(cpu, EXC_GP, ext);
    if (!desc_fetch(cpu, csel, cd))
        cpu_raise(cpu, EXC_GP, e);
    if (!desc_is_code(*cd) || desc_dpl(*cd) > cpu->s.cpl)
        cpu_raise(cpu, EXC_GP, e);
    if (cpu_lma(cpu) && (!(*cd & (1ull << 53)) || (*cd & (1ull << 54))))  /* needs L=1, D=0 */
        cpu_raise(cpu, EXC_GP, e);
    if (!desc_present(*cd))
        cpu_raise(cpu, EXC_NP, e);
}

static void finish(struct cpu *cpu, uint64_t fl, bool int_gate, uint64_t ip)
{
    fl &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
    if (int_gate)
        fl &= ~(uint64_t)FL_IF;
    cpu_set_rflags(cpu, fl);
    set_ip(cpu, ip);
}

/* Protected mode (16/32-bit IDT of 8-byte gates), SDM Vol. 3A 6.12. */
static void deliver_prot(struct cpu *cpu, int vec, bool soft, unsigned ext, bool has_err, uint32_t err,
                         uint64_t ret, uint64_t fl, uint64_t fl_live)
{
    uint32_t gerr = (uint32_t)vec * 8 + ERR_IDT + ext;
    if ((uint32_t)vec * 8 + 7 > cpu->s.idtr.limit)
        cpu_raise(cpu, EXC_GP, gerr);
    uint64_t g = sys_read(cpu, cpu->s.idtr.base + (uint64_t)vec * 8, 8);
    unsigned type = (unsigned)(g >> 40) & 0x1f;   /* with S, which must be 0 */
    if (type != ST_TASK && type != ST_INT16 && type != ST_TRAP16 && type != ST_INT32 && type != ST_TRAP32)
        cpu_raise(cpu, EXC_GP, gerr);
    if (soft && desc_dpl(g) < cpu->s.cpl)
        cpu_raise(cpu, EXC_GP, gerr & ~ERR_EXT);
    if (!desc_present(g))
        cpu_raise(cpu, EXC_NP, gerr);

    if (type == ST_TASK) {
        uint16_t tss = gate_sel(g);
        uint64_t td = task_gate_target(cpu, tss, EXC_GP, ext);
        task_switch(cpu, tss, td, TASK_INT, ret, has_err, err, ext);
        return;
    }
    bool g32 = type & 8;
    unsigned sz = g32 ? 4 : 2;
    uint64_t ip = g32 ? gate_off(g) : gate_off(g) & 0xffff;
    uint16_t csel = gate_sel(g);
    uint64_t cd;
    check_cs(cpu, csel, &cd, ext);
    unsigned dpl = desc_dpl(cd), cpl = cpu->s.cpl;
    bool v86 = cpu_v86(cpu);
    bool inner = !(desc_type(cd) & DT_CONFORMING) && dpl < cpl;
    struct stk st;
    uint16_t new_ss = 0;
    uint64_t ssd = 0;

    if (inner) {
        if (v86 && dpl != 0)
            cpu_raise(cpu, EXC_GP, (csel & SEL_MASK) | ext);
        uint64_t sp;
        tss_stack(cpu, dpl, &new_ss, &sp, ext);
        ssd = seg_check_ss(cpu, new_ss, dpl, EXC_TS, ext);
        struct seg_cache sc;
        desc_to_cache(ssd, new_ss, &sc);
        stk_init(&st, &sc, sp, false, ACC_SUPER, (new_ss & SEL_MASK) | ext);
    } else {
        if (v86)
            cpu_raise(cpu, EXC_GP, (csel & SEL_MASK) | ext);
        dpl = cpl;
        stk_init_cur(cpu, &st, ext);
        if (cpl < 3)
            st.acc = ACC_SUPER;
    }
    if (!code_target_ok(cpu, cd, ip))
        cpu_raise(cpu, EXC_GP, ext);
    if (inner) {
        if (v86) {
            stk_push(cpu, &st, sz, cpu->s.seg[S_GS].sel);
            stk_push(cpu, &st, sz, cpu->s.seg[S_FS].sel);
            stk_push(cpu, &st, sz, cpu->s.seg[S_DS].sel);
            stk_push(cpu, &st, sz, cpu->s.seg[S_ES].sel);
        }
        stk_push(cpu, &st, sz, cpu->s.seg[S_SS].sel);
        stk_push(cpu, &st, sz, cpu->s.regs[R_SP]);
    }
    stk_push(cpu, &st, sz, fl);
    stk_push(cpu, &st, sz, cpu->s.seg[S_CS].sel);
    stk_push(cpu, &st, sz, ret);
    if (has_err)
        stk_push(cpu, &st, sz, err);

    /* Commit. */
    if (inner) {
        seg_commit(cpu, S_SS, new_ss, ssd);
        if (v86) {
            seg_set_null(cpu, S_ES, 0);
            seg_set_null(cpu, S_DS, 0);
            seg_set_null(cpu, S_FS, 0);
            seg_set_null(cpu, S_GS, 0);
        }
    }
    stk_commit_sp(cpu, &st);
    finish(cpu, fl_live, !(type & 1), ip);   /* clears VM before CS and CPL change */
    seg_commit_cs(cpu, csel, cd, dpl);
}

/* IA-32e mode: 16-byte gates, 64-bit frames aligned to 16 (SDM Vol. 3A 6.14). */
static void deliver_long(struct cpu *cpu, int vec, bool soft, unsigned ext, bool has_err, uint32_t err,
                         uint64_t ret, uint64_t fl, uint64_t fl_live)
{
    uint32_t gerr = (uint32_t)vec * 8 + ERR_IDT + ext;
    if ((uint32_t)vec * 16 + 15 > cpu->s.idtr.limit)
        cpu_raise(cpu, EXC_GP, gerr);
    uint64_t a = cpu->s.idtr.base + (uint64_t)vec * 16;
    uint64_t g = sys_read(cpu, a, 8), gh = sys_read(cpu, a + 8, 8);
    unsigned type = (unsigned)(g >> 40) & 0x1f;
    if (type != ST_INT32 && type != ST_TRAP32)
        cpu_raise(cpu, EXC_GP, gerr);
    if (soft && desc_dpl(g) < cpu->s.cpl)
        cpu_raise(cpu, EXC_GP, gerr & ~ERR_EXT);
    if (!desc_present(g))
        cpu_raise(cpu, EXC_NP, gerr);
    uint64_t ip = gate_off(g) | (gh << 32);
    unsigned ist = (unsigned)(g >> 32) & 7;
    uint16_t csel = gate_sel(g);
    uint64_t cd;
    check_cs(cpu, csel, &cd, ext);
    unsigned cpl = cpu->s.cpl;
    unsigned dpl = (desc_type(cd) & DT_CONFORMING) ? cpl : desc_dpl(cd);
    if (!is_canonical(ip))
        cpu_raise(cpu, EXC_GP, ext);
    uint64_t sp = cpu->s.regs[R_SP];
    if (dpl != cpl || ist)
        sp = tss64_stack(cpu, dpl, ist, ext);
    sp &= ~0xfull;
    struct stk st;
    stk_init(&st, &cpu->s.seg[S_SS], sp, true, dpl < 3 ? ACC_SUPER : 0, ext);
    stk_push(cpu, &st, 8, cpu->s.seg[S_SS].sel);
    stk_push(cpu, &st, 8, cpu->s.regs[R_SP]);
    stk_push(cpu, &st, 8, fl);
    stk_push(cpu, &st, 8, cpu->s.seg[S_CS].sel);
    stk_push(cpu, &st, 8, ret);
    if (has_err)
        stk_push(cpu, &st, 8, err);

    if (dpl != cpl) {
        /* SS becomes a null selector with RPL = new CPL. */
        seg_set_null(cpu, S_SS, (uint16_t)dpl);
    }
    cpu->s.regs[R_SP] = st.sp;
    seg_commit_cs(cpu, csel, cd, dpl);
    finish(cpu, fl_live, !(type & 1), ip);
}

void cpu_interrupt(struct cpu *cpu, int vec, enum intr_kind kind, bool has_err, uint32_t err)
{
    /* INT n, INT3 and INTO are software interrupts: DPL check, no EXT bit;
     * INT1 (ICEBP) is delivered like a hardware event (SDM Vol. 3A 6.13). */
    bool soft = kind == INTR_SOFT || kind == INTR_INT3 || kind == INTR_INTO;
    unsigned ext = soft ? 0 : ERR_EXT;
    uint64_t ret = (soft || kind == INTR_ICEBP) ? cpu->next_rip : cpu->s.rip;
    uint64_t fl_live = cpu_get_rflags(cpu);
    uint64_t fl = fl_live;
    if (kind == INTR_EXC && is_fault(vec))
        fl |= FL_RF;
    else if (soft || kind == INTR_ICEBP)
        fl &= ~(uint64_t)FL_RF;   /* the INT completed: RF is clear after it */

    cpu->s.halted = false;
    if (cpu_real(cpu)) {
        deliver_real(cpu, vec, ret, fl);
        return;
    }
    if (cpu_v86(cpu) && kind == INTR_SOFT) {
        /* INT n is IOPL-sensitive in V86 mode; with VME the redirection
         * bitmap decides first (SDM Vol. 3A table 20-2). */
        if (cpu->s.cr4 & CR4_VME) {
            if (!v86_int_to_pm(cpu, vec)) {
                deliver_v86_redirect(cpu, vec, ret, fl);
                return;
            }
        }
        if (cpu_iopl(cpu) < 3)
            cpu_gp0(cpu);
    }
    if (cpu_lma(cpu))
        deliver_long(cpu, vec, soft, ext, has_err, err, ret, fl, fl_live);
    else
        deliver_prot(cpu, vec, soft, ext, has_err, err, ret, fl, fl_live);
}
