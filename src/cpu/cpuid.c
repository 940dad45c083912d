/* CPUID: one consistent CPU model (SDM Vol. 2 CPUID).
 *
 * The model, and what implements each advertised feature:
 *
 *  leaf        reg  bits                              implemented by
 *  0           -    max basic leaf 0x15, "GenuineIntel"
 *  1           EAX  family 6 model 15 stepping 11     (CPU_SIGNATURE, cpu_int.h)
 *              EBX  CLFLUSH line 64 B, addressable logical CPUs, APIC ID = vCPU index
 *              EDX  FPU VME DE PSE TSC MSR PAE MCE CX8 [APIC] SEP MTRR PGE CMOV PAT
 *                   CLFSH MMX FXSR SSE SSE2
 *                   FPU MMX FXSR SSE SSE2: fpu*.c, sse*.c; VME: interrupt.c,
 *                   sysflags.c, farctl.c; DE: sysinsn.c (DR4/5); PSE PAE PGE:
 *                   mmu.c; TSC MSR MTRR PAT: msr.c; CX8: datamov.c; SEP: fastsys.c;
 *                   CMOV: datamov.c; CLFSH: sysinsn.c; MCE: CR4.MCE only (no
 *                   machine checks are ever raised); APIC: only once the VM has
 *                   a local APIC (cpu_set_apic_present) and IA32_APIC_BASE.EN.
 *                   HTT: with more than one vCPU (the count in EBX is valid).
 *              ECX  SSE3 SSSE3 CX16 MOVBE POPCNT [TSC-deadline: with a local
 *                   APIC, src/devices/lapic.c]
 *  2           -    "use leaf 4" descriptor (0xff)
 *  4           -    L1d 32K/8-way, L1i 32K/8-way, L2 4M/16-way, 64-byte lines,
 *                   each private to a core; N cores per package
 *  6           EAX  ARAT: the APIC timer runs at a constant rate, always
 *  3, 5        -    zero (no PSN, MONITOR)
 *  7 (sub 0)   EBX  ADX (alu.c: ADCX/ADOX)
 *              EDX  IA32_ARCH_CAPABILITIES (msr.c: no speculation, so the
 *                   "not affected" bits for Meltdown, MDS, ... are set)
 *  8-0xA, 0xC-0x14  zero (no perfmon, XSAVE, ...)
 *  0xB         -    topology: N cores of 1 thread in one package, x2APIC ID
 *                   = APIC ID = vCPU index
 *  0x15        -    TSC = 2 x the 1 GHz core crystal (CPU_CRYSTAL_HZ, which
 *                   also clocks the local APIC timer)
 *  0x80000000  EAX  max extended leaf 0x80000008
 *  0x80000001  ECX  LAHF/SAHF in 64-bit mode, ABM (LZCNT), PREFETCHW (datamov.c: a hint)
 *              EDX  SYSCALL NX Page1GB RDTSCP LM
 *  0x80000002-4     brand string (cpu_model_name)
 *  0x80000006  ECX  L2: 4096 KiB, 16-way, 64-byte lines
 *  0x80000007  EDX  invariant TSC (msr.c: CPU_TSC_HZ from the virtual clock)
 *  0x80000008  EAX  40 physical / 48 linear address bits
 * Not advertised: x2APIC, MCA, PSE-36, PCID, XSAVE/AVX, BMI, the
 * hypervisor bit. Leaves above the maximum return the highest basic leaf
 * (Intel behaviour). */
#include "cpu/cpu_sys.h"

const char cpu_model_name[] = "caixa virtual CPU";

#define MAX_BASIC_LEAF 0x15u
#define L7B_ADX (1u << 19)   /* CPUID.(EAX=7,ECX=0):EBX[19] */
#define L7D_ARCH_CAP (1u << 29) /* CPUID.(EAX=7,ECX=0):EDX[29]: IA32_ARCH_CAPABILITIES */
#define MAX_EXT_LEAF 0x80000008u

/* CPUID.1:EDX (SDM Vol. 2 table 3-11) */
#define F1D_FPU (1u << 0)
#define F1D_VME (1u << 1)
#define F1D_DE (1u << 2)
#define F1D_PSE (1u << 3)
#define F1D_TSC (1u << 4)
#define F1D_MSR (1u << 5)
#define F1D_PAE (1u << 6)
#define F1D_MCE (1u << 7)
#define F1D_CX8 (1u << 8)
#define F1D_APIC (1u << 9)
#define F1D_SEP (1u << 11)
#define F1D_MTRR (1u << 12)
#define F1D_PGE (1u << 13)
#define F1D_CMOV (1u << 15)
#define F1D_PAT (1u << 16)
#define F1D_CLFSH (1u << 19)
#define F1D_MMX (1u << 23)
#define F1D_FXSR (1u << 24)
#define F1D_SSE (1u << 25)
#define F1D_SSE2 (1u << 26)
/* CPUID.1:ECX (SDM Vol. 2 table 3-10) */
#define F1C_SSE3 (1u << 0)
#define F1C_SSSE3 (1u << 9)
#define F1C_CX16 (1u << 13)
#define F1C_MOVBE (1u << 22)
#define F1C_POPCNT (1u << 23)
#define F1C_TSC_DEADLINE (1u << 24)
#define F1D_HTT (1u << 28)
/* CPUID.6:EAX[2] (SDM Vol. 2 table 3-8) */
#define F6A_ARAT (1u << 2)
/* CPUID.0xB:ECX[15:8] level types (SDM Vol. 2, leaf 0BH) */
#define TOPO_LEVEL_SMT 1u
#define TOPO_LEVEL_CORE 2u
_Static_assert(CPU_TSC_HZ % CPU_CRYSTAL_HZ == 0, "leaf 0x15: the TSC is a whole multiple of the crystal");
/* CPUID.80000001 */
#define X1C_LAHF (1u << 0)
#define X1C_ABM (1u << 5)
#define X1C_PREFETCHW (1u << 8)
#define X1D_SYSCALL (1u << 11)
#define X1D_NX (1u << 20)
#define X1D_PAGE1GB (1u << 26)
#define X1D_RDTSCP (1u << 27)
#define X1D_LM (1u << 29)
#define X7D_INVARIANT_TSC (1u << 8)

#define LEAF1_EDX (F1D_FPU | F1D_VME | F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_MCE | \
                   F1D_CX8 | F1D_SEP | F1D_MTRR | F1D_PGE | F1D_CMOV | F1D_PAT | F1D_CLFSH |   \
                   F1D_MMX | F1D_FXSR | F1D_SSE | F1D_SSE2)
#define LEAF1_ECX (F1C_SSE3 | F1C_SSSE3 | F1C_CX16 | F1C_MOVBE | F1C_POPCNT)
#define CLFLUSH_LINE_QWORDS 8   /* 64-byte lines, in 8-byte units */
#define APIC_BASE_EN (1ull << 11)

/* Leaf 4 cache levels: type (1 data, 2 instruction, 3 unified), level,
 * ways, sets; 64-byte lines, one partition. */
struct cache_desc { unsigned type, level, ways, sets; };
static const struct cache_desc caches[] = {
    { 1, 1, 8, 64 },     /* L1d 32 KiB */
    { 2, 1, 8, 64 },     /* L1i 32 KiB */
    { 3, 2, 16, 4096 },  /* L2 4 MiB */
};
#define CACHE_LINE 64
#define L2_KIB 4096
#define L2_ASSOC_16WAY 0x8   /* CPUID.80000006:ECX[15:12] encoding */

/* The topology model: ncpus cores of one thread each in one package; APIC
 * IDs are the core numbers, so the core field is log2 of the next power of
 * two (SDM Vol. 3A 8.9.1). */
static unsigned cpu_count(const struct cpu *cpu)
{
    return cpu->ncpus > 1 ? (unsigned)cpu->ncpus : 1u;
}

static unsigned core_bits(const struct cpu *cpu)
{
    unsigned bits = 0;
    while ((1u << bits) < cpu_count(cpu))
        bits++;
    return bits;
}

static void leaf4(const struct cpu *cpu, uint32_t sub, uint32_t r[4])
{
    if (sub >= sizeof(caches) / sizeof(caches[0]))
        return;   /* type 0: no more caches */
    const struct cache_desc *c = &caches[sub];
    /* EAX[31:26]: addressable core IDs - 1; EAX[25:14]: logical CPUs sharing
     * the cache - 1 (0: private to a core of one thread). */
    r[0] = c->type | (c->level << 5) | (1u << 8) |   /* self-initialising */
           (((1u << core_bits(cpu)) - 1) << 26);
    r[1] = (CACHE_LINE - 1) | ((c->ways - 1) << 22);
    r[2] = c->sets - 1;
    r[3] = 0;
}

static void put_str(uint32_t *r, const char *s, size_t off)
{
    size_t n = strlen(s);
    for (int i = 0; i < 4; i++) {
        uint32_t v = 0;
        for (int b = 0; b < 4; b++) {
            size_t k = off + (size_t)i * 4 + (size_t)b;
            v |= (uint32_t)(k < n ? (unsigned char)s[k] : 0) << (8 * b);
        }
        r[i] = v;
    }
}

void cpuid_query(struct cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    if ((leaf > MAX_BASIC_LEAF && leaf < 0x80000000u) || leaf > MAX_EXT_LEAF)
        leaf = MAX_BASIC_LEAF;
    switch (leaf) {
    case 0:
        r[0] = MAX_BASIC_LEAF;
        /* "GenuineIntel" in EBX, EDX, ECX */
        r[1] = 0x756e6547;
        r[3] = 0x49656e69;
        r[2] = 0x6c65746e;
        break;
    case 1:
        r[0] = CPU_SIGNATURE;
        r[1] = (CLFLUSH_LINE_QWORDS << 8) | ((1u << core_bits(cpu)) << 16) |
               ((uint32_t)cpu->index << 24);
        r[2] = LEAF1_ECX;
        r[3] = LEAF1_EDX;
        if (cpu_count(cpu) > 1)
            r[3] |= F1D_HTT;
        if (cpu->has_apic)
            r[2] |= F1C_TSC_DEADLINE;
        if (cpu->has_apic && (cpu->s.apic_base & APIC_BASE_EN))
            r[3] |= F1D_APIC;
        break;
    case 2:
        r[0] = 0x00ff0001;   /* one iteration; 0xff: see leaf 4 */
        break;
    case 4:
        leaf4(cpu, sub, r);
        break;
    case 6:
        r[0] = F6A_ARAT;
        break;
    case 0xb:
        /* EAX: shift to the next level's ID; EBX: logical CPUs at this
         * level; ECX: level type and number; EDX: x2APIC ID. */
        r[3] = (uint32_t)cpu->index;
        r[2] = sub & 0xff;
        if (sub == 0) {
            r[0] = 0;
            r[1] = 1;
            r[2] |= TOPO_LEVEL_SMT << 8;
        } else if (sub == 1) {
            r[0] = core_bits(cpu);
            r[1] = cpu_count(cpu);
            r[2] |= TOPO_LEVEL_CORE << 8;
        }
        break;
    case 0x15:
        /* EAX/EBX: TSC / crystal ratio; ECX: crystal Hz. */
        r[0] = 1;
        r[1] = (uint32_t)(CPU_TSC_HZ / CPU_CRYSTAL_HZ);
        r[2] = (uint32_t)CPU_CRYSTAL_HZ;
        break;
    case 7:
        if (sub == 0) {
            r[1] = L7B_ADX;
            r[3] = L7D_ARCH_CAP;
        }
        break;
    case 0x80000000u:
        r[0] = MAX_EXT_LEAF;
        break;
    case 0x80000001u:
        r[2] = X1C_LAHF | X1C_ABM | X1C_PREFETCHW;
        r[3] = X1D_SYSCALL | X1D_NX | X1D_PAGE1GB | X1D_RDTSCP | X1D_LM;
        break;
    case 0x80000002u:
    case 0x80000003u:
    case 0x80000004u:
        put_str(r, cpu_model_name, (leaf - 0x80000002u) * 16);
        break;
    case 0x80000006u:
        r[2] = CACHE_LINE | (L2_ASSOC_16WAY << 12) | ((uint32_t)L2_KIB << 16);
        break;
    case 0x80000007u:
        r[3] = X7D_INVARIANT_TSC;
        break;
    case 0x80000008u:
        r[0] = CPU_PHYS_ADDR_BITS | (CPU_VIRT_ADDR_BITS << 8);
        break;
    default:
        break;
    }
}

void cpu_set_apic_present(struct cpu *cpu, bool present)
{
    cpu->has_apic = present;
}
