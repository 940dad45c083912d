/* Model-specific registers: RDMSR/WRMSR back end (SDM Vol. 4 chapter 2,
 * "Architectural MSRs"; Vol. 3A 11.11 MTRRs, 11.12 PAT, 2.2.1 EFER). */
#include "cpu/cpu_sys.h"

/* Architectural MSR indices (SDM Vol. 4 table 2-2). */
#define MSR_TSC 0x10
#define MSR_PLATFORM_ID 0x17
#define MSR_APIC_BASE 0x1b
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_BIOS_SIGN_ID 0x8b        /* microcode revision */
#define MSR_MTRRCAP 0xfe
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE 0x1a0
#define MSR_MTRR_PHYS_BASE0 0x200    /* 0x200-0x20f: base/mask pairs */
#define MSR_MTRR_FIX64K 0x250
#define MSR_MTRR_FIX16K_80000 0x258
#define MSR_MTRR_FIX16K_A0000 0x259
#define MSR_MTRR_FIX4K_C0000 0x268   /* 0x268-0x26f */
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_SFMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX 0xc0000103u

/* 8 variable MTRRs, fixed ranges, write-combining (SDM Vol. 3A 11.11.1). */
#define MTRR_VCNT 8
#define MTRRCAP_VALUE (MTRR_VCNT | (1u << 8) | (1u << 10))
#define MTRR_DEF_VALID 0xcffull      /* type, FE (10), E (11) */
#define MTRR_MASK_VALID (1ull << 11)  /* V bit of PHYSMASKn */
/* IA32_APIC_BASE: BSP (8), global enable (11), base (12..MAXPHYADDR-1). */
#define APIC_BASE_VALID (((CPU_PHYS_ADDR_MASK) & ~0xfffull) | (1ull << 8) | (1ull << 11))
/* MISC_ENABLE: fast strings (0) is the OS's to toggle; performance
 * monitoring available (7) reads 0, as CPUID leaf 0xA reports no PMU;
 * BTS and PEBS unavailable (11, 12) read 1 (SDM Vol. 4 table 2-2). */
#define MISC_ENABLE_FIXED ((1ull << 11) | (1ull << 12))
#define MISC_ENABLE_RW (1ull << 0)
/* IA32_ARCH_CAPABILITIES (SDM Vol. 4 table 2-2): an interpreter does not
 * speculate, so none of the side channels these bits rule out exist:
 * RDCL_NO (0, Meltdown), SSB_NO (4), MDS_NO (5), IF_PSCHANGE_MC_NO (6),
 * TAA_NO (8), SBDR_SSDP_NO (13), FBSDP_NO (14), PSDP_NO (15), BHI_NO (20),
 * PBRSB_NO (24), GDS_NO (26), RFDS_NO (27). Read-only. */
#define ARCH_CAPABILITIES_VALUE                                                         \
    ((1ull << 0) | (1ull << 4) | (1ull << 5) | (1ull << 6) | (1ull << 8) | (1ull << 13) | \
     (1ull << 14) | (1ull << 15) | (1ull << 20) | (1ull << 24) | (1ull << 26) | (1ull << 27))
#define EFER_VALID (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

/* Memory types valid in MTRRs: UC WC WT WP WB (SDM Vol. 3A table 11-8). */
static bool mtrr_type_ok(unsigned t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

/* PAT also allows UC- (7) (SDM Vol. 3A table 11-10). */
static bool pat_ok(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        unsigned t = (v >> (8 * i)) & 0xff;
        if (!(mtrr_type_ok(t) || t == 7))
            return false;
    }
    return true;
}

static bool fixed_ok(uint64_t v)
{
    for (int i = 0; i < 8; i++)
        if (!mtrr_type_ok((v >> (8 * i)) & 0xff))
            return false;
    return true;
}

static int fixed_index(uint32_t idx)
{
    if (idx == MSR_MTRR_FIX64K)
        return 0;
    if (idx == MSR_MTRR_FIX16K_80000)
        return 1;
    if (idx == MSR_MTRR_FIX16K_A0000)
        return 2;
    if (idx >= MSR_MTRR_FIX4K_C0000 && idx < MSR_MTRR_FIX4K_C0000 + 8)
        return 3 + (int)(idx - MSR_MTRR_FIX4K_C0000);
    return -1;
}

static uint64_t tsc_raw(struct cpu *cpu)
{
    if (!cpu->bus.clock_ns)
        return cpu->insn_count;
    uint64_t ns = cpu->bus.clock_ns(cpu->bus.opaque);
    return (ns / 1000000000ull) * CPU_TSC_HZ + (ns % 1000000000ull) * CPU_TSC_HZ / 1000000000ull;
}

uint64_t cpu_tsc(struct cpu *cpu)
{
    return tsc_raw(cpu) + cpu->s.tsc_offset;
}

uint64_t cpu_tsc_to_ns(struct cpu *cpu, uint64_t tsc)
{
    uint64_t now = cpu->bus.clock_ns ? cpu->bus.clock_ns(cpu->bus.opaque) : 0;
    uint64_t cur = cpu_tsc(cpu);
    if (tsc <= cur)
        return now;
    uint64_t d = tsc - cur;
    uint64_t ns = (d / CPU_TSC_HZ) * 1000000000ull + (d % CPU_TSC_HZ) * 1000000000ull / CPU_TSC_HZ;
    /* Round up: the interrupt comes when the TSC has reached the value. */
    if ((d % CPU_TSC_HZ) * 1000000000ull % CPU_TSC_HZ)
        ns++;
    return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

bool msr_read(struct cpu *cpu, uint32_t idx, uint64_t *val)
{
    struct cpu_state *s = &cpu->s;
    int f = fixed_index(idx);
    if (f >= 0) {
        *val = s->mtrr_fixed[f];
        return true;
    }
    if (idx >= MSR_MTRR_PHYS_BASE0 && idx < MSR_MTRR_PHYS_BASE0 + 2 * MTRR_VCNT) {
        *val = s->mtrr_var[idx - MSR_MTRR_PHYS_BASE0];
        return true;
    }
    switch (idx) {
    case MSR_TSC: *val = cpu_tsc(cpu); return true;
    case MSR_PLATFORM_ID: *val = 0; return true;
    case MSR_APIC_BASE: *val = s->apic_base; return true;
    case MSR_FEATURE_CONTROL: *val = 1; return true;   /* locked, VMX off */
    case MSR_BIOS_SIGN_ID: *val = 0; return true;
    case MSR_MTRRCAP: *val = MTRRCAP_VALUE; return true;
    case MSR_SYSENTER_CS: *val = s->sysenter_cs; return true;
    case MSR_SYSENTER_ESP: *val = s->sysenter_esp; return true;
    case MSR_SYSENTER_EIP: *val = s->sysenter_eip; return true;
    case MSR_ARCH_CAPABILITIES: *val = ARCH_CAPABILITIES_VALUE; return true;
    case MSR_MISC_ENABLE: *val = (s->misc_enable & MISC_ENABLE_RW) | MISC_ENABLE_FIXED; return true;
    case MSR_PAT: *val = s->pat; return true;
    case MSR_MTRR_DEF_TYPE: *val = s->mtrr_def_type; return true;
    case MSR_EFER: *val = s->efer; return true;
    case MSR_STAR: *val = s->star; return true;
    case MSR_LSTAR: *val = s->lstar; return true;
    case MSR_CSTAR: *val = s->cstar; return true;
    case MSR_SFMASK: *val = s->sfmask; return true;
    case MSR_FS_BASE: *val = s->seg[S_FS].base; return true;
    case MSR_GS_BASE: *val = s->seg[S_GS].base; return true;
    case MSR_KERNEL_GS_BASE: *val = s->kernel_gs_base; return true;
    case MSR_TSC_AUX: *val = s->tsc_aux; return true;
    default:
        /* The local APIC's MSRs (IA32_TSC_DEADLINE) live in the APIC. */
        return cpu->bus.msr_read && cpu->bus.msr_read(cpu->bus.opaque, idx, val);
    }
}

bool msr_write(struct cpu *cpu, uint32_t idx, uint64_t val)
{
    struct cpu_state *s = &cpu->s;
    int f = fixed_index(idx);
    if (f >= 0) {
        if (!fixed_ok(val))
            return false;
        s->mtrr_fixed[f] = val;
        return true;
    }
    if (idx >= MSR_MTRR_PHYS_BASE0 && idx < MSR_MTRR_PHYS_BASE0 + 2 * MTRR_VCNT) {
        uint32_t n = idx - MSR_MTRR_PHYS_BASE0;
        uint64_t addr = CPU_PHYS_ADDR_MASK & ~0xfffull;
        if (n & 1) {
            if (val & ~(addr | MTRR_MASK_VALID))
                return false;
        } else if ((val & ~(addr | 0xff)) || !mtrr_type_ok(val & 0xff)) {
            return false;
        }
        s->mtrr_var[n] = val;
        return true;
    }
    switch (idx) {
    case MSR_TSC:
        /* Writing the TSC sets the offset to the virtual clock. */
        s->tsc_offset = val - tsc_raw(cpu);
        return true;
    case MSR_APIC_BASE:
        if (val & ~APIC_BASE_VALID)
            return false;
        s->apic_base = val;
        if (cpu->bus.apic_base_changed)
            cpu->bus.apic_base_changed(cpu->bus.opaque, val);
        return true;
    case MSR_BIOS_SIGN_ID:
        return true;   /* the update trigger: no microcode to load */
    case MSR_SYSENTER_CS: s->sysenter_cs = val & 0xffff; return true;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
        if (!is_canonical(val))
            return false;
        if (idx == MSR_SYSENTER_ESP)
            s->sysenter_esp = val;
        else
            s->sysenter_eip = val;
        return true;
    case MSR_MISC_ENABLE:
        s->misc_enable = val & MISC_ENABLE_RW;
        return true;
    case MSR_PAT:
        if (!pat_ok(val))
            return false;
        s->pat = val;
        tlb_flush(cpu, false);
        return true;
    case MSR_MTRR_DEF_TYPE:
        if ((val & ~MTRR_DEF_VALID) || !mtrr_type_ok(val & 0xff))
            return false;
        s->mtrr_def_type = val;
        return true;
    case MSR_EFER: {
        if (val & ~(uint64_t)EFER_VALID)
            return false;
        /* LMA is read-only; LME cannot change while paging is on
         * (SDM Vol. 3A 9.8.5). */
        val = (val & ~(uint64_t)EFER_LMA) | (s->efer & EFER_LMA);
        if ((s->cr0 & CR0_PG) && ((val ^ s->efer) & EFER_LME))
            return false;
        uint64_t changed = val ^ s->efer;
        s->efer = val;
        if (changed & EFER_NXE)
            tlb_flush(cpu, false);
        cpu_update_mode(cpu);
        return true;
    }
    case MSR_STAR: s->star = val; return true;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!is_canonical(val))
            return false;
        if (idx == MSR_LSTAR) s->lstar = val;
        else if (idx == MSR_CSTAR) s->cstar = val;
        else if (idx == MSR_FS_BASE) s->seg[S_FS].base = val;
        else if (idx == MSR_GS_BASE) s->seg[S_GS].base = val;
        else s->kernel_gs_base = val;
        return true;
    case MSR_SFMASK: s->sfmask = val & 0xffffffffull; return true;
    case MSR_TSC_AUX:
        if (val >> 32)
            return false;
        s->tsc_aux = val;
        return true;
    default:
        return cpu->bus.msr_write && cpu->bus.msr_write(cpu->bus.opaque, idx, val);
    }
}
