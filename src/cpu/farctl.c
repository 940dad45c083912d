/* Far control transfers: JMP/CALL ptr16:16/32 and m16:16/32/64, through
 * call gates, TSS descriptors and task gates; far RET; IRET in every mode
 * (SDM Vol. 2 CALL, JMP, RET, IRET; Vol. 3A 5.8, 7.3, 20.3). */
#include "cpu/cpu_sys.h"

/* IRET/POPF writable EFLAGS bits for 32-bit operands (SDM Vol. 2 IRET). */
#define FL_IRET32 0x257fd5ull
#define FL_VM_VIF_VIP (FL_VM | FL_VIF | FL_VIP)

static void set_ip(struct cpu *cpu, uint64_t ip)
{
    cpu->next_rip = ip;
    cpu->block_end = true;
}

static _Noreturn void gp_sel(struct cpu *cpu, uint16_t sel)
{
    cpu_raise(cpu, EXC_GP, sel & SEL_MASK);
}

/* Real and V86 mode: CS = sel, base sel<<4. */
static void far_real(struct cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize, bool call)
{
    off &= size_mask(opsize);
    if (off > (cpu_v86(cpu) ? 0xffff : cpu->s.seg[S_CS].limit))
        cpu_gp0(cpu);
    if (call) {
        struct stk st;
        stk_init_cur(cpu, &st, 0);
        stk_push(cpu, &st, opsize, cpu->s.seg[S_CS].sel);
        stk_push(cpu, &st, opsize, cpu->next_rip);
        stk_commit_sp(cpu, &st);
    }
    seg_load_real(cpu, S_CS, sel);
    set_ip(cpu, off);
}

/* Code descriptor checks of a direct far JMP/CALL (SDM Vol. 2 JMP). */
static void check_direct_code(struct cpu *cpu, uint16_t sel, uint64_t d)
{
    unsigned cpl = cpu->s.cpl;
    if (desc_type(d) & DT_CONFORMING) {
        if (desc_dpl(d) > cpl)
            gp_sel(cpu, sel);
    } else if ((sel & SEL_RPL) > cpl || desc_dpl(d) != cpl) {
        gp_sel(cpu, sel);
    }
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, sel & SEL_MASK);
    if (cpu_lma(cpu) && (d & (1ull << 53)) && (d & (1ull << 54)))   /* L and D both set */
        gp_sel(cpu, sel);
}

/* Far CALL/JMP through a call gate (SDM Vol. 3A 5.8.3-5.8.5). */
static void via_call_gate(struct cpu *cpu, uint16_t gsel, uint64_t g, bool call)
{
    unsigned cpl = cpu->s.cpl;
    bool lma = cpu_lma(cpu);
    if (desc_dpl(g) < cpl || desc_dpl(g) < (gsel & SEL_RPL))
        gp_sel(cpu, gsel);
    if (!desc_present(g))
        cpu_raise(cpu, EXC_NP, gsel & SEL_MASK);
    uint64_t off = gate_off(g);
    bool g32 = desc_type(g) & 8;
    if (lma) {
        uint64_t gh;
        /* The upper half's type field must be 0 (SDM Vol. 3A 5.8.3.1). */
        if (!desc_fetch_high(cpu, gsel, &gh) || ((gh >> 40) & 0x1f))
            gp_sel(cpu, gsel);
        off |= gh << 32;
    } else if (!g32) {
        off &= 0xffff;
    }
    uint16_t tsel = gate_sel(g);
    uint64_t td;
    if (!(tsel & SEL_MASK))
        cpu_gp0(cpu);
    if (!desc_fetch(cpu, tsel, &td))
        gp_sel(cpu, tsel);
    if (!desc_is_code(td) || desc_dpl(td) > cpl)
        gp_sel(cpu, tsel);
    bool conforming = desc_type(td) & DT_CONFORMING;
    if (!call && !conforming && desc_dpl(td) != cpl)
        gp_sel(cpu, tsel);
    if (!desc_present(td))
        cpu_raise(cpu, EXC_NP, tsel & SEL_MASK);
    if (lma && (!(td & (1ull << 53)) || (td & (1ull << 54))))
        gp_sel(cpu, tsel);
    if (!code_target_ok(cpu, td, off))
        cpu_gp0(cpu);

    unsigned newcpl = conforming ? cpl : desc_dpl(td);
    unsigned sz = lma ? 8 : g32 ? 4 : 2;
    uint64_t ret = cpu->next_rip;
    struct stk st;
    if (call && newcpl < cpl) {
        /* More privilege: stack from the TSS, parameters copied. */
        uint64_t old_sp = cpu->s.regs[R_SP];
        uint16_t old_ss = cpu->s.seg[S_SS].sel;
        uint16_t new_ss;
        uint64_t ssd = 0;
        if (lma) {
            uint64_t sp = tss64_stack(cpu, newcpl, 0, 0);
            stk_init(&st, &cpu->s.seg[S_SS], sp, true, ACC_SUPER, 0);
            new_ss = (uint16_t)newcpl;
        } else {
            uint64_t sp;
            tss_stack(cpu, newcpl, &new_ss, &sp, 0);
            ssd = seg_check_ss(cpu, new_ss, newcpl, EXC_TS, 0);
            struct seg_cache sc;
            desc_to_cache(ssd, new_ss, &sc);
            stk_init(&st, &sc, sp, false, ACC_SUPER, new_ss & SEL_MASK);
        }
        stk_push(cpu, &st, sz, old_ss);
        stk_push(cpu, &st, sz, old_sp);
        if (!lma) {
            unsigned n = (unsigned)(g >> 32) & 0x1f;
            struct stk old;
            stk_init_cur(cpu, &old, 0);
            for (unsigned i = n; i-- > 0;) {
                uint64_t a = (old.sp + (uint64_t)i * sz) & old.mask;
                struct stk rd = old;
                rd.sp = a;
                stk_push(cpu, &st, sz, stk_pop(cpu, &rd, sz));
            }
        }
        stk_push(cpu, &st, sz, cpu->s.seg[S_CS].sel);
        stk_push(cpu, &st, sz, ret);
        if (lma)
            seg_set_null(cpu, S_SS, new_ss);
        else
            seg_commit(cpu, S_SS, new_ss, ssd);
        stk_commit_sp(cpu, &st);
    } else if (call) {
        stk_init_cur(cpu, &st, 0);
        stk_push(cpu, &st, sz, cpu->s.seg[S_CS].sel);
        stk_push(cpu, &st, sz, ret);
        stk_commit_sp(cpu, &st);
    }
    seg_commit_cs(cpu, tsel, td, newcpl);
    set_ip(cpu, off);
}

static void far_prot(struct cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize, bool call)
{
    uint64_t d;
    if (!(sel & SEL_MASK))
        cpu_gp0(cpu);
    if (!desc_fetch(cpu, sel, &d))
        gp_sel(cpu, sel);
    if (desc_s(d)) {
        if (!desc_is_code(d))
            gp_sel(cpu, sel);
        check_direct_code(cpu, sel, d);
        off &= size_mask(opsize);
        if (!code_target_ok(cpu, d, off))
            cpu_gp0(cpu);
        if (call) {
            struct stk st;
            stk_init_cur(cpu, &st, 0);
            stk_push(cpu, &st, opsize, cpu->s.seg[S_CS].sel);
            stk_push(cpu, &st, opsize, cpu->next_rip);
            stk_commit_sp(cpu, &st);
        }
        seg_commit_cs(cpu, sel, d, cpu->s.cpl);
        set_ip(cpu, off);
        return;
    }
    unsigned type = desc_type(d);
    if (cpu_lma(cpu)) {
        /* IA-32e mode has only 64-bit call gates (SDM Vol. 3A 5.8.3.1). */
        if (type != ST_CALL32)
            gp_sel(cpu, sel);
        via_call_gate(cpu, sel, d, call);
        return;
    }
    switch (type) {
    case ST_CALL16:
    case ST_CALL32:
        via_call_gate(cpu, sel, d, call);
        return;
    case ST_TSS16:
    case ST_TSS32:
        if (desc_dpl(d) < cpu->s.cpl || desc_dpl(d) < (sel & SEL_RPL))
            gp_sel(cpu, sel);
        if (!desc_present(d))
            cpu_raise(cpu, EXC_NP, sel & SEL_MASK);
        task_switch(cpu, sel, d, call ? TASK_CALL : TASK_JMP, cpu->next_rip, false, 0, 0);
        return;
    case ST_TASK: {
        if (desc_dpl(d) < cpu->s.cpl || desc_dpl(d) < (sel & SEL_RPL))
            gp_sel(cpu, sel);
        if (!desc_present(d))
            cpu_raise(cpu, EXC_NP, sel & SEL_MASK);
        uint16_t tss = gate_sel(d);
        uint64_t td = task_gate_target(cpu, tss, EXC_GP, 0);
        task_switch(cpu, tss, td, call ? TASK_CALL : TASK_JMP, cpu->next_rip, false, 0, 0);
        return;
    }
    default:
        gp_sel(cpu, sel);
    }
}

static void far_xfer(struct cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize, bool call)
{
    if (cpu_protected(cpu))
        far_prot(cpu, sel, off, opsize, call);
    else
        far_real(cpu, sel, off, opsize, call);
}

static void op_jmp_far_ptr(struct cpu *cpu, const struct insn *in)
{
    far_xfer(cpu, (uint16_t)in->imm2, in->imm, in->opsize, false);
}

static void op_call_far_ptr(struct cpu *cpu, const struct insn *in)
{
    far_xfer(cpu, (uint16_t)in->imm2, in->imm, in->opsize, true);
}

/* m16:16, m16:32 or m16:64: the offset, then the selector. */
static void read_far_ptr(struct cpu *cpu, const struct insn *in, uint16_t *sel, uint64_t *off)
{
    uint64_t ea = insn_ea(cpu, in);
    *off = mem_read(cpu, in->seg, ea, in->opsize);
    *sel = mem_read16(cpu, in->seg, (ea + in->opsize) & size_mask(in->addrsize));
}

static void op_jmp_far_mem(struct cpu *cpu, const struct insn *in)
{
    uint16_t sel;
    uint64_t off;
    read_far_ptr(cpu, in, &sel, &off);
    far_xfer(cpu, sel, off, in->opsize, false);
}

static void op_call_far_mem(struct cpu *cpu, const struct insn *in)
{
    uint16_t sel;
    uint64_t off;
    read_far_ptr(cpu, in, &sel, &off);
    far_xfer(cpu, sel, off, in->opsize, true);
}

/* Checks of the CS popped by RET/IRET in protected mode (SDM Vol. 2 RET). */
static uint64_t check_ret_cs(struct cpu *cpu, uint16_t sel)
{
    uint64_t d;
    unsigned rpl = sel & SEL_RPL;
    if (!(sel & SEL_MASK))
        cpu_gp0(cpu);
    if (!desc_fetch(cpu, sel, &d) || !desc_is_code(d) || rpl < cpu->s.cpl)
        gp_sel(cpu, sel);
    if ((desc_type(d) & DT_CONFORMING) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl)
        gp_sel(cpu, sel);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, sel & SEL_MASK);
    if (cpu_lma(cpu) && (d & (1ull << 53)) && (d & (1ull << 54)))
        gp_sel(cpu, sel);
    return d;
}

static bool is_code64(const struct cpu *cpu, uint64_t cd)
{
    return cpu_lma(cpu) && (cd & (1ull << 53));
}

/* SS popped on a return to an outer level (or by IRET in 64-bit mode). */
static uint64_t check_ret_ss(struct cpu *cpu, uint16_t ss, unsigned rpl, uint64_t cd)
{
    if (!(ss & SEL_MASK) && is_code64(cpu, cd) && rpl < 3)
        return 0;   /* null SS is fine for 64-bit code below ring 3 */
    return seg_check_ss(cpu, ss, rpl, EXC_GP, 0);
}

/* Loads SS:RSP popped by a return; ssd 0 means a null SS. */
static void commit_ret_stack(struct cpu *cpu, uint16_t ss, uint64_t ssd, uint64_t sp, uint64_t cd)
{
    if (ssd)
        seg_commit(cpu, S_SS, ss, ssd);
    else
        seg_set_null(cpu, S_SS, ss);
    if (is_code64(cpu, cd))
        cpu->s.regs[R_SP] = sp;
    else if (cpu->s.seg[S_SS].attr & SEGA_DB)
        cpu->s.regs[R_SP] = sp & 0xffffffffull;
    else
        cpu->s.regs[R_SP] = (cpu->s.regs[R_SP] & ~0xffffull) | (sp & 0xffff);
}

static void far_ret(struct cpu *cpu, unsigned opsize, uint16_t imm)
{
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    uint64_t ip = stk_pop(cpu, &st, opsize);
    uint16_t sel = (uint16_t)stk_pop(cpu, &st, opsize);
    if (!cpu_protected(cpu)) {
        if (ip > (cpu_v86(cpu) ? 0xffff : cpu->s.seg[S_CS].limit))
            cpu_gp0(cpu);
        st.sp = (st.sp + imm) & st.mask;
        stk_commit_sp(cpu, &st);
        seg_load_real(cpu, S_CS, sel);
        set_ip(cpu, ip);
        return;
    }
    uint64_t cd = check_ret_cs(cpu, sel);
    unsigned rpl = sel & SEL_RPL;
    if (rpl == cpu->s.cpl) {
        if (!code_target_ok(cpu, cd, ip))
            cpu_gp0(cpu);
        st.sp = (st.sp + imm) & st.mask;
        stk_commit_sp(cpu, &st);
        seg_commit_cs(cpu, sel, cd, rpl);
        set_ip(cpu, ip);
        return;
    }
    /* Return to an outer privilege level (SDM Vol. 3A 5.8.6). */
    st.sp = (st.sp + imm) & st.mask;
    uint64_t sp = stk_pop(cpu, &st, opsize);
    uint16_t ss = (uint16_t)stk_pop(cpu, &st, opsize);
    uint64_t ssd = check_ret_ss(cpu, ss, rpl, cd);
    if (!code_target_ok(cpu, cd, ip))
        cpu_gp0(cpu);
    seg_commit_cs(cpu, sel, cd, rpl);
    commit_ret_stack(cpu, ss, ssd, sp + imm, cd);
    seg_null_inaccessible(cpu);
    set_ip(cpu, ip);
}

static void op_retf(struct cpu *cpu, const struct insn *in)
{
    far_ret(cpu, in->opsize, 0);
}

static void op_retf_imm(struct cpu *cpu, const struct insn *in)
{
    far_ret(cpu, in->opsize, (uint16_t)in->imm);
}

/* --- IRET ----------------------------------------------------------------------- */

static void iret_real(struct cpu *cpu, unsigned opsize)
{
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    uint64_t ip = stk_pop(cpu, &st, opsize);
    uint16_t sel = (uint16_t)stk_pop(cpu, &st, opsize);
    uint64_t fl = stk_pop(cpu, &st, opsize);
    if (ip > cpu->s.seg[S_CS].limit)
        cpu_gp0(cpu);
    uint64_t cur = cpu_get_rflags(cpu);
    if (opsize == 4)
        fl = (fl & FL_IRET32) | (cur & FL_VM_VIF_VIP);
    else
        fl = (cur & ~0xffffull) | (fl & 0xffff);
    stk_commit_sp(cpu, &st);
    seg_load_real(cpu, S_CS, sel);
    cpu_set_rflags(cpu, fl);
    set_ip(cpu, ip);
}

/* IRET in V86 mode (SDM Vol. 2 IRET, Vol. 3A 20.2.7 and 20.3.3.5). */
static void iret_v86(struct cpu *cpu, unsigned opsize)
{
    uint64_t cur = cpu_get_rflags(cpu);
    bool vme16 = cpu_iopl(cpu) < 3 && opsize == 2 && (cpu->s.cr4 & CR4_VME);
    if (cpu_iopl(cpu) < 3 && !vme16)
        cpu_gp0(cpu);
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    uint64_t ip = stk_pop(cpu, &st, opsize);
    uint16_t sel = (uint16_t)stk_pop(cpu, &st, opsize);
    uint64_t fl = stk_pop(cpu, &st, opsize);
    if (ip > 0xffff)
        cpu_gp0(cpu);
    uint64_t keep;
    if (vme16) {
        if (((cur & FL_VIP) && (fl & FL_IF)) || (fl & FL_TF))
            cpu_gp0(cpu);
        keep = FL_IF | FL_IOPL;
        cur = (cur & ~(uint64_t)FL_VIF) | ((fl & FL_IF) ? FL_VIF : 0);
    } else {
        keep = FL_IOPL;
    }
    if (opsize == 4)
        fl = (fl & FL_IRET32 & ~keep) | (cur & (keep | FL_VM_VIF_VIP));
    else
        fl = (cur & ~0xffffull) | (fl & 0xffff & ~keep) | (cur & keep);
    stk_commit_sp(cpu, &st);
    seg_load_v86(cpu, S_CS, sel);
    cpu_set_rflags(cpu, fl);
    set_ip(cpu, ip);
}

/* Return from a nested task through the back link (SDM Vol. 3A 7.3). */
static void iret_task(struct cpu *cpu)
{
    if (cpu_lma(cpu))
        cpu_gp0(cpu);
    uint16_t link = (uint16_t)sys_read(cpu, cpu->s.seg[S_TR].base, 2);
    uint64_t d;
    uint32_t e = link & SEL_MASK;
    if ((link & SEL_TI) || !desc_fetch(cpu, link, &d))
        cpu_raise(cpu, EXC_TS, e);
    if (desc_s(d) || (desc_type(d) != ST_TSS16_BUSY && desc_type(d) != ST_TSS32_BUSY))
        cpu_raise(cpu, EXC_TS, e);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, e);
    task_switch(cpu, link, d, TASK_IRET, cpu->next_rip, false, 0, 0);
}

/* IRET to V86 mode from ring 0 (SDM Vol. 2 IRET, RETURN-TO-VIRTUAL-8086-MODE). */
static void iret_to_v86(struct cpu *cpu, struct stk *st, uint64_t ip, uint16_t cs, uint64_t fl)
{
    uint64_t sp = stk_pop(cpu, st, 4);
    uint16_t sel[6];
    sel[S_SS] = (uint16_t)stk_pop(cpu, st, 4);
    sel[S_ES] = (uint16_t)stk_pop(cpu, st, 4);
    sel[S_DS] = (uint16_t)stk_pop(cpu, st, 4);
    sel[S_FS] = (uint16_t)stk_pop(cpu, st, 4);
    sel[S_GS] = (uint16_t)stk_pop(cpu, st, 4);
    sel[S_CS] = cs;
    if ((ip & 0xffffffffull) > 0xffff)
        cpu_gp0(cpu);
    cpu_set_rflags(cpu, fl);   /* VM = 1: the segment loads below are V86 ones */
    for (int i = 0; i < 6; i++)
        seg_load_v86(cpu, i, sel[i]);
    cpu->s.regs[R_SP] = sp & 0xffffffffull;
    cpu->s.cpl = 3;
    cpu_update_mode(cpu);
    set_ip(cpu, ip & 0xffff);
}

static void iret_prot(struct cpu *cpu, unsigned opsize)
{
    uint64_t cur = cpu_get_rflags(cpu);
    if (cur & FL_NT) {
        iret_task(cpu);
        return;
    }
    struct stk st;
    stk_init_cur(cpu, &st, 0);
    uint64_t ip = stk_pop(cpu, &st, opsize);
    uint16_t sel = (uint16_t)stk_pop(cpu, &st, opsize);
    uint64_t fl = stk_pop(cpu, &st, opsize);
    unsigned cpl = cpu->s.cpl;
    if (opsize == 4 && (fl & FL_VM) && cpl == 0 && !cpu_lma(cpu)) {
        iret_to_v86(cpu, &st, ip, sel, fl);
        return;
    }
    uint64_t cd = check_ret_cs(cpu, sel);
    unsigned rpl = sel & SEL_RPL;
    bool pop_ss = rpl != cpl || cpu_is64(cpu);
    uint16_t ss = 0;
    uint64_t sp = 0, ssd = 0;
    if (pop_ss) {
        sp = stk_pop(cpu, &st, opsize);
        ss = (uint16_t)stk_pop(cpu, &st, opsize);
        ssd = check_ret_ss(cpu, ss, rpl, cd);
    }
    if (!code_target_ok(cpu, cd, is_code64(cpu, cd) ? ip : ip & size_mask(opsize)))
        cpu_gp0(cpu);
    eflags_write_iret(cpu, fl, opsize, cpl);
    seg_commit_cs(cpu, sel, cd, rpl);
    if (pop_ss)
        commit_ret_stack(cpu, ss, ssd, sp, cd);
    else
        stk_commit_sp(cpu, &st);
    if (rpl > cpl)
        seg_null_inaccessible(cpu);
    set_ip(cpu, ip);
}

static void op_iret(struct cpu *cpu, const struct insn *in)
{
    /* IRET ends NMI blocking, even when it faults later (SDM Vol. 3A 6.7.1). */
    cpu->s.nmi_blocked = false;
    if (cpu_real(cpu))
        iret_real(cpu, in->opsize);
    else if (cpu_v86(cpu))
        iret_v86(cpu, in->opsize);
    else
        iret_prot(cpu, in->opsize);
}

void eflags_write_iret(struct cpu *cpu, uint64_t val, unsigned size, unsigned old_cpl)
{
    /* SDM Vol. 2 IRET: RETURN-TO-SAME/OUTER-PRIVILEGE-LEVEL. */
    uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT;
    if (size >= 4)
        mask |= FL_RF | FL_AC | FL_ID;
    if (old_cpl <= cpu_iopl(cpu))
        mask |= FL_IF;
    if (old_cpl == 0) {
        mask |= FL_IOPL;
        if (size >= 4)
            mask |= FL_VIF | FL_VIP;
    }
    uint64_t cur = cpu_get_rflags(cpu);
    cpu_set_rflags(cpu, (cur & ~mask) | (val & mask));
}

static const struct op_def farctl_ops[] = {
    {OP1 | 0xea, -1, -1, PFX_ANY, OPF_FAR | OPF_NO64 | OPF_END, op_jmp_far_ptr, "jmp far"},
    {OP1 | 0x9a, -1, -1, PFX_ANY, OPF_FAR | OPF_NO64 | OPF_END, op_call_far_ptr, "call far"},
    {OP1 | 0xff, 3, -1, PFX_ANY, OPF_MODRM | OPF_MEM | OPF_END, op_call_far_mem, "call far"},
    {OP1 | 0xff, 5, -1, PFX_ANY, OPF_MODRM | OPF_MEM | OPF_END, op_jmp_far_mem, "jmp far"},
    {OP1 | 0xcb, -1, -1, PFX_ANY, OPF_END, op_retf, "retf"},
    {OP1 | 0xca, -1, -1, PFX_ANY, OPF_IMM16 | OPF_END, op_retf_imm, "retf"},
    {OP1 | 0xcf, -1, -1, PFX_ANY, OPF_END, op_iret, "iret"},
    OPS_END
};
OPS_REGISTER(farctl_ops);
