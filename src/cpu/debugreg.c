/* Debug-register breakpoints (SDM Vol. 3A 17.2, 17.3): instruction
 * breakpoints are faults checked where blocks start (a block never runs
 * across one), data breakpoints are traps noticed on the memory slow path
 * (pages holding one are never given fast TLB entries). I/O breakpoints
 * (R/W = 10b with CR4.DE) are not modelled. */
#include "cpu/cpu_int.h"

/* DR7 fields (SDM Vol. 3A 17.2.4) */
#define DR7_ENABLE(n) (3u << (2 * (n)))        /* Ln | Gn */
#define DR7_RW(dr7, n) (((dr7) >> (16 + 4 * (n))) & 3)
#define DR7_LEN(dr7, n) (((dr7) >> (18 + 4 * (n))) & 3)
#define DR7_LOCAL_ENABLES 0x55u                /* L0-L3: cleared by task switches */
#define RW_EXEC 0
#define RW_WRITE 1
#define RW_READWRITE 3
#define DR6_B_MASK 0xfull

/* LEN encodings 00, 01, 10, 11: 1, 2, 8 (IA-32e) and 4 bytes. */
static const uint8_t len_bytes[4] = { 1, 2, 8, 4 };

void dr_update(struct cpu *cpu)
{
    uint64_t dr7 = cpu->s.dr[7];
    cpu->dr_exec = cpu->dr_data = 0;
    for (unsigned n = 0; n < 4; n++) {
        if (!(dr7 & DR7_ENABLE(n)))
            continue;
        unsigned rw = DR7_RW(dr7, n);
        if (rw == RW_EXEC)
            cpu->dr_exec |= (uint8_t)(1u << n);
        else if (rw == RW_WRITE || rw == RW_READWRITE)
            cpu->dr_data |= (uint8_t)(1u << n);
    }
    /* Block boundaries and TLB fills depend on the breakpoints. */
    tlb_flush(cpu, false);
    blocks_flush(cpu);
}

void dr_task_switch(struct cpu *cpu)
{
    if (cpu->s.dr[7] & DR7_LOCAL_ENABLES) {
        cpu->s.dr[7] &= ~(uint64_t)DR7_LOCAL_ENABLES;
        dr_update(cpu);
    }
}

unsigned dr_exec_hit(const struct cpu *cpu, uint64_t lin)
{
    unsigned hit = 0;
    for (unsigned n = 0; n < 4; n++)
        if ((cpu->dr_exec & (1u << n)) && cpu->s.dr[n] == lin)
            hit |= 1u << n;
    return hit;
}

static uint64_t bp_start(const struct cpu *cpu, unsigned n)
{
    unsigned len = len_bytes[DR7_LEN(cpu->s.dr[7], n)];
    return cpu->s.dr[n] & ~(uint64_t)(len - 1);
}

bool dr_page_watched(const struct cpu *cpu, uint64_t lin_page)
{
    for (unsigned n = 0; n < 4; n++)
        if ((cpu->dr_data & (1u << n)) && (bp_start(cpu, n) & PAGE_MASK) == lin_page)
            return true;
    return false;
}

void dr_check_data(struct cpu *cpu, uint64_t lin, unsigned size, bool write)
{
    unsigned hit = 0;
    for (unsigned n = 0; n < 4; n++) {
        if (!(cpu->dr_data & (1u << n)))
            continue;
        if (!write && DR7_RW(cpu->s.dr[7], n) != RW_READWRITE)
            continue;
        uint64_t start = bp_start(cpu, n);
        uint64_t end = start + len_bytes[DR7_LEN(cpu->s.dr[7], n)];
        if (lin < end && lin + size > start)
            hit |= 1u << n;
    }
    if (hit) {
        /* Reported as a trap once the instruction completes. */
        cpu->s.dr[6] = (cpu->s.dr[6] & ~DR6_B_MASK) | hit;
        cpu->dr_trap = true;
        cpu->block_end = true;
    }
}

bool dr_exec_fault(struct cpu *cpu)
{
    if (cpu->s.rflags & FL_RF)
        return false;
    unsigned hit = dr_exec_hit(cpu, cpu->s.seg[S_CS].base + cpu->s.rip);
    if (!hit)
        return false;
    cpu->s.dr[6] = (cpu->s.dr[6] & ~DR6_B_MASK) | hit;
    /* The frame carries RF = 1 so the instruction runs after IRET. */
    cpu->s.rflags |= FL_RF;
    return true;
}
