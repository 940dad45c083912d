/* System architecture internals shared by seg.c, interrupt.c, farctl.c,
 * task.c, the system-instruction files, msr.c, cpuid.c and io.c:
 * descriptors, selectors, stack frames built before a stack is committed,
 * task switches, MSRs and CPUID. Only src/cpu/ includes this. */
#ifndef CAIXA_CPU_CPU_SYS_H
#define CAIXA_CPU_CPU_SYS_H

#include "cpu/cpu_int.h"

/* The CPU model's address widths (CPUID 0x80000008, cpuid.c). */
#define CPU_PHYS_ADDR_BITS 40
#define CPU_VIRT_ADDR_BITS 48
#define CPU_PHYS_ADDR_MASK ((1ull << CPU_PHYS_ADDR_BITS) - 1)
/* Invariant TSC frequency (CPUID 0x80000007 EDX.8 advertises invariance). */
#define CPU_TSC_HZ 2000000000ull

/* Selector fields (SDM Vol. 3A 3.4.2) */
#define SEL_RPL 0x3
#define SEL_TI 0x4
#define SEL_MASK 0xfffc     /* selector without RPL: the error-code form */
#define SEL_INDEX 0xfff8
/* Error-code bits (SDM Vol. 3A 6.13) */
#define ERR_EXT 0x1
#define ERR_IDT 0x2

/* Type field of code/data descriptors (S=1, SDM Vol. 3A 3.4.5.1). */
#define DT_ACCESSED 0x1
#define DT_RW 0x2           /* data: writable; code: readable */
#define DT_EXPDOWN 0x4      /* data */
#define DT_CONFORMING 0x4   /* code */
#define DT_CODE 0x8
/* System descriptor types (S=0, SDM Vol. 3A table 3-2). */
#define ST_TSS16 0x1
#define ST_LDT 0x2
#define ST_TSS16_BUSY 0x3
#define ST_CALL16 0x4
#define ST_TASK 0x5
#define ST_INT16 0x6
#define ST_TRAP16 0x7
#define ST_TSS32 0x9        /* also the 64-bit TSS in IA-32e mode */
#define ST_TSS32_BUSY 0xb
#define ST_CALL32 0xc       /* also the 64-bit call gate */
#define ST_INT32 0xe
#define ST_TRAP32 0xf
#define ST_BUSY 0x2         /* busy bit of a TSS type */

/* Descriptor field extraction from the low 8 bytes. */
/* Compact SEGA_* layout: bits 40-47 to 0-7, bits 52-55 (AVL L D/B G) to 8-11. */
static inline unsigned desc_attr(uint64_t d) { return (unsigned)(((d >> 40) & 0xff) | ((d >> 44) & 0xf00)); }
static inline unsigned desc_type(uint64_t d) { return (unsigned)(d >> 40) & 0xf; }
static inline bool desc_s(uint64_t d) { return (d >> 44) & 1; }
static inline unsigned desc_dpl(uint64_t d) { return (unsigned)(d >> 45) & 3; }
static inline bool desc_present(uint64_t d) { return (d >> 47) & 1; }
static inline bool desc_is_code(uint64_t d) { return desc_s(d) && (desc_type(d) & DT_CODE); }
static inline bool desc_is_data(uint64_t d) { return desc_s(d) && !(desc_type(d) & DT_CODE); }
/* Gate fields (call, interrupt, trap, task gates). */
static inline uint16_t gate_sel(uint64_t d) { return (uint16_t)(d >> 16); }
static inline uint32_t gate_off(uint64_t d) { return (uint32_t)((d & 0xffff) | ((d >> 32) & 0xffff0000)); }

static inline bool cpu_lma(const struct cpu *cpu) { return cpu->s.efer & EFER_LMA; }
/* Linear address of a system-table access: 32 bits outside IA-32e mode. */
static inline uint64_t sys_lin(const struct cpu *cpu, uint64_t a) { return cpu_lma(cpu) ? a : a & 0xffffffffull; }
static inline uint64_t sys_read(struct cpu *cpu, uint64_t a, unsigned size)
{
    return lin_read(cpu, sys_lin(cpu, a), size, ACC_R | ACC_SUPER);
}
static inline void sys_write(struct cpu *cpu, uint64_t a, unsigned size, uint64_t v)
{
    lin_write(cpu, sys_lin(cpu, a), size, v, ACC_W | ACC_SUPER);
}

/* Raises #PF now for a later multi-part supervisor write of size bytes. */
static inline void sys_probe_write(struct cpu *cpu, uint64_t a, unsigned size)
{
    uint64_t lin = sys_lin(cpu, a);
    mmu_translate(cpu, lin, ACC_W | ACC_SUPER);
    if ((lin & (PAGE_SIZE - 1)) + size > PAGE_SIZE)
        mmu_translate(cpu, sys_lin(cpu, (lin | (PAGE_SIZE - 1)) + 1), ACC_W | ACC_SUPER);
}

/* --- descriptors and segment registers (seg.c) ------------------------------ */
/* Reads the 8-byte descriptor of sel (GDT or LDT); false if sel is outside
 * the table (or the LDT is null). */
bool desc_fetch(struct cpu *cpu, uint16_t sel, uint64_t *desc);
/* The upper 8 bytes of a 16-byte IA-32e system descriptor or gate. */
bool desc_fetch_high(struct cpu *cpu, uint16_t sel, uint64_t *high);
/* Writes the type byte (descriptor byte 5): accessed and busy bits. */
void desc_write_type(struct cpu *cpu, uint16_t sel, uint64_t desc, unsigned attr_lo8);
void desc_set_accessed(struct cpu *cpu, uint16_t sel, uint64_t *desc);
/* Offset range check of a segment: limit, expand-down and its upper bound. */
bool seg_limit_ok(const struct seg_cache *sc, uint64_t off, unsigned size);
/* Loads a segment register from a checked descriptor (sets the accessed bit). */
void seg_commit(struct cpu *cpu, int seg, uint16_t sel, uint64_t desc);
/* Marks a data segment register null (unusable). */
void seg_set_null(struct cpu *cpu, int seg, uint16_t sel);
/* Loads CS from a checked code descriptor at privilege cpl (RPL := cpl). */
void seg_commit_cs(struct cpu *cpu, uint16_t sel, uint64_t desc, unsigned cpl);
/* The SS checks of stack switches and returns (SDM Vol. 3A 5.8.5, 6.12.1):
 * failures raise vec(sel|ext), not present raises #SS(sel|ext). */
uint64_t seg_check_ss(struct cpu *cpu, uint16_t sel, unsigned cpl, int vec, unsigned ext);
/* After a return to an outer level: nulls ES/DS/FS/GS that the new CPL
 * cannot use (SDM Vol. 3A 5.8.6 / RET, IRET). */
void seg_null_inaccessible(struct cpu *cpu);
/* Is offset off (size bytes) inside the code segment described by desc? In
 * 64-bit code it must be canonical instead. */
bool code_target_ok(const struct cpu *cpu, uint64_t desc, uint64_t off);
/* V86 segment load: base sel<<4, limit 0xffff, DPL 3 (SDM Vol. 3A 20.1.1). */
void seg_load_v86(struct cpu *cpu, int seg, uint16_t sel);

/* A stack that is written or read before SS:SP are committed: interrupt and
 * call-gate frames on a new stack, far returns reading the old one. */
struct stk {
    uint64_t base;
    uint32_t limit;
    uint16_t attr;
    bool is64;          /* 64-bit stack: no limit, canonical check */
    uint64_t sp;
    uint64_t mask;      /* 0xffff, 0xffffffff or all ones */
    int acc;            /* ACC_* of the accesses (ACC_SUPER for inner stacks) */
    uint32_t err;       /* #SS error code on overflow */
};
void stk_init(struct stk *st, const struct seg_cache *ss, uint64_t sp, bool is64, int acc, uint32_t err);
void stk_init_cur(struct cpu *cpu, struct stk *st, uint32_t err);
void stk_push(struct cpu *cpu, struct stk *st, unsigned size, uint64_t v);
uint64_t stk_pop(struct cpu *cpu, struct stk *st, unsigned size);
/* Writes st->sp into RSP: merged into SP for a 16-bit stack. */
void stk_commit_sp(struct cpu *cpu, const struct stk *st);

/* --- tasks (task.c) ------------------------------------------------------- */
enum task_reason { TASK_JMP, TASK_CALL, TASK_IRET, TASK_INT };
/* Switches to the task of TSS selector sel (desc: its checked descriptor);
 * ret_ip is saved as the old task's EIP; err is pushed on the new task's
 * stack when has_err. */
void task_switch(struct cpu *cpu, uint16_t sel, uint64_t desc, enum task_reason why, uint64_t ret_ip,
                 bool has_err, uint32_t err, unsigned ext);
/* Stack for privilege level dpl from the current 16/32-bit TSS (#TS). */
void tss_stack(struct cpu *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp, unsigned ext);
/* RSPn (ist == 0) or ISTn from the 64-bit TSS (#TS). */
uint64_t tss64_stack(struct cpu *cpu, unsigned dpl, unsigned ist, unsigned ext);
/* Checks a TSS selector of a task gate (SDM Vol. 3A 7.2.5); returns its descriptor. */
uint64_t task_gate_target(struct cpu *cpu, uint16_t tss_sel, int vec, unsigned ext);

/* --- flags ---------------------------------------------------------------- */
/* The EFLAGS update of IRET in protected mode (old CPL rules). */
void eflags_write_iret(struct cpu *cpu, uint64_t val, unsigned size, unsigned old_cpl);

/* --- MSRs (msr.c) --------------------------------------------------------- */
/* false: no such MSR or a reserved value (the caller raises #GP(0)). */
bool msr_read(struct cpu *cpu, uint32_t idx, uint64_t *val);
bool msr_write(struct cpu *cpu, uint32_t idx, uint64_t val);
uint64_t cpu_tsc(struct cpu *cpu);

/* --- CPUID (cpuid.c) ------------------------------------------------------ */
void cpuid_query(struct cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* --- control registers (sysinsn.c) ---------------------------------------- */
/* MOV to CRn with its #GP checks; also used by task switches for CR3. */
void cr_write(struct cpu *cpu, unsigned n, uint64_t val);

#endif
