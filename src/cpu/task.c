/* Task management: TSS stacks for privilege changes and the hardware task
 * switch through TSS descriptors and task gates (SDM Vol. 3A chapter 7). */
#include "cpu/cpu_sys.h"

/* TSS layouts (SDM Vol. 3A figures 7-2, 7-11, 8-11). */
#define TSS32_MIN_LIMIT 0x67
#define TSS16_MIN_LIMIT 0x2b
#define TSS32_CR3 0x1c
#define TSS32_EIP 0x20
#define TSS32_EFLAGS 0x24
#define TSS32_REGS 0x28     /* EAX ECX EDX EBX ESP EBP ESI EDI, 4 bytes each */
#define TSS32_SEGS 0x48     /* ES CS SS DS FS GS, 4 bytes each */
#define TSS32_LDT 0x60
#define TSS32_TRAP 0x64     /* bit 0: T, debug trap on entry */
#define TSS16_IP 0x0e
#define TSS16_FLAGS 0x10
#define TSS16_REGS 0x12     /* AX..DI, 2 bytes each */
#define TSS16_SEGS 0x22     /* ES CS SS DS, 2 bytes each */
#define TSS16_LDT 0x2a
#define TSS64_RSP0 0x04
#define DR6_BT (1ull << 15)      /* debug trap on task switch */
#define TSS64_IST1 0x24

static bool tr_is32(const struct cpu *cpu)
{
    return cpu->s.seg[S_TR].attr & 0x8;
}

void tss_stack(struct cpu *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp, unsigned ext)
{
    const struct seg_cache *tr = &cpu->s.seg[S_TR];
    uint32_t terr = (tr->sel & SEL_MASK) | ext;
    if (tr_is32(cpu)) {
        uint32_t off = 4 + dpl * 8;
        if (off + 5 > tr->limit)
            cpu_raise(cpu, EXC_TS, terr);
        *sp = sys_read(cpu, tr->base + off, 4);
        *ss = (uint16_t)sys_read(cpu, tr->base + off + 4, 2);
    } else {
        uint32_t off = 2 + dpl * 4;
        if (off + 3 > tr->limit)
            cpu_raise(cpu, EXC_TS, terr);
        *sp = sys_read(cpu, tr->base + off, 2);
        *ss = (uint16_t)sys_read(cpu, tr->base + off + 2, 2);
    }
}

uint64_t tss64_stack(struct cpu *cpu, unsigned dpl, unsigned ist, unsigned ext)
{
    const struct seg_cache *tr = &cpu->s.seg[S_TR];
    uint32_t off = ist ? TSS64_IST1 + (ist - 1) * 8 : TSS64_RSP0 + dpl * 8;
    if (off + 7 > tr->limit)
        cpu_raise(cpu, EXC_TS, (tr->sel & SEL_MASK) | ext);
    return sys_read(cpu, tr->base + off, 8);
}

uint64_t task_gate_target(struct cpu *cpu, uint16_t tss_sel, int vec, unsigned ext)
{
    uint64_t d;
    uint32_t e = (tss_sel & SEL_MASK) | ext;
    /* The TSS must be in the GDT and available (SDM Vol. 3A 7.3 step 2-3). */
    if ((tss_sel & SEL_TI) || !desc_fetch(cpu, tss_sel, &d))
        cpu_raise(cpu, vec, e);
    if (desc_s(d) || (desc_type(d) != ST_TSS16 && desc_type(d) != ST_TSS32))
        cpu_raise(cpu, vec, e);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, e);
    return d;
}

struct tss_image {
    uint32_t cr3, eip, eflags, regs[8];
    uint16_t segs[6], ldt;
    bool trap;
};

static void tss_read(struct cpu *cpu, uint64_t base, bool is32, struct tss_image *t)
{
    memset(t, 0, sizeof(*t));
    if (is32) {
        t->cr3 = (uint32_t)sys_read(cpu, base + TSS32_CR3, 4);
        t->eip = (uint32_t)sys_read(cpu, base + TSS32_EIP, 4);
        t->eflags = (uint32_t)sys_read(cpu, base + TSS32_EFLAGS, 4);
        for (int i = 0; i < 8; i++)
            t->regs[i] = (uint32_t)sys_read(cpu, base + TSS32_REGS + 4 * i, 4);
        for (int i = 0; i < 6; i++)
            t->segs[i] = (uint16_t)sys_read(cpu, base + TSS32_SEGS + 4 * i, 2);
        t->ldt = (uint16_t)sys_read(cpu, base + TSS32_LDT, 2);
        t->trap = sys_read(cpu, base + TSS32_TRAP, 2) & 1;
    } else {
        t->eip = (uint32_t)sys_read(cpu, base + TSS16_IP, 2);
        t->eflags = (uint32_t)sys_read(cpu, base + TSS16_FLAGS, 2);
        for (int i = 0; i < 8; i++)
            t->regs[i] = (uint32_t)sys_read(cpu, base + TSS16_REGS + 2 * i, 2);
        for (int i = 0; i < 4; i++)
            t->segs[i] = (uint16_t)sys_read(cpu, base + TSS16_SEGS + 2 * i, 2);
        t->ldt = (uint16_t)sys_read(cpu, base + TSS16_LDT, 2);
    }
}

/* Saves the dynamic fields of the current task into its TSS. */
static void tss_save(struct cpu *cpu, uint64_t ip, uint64_t fl)
{
    const struct seg_cache *tr = &cpu->s.seg[S_TR];
    uint64_t b = tr->base;
    if (tr_is32(cpu)) {
        sys_probe_write(cpu, b + TSS32_EIP, TSS32_LDT - TSS32_EIP);
        sys_write(cpu, b + TSS32_EIP, 4, ip);
        sys_write(cpu, b + TSS32_EFLAGS, 4, fl);
        for (int i = 0; i < 8; i++)
            sys_write(cpu, b + TSS32_REGS + 4 * i, 4, cpu->s.regs[i]);
        for (int i = 0; i < 6; i++)
            sys_write(cpu, b + TSS32_SEGS + 4 * i, 2, cpu->s.seg[i].sel);
    } else {
        sys_probe_write(cpu, b + TSS16_IP, TSS16_LDT - TSS16_IP);
        sys_write(cpu, b + TSS16_IP, 2, ip);
        sys_write(cpu, b + TSS16_FLAGS, 2, fl);
        for (int i = 0; i < 8; i++)
            sys_write(cpu, b + TSS16_REGS + 2 * i, 2, cpu->s.regs[i]);
        for (int i = 0; i < 4; i++)
            sys_write(cpu, b + TSS16_SEGS + 2 * i, 2, cpu->s.seg[i].sel);
    }
}

/* Segment checks while loading the new task (SDM Vol. 3A table 7-1): a bad
 * descriptor is #TS(sel), a not-present one #NP(sel) (#SS for SS). */
static void task_load_seg(struct cpu *cpu, int seg, uint16_t sel, unsigned ext)
{
    unsigned cpl = cpu->s.cpl, rpl = sel & SEL_RPL;
    uint32_t e = (sel & SEL_MASK) | ext;
    uint64_t d;

    if (seg == S_SS) {
        seg_commit(cpu, S_SS, sel, seg_check_ss(cpu, sel, cpl, EXC_TS, ext));
        return;
    }
    if (seg == S_CS) {
        if (!(sel & SEL_MASK) || !desc_fetch(cpu, sel, &d) || !desc_is_code(d))
            cpu_raise(cpu, EXC_TS, e);
        if ((desc_type(d) & DT_CONFORMING) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl)
            cpu_raise(cpu, EXC_TS, e);
        if (!desc_present(d))
            cpu_raise(cpu, EXC_NP, e);
        seg_commit_cs(cpu, sel, d, rpl);
        return;
    }
    if (!(sel & SEL_MASK)) {
        seg_set_null(cpu, seg, sel);
        return;
    }
    if (!desc_fetch(cpu, sel, &d) || !desc_s(d) || (desc_is_code(d) && !(desc_type(d) & DT_RW)))
        cpu_raise(cpu, EXC_TS, e);
    if (!(desc_is_code(d) && (desc_type(d) & DT_CONFORMING)) && (desc_dpl(d) < cpl || desc_dpl(d) < rpl))
        cpu_raise(cpu, EXC_TS, e);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, e);
    seg_commit(cpu, seg, sel, d);
}

static void task_load_ldt(struct cpu *cpu, uint16_t sel, unsigned ext)
{
    uint64_t d;
    uint32_t e = (sel & SEL_MASK) | ext;
    if (!(sel & SEL_MASK)) {
        seg_set_null(cpu, S_LDTR, sel);
        return;
    }
    if ((sel & SEL_TI) || !desc_fetch(cpu, sel, &d) || desc_s(d) || desc_type(d) != ST_LDT ||
        !desc_present(d))
        cpu_raise(cpu, EXC_TS, e);
    desc_to_cache(d, sel, &cpu->s.seg[S_LDTR]);
}

void task_switch(struct cpu *cpu, uint16_t sel, uint64_t desc, enum task_reason why, uint64_t ret_ip,
                 bool has_err, uint32_t err, unsigned ext)
{
    struct seg_cache nt;
    desc_to_cache(desc, sel, &nt);
    bool n32 = desc_type(desc) & 0x8;
    uint32_t e = (sel & SEL_MASK) | ext;
    if (nt.limit < (n32 ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT))
        cpu_raise(cpu, EXC_TS, e);
    const struct seg_cache *ot = &cpu->s.seg[S_TR];
    if (ot->limit < (tr_is32(cpu) ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT))
        cpu_raise(cpu, EXC_TS, (ot->sel & SEL_MASK) | ext);

    /* Everything of the new task is read before anything changes. */
    struct tss_image t;
    tss_read(cpu, nt.base, n32, &t);
    if (why == TASK_CALL || why == TASK_INT)
        sys_probe_write(cpu, nt.base, 2);

    uint64_t fl = cpu_get_rflags(cpu);
    if (why == TASK_IRET)
        fl &= ~(uint64_t)FL_NT;
    tss_save(cpu, ret_ip, fl);

    uint16_t old_sel = ot->sel;
    uint64_t od;
    if ((why == TASK_JMP || why == TASK_IRET) && desc_fetch(cpu, old_sel, &od))
        desc_write_type(cpu, old_sel, od, (unsigned)(od >> 40) & ~ST_BUSY);
    if (why == TASK_CALL || why == TASK_INT) {
        sys_write(cpu, nt.base, 2, old_sel);   /* back link (SDM Vol. 3A 7.4) */
        t.eflags |= FL_NT;
    }
    if (why != TASK_IRET)
        desc_write_type(cpu, sel, desc, (unsigned)(desc >> 40) | ST_BUSY);

    /* Commit: TR, CR0.TS, CR3, registers; then the segment checks, whose
     * faults belong to the new task (SDM Vol. 3A 7.3 step 12). */
    nt.attr |= ST_BUSY;
    cpu->s.seg[S_TR] = nt;
    cpu->s.cr0 |= CR0_TS;
    if (n32) {
        cpu->s.cr3 = t.cr3;
        /* PAE paging: the new CR3's PDPTEs (a bad one is #GP(0)). */
        if (pae_paging(cpu->s.cr0, cpu->s.cr4, cpu->s.efer) &&
            !mmu_read_pdptes(cpu, t.cr3, cpu->s.pdpte))
            cpu_gp0(cpu);
        tlb_flush(cpu, true);
    }
    for (int i = 0; i < 8; i++) {
        if (n32)
            cpu->s.regs[i] = t.regs[i];
        else
            cpu->s.regs[i] = (cpu->s.regs[i] & ~0xffffull) | t.regs[i];
    }
    uint64_t nfl = n32 ? t.eflags : t.eflags & 0xffff;
    cpu_set_rflags(cpu, nfl);
    cpu->s.rip = cpu->next_rip = n32 ? t.eip : t.eip & 0xffff;
    for (int i = 0; i < 6; i++)
        cpu->s.seg[i].sel = t.segs[i];
    cpu->s.seg[S_LDTR].sel = t.ldt;
    cpu->block_end = true;

    if (nfl & FL_VM) {
        cpu_update_mode(cpu);
        task_load_ldt(cpu, t.ldt, ext);
        for (int i = 0; i < 6; i++)
            seg_load_v86(cpu, i, t.segs[i]);
        cpu->s.cpl = 3;
        cpu_update_mode(cpu);
    } else {
        cpu->s.cpl = t.segs[S_CS] & SEL_RPL;
        cpu_update_mode(cpu);
        task_load_ldt(cpu, t.ldt, ext);
        task_load_seg(cpu, S_CS, t.segs[S_CS], ext);
        task_load_seg(cpu, S_SS, t.segs[S_SS], ext);
        task_load_seg(cpu, S_ES, t.segs[S_ES], ext);
        task_load_seg(cpu, S_DS, t.segs[S_DS], ext);
        task_load_seg(cpu, S_FS, t.segs[S_FS], ext);
        task_load_seg(cpu, S_GS, t.segs[S_GS], ext);
    }
    if (has_err) {
        struct stk st;
        stk_init_cur(cpu, &st, ext);
        stk_push(cpu, &st, n32 ? 4 : 2, err);
        stk_commit_sp(cpu, &st);
    }
    /* Task switches clear the local breakpoint enables (SDM Vol. 3A 17.2.4). */
    dr_task_switch(cpu);
    if (!seg_limit_ok(&cpu->s.seg[S_CS], cpu->s.rip, 1))
        cpu_raise(cpu, EXC_GP, ext);
    if (t.trap) {
        /* T flag: #DB in the new task before its first instruction, with
         * DR6.BT (SDM Vol. 3A 17.2.3, 17.3.1.5). */
        cpu->s.dr[6] |= DR6_BT;
        cpu_raise(cpu, EXC_DB, 0);
    }
}
