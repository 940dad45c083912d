/* Privileged and system instructions: MOV CR/DR, CLTS, LMSW, SMSW, INVD,
 * WBINVD, INVLPG, HLT, RDMSR/WRMSR, RDTSC, RDPMC, CPUID, the fences,
 * CLFLUSH and the reserved #UD opcodes (SDM Vol. 2 instruction pages,
 * Vol. 3A 2.5 for the control registers). */
#include <string.h>

#include "cpu/cpu_sys.h"

/* CR0 bits that exist; the rest of bits 31:0 are ignored on write. */
#define CR0_VALID (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | \
                   CR0_NW | CR0_CD | CR0_PG)
/* CR4 bits the model implements (CPUID.1 says which features exist). */
#define CR4_VALID (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | \
                   CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)
/* Debug registers (SDM Vol. 3A 17.2). */
#define DR6_FIXED 0xffff0ff0ull
#define DR6_VALID 0x0000e00full
#define DR6_BD (1ull << 13)
#define DR7_FIXED 0x00000400ull
#define DR7_GD (1ull << 13)
#define DR7_RESERVED_LO 0x0000d800ull   /* bits 11, 12, 14, 15 read as 0 */

/* Privileged instructions: #GP(0) unless CPL 0 (V86 runs at CPL 3). */
static void need_cpl0(struct cpu *cpu)
{
    if (cpu->s.cpl != 0 || cpu_v86(cpu))
        cpu_gp0(cpu);
}

static void end_block(struct cpu *cpu)
{
    cpu->block_end = true;
}

void cr_write(struct cpu *cpu, unsigned n, uint64_t val)
{
    struct cpu_state *s = &cpu->s;
    switch (n) {
    case 0: {
        if (val >> 32)
            cpu_gp0(cpu);
        val = (val & CR0_VALID) | CR0_ET;
        if (((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
            cpu_gp0(cpu);
        uint64_t efer = s->efer;
        if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (efer & EFER_LME)) {
            /* Activating IA-32e mode needs PAE and a CS that is not 64-bit
             * (SDM Vol. 3A 9.8.5). */
            if (!(s->cr4 & CR4_PAE) || (s->seg[S_CS].attr & SEGA_L))
                cpu_gp0(cpu);
            efer |= EFER_LMA;
        }
        if (!(val & CR0_PG) && (s->cr0 & CR0_PG) && (efer & EFER_LMA)) {
            if (cpu_is64(cpu))
                cpu_gp0(cpu);
            efer &= ~(uint64_t)EFER_LMA;
        }
        uint64_t pdpte[4];
        bool load_pdptes = pae_paging(val, s->cr4, efer) &&
                           (!pae_paging(s->cr0, s->cr4, s->efer) || ((s->cr0 ^ val) & (CR0_CD | CR0_NW)));
        if (load_pdptes && !mmu_read_pdptes(cpu, s->cr3, pdpte))
            cpu_gp0(cpu);
        uint64_t changed = s->cr0 ^ val;
        s->cr0 = val;
        s->efer = efer;
        if (load_pdptes)
            memcpy(s->pdpte, pdpte, sizeof(pdpte));
        if (changed & (CR0_PG | CR0_WP | CR0_PE))
            tlb_flush(cpu, false);
        cpu_update_mode(cpu);
        break;
    }
    case 2:
        s->cr2 = val;
        break;
    case 3:
        /* IA-32e: bits above the physical-address width are reserved. */
        if ((s->efer & EFER_LMA) && (val & ~CPU_PHYS_ADDR_MASK))
            cpu_gp0(cpu);
        if (pae_paging(s->cr0, s->cr4, s->efer)) {
            uint64_t pdpte[4];
            if (!mmu_read_pdptes(cpu, val & 0xffffffffull, pdpte))
                cpu_gp0(cpu);
            memcpy(s->pdpte, pdpte, sizeof(pdpte));
        }
        s->cr3 = (s->efer & EFER_LMA) ? val : val & 0xffffffffull;
        tlb_flush(cpu, true);
        break;
    case 4: {
        if (val & ~(uint64_t)CR4_VALID)
            cpu_gp0(cpu);
        if ((s->efer & EFER_LMA) && !(val & CR4_PAE))
            cpu_gp0(cpu);
        uint64_t changed = s->cr4 ^ val;
        /* PDPTEs load when PAE paging starts or PSE/PGE change under it. */
        uint64_t pdpte[4];
        bool load_pdptes = pae_paging(s->cr0, val, s->efer) && (changed & (CR4_PSE | CR4_PAE | CR4_PGE));
        if (load_pdptes && !mmu_read_pdptes(cpu, s->cr3, pdpte))
            cpu_gp0(cpu);
        if (load_pdptes)
            memcpy(s->pdpte, pdpte, sizeof(pdpte));
        s->cr4 = val;
        if (changed & (CR4_PSE | CR4_PAE | CR4_PGE))
            tlb_flush(cpu, false);
        break;
    }
    case 8:
        /* TPR: bits 3:0 (SDM Vol. 3A 10.8.6.1). */
        if (val & ~0xfull)
            cpu_gp0(cpu);
        if (cpu->bus.set_cr8)
            cpu->bus.set_cr8(cpu->bus.opaque, val);   /* the local APIC's TPR */
        else
            s->cr8 = val;
        break;
    default:
        cpu_ud(cpu);
    }
}

static unsigned cr_index(const struct insn *in)
{
    /* LOCK MOV CR0 is not CR8 here: the model has no AltMovCr8. */
    return in->reg;
}

/* 0F 22 MOV CRn, r (the ModRM mod field is ignored: always a register). */
static void op_mov_cr_r(struct cpu *cpu, const struct insn *in)
{
    unsigned n = cr_index(in);
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8)
        cpu_ud(cpu);
    if (n == 8 && !cpu_is64(cpu))
        cpu_ud(cpu);
    need_cpl0(cpu);
    uint64_t v = cpu->s.regs[in->rm];
    if (!cpu_is64(cpu))
        v &= 0xffffffffull;
    cr_write(cpu, n, v);
    end_block(cpu);
}

/* 0F 20 MOV r, CRn */
static void op_mov_r_cr(struct cpu *cpu, const struct insn *in)
{
    unsigned n = cr_index(in);
    uint64_t v;
    switch (n) {
    case 0: v = cpu->s.cr0; break;
    case 2: v = cpu->s.cr2; break;
    case 3: v = cpu->s.cr3; break;
    case 4: v = cpu->s.cr4; break;
    case 8:
        if (!cpu_is64(cpu))
            cpu_ud(cpu);
        v = cpu->bus.get_cr8 ? cpu->bus.get_cr8(cpu->bus.opaque) : cpu->s.cr8;
        break;
    default: cpu_ud(cpu);
    }
    need_cpl0(cpu);
    cpu->s.regs[in->rm] = cpu_is64(cpu) ? v : v & 0xffffffffull;
}

/* DR4/DR5 alias DR6/DR7 unless CR4.DE (SDM Vol. 3A 17.2.2). */
static unsigned dr_index(struct cpu *cpu, unsigned n)
{
    if (n > 7)
        cpu_ud(cpu);
    if (n == 4 || n == 5) {
        if (cpu->s.cr4 & CR4_DE)
            cpu_ud(cpu);
        n += 2;
    }
    need_cpl0(cpu);
    if (cpu->s.dr[7] & DR7_GD) {
        /* General detect: #DB before the access, BD set, GD cleared. */
        cpu->s.dr[6] |= DR6_BD;
        cpu->s.dr[7] &= ~DR7_GD;
        cpu_raise(cpu, EXC_DB, 0);
    }
    return n;
}

static void op_mov_dr_r(struct cpu *cpu, const struct insn *in)
{
    unsigned n = dr_index(cpu, in->reg);
    uint64_t v = cpu->s.regs[in->rm];
    if (!cpu_is64(cpu))
        v &= 0xffffffffull;
    if (n == 6 || n == 7) {
        if (v >> 32)
            cpu_gp0(cpu);
        v = n == 6 ? (v & DR6_VALID) | DR6_FIXED : (v & ~DR7_RESERVED_LO) | DR7_FIXED;
    } else if (cpu_lma(cpu) && !is_canonical(v)) {
        cpu_gp0(cpu);
    }
    cpu->s.dr[n] = v;
    if (n != 6)
        dr_update(cpu);
}

static void op_mov_r_dr(struct cpu *cpu, const struct insn *in)
{
    unsigned n = dr_index(cpu, in->reg);
    uint64_t v = cpu->s.dr[n];
    cpu->s.regs[in->rm] = cpu_is64(cpu) ? v : v & 0xffffffffull;
}

static void op_clts(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    need_cpl0(cpu);
    cpu->s.cr0 &= ~(uint64_t)CR0_TS;
}

/* LMSW: PE MP EM TS only; PE can be set but not cleared. */
static void op_lmsw(struct cpu *cpu, const struct insn *in)
{
    need_cpl0(cpu);
    uint64_t v = rm_read(cpu, in, 2) & (CR0_PE | CR0_MP | CR0_EM | CR0_TS);
    uint64_t cr0 = (cpu->s.cr0 & ~(uint64_t)(CR0_MP | CR0_EM | CR0_TS)) | v;
    cr_write(cpu, 0, cr0);
    end_block(cpu);
}

static void op_smsw(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        greg_write(cpu, in, in->rm, in->opsize, cpu->s.cr0 & size_mask(in->opsize));
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->s.cr0 & 0xffff);
}

/* INVD, WBINVD: caches are not modelled; only the privilege check. */
static void op_invd(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    need_cpl0(cpu);
}

static void op_invlpg(struct cpu *cpu, const struct insn *in)
{
    need_cpl0(cpu);
    uint64_t off = insn_ea(cpu, in);
    uint64_t lin;
    if (cpu_is64(cpu))
        lin = off + ((in->seg == S_FS || in->seg == S_GS) ? cpu->s.seg[in->seg].base : 0);
    else
        lin = (cpu->s.seg[in->seg].base + off) & 0xffffffffull;
    tlb_flush_page(cpu, lin);
    end_block(cpu);
}

static void op_hlt(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    need_cpl0(cpu);
    cpu->s.halted = true;
    end_block(cpu);
}

static void op_rdmsr(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    need_cpl0(cpu);
    uint64_t v;
    if (!msr_read(cpu, (uint32_t)cpu->s.regs[R_CX], &v))
        cpu_gp0(cpu);
    cpu->s.regs[R_AX] = v & 0xffffffffull;
    cpu->s.regs[R_DX] = v >> 32;
}

static void op_wrmsr(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    need_cpl0(cpu);
    uint64_t v = (cpu->s.regs[R_AX] & 0xffffffffull) | (cpu->s.regs[R_DX] << 32);
    if (!msr_write(cpu, (uint32_t)cpu->s.regs[R_CX], v))
        cpu_gp0(cpu);
    end_block(cpu);
}

static void op_rdtsc(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    /* CR4.TSD restricts RDTSC to ring 0 (SDM Vol. 2 RDTSC). */
    if ((cpu->s.cr4 & CR4_TSD) && (cpu->s.cpl != 0 || cpu_v86(cpu)) && !cpu_real(cpu))
        cpu_gp0(cpu);
    uint64_t t = cpu_tsc(cpu);
    cpu->s.regs[R_AX] = t & 0xffffffffull;
    cpu->s.regs[R_DX] = t >> 32;
}

/* No performance counters are implemented: every counter index is invalid. */
static void op_rdpmc(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu_gp0(cpu);
}

static void op_cpuid(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    uint32_t r[4];
    cpuid_query(cpu, (uint32_t)cpu->s.regs[R_AX], (uint32_t)cpu->s.regs[R_CX], r);
    cpu->s.regs[R_AX] = r[0];
    cpu->s.regs[R_BX] = r[1];
    cpu->s.regs[R_CX] = r[2];
    cpu->s.regs[R_DX] = r[3];
}

/* LFENCE, MFENCE, SFENCE: one vCPU thread is ordered already; SMP later
 * maps them to host fences. */
static void op_fence(struct cpu *cpu, const struct insn *in)
{
    (void)cpu;
    (void)in;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* CLFLUSH m8: no cache to flush, but the address is checked like a byte
 * read (#GP/#SS for segmentation, #PF if not mapped). */
static void op_clflush(struct cpu *cpu, const struct insn *in)
{
    (void)mem_read8(cpu, in->seg, insn_ea(cpu, in));
}

static void op_ud(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu_ud(cpu);
}

#define M OPF_MODRM
/* MOV CR/DR: 64-bit operands in 64-bit mode, 32 otherwise. */
#define CRF (OPF_MODRM | OPF_REG | OPF_F64)
static const struct op_def sysinsn_ops[] = {
    {OP0F | 0x20, -1, -1, PFX_ANY, CRF, op_mov_r_cr, "mov"},
    {OP0F | 0x22, -1, -1, PFX_ANY, CRF | OPF_END, op_mov_cr_r, "mov"},
    {OP0F | 0x21, -1, -1, PFX_ANY, CRF, op_mov_r_dr, "mov"},
    {OP0F | 0x23, -1, -1, PFX_ANY, CRF | OPF_END, op_mov_dr_r, "mov"},
    {OP0F | 0x06, -1, -1, PFX_ANY, 0, op_clts, "clts"},
    {OP0F | 0x01, 4, -1, PFX_ANY, M, op_smsw, "smsw"},
    {OP0F | 0x01, 6, -1, PFX_ANY, M | OPF_END, op_lmsw, "lmsw"},
    {OP0F | 0x01, 7, -1, PFX_ANY, M | OPF_MEM | OPF_END, op_invlpg, "invlpg"},
    {OP0F | 0x08, -1, -1, PFX_ANY, 0, op_invd, "invd"},
    {OP0F | 0x09, -1, -1, PFX_ANY, 0, op_invd, "wbinvd"},
    {OP1 | 0xf4, -1, -1, PFX_ANY, OPF_END, op_hlt, "hlt"},
    {OP0F | 0x30, -1, -1, PFX_ANY, OPF_END, op_wrmsr, "wrmsr"},
    {OP0F | 0x31, -1, -1, PFX_ANY, 0, op_rdtsc, "rdtsc"},
    {OP0F | 0x32, -1, -1, PFX_ANY, 0, op_rdmsr, "rdmsr"},
    {OP0F | 0x33, -1, -1, PFX_ANY, 0, op_rdpmc, "rdpmc"},
    {OP0F | 0xa2, -1, -1, PFX_ANY, 0, op_cpuid, "cpuid"},
    {OP0F | 0xae, 5, -1, PFX_NONE, M | OPF_REG, op_fence, "lfence"},
    {OP0F | 0xae, 6, -1, PFX_NONE, M | OPF_REG, op_fence, "mfence"},
    {OP0F | 0xae, 7, -1, PFX_NONE, M | OPF_REG, op_fence, "sfence"},
    {OP0F | 0xae, 7, -1, PFX_NONE, M | OPF_MEM, op_clflush, "clflush"},
    {OP0F | 0x0b, -1, -1, PFX_ANY, 0, op_ud, "ud2"},
    {OP0F | 0xb9, -1, -1, PFX_ANY, M, op_ud, "ud1"},
    {OP0F | 0xff, -1, -1, PFX_ANY, M, op_ud, "ud0"},
    OPS_END
};
OPS_REGISTER(sysinsn_ops);
