/* Instruction differential tester: caixa's software CPU against the host
 * CPU (x86-64). One instruction (or a short fixed snippet for x87) runs on
 * both with the same registers, flags and memory; every register, the
 * memory window and each architecturally defined flag are compared.
 *
 * Both sides see the same linear addresses: the host maps a 2 MiB region at
 * a fixed low address and the guest's page tables map the same linear range
 * onto guest RAM, so register values that are pointers (memory operands,
 * string ops, RIP-relative forms) are identical. Integer forms also run in
 * 32-bit and 16-bit code (compatibility mode: the host far-returns to its
 * 32-bit user CS or to a 16-bit LDT segment); BCD runs there only. */
#ifndef CAIXA_TESTS_DIFF_H
#define CAIXA_TESTS_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- the shared region -------------------------------------------------- */
#define REGION_SIZE 0x200000u          /* one 2 MiB page on the guest side */
#define CODE_OFF 0x0000u               /* host prologue, instruction, epilogue */
#define SAVE_OFF 0x0f00u               /* host: saved rsp (compat and stack runs) */
#define WIN_OFF 0x10000u               /* the memory window both sides compare */
#define WIN_SIZE 8192u                 /* two pages: operands may straddle them */
#define LOWSTACK_OFF 0x30000u          /* host: stack top used in compat mode */

/* EFLAGS bits that instructions under test may define. */
#define DF_ARITH 0x08d5u   /* CF PF AF ZF SF OF */
#define DF_DF 0x0400u

/* Register file as the generated host code loads and stores it. */
struct dstate {
    uint64_t regs[16];      /* rsp (4): loaded and compared for stack forms only */
    uint64_t rflags;
    uint32_t mxcsr;
    uint32_t mxcsr_default; /* restored for the C code after the run */
    uint16_t fsw;           /* x87 status word after the run */
    uint8_t pad[14];
    uint8_t xmm[16][16];
};

/* Outcome of one run on one side. */
struct dresult {
    struct dstate st;
    uint8_t win[WIN_SIZE];
    int fault;              /* exception vector, -1 for none */
    bool lost;              /* caixa: did not reach the final HLT */
    uint64_t end_rip;
};

/* --- instruction forms ---------------------------------------------------- */
enum { MAP_1, MAP_0F, MAP_38, MAP_3A };

#define SZ_B 1
#define SZ_W 2
#define SZ_D 4
#define SZ_Q 8
#define SZ_WDQ (SZ_W | SZ_D | SZ_Q)
#define SZ_DQ (SZ_D | SZ_Q)

/* ModRM use */
#define EXT_R (-1)      /* ModRM.reg is a register operand */
#define EXT_NONE (-2)   /* no ModRM */
#define EXT_OPREG (-3)  /* register in the low 3 opcode bits (+r) */

enum imm_kind { I_NONE, I_8, I_Z, I_V, I_CNT, I_16 };
enum rm_kind { RM_ANY, RM_REG, RM_MEM };

/* Special handling (form.sp) */
#define S_LOCK (1u << 0)      /* LOCK allowed with a memory operand */
#define S_CL (1u << 1)        /* count in CL */
#define S_ONE (1u << 2)       /* count is 1 (D0-D3) */
#define S_SHL (1u << 3)       /* SHL/SHR/SAL flag rules */
#define S_SAR (1u << 4)
#define S_ROT (1u << 5)       /* ROL/ROR/RCL/RCR */
#define S_SHXD (1u << 6)      /* SHLD/SHRD */
#define S_DIV (1u << 7)       /* unsigned divide: prepare a dividend that fits, often */
#define S_IDIV (1u << 8)
#define S_BITOFF (1u << 9)    /* BT* r/m, r: keep the bit offset near the operand */
#define S_BSF (1u << 10)      /* destination undefined when the source is 0 */
#define S_CC (1u << 11)       /* expands to the 16 condition codes (opcode + cc) */
#define S_CMPXCHG (1u << 12)  /* accumulator often equals the destination */
#define S_CX8 (1u << 13)      /* CMPXCHG8B/16B */
#define S_STR (1u << 14)      /* string op: rsi/rdi/rcx/DF set up on the window */
#define S_COMPAT (1u << 15)   /* runs in 32-bit compatibility mode */
#define S_X87 (1u << 16)      /* x87 snippet: rbx -> window with FP operands; FSW compared */
#define S_SSE (1u << 17)      /* xmm registers and MXCSR compared */
#define S_MEMRBX (1u << 18)   /* rbx -> 16-aligned window operand */
#define S_LEA (1u << 19)      /* random addressing form, no memory access */
#define S_STACK (1u << 20)    /* uses the stack: rsp -> window, compared */
#define S_BCDIMM (1u << 22)   /* AAM/AAD: imm8 base, mostly 10 */
#define S_INFO (1u << 23)     /* informational: runs with --info only, never fails */
#define S_SSE_PD (1u << 24)   /* element type for SSE operand generation */
#define S_SSE_PS (1u << 25)
#define S_SSE_INT (1u << 26)
#define S_FPU_CW (1u << 27)   /* x87 snippet starts with FLDCW [rbx+0x70] */
/* CPUID feature the form needs (bits 28-31): the form runs only when both
 * the host and caixa report it. */
#define S_FEAT_SHIFT 48
#define FEAT(n) ((uint64_t)(n) << S_FEAT_SHIFT)
/* more special handling */
#define S_RETADDR (1ull << 32)  /* [rsp] holds the address after the instruction (RET) */
#define S_POPF (1ull << 33)     /* [rsp] holds a harmless EFLAGS image (POPF) */
#define S_CALLREG (1ull << 34)  /* rax holds the address after the instruction (CALL r) */
#define S_ENTER (1ull << 35)    /* ENTER: imm16 frame size, small nesting level */
enum feature { F_NONE, F_POPCNT, F_LZCNT, F_BMI1, F_MOVBE, F_ADX, F_LAHF64, F_CX16, F_SSE3, F_SSSE3, F_NFEAT };
extern const char *const feature_names[F_NFEAT];
/* Feature bits from CPUID (diff_cpuid.c): bit n set = feature n reported. */
uint32_t host_features(void);
uint32_t guest_features(void);

struct form {
    const char *name;
    uint8_t map;
    uint8_t opc;
    int8_t ext;       /* /digit 0-7, or EXT_* */
    uint8_t pfx;      /* mandatory prefix byte or 0 */
    uint8_t sizes;    /* SZ_* operand sizes to test */
    uint8_t imm;      /* enum imm_kind */
    uint8_t rmk;      /* enum rm_kind */
    uint16_t implicit; /* registers the instruction uses implicitly (bit per reg) */
    uint32_t undef;   /* EFLAGS bits the SDM leaves undefined */
    uint64_t sp;      /* S_* */
    const char *raw;  /* fixed bytes in hex (raw forms; no encoder) */
};

#define RB(r) (1u << (r))

extern const struct form diff_forms[];
extern const size_t diff_n_forms;

/* --- one concrete test ----------------------------------------------------- */
struct tcase {
    const struct form *f;
    unsigned opsize;        /* 1/2/4/8 */
    uint8_t cc;             /* S_CC condition */
    uint8_t code[24];
    unsigned len;
    bool compat;            /* compatibility mode: 32-bit code, or 16-bit if code16 */
    bool code16;            /* 16-bit code segment (base = the region, IP = offset) */
    bool has_mem;           /* a ModRM memory operand */
    int regop, rmreg, base; /* chosen registers, -1 if none */
    uint64_t ea;            /* memory operand address */
    uint64_t count;         /* shift count (imm or CL) */
    uint16_t used;          /* registers to print on a mismatch */
    bool byte_hi;           /* byte registers 4-7 are AH..BH (no REX) */
    uint16_t skip_regs;     /* registers with an undefined result */
    bool skip_mem;          /* memory window result undefined */
    struct dstate in;
    uint8_t win[WIN_SIZE];
};

/* --- host side (diff_host.c) --------------------------------------------- */
/* Maps the region; returns its address or 0. */
uint64_t host_init(void);
void host_run(const struct tcase *tc, struct dresult *out);

/* --- caixa side (diff_guest.c) ------------------------------------------- */
int guest_init(uint64_t region);
void guest_run(const struct tcase *tc, struct dresult *out);
void guest_destroy(void);
/* Runs CPUID in the guest: out = eax, ebx, ecx, edx. */
void guest_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* Linear address of the region, and of the instruction under test (the
 * same on host and guest). */
uint64_t host_region(void);
uint64_t host_insn_addr(bool compat);
/* True when the host's GS base is 0, so a GS override means the same as
 * none on both sides (64-bit mode). */
bool host_gs_zero(void);
/* True on an AMD host, where a few results differ from Intel's, which
 * caixa (GenuineIntel) follows. */
bool host_is_amd(void);
/* True when a 16-bit code segment could be put in the host's LDT. */
bool host_has_code16(void);
/* Offset of the instruction under test in the region (its IP in 16-bit code). */
#define TEST_OFF 0x400u

#endif
