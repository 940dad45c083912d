/* The software x86-64 CPU (VirtualBox's IEM): public interface.
 *
 * The CPU knows nothing of devices: it reaches them through guest physical
 * memory (struct physmem, whose MMIO regions carry callbacks) and through the
 * port and interrupt callbacks of struct cpu_bus. All state lives in struct
 * cpu_state so that the saved-state code, the debugger and a later KVM engine
 * read and write one layout. */
#ifndef CAIXA_CPU_CPU_H
#define CAIXA_CPU_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct physmem;

enum cpu_reg {
    R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI,
    R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
};

/* Segment register numbers follow the ModRM sreg encoding. */
enum cpu_seg { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_NONE = 15 };

/* Descriptor attribute bits (SDM Vol. 3A 3.4.5), compacted: descriptor bits
 * 40-47 become bits 0-7 (type 0-3, S 4, DPL 5-6, P 7) and bits 52-55 become
 * bits 8-11 (AVL 8, L 9, D/B 10, G 11); the limit nibble is dropped. */
#define SEGA_TYPE 0x000f
#define SEGA_S 0x0010
#define SEGA_DPL_SHIFT 5
#define SEGA_DPL 0x0060
#define SEGA_P 0x0080
#define SEGA_AVL 0x0100
#define SEGA_L 0x0200
#define SEGA_DB 0x0400
#define SEGA_G 0x0800

struct seg_cache {
    uint16_t sel;
    uint16_t attr;   /* SEGA_* */
    uint32_t limit;  /* expanded byte limit */
    uint64_t base;
};

struct dtr {
    uint64_t base;
    uint16_t limit;
};

/* EFLAGS bits (SDM Vol. 1 3.4.3) */
#define FL_CF 0x0001u
#define FL_1 0x0002u
#define FL_PF 0x0004u
#define FL_AF 0x0010u
#define FL_ZF 0x0040u
#define FL_SF 0x0080u
#define FL_TF 0x0100u
#define FL_IF 0x0200u
#define FL_DF 0x0400u
#define FL_OF 0x0800u
#define FL_IOPL 0x3000u
#define FL_IOPL_SHIFT 12
#define FL_NT 0x4000u
#define FL_RF 0x10000u
#define FL_VM 0x20000u
#define FL_AC 0x40000u
#define FL_VIF 0x80000u
#define FL_VIP 0x100000u
#define FL_ID 0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Control register bits (SDM Vol. 3A 2.5) */
#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)
#define CR4_VME (1u << 0)
#define CR4_PVI (1u << 1)
#define CR4_TSD (1u << 2)
#define CR4_DE (1u << 3)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define CR4_MCE (1u << 6)
#define CR4_PGE (1u << 7)
#define CR4_PCE (1u << 8)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

/* Exception vectors (SDM Vol. 3A 6.3.1) */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
    EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13,
    EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18, EXC_XM = 19,
};

/* x87/SSE state kept in the FXSAVE layout (SDM Vol. 1 10.5.1). */
struct fpu_state {
    uint16_t fcw, fsw, ftw_full; /* ftw_full: 2 bits per register, as FSTENV */
    uint16_t fop;
    uint64_t fip, fdp;
    uint16_t fcs, fds;
    uint32_t mxcsr;
    /* st[i] is physical register i; TOP lives in fsw bits 11-13. */
    struct { uint64_t mant; uint16_t exp; } st[8];
    union { uint8_t b[16]; uint16_t w[8]; uint32_t d[4]; uint64_t q[2]; float f[4]; double dbl[2]; } xmm[16];
};

/* Lazy flags: the last flag-setting operation, evaluated on demand. */
struct lazy_flags {
    uint64_t res, src, dst; /* result and operands of the last operation */
    uint32_t op;            /* LF_* kind of operation (cpu_int.h) */
    uint32_t size;          /* operand size in bytes */
};

struct cpu_bus {
    void *opaque;
    uint32_t (*io_in)(void *opaque, uint16_t port, unsigned size);
    void (*io_out)(void *opaque, uint16_t port, unsigned size, uint32_t val);
    /* Acknowledge the external interrupt (INTA cycle): its vector, or -1 if
     * it went away (spurious). */
    int (*intr_ack)(void *opaque);
    /* Virtual time in ns, for the TSC. */
    uint64_t (*clock_ns)(void *opaque);
    /* FERR#: an unmasked x87 error at a waiting instruction with CR0.NE=0
     * (SDM Vol. 1 8.7). May be NULL. */
    void (*ferr)(void *opaque);
    /* The local APIC's side of the CPU; each may be NULL (no APIC).
     * MSRs the CPU does not implement itself (IA32_TSC_DEADLINE): true if
     * handled, false raises #GP. */
    bool (*msr_read)(void *opaque, uint32_t idx, uint64_t *val);
    bool (*msr_write)(void *opaque, uint32_t idx, uint64_t val);
    /* IA32_APIC_BASE was written (the CPU keeps the value in s.apic_base). */
    void (*apic_base_changed)(void *opaque, uint64_t val);
    /* CR8 is the APIC's TPR[7:4] (SDM Vol. 3A 10.8.6.1); NULL: s.cr8. */
    uint64_t (*get_cr8)(void *opaque);
    void (*set_cr8)(void *opaque, uint64_t val);
};

/* The core crystal clock (CPUID leaf 0x15), which also clocks the local
 * APIC timer: 1 GHz, one tick per nanosecond of virtual time. */
#define CPU_CRYSTAL_HZ 1000000000ull

/* Why cpu_run() returned. */
enum cpu_exit {
    CPU_EXIT_BUDGET,   /* ran its instruction budget */
    CPU_EXIT_HALT,     /* HLT with interrupts pending none */
    CPU_EXIT_REQUEST,  /* cpu->exit_request was set */
    CPU_EXIT_RESET,    /* triple fault or shutdown: the machine must reset */
    CPU_EXIT_DEBUG,    /* breakpoint or single step for the debugger */
};

struct cpu_block_cache;
struct cpu_tlb;
struct tlb_entry;
struct cpu_smp;

/* Interrupt shadows (SDM Vol. 3A 6.8.3): STI blocks maskable interrupts for
 * one instruction; MOV SS / POP SS also block debug traps. */
#define SHADOW_STI 1
#define SHADOW_MOVSS 2

struct cpu_state {
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags;          /* arithmetic flags are stale while lf.op != LF_NONE */
    struct lazy_flags lf;
    struct seg_cache seg[8];  /* ES CS SS DS FS GS LDTR TR */
    struct dtr gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t pdpte[4];        /* PAE paging: the PDPTEs loaded with CR3 (SDM Vol. 3A 4.4.1) */
    uint64_t efer;
    uint64_t dr[8];
    uint64_t kernel_gs_base, star, lstar, cstar, sfmask;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t apic_base, pat, tsc_offset, mtrr_def_type, mtrr_fixed[11], mtrr_var[16];
    uint64_t misc_enable;
    uint64_t tsc_aux;         /* IA32_TSC_AUX (RDTSCP) */
    struct fpu_state fpu;
    uint8_t cpl;              /* change it only followed by cpu_update_mode() */
    bool halted;
    bool nmi_blocked;         /* an NMI handler runs: no NMI until the next IRET */
    uint8_t intr_shadow;      /* SHADOW_*: no interrupts before the next insn */
    uint8_t a20_mask_bit;     /* 1: address bit 20 forced to 0 (A20 gate closed) */
};

struct cpu {
    struct cpu_state s;
    int index;
    struct physmem *mem;
    struct cpu_bus bus;
    /* Set by other threads; checked at block boundaries. */
    atomic_int intr_line;     /* INTR pin level (from the PIC/APIC) */
    atomic_int nmi_pending;
    atomic_int exit_request;
    atomic_int smp_request;   /* other vCPUs queued code-page drops (smp.c) */
    /* Debugger: breakpoints on linear addresses, single step. */
    uint64_t breakpoints[16];
    int n_breakpoints;
    bool single_step;
    bool has_apic;            /* a local APIC exists: CPUID.1:EDX.APIC (cpu_set_apic_present) */
    int ncpus;                /* vCPUs in the machine, for the CPUID topology (0 counts as 1) */
    atomic_bool debug_stop;   /* stop (CPU_EXIT_DEBUG) before the next instruction */
    bool resume_at_bp;        /* stopped there: run the instruction at a breakpoint once */
    uint64_t insn_count;      /* instructions retired, for statistics and benchmarks */
    void *trace;              /* FILE* for --trace, or NULL */
    struct cpu_tlb *tlb;
    struct cpu_block_cache *blocks;
    struct cpu_smp *smp;      /* this vCPU's request queue (smp.c) */
    uint32_t mem_generation;  /* physmem generation the TLB was filled under */
    /* Engine scratch (see cpu_int.h). */
    uint64_t next_rip;        /* address after the executing instruction */
    uint64_t ip_mask;         /* RIP width of the running block's mode (exec.c) */
    uint64_t blk_rip;         /* RIP where the running block was entered (insn_rip) */
    uint64_t run_limit;       /* insn_count at which cpu_run's budget ends */
    const void *blk_last;     /* last record a block ran (exec.c, insn_leave) */
    void *jmp;                /* jmp_buf of cpu_run, for faults */
    int exc_vec;              /* exception being raised, -1 none */
    uint32_t exc_err;
    bool exc_has_err;
    int delivering;           /* vector whose delivery is in progress, -1 none (double fault rules) */
    uint8_t mode;             /* CPU_MODE_* (cpu_int.h), recomputed on CR0/EFER/CS changes */
    bool block_end;           /* the handler asks the loop to leave the block */
    uint8_t dr_exec, dr_data; /* DR7-armed instruction / data breakpoints (bit n: DRn) */
    bool dr_trap;             /* a data breakpoint hit: #DB after the instruction */
    uint8_t ac_check;         /* CR0.AM and EFLAGS.AC: CPL 3 data accesses check alignment */
    /* The TLB set of non-supervisor accesses (cpu_update_mode): 0 (CPL<3),
     * 1, or 2 (#AC checks: never filled). */
    struct tlb_entry *tlb_user;
    uint32_t chain_epoch;     /* when block links hold (cpu_int.h, chain_expire) */
    enum cpu_exit exit_reason;
    void *internal;
};

/* Allocates the TLB and block cache; the CPU comes out of reset. */
int cpu_init(struct cpu *cpu, int index, struct physmem *mem, const struct cpu_bus *bus);
void cpu_destroy(struct cpu *cpu);
/* Power-on / RESET state (SDM Vol. 3A 9.1.1): CS:IP F000:FFF0, base FFFF0000. */
void cpu_reset(struct cpu *cpu);
/* Runs guest code for up to `budget` instructions (checked at block ends). */
enum cpu_exit cpu_run(struct cpu *cpu, uint64_t budget);

/* Full EFLAGS with the lazy flags folded in, and the reverse. */
uint64_t cpu_get_rflags(struct cpu *cpu);
void cpu_set_rflags(struct cpu *cpu, uint64_t val);
/* Drop the TLB (e.g. after the debugger changes CR3) and all decoded blocks. */
void cpu_flush_all(struct cpu *cpu);
/* Guest-virtual access for the debugger: no faults raised, no side effects
 * on A/D bits; returns bytes done. */
size_t cpu_debug_access(struct cpu *cpu, uint64_t lin, void *buf, size_t len, bool write);
/* Linear -> physical for the debugger; false if not mapped. */
bool cpu_debug_translate(struct cpu *cpu, uint64_t lin, uint64_t *phys);
/* Called by physmem users (DMA, loaders, the debugger) after they wrote a
 * page that may hold code: every vCPU of cpu->mem that holds decoded code
 * there drops it at its next block boundary. Any thread may call it. */
void cpu_invalidate_code_page(struct cpu *cpu, uint64_t gpa);

/* Tells the CPU model that a local APIC exists (CPUID.1:EDX bit 9 then
 * follows IA32_APIC_BASE.EN, SDM Vol. 2 CPUID). */
void cpu_set_apic_present(struct cpu *cpu, bool present);

/* Virtual-clock ns at which this CPU's TSC reaches `tsc` (now if it has):
 * TSC-deadline timers. On the CPU's own thread. */
uint64_t cpu_tsc_to_ns(struct cpu *cpu, uint64_t tsc);

/* The CPU model that CPUID reports (one consistent model). */
extern const char cpu_model_name[];

#endif
