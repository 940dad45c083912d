/* The software CPU's internal contract: the decoded-instruction record, the
 * opcode tables each instruction-group file contributes, operand and memory
 * access, lazy flags and exceptions. Only src/cpu/ includes this.
 *
 * Execution model (DESIGN.md "The software CPU"): guest code is decoded once
 * into blocks of struct insn, cached by guest physical address; the loop in
 * exec.c runs in->step(cpu, in) for each, which for most instructions calls
 * the row's in->fn(cpu, in). Before that call cpu->s.rip is the
 * instruction's own address and cpu->next_rip the address after it; a
 * handler that branches writes cpu->next_rip. A fault is raised with
 * cpu_raise(), which unwinds to the loop with longjmp and leaves rip at the
 * faulting instruction.
 *
 * Inside a block cpu->s.rip may lag behind: a record knows its address
 * from where the block was entered (insn_rip), so the specialised steps
 * that do not leave the block or fault (fast_ops.h) never write it. Every
 * other step sets it first, and the block is left with it up to date. */
#ifndef CAIXA_CPU_CPU_INT_H
#define CAIXA_CPU_CPU_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu.h"
#include "vmm/memory.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* --- modes ---------------------------------------------------------------- */
#define MODE_PE 0x01    /* CR0.PE */
#define MODE_VM 0x02    /* EFLAGS.VM (virtual-8086) */
#define MODE_LMA 0x04   /* EFER.LMA (IA-32e) */
#define MODE_CS64 0x08  /* 64-bit code segment (LMA and CS.L) */
#define MODE_CS32 0x10  /* CS.D: 32-bit default operand/address size */
/* Recompute cpu->mode after CR0, EFER, CS or EFLAGS.VM changed. */
void cpu_update_mode(struct cpu *cpu);
static inline bool cpu_is64(const struct cpu *cpu) { return cpu->mode & MODE_CS64; }
static inline bool cpu_protected(const struct cpu *cpu) { return (cpu->mode & (MODE_PE | MODE_VM)) == MODE_PE; }
static inline bool cpu_real(const struct cpu *cpu) { return !(cpu->mode & MODE_PE); }
static inline bool cpu_v86(const struct cpu *cpu) { return cpu->mode & MODE_VM; }

/* --- the decoded instruction ---------------------------------------------- */
struct insn;
typedef void (*insn_fn)(struct cpu *cpu, const struct insn *in);
/* What the block loop calls for each record: runs the instruction, leaves
 * cpu->s.rip at the next one, and returns the record to run next, or NULL
 * (through insn_leave) when the block ends there. The generic step sets
 * cpu->next_rip and calls the row's insn_fn; specialised ones (fast_*.c)
 * do the same work inline. */
typedef const struct insn *(*insn_step)(struct cpu *cpu, const struct insn *in);

#define REG_NONE 0xff
#define PFX_REP 1  /* F3 */
#define PFX_REPNE 2 /* F2 */

struct insn {
    insn_step step;    /* what the loop runs (see insn_step) */
    insn_fn fn;        /* the generic handler of the matching row */
    uint64_t imm;      /* immediate, sign-extended as the opcode defines; moffs for A0-A3 */
    uint32_t imm2;     /* second immediate: ENTER level, far pointer selector */
    int32_t disp;      /* ModRM displacement */
    uint16_t op;       /* OP1/OP0F/OP38/OP3A | opcode byte */
    int16_t off;       /* address - the block's entry address (insn_rip) */
    uint8_t len;       /* bytes, prefixes included */
    uint8_t opsize;    /* 1, 2, 4 or 8 */
    uint8_t addrsize;  /* 2, 4 or 8 */
    uint8_t seg;       /* segment of the memory operand: default or override */
    uint8_t rep;       /* 0, PFX_REP, PFX_REPNE */
    uint8_t lock;      /* LOCK prefix present */
    uint8_t rex;       /* REX byte, 0 if none (matters for byte registers) */
    uint8_t mod;       /* ModRM.mod; 3 = register operand */
    uint8_t reg;       /* ModRM.reg with REX.R (or the register of +r opcodes, with REX.B) */
    uint8_t rm;        /* ModRM.rm with REX.B when mod == 3 */
    uint8_t base;      /* base register of the memory operand, or REG_NONE */
    uint8_t index;     /* index register, or REG_NONE */
    uint8_t scale;     /* log2 of the index scale */
    uint8_t riprel;    /* 64-bit RIP-relative operand */
    uint8_t pfx66;     /* operand-size prefix seen (SSE mandatory-prefix forms) */
    uint8_t last;      /* last instruction of its block */
    uint8_t idx;       /* position in its block */
    uint8_t loop_to;   /* taken branch back to record loop_to - 1 of its block, 0 none */
    uint8_t pos;       /* instructions its block runs before it from its entry: idx, plus
                        * the NOPs without a record (exec.c); what the block's exit counts */
    uint8_t fused;     /* its step runs the Jcc of the next record too (fast_fused_jcc) */
};

/* The address of record `in` of the running block (cpu->blk_rip is where
 * it was entered: a block lies in one page, but for a last instruction
 * that spills over). */
static inline uint64_t insn_rip(const struct cpu *cpu, const struct insn *in)
{
    return (cpu->blk_rip + (uint64_t)(int64_t)in->off) & cpu->ip_mask;
}

/* The block ends after record `in`: a step returns this. */
static inline const struct insn *insn_leave(struct cpu *cpu, const struct insn *in)
{
    cpu->blk_last = in;
    return NULL;
}

/* The block ends after record `in`, RIP at where it goes, from a
 * specialised handler: the next block may run on at once (exec.c). */
const struct insn *block_leave(struct cpu *cpu, const struct insn *in);

/* Opcode maps. */
#define OP1 0x000
#define OP0F 0x100
#define OP38 0x200
#define OP3A 0x300

/* --- opcode tables --------------------------------------------------------
 * Each instruction-group file lists its forms as struct op_def rows and
 * registers the array with OPS_REGISTER(name); decode.c builds its lookup
 * from every registered array at start-up. */
#define OPF_MODRM 0x0001     /* has a ModRM byte */
#define OPF_BYTE 0x0002      /* operand size 1 */
#define OPF_IMM8 0x0004      /* imm8, sign-extended to 64 bits */
#define OPF_IMM8U 0x0008     /* imm8, zero-extended */
#define OPF_IMM16 0x0010     /* imm16, zero-extended */
#define OPF_IMMZ 0x0020      /* imm16 or imm32 by operand size, sign-extended (imm32 for 64) */
#define OPF_IMMV 0x0040      /* imm16/32/64 by operand size (MOV r, imm) */
#define OPF_MOFFS 0x0080     /* moffs of address size (A0-A3), in imm */
#define OPF_FAR 0x0100       /* ptr16:16/32: offset in imm, selector in imm2 */
#define OPF_ENTER 0x0200     /* imm16 then imm8 (ENTER): imm, imm2 */
#define OPF_DEF64 0x0400     /* operand size defaults to 64 in 64-bit mode (PUSH, near branches) */
#define OPF_F64 0x0800       /* operand size is always 64 in 64-bit mode */
#define OPF_NO64 0x1000      /* #UD in 64-bit mode */
#define OPF_ONLY64 0x2000    /* only in 64-bit mode */
#define OPF_MEM 0x4000       /* only the memory form of ModRM (mod != 3) */
#define OPF_REG 0x8000       /* only the register form of ModRM (mod == 3) */
#define OPF_END 0x10000      /* ends its block (branches, mode and control changes, HLT) */
#define OPF_LOCK 0x20000     /* LOCK prefix allowed (with a memory destination) */
#define OPF_REL 0x40000      /* imm is a relative branch target (informational for traces) */
#define OPF_OP32 0x80000     /* operand size 32 in 64-bit mode unless REX.W (MOV CR/DR use F64) */

#define PFX_ANY 0   /* prefix-agnostic form */
#define PFX_NONE 1  /* SSE form with no mandatory prefix */
#define PFX_66 2
#define PFX_F3 3
#define PFX_F2 4

struct op_def {
    uint16_t op;       /* OP1/OP0F/OP38/OP3A | byte */
    int8_t reg;        /* ModRM.reg for group members, -1 any */
    int8_t rm;         /* ModRM.rm for register-form groups (0F 01 F8 ...), -1 any */
    uint8_t pfx;       /* PFX_* mandatory prefix */
    uint32_t flags;    /* OPF_* */
    insn_fn fn;
    const char *name;  /* mnemonic, for traces and the debugger */
};

#define OPS_REGISTER(arr)                                                               \
    __attribute__((used, section("caixa_ops"))) static const struct op_def *const arr##_reg_ = (arr)
/* Each registered array ends with a row whose fn is NULL. */
#define OPS_END { 0, 0, 0, 0, 0, NULL, NULL }

/* Specialised handlers (Bochs-style: one per operand size and operand
 * form): the decoder picks one, when registered, over the generic handler of
 * the matching row for this opcode, ModRM.reg, operand size and form. The
 * generic row still decides validity (prefixes, modes, LOCK); a specialised
 * handler has exactly the generic semantics for its case, and the same tests
 * (the differential tester included) run it, since it is what executes. */
#define FAST_ANY 0
#define FAST_REG 1   /* ModRM register form (or no ModRM) */
#define FAST_MEM 2   /* ModRM memory form */
#define FAST_MEMB 3  /* memory form: base + displacement, no FS/GS override */
#define FAST_MEMX 4  /* memory form: base + index * scale + displacement, no FS/GS override */
struct op_fast {
    uint16_t op;       /* OP1/OP0F/OP38/OP3A | byte; only PFX_ANY rows are specialised */
    int8_t reg;        /* ModRM.reg, -1 any */
    uint8_t opsize;    /* 1, 2, 4 or 8; 0 any */
    uint8_t form;      /* FAST_* */
    uint8_t addrsize;  /* 2, 4 or 8; 0 any */
    insn_step fn;
};
#define OPS_FAST_REGISTER(arr)                                                          \
    __attribute__((used, section("caixa_fastops"))) static const struct op_fast *const arr##_reg_ = (arr)
/* Each registered array ends with a row whose fn is NULL. */
#define OPS_FAST_END { 0, 0, 0, 0, 0, NULL }

/* Decodes one instruction at CS:ip in the current mode (used by the block
 * builder and by traces); faults (#UD, #PF, #GP on fetch or length > 15) are
 * raised through cpu_raise. */
void cpu_decode(struct cpu *cpu, uint64_t ip, struct insn *out);
/* The step of rows without a specialised handler (exec.c). */
const struct insn *insn_step_generic(struct cpu *cpu, const struct insn *in);
const char *cpu_insn_name(const struct insn *in);
void cpu_decode_init(void);
/* The step that runs a record of `flagger` (the quick register, base +
 * displacement or other 64-bit memory form of a CMP or TEST but the
 * indexed one) and the Jcc with condition cc after it in one go
 * (fast_alu.c), or NULL. exec.c fuses such pairs of 64-bit
 * code; insn->fused marks them. */
insn_step fast_fused_jcc(insn_step flagger, unsigned cc);

/* CPUID family/model/stepping, also EDX after RESET (SDM Vol. 3A 9.1.4):
 * family 6, model 15, stepping 11 - a Core 2 class part, which matches the
 * SSE3/SSSE3 feature level the model implements. */
#define CPU_SIGNATURE 0x000006fbu

/* --- exceptions ----------------------------------------------------------- */
/* Raises an exception; err is pushed for vectors that have an error code
 * (8, 10-14, 17, 21). Never returns. */
_Noreturn void cpu_raise(struct cpu *cpu, int vec, uint32_t err);
static inline _Noreturn void cpu_ud(struct cpu *cpu) { cpu_raise(cpu, EXC_UD, 0); }
static inline _Noreturn void cpu_gp0(struct cpu *cpu) { cpu_raise(cpu, EXC_GP, 0); }
/* Interrupt kinds for cpu_interrupt (interrupt.c). */
enum intr_kind { INTR_EXT, INTR_EXC, INTR_SOFT, INTR_INT3, INTR_INTO, INTR_ICEBP, INTR_NMI };
/* Delivers an interrupt or exception through the IVT/IDT in the current mode:
 * pushes the frame, loads CS:RIP. The return address is cpu->next_rip for
 * software interrupts and traps, cpu->s.rip for faults and external ones. */
void cpu_interrupt(struct cpu *cpu, int vec, enum intr_kind kind, bool has_err, uint32_t err);
bool cpu_exc_has_error(int vec);

/* --- lazy flags (flags.c) -------------------------------------------------- */
enum {
    LF_NONE,   /* rflags holds every arithmetic flag */
    LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC,
    LF_INC, LF_DEC,           /* src = CF from before (INC/DEC keep it) */
    LF_SHL, LF_SHR, LF_SAR,   /* src = count (1..width-1 or more), dst = value shifted */
};
static inline void lf_set(struct cpu *cpu, uint32_t op, unsigned size, uint64_t dst, uint64_t src, uint64_t res)
{
    cpu->s.lf.op = op;
    cpu->s.lf.size = size;
    cpu->s.lf.dst = dst;
    cpu->s.lf.src = src;
    cpu->s.lf.res = res;
}
/* INC/DEC keep CF: the old CF rides along in lf.src. */
void lf_inc_dec(struct cpu *cpu, bool inc, unsigned size, uint64_t dst, uint64_t res);
/* Folds the lazy flags into rflags (then lf.op == LF_NONE). */
void flags_materialize(struct cpu *cpu);
/* Sets the arithmetic flags in `mask` to `val` (others kept). */
void flags_write(struct cpu *cpu, uint32_t mask, uint32_t val);
bool flag_cf(struct cpu *cpu);
bool flag_zf(struct cpu *cpu);
bool flag_sf(struct cpu *cpu);
bool flag_of(struct cpu *cpu);
bool flag_pf(struct cpu *cpu);
bool flag_af(struct cpu *cpu);
/* Condition code cc (0-15, the low nibble of Jcc/SETcc/CMOVcc). */
bool cond_true(struct cpu *cpu, unsigned cc);

/* --- registers ------------------------------------------------------------ */
extern const uint64_t cpu_size_masks[9];
static inline uint64_t size_mask(unsigned size)
{
    /* a constant size folds to a constant (the table is not visible here) */
    if (__builtin_constant_p(size))
        return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
    return size >= 8 ? ~0ull : cpu_size_masks[size];
}

/* 64-bit addresses: bits 63..47 all equal (SDM Vol. 1 3.3.7.1). */
static inline bool is_canonical(uint64_t a) { return (uint64_t)(((int64_t)a >> 47) + 1) <= 1; }
static inline uint64_t sign_bit(unsigned size) { return 1ull << (size * 8 - 1); }
static inline int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return (int64_t)(v << sh) >> sh;
}

/* The conditions the last lazy operation gives without folding: ZF and SF
 * from its result, the CMP/SUB relations B, BE, L, LE from its operands.
 * pair is cc >> 1; true when *r holds the condition (before cc & 1 negates
 * it). Shared by cond_true() and the specialised Jcc/SETcc/CMOVcc forms. */
static inline bool lf_cond_quick(const struct lazy_flags *lf, unsigned pair, bool *r)
{
    if (lf->op == LF_NONE)
        return false;
    switch (pair) {
    case 2: *r = lf->res == 0; return true;                             /* Z */
    case 4: *r = (lf->res & sign_bit(lf->size)) != 0; return true;      /* S */
    default: break;
    }
    if (lf->op != LF_SUB)
        return false;
    switch (pair) {
    case 1: *r = lf->dst < lf->src; return true;                        /* B */
    case 3: *r = lf->dst <= lf->src; return true;                       /* BE */
    case 6: *r = sext(lf->dst, lf->size) < sext(lf->src, lf->size); return true;   /* L */
    case 7: *r = sext(lf->dst, lf->size) <= sext(lf->src, lf->size); return true;  /* LE */
    default: return false;
    }
}

/* General register r (0-15) at size; byte registers 4-7 are AH-BH without REX. */
static inline uint64_t greg_read(const struct cpu *cpu, const struct insn *in, unsigned r, unsigned size)
{
    if (likely(size != 1))
        return cpu->s.regs[r] & size_mask(size);
    if (r >= 4 && r < 8 && !in->rex)
        return (cpu->s.regs[r - 4] >> 8) & 0xff;
    return cpu->s.regs[r] & 0xff;
}
static inline void greg_write(struct cpu *cpu, const struct insn *in, unsigned r, unsigned size, uint64_t v)
{
    uint64_t *p;
    if (likely(size >= 4)) {
        cpu->s.regs[r] = v & size_mask(size);   /* 32-bit writes zero-extend (64-bit mode) */
    } else if (size == 2) {
        p = &cpu->s.regs[r];
        *p = (*p & ~0xffffull) | (v & 0xffff);
    } else if (r >= 4 && r < 8 && !in->rex) {
        p = &cpu->s.regs[r - 4];
        *p = (*p & ~0xff00ull) | ((v & 0xff) << 8);
    } else {
        p = &cpu->s.regs[r];
        *p = (*p & ~0xffull) | (v & 0xff);
    }
}
/* Address-size register (RSI/RDI/RCX for string ops): read masked, write merged. */
static inline uint64_t areg_read(const struct cpu *cpu, unsigned r, unsigned asize)
{
    return cpu->s.regs[r] & size_mask(asize);
}
static inline void areg_write(struct cpu *cpu, unsigned r, unsigned asize, uint64_t v)
{
    if (asize == 2)
        cpu->s.regs[r] = (cpu->s.regs[r] & ~0xffffull) | (v & 0xffff);
    else
        cpu->s.regs[r] = v & size_mask(asize);
}

/* --- memory --------------------------------------------------------------- */
/* Access kinds for the MMU; ACC_SUPER marks implicit supervisor accesses
 * (descriptor tables, TSS, IDT) which ignore CPL for U/S checks. */
#define ACC_R 0
#define ACC_W 1
#define ACC_X 2
#define ACC_SUPER 4

#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
/* 32 bytes, so that an index is a shift: what the inline paths read. */
struct tlb_entry {
    uint64_t tag_r, tag_w, tag_x;   /* linear page address, or TLB_INVALID */
    uintptr_t addend;               /* host pointer = lin + addend */
};
/* What only the slow paths read, beside each entry. */
struct tlb_page {
    uint64_t phys;                  /* guest physical page */
    uint32_t ram_index;             /* physmem_page()'s, for the code-page check */
    bool global;
};
#define TLB_INVALID 1ull  /* never a page-aligned address */
/* Entries that a fill pushed out of a filled set, fully associative: pages
 * whose linear addresses are a multiple of TLB_SIZE pages apart (kernel
 * text 4 MiB apart, say) then take turns without a walk each time. */
#define VTLB_SIZE 8
struct cpu_tlb {
    /* [0] supervisor, [1] user (CPL 3) accesses, [2] user accesses under
     * alignment checking: never filled, so they all take the slow path.
     * cpu->tlb_user points at the set of non-supervisor accesses. */
    struct tlb_entry e[3][TLB_SIZE];
    struct tlb_page page[3][TLB_SIZE];
    /* Victims of sets 0 and 1 (mmu.c), and where the next one goes. */
    struct tlb_entry ve[2][VTLB_SIZE];
    struct tlb_page vpage[2][VTLB_SIZE];
    unsigned vnext[2];
};

static inline struct tlb_entry *tlb_entry(struct cpu *cpu, uint64_t lin, int acc)
{
    struct tlb_entry *set = (acc & ACC_SUPER) ? cpu->tlb->e[0] : cpu->tlb_user;
    return &set[(lin >> PAGE_SHIFT) & (TLB_SIZE - 1)];
}
static inline struct tlb_page *tlb_page_of(struct cpu *cpu, const struct tlb_entry *e)
{
    return &cpu->tlb->page[0][0] + (e - &cpu->tlb->e[0][0]);
}
/* A TLB hit for size bytes at lin: the entry lin indexes has the tag of
 * the page of the access's last byte. One compare also sends accesses that
 * cross a page to the slow path: the next page's tag lives at the next
 * index, never at lin's. */
static inline bool tlb_hit(uint64_t tag, uint64_t lin, unsigned size)
{
    return tag == ((lin + size - 1) & PAGE_MASK);
}

/* Linear-address accesses (mmu.c): may raise #PF; handle page-crossing. */
uint64_t lin_read_slow(struct cpu *cpu, uint64_t lin, unsigned size, int acc);
void lin_write_slow(struct cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int acc);

static inline uint64_t lin_read(struct cpu *cpu, uint64_t lin, unsigned size, int acc)
{
    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    uint64_t tag = (acc & ACC_X) ? e->tag_x : e->tag_r;
    if (likely(tlb_hit(tag, lin, size))) {
        const uint8_t *p = (const uint8_t *)(uintptr_t)(lin + e->addend);
        switch (size) {
        case 1: return *p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return v; }
        }
    }
    return lin_read_slow(cpu, lin, size, acc);
}
static inline void lin_write(struct cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int acc)
{
    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    if (likely(tlb_hit(e->tag_w, lin, size))) {
        uint8_t *p = (uint8_t *)(uintptr_t)(lin + e->addend);
        switch (size) {
        case 1: *p = (uint8_t)val; return;
        case 2: { uint16_t v = (uint16_t)val; memcpy(p, &v, 2); return; }
        case 4: { uint32_t v = (uint32_t)val; memcpy(p, &v, 4); return; }
        default: memcpy(p, &val, 8); return;
        }
    }
    lin_write_slow(cpu, lin, size, val, acc);
}
/* Checks a write is possible (page present and writable) before a
 * multi-part update, raising #PF now rather than halfway. */
void lin_probe_write(struct cpu *cpu, uint64_t lin, unsigned size);

/* Linear -> physical for access kind acc; raises #PF. */
uint64_t mmu_translate(struct cpu *cpu, uint64_t lin, int acc);
void tlb_flush(struct cpu *cpu, bool keep_global);
/* PAE paging (not IA-32e): loads the four PDPTEs that `cr3` points to into
 * `out`; false if a present one has reserved bits set (the MOV to CR0, CR3
 * or CR4 then raises #GP(0) and changes nothing). */
bool mmu_read_pdptes(struct cpu *cpu, uint64_t cr3, uint64_t out[4]);
/* Would CR0/CR4/EFER values make PAE paging (not IA-32e) active? */
static inline bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}
void tlb_flush_page(struct cpu *cpu, uint64_t lin);
void tlb_drop_writes_to(struct cpu *cpu, uint64_t phys_page);
/* The block cache of a vCPU (exec.c). */
int cpu_blocks_init(struct cpu *cpu);
void cpu_blocks_destroy(struct cpu *cpu);
/* Drop decoded blocks on a physical page (self-modifying code). */
void blocks_invalidate_page(struct cpu *cpu, uint64_t phys_page);
void blocks_flush(struct cpu *cpu);
/* Block links and the jump cache (exec.c) hold while cpu->chain_epoch is
 * unchanged. A link skips the fetch's checks, so bit 0 says whether it was
 * made at CPL 3 (U/S, SDM Vol. 3A 4.6): a system call and its return
 * toggle it and find their links again. The rest counts what expires them
 * all: TLB flushes, INVLPG, dropped blocks, mode changes. */
#define CHAIN_USER 1u
static inline void chain_expire(struct cpu *cpu)
{
    cpu->chain_epoch += 2;
    /* Wrapped (after hours of flushes): no old link may match again. */
    if (unlikely(cpu->chain_epoch < 2))
        blocks_flush(cpu);
}

/* --- several vCPUs on one physmem (smp.c) --------------------------------
 * Each vCPU caches decoded code and TLB entries of its own; guest RAM is
 * shared. A page that any vCPU holds code from has its code_map bit set and
 * no vCPU keeps a write TLB entry for it, so writes there take the slow
 * path, which tells the holders: this vCPU drops its blocks at once, the
 * others at their next block boundary (cpu->smp_request). */
int smp_attach(struct cpu *cpu);
void smp_detach(struct cpu *cpu);
/* This vCPU is about to read code from physical page `page`: sets its
 * code_map bit before the bytes are read and drops every vCPU's write TLB
 * entries for the page. */
void smp_mark_code_page(struct cpu *cpu, uint64_t page);
/* A slow-path write to `phys` has landed: every vCPU holding code from its
 * page drops it. */
void smp_phys_written(struct cpu *cpu, uint64_t phys);
/* Acts on the drops other vCPUs queued (at a block boundary). */
void smp_process_requests(struct cpu *cpu);
/* Clears this vCPU's code_map bits (it dropped all its blocks). */
void smp_clear_code_marks(struct cpu *cpu);

/* --- LOCK-prefixed and XCHG memory operations (atomic.c) ------------------
 * Atomic with respect to the other vCPUs (SDM Vol. 3A 8.1.2). Write access
 * is checked first, so faults are precise; the old value is returned and
 * the caller computes the flags from it. */
enum { LK_ADD, LK_OR, LK_AND, LK_XOR, LK_XCHG, LK_NEG };
/* [lin] = [lin] op src (LK_NEG ignores src; LK_XCHG stores src). */
uint64_t locked_rmw(struct cpu *cpu, uint64_t lin, unsigned size, unsigned op, uint64_t src);
/* CMPXCHG / CMPXCHG8B: stores src if [lin] equals expect. */
uint64_t locked_cmpxchg(struct cpu *cpu, uint64_t lin, unsigned size, uint64_t expect, uint64_t src);
/* CMPXCHG16B (lin 16-byte aligned): true if equal and src stored, else
 * cmp[] gets the old value. */
bool locked_cmpxchg16(struct cpu *cpu, uint64_t lin, uint64_t cmp[2], const uint64_t src[2]);
/* Where a locked operand lives (mmu.c): translated for a write, faults
 * raised, A/D set. host: RAM within one page (else NULL: MMIO, ROM, or two
 * pages); phys/first: the physical address of each part and the bytes on
 * the first; slow: not a write TLB hit, so code pages must hear of it. */
struct locked_target {
    uint8_t *host;
    uint64_t phys[2];
    unsigned first;
    bool slow;
};
void lin_locked_target(struct cpu *cpu, uint64_t lin, unsigned size, struct locked_target *t);

/* Segmented accesses (seg.c): offset -> linear with the limit, type and
 * canonical checks of the mode (#GP, or #SS for SS). */
uint64_t seg_lin_slow(struct cpu *cpu, int seg, uint64_t off, unsigned size, int acc);
static inline uint64_t seg_lin(struct cpu *cpu, int seg, uint64_t off, unsigned size, int acc)
{
    if (cpu_is64(cpu)) {
        uint64_t lin = off;
        if (seg >= S_FS)
            lin += cpu->s.seg[seg].base;
        if (likely(is_canonical(lin)))
            return lin;
    }
    return seg_lin_slow(cpu, seg, off, size, acc);
}
static inline uint64_t mem_read(struct cpu *cpu, int seg, uint64_t off, unsigned size)
{
    return lin_read(cpu, seg_lin(cpu, seg, off, size, ACC_R), size, ACC_R);
}
static inline void mem_write(struct cpu *cpu, int seg, uint64_t off, unsigned size, uint64_t val)
{
    lin_write(cpu, seg_lin(cpu, seg, off, size, ACC_W), size, val, ACC_W);
}
static inline uint8_t mem_read8(struct cpu *cpu, int seg, uint64_t off) { return (uint8_t)mem_read(cpu, seg, off, 1); }
static inline uint16_t mem_read16(struct cpu *cpu, int seg, uint64_t off) { return (uint16_t)mem_read(cpu, seg, off, 2); }
static inline uint32_t mem_read32(struct cpu *cpu, int seg, uint64_t off) { return (uint32_t)mem_read(cpu, seg, off, 4); }
static inline uint64_t mem_read64(struct cpu *cpu, int seg, uint64_t off) { return mem_read(cpu, seg, off, 8); }

/* Effective address (offset in the segment) of the ModRM memory operand. */
static inline uint64_t insn_ea(const struct cpu *cpu, const struct insn *in)
{
    uint64_t a = (uint64_t)(int64_t)in->disp;
    if (in->riprel)
        return (a + cpu->next_rip) & size_mask(in->addrsize);
    if (in->base != REG_NONE)
        a += cpu->s.regs[in->base];
    if (in->index != REG_NONE)
        a += cpu->s.regs[in->index] << in->scale;
    return a & size_mask(in->addrsize);
}
/* r/m operand of the instruction's size. */
static inline uint64_t rm_read(struct cpu *cpu, const struct insn *in, unsigned size)
{
    if (in->mod == 3)
        return greg_read(cpu, in, in->rm, size);
    return mem_read(cpu, in->seg, insn_ea(cpu, in), size);
}
static inline void rm_write(struct cpu *cpu, const struct insn *in, unsigned size, uint64_t v)
{
    if (in->mod == 3)
        greg_write(cpu, in, in->rm, size, v);
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), size, v);
}

/* --- stack (stack.c) ------------------------------------------------------ */
/* Stack address size: 8 in 64-bit mode, else SS.B ? 4 : 2. */
unsigned stack_asize(const struct cpu *cpu);
void push(struct cpu *cpu, unsigned size, uint64_t v);
uint64_t pop(struct cpu *cpu, unsigned size);
/* Reads/writes at SP+off without moving SP (for far returns and frames). */
uint64_t stack_read(struct cpu *cpu, uint64_t sp_off, unsigned size);

/* --- segments and descriptors (seg.c) ------------------------------------- */
/* MOV/POP to a segment register with every check of the mode. */
void seg_load(struct cpu *cpu, int seg, uint16_t sel);
/* Real/V86 mode load: base = sel << 4, attributes kept per the SDM. */
void seg_load_real(struct cpu *cpu, int seg, uint16_t sel);
/* Reads the 8-byte descriptor for sel from the GDT/LDT; raises #GP(sel) if
 * outside the table limit. */
uint64_t desc_read(struct cpu *cpu, uint16_t sel);
void desc_to_cache(uint64_t desc, uint16_t sel, struct seg_cache *sc);

/* --- debug registers (debugreg.c) ---------------------------------------- */
/* Recomputes what DR0-DR3/DR7 arm; call after writing them. */
void dr_update(struct cpu *cpu);
void dr_task_switch(struct cpu *cpu);        /* clears L0-L3 */
unsigned dr_exec_hit(const struct cpu *cpu, uint64_t lin);
bool dr_page_watched(const struct cpu *cpu, uint64_t lin_page);
void dr_check_data(struct cpu *cpu, uint64_t lin, unsigned size, bool write);
/* An instruction breakpoint at CS:RIP (and RF clear): sets DR6 and RF. */
bool dr_exec_fault(struct cpu *cpu);

/* --- I/O ------------------------------------------------------------------ */
/* IOPL / TSS bitmap check (#GP(0) when denied), then the bus. */
uint32_t io_in(struct cpu *cpu, uint16_t port, unsigned size);
void io_out(struct cpu *cpu, uint16_t port, unsigned size, uint32_t val);

/* --- helpers for handlers -------------------------------------------------- */
/* Near branch to target (masked to the operand size, canonical in 64-bit mode). */
void branch_near(struct cpu *cpu, uint64_t target, unsigned opsize);
/* EFLAGS write with the privilege rules of POPF/IRET (which bits may change). */
void eflags_write_checked(struct cpu *cpu, uint64_t val, unsigned size);
/* Current privilege-related predicates. */
static inline unsigned cpu_iopl(const struct cpu *cpu) { return (cpu->s.rflags >> FL_IOPL_SHIFT) & 3; }

#endif
