/* The vCPU object: creation, RESET state, mode tracking and EFLAGS. */
#include <stdlib.h>

#include "cpu/cpu_int.h"

/* Power-up values (SDM Vol. 3A 9.1.1, table 9-1). */
#define RESET_CR0 0x60000010ull   /* CD, NW, ET */
#define RESET_CS_SEL 0xf000
#define RESET_CS_BASE 0xffff0000ull
#define RESET_RIP 0xfff0
#define RESET_DR6 0xffff0ff0ull
#define RESET_DR7 0x00000400ull
#define RESET_FCW 0x0040          /* FINIT then sets 0x037f */
#define RESET_MXCSR 0x1f80
#define RESET_PAT 0x0007040600070406ull
/* IA32_MISC_ENABLE bit 0, fast-strings enable: set at reset (SDM Vol. 4
 * table 2-2); Linux reports "Disabled fast string operations" otherwise. */
#define RESET_MISC_ENABLE 0x1ull
#define APIC_DEFAULT_BASE 0xfee00000ull
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)
/* Data segment type 3 (read/write, accessed), code type 0xb (exec/read, accessed). */
#define ATTR_DATA16 (SEGA_P | SEGA_S | 0x3)
#define ATTR_CODE16 (SEGA_P | SEGA_S | 0xb)
#define ATTR_LDT (SEGA_P | 0x2)
#define ATTR_TSS16_BUSY (SEGA_P | 0x3)

int cpu_init(struct cpu *cpu, int index, struct physmem *mem, const struct cpu_bus *bus)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu_decode_init();
    cpu->index = index;
    cpu->mem = mem;
    cpu->bus = *bus;
    cpu->tlb = calloc(1, sizeof(*cpu->tlb));
    if (!cpu->tlb || cpu_blocks_init(cpu) < 0) {
        free(cpu->tlb);
        cpu->tlb = NULL;
        return -1;
    }
    cpu->tlb_user = cpu->tlb->e[0];
    cpu_reset(cpu);
    return 0;
}

void cpu_destroy(struct cpu *cpu)
{
    cpu_blocks_destroy(cpu);
    free(cpu->tlb);
    cpu->tlb = NULL;
}

void cpu_reset(struct cpu *cpu)
{
    struct cpu_state *s = &cpu->s;
    memset(s, 0, sizeof(*s));
    s->rflags = FL_1;
    s->rip = RESET_RIP;
    s->cr0 = RESET_CR0;
    for (int i = 0; i < 6; i++) {
        s->seg[i].limit = 0xffff;
        s->seg[i].attr = ATTR_DATA16;
    }
    s->seg[S_CS].sel = RESET_CS_SEL;
    s->seg[S_CS].base = RESET_CS_BASE;
    s->seg[S_CS].attr = ATTR_CODE16;
    s->seg[S_LDTR].limit = 0xffff;
    s->seg[S_LDTR].attr = ATTR_LDT;
    s->seg[S_TR].limit = 0xffff;
    s->seg[S_TR].attr = ATTR_TSS16_BUSY;
    s->gdtr.limit = 0xffff;
    s->idtr.limit = 0xffff;
    s->regs[R_DX] = CPU_SIGNATURE;
    s->dr[6] = RESET_DR6;
    s->dr[7] = RESET_DR7;
    s->fpu.fcw = RESET_FCW;
    s->fpu.mxcsr = RESET_MXCSR;
    s->pat = RESET_PAT;
    s->misc_enable = RESET_MISC_ENABLE;
    s->apic_base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE | (cpu->index == 0 ? APIC_BASE_BSP : 0);
    cpu->exc_vec = -1;
    cpu->delivering = -1;
    cpu->dr_exec = cpu->dr_data = 0;   /* DR7 at reset arms nothing */
    cpu->dr_trap = false;
    cpu->mem_generation = cpu->mem->generation;
    cpu_update_mode(cpu);
    cpu_flush_all(cpu);
}

void cpu_update_mode(struct cpu *cpu)
{
    struct cpu_state *s = &cpu->s;
    uint8_t m = 0;
    if (s->cr0 & CR0_PE) {
        m |= MODE_PE;
        if ((s->rflags & FL_VM) && !(s->efer & EFER_LMA))
            m |= MODE_VM;
    }
    if (s->efer & EFER_LMA)
        m |= MODE_LMA;
    if ((m & MODE_LMA) && (s->seg[S_CS].attr & SEGA_L))
        m |= MODE_CS64;
    else if (s->seg[S_CS].attr & SEGA_DB)
        m |= MODE_CS32;
    if (!(m & MODE_PE))
        s->cpl = 0;
    else if (m & MODE_VM)
        s->cpl = 3;
    /* Block links hold for one mode; those made at CPL 3 and below it are
     * told apart by the epoch's low bit (cpu_int.h). */
    if (m != cpu->mode)
        chain_expire(cpu);
    cpu->chain_epoch = (cpu->chain_epoch & ~CHAIN_USER) | (s->cpl == 3 ? CHAIN_USER : 0);
    cpu->mode = m;
    /* Alignment checking (SDM Vol. 3A 6.15, #AC): CPL 3 accesses then go
     * through the TLB set that is never filled, where the slow path checks. */
    cpu->ac_check = (m & MODE_PE) && (s->cr0 & CR0_AM) && (s->rflags & FL_AC);
    cpu->tlb_user = cpu->tlb->e[s->cpl == 3 ? 1 + cpu->ac_check : 0];
}

const uint64_t cpu_size_masks[9] = { 0, 0xff, 0xffff, 0, 0xffffffffull, 0, 0, 0, ~0ull };

uint64_t cpu_get_rflags(struct cpu *cpu)
{
    flags_materialize(cpu);
    return cpu->s.rflags;
}

void cpu_set_rflags(struct cpu *cpu, uint64_t val)
{
    cpu->s.lf.op = LF_NONE;
    cpu->s.rflags = (val & 0x3f7fd5ull) | FL_1;
    cpu_update_mode(cpu);
}

void cpu_flush_all(struct cpu *cpu)
{
    /* State set from outside (debugger, tests, saved state, a boot loader):
     * recompute the mode, and reload the PAE PDPTEs as a MOV to CR3 would,
     * whatever they hold. */
    cpu_update_mode(cpu);
    if (pae_paging(cpu->s.cr0, cpu->s.cr4, cpu->s.efer))
        mmu_read_pdptes(cpu, cpu->s.cr3, cpu->s.pdpte);
    cpu->mem_generation = cpu->mem->generation;
    tlb_flush(cpu, false);
    blocks_flush(cpu);
}
