/* x87 / MMX / SSE internals shared by fpu*.c, sse*.c and ssse3.c: the
 * availability checks (#NM, #UD, #MF), the x87 register stack, MXCSR and
 * multi-byte guest memory access. Only src/cpu/ includes this. */
#ifndef CAIXA_CPU_FPU_H
#define CAIXA_CPU_FPU_H

#include "cpu/cpu_int.h"
#include "cpu/softfloat80.h"

/* FSW bits (SDM Vol. 1 8.1.3) */
#define FSW_EXC 0x003f
#define FSW_SF 0x0040
#define FSW_ES 0x0080
#define FSW_C0 0x0100
#define FSW_C1 0x0200
#define FSW_C2 0x0400
#define FSW_TOP 0x3800
#define FSW_TOP_SHIFT 11
#define FSW_C3 0x4000
#define FSW_B 0x8000
#define FSW_CC (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)
/* FCW fields (SDM Vol. 1 8.1.5) */
#define FCW_MASKS 0x003f
#define FCW_PC_SHIFT 8
#define FCW_RC_SHIFT 10
#define FCW_INIT 0x037f   /* FINIT */
/* Tag values of the full tag word (SDM Vol. 1 8.1.7) */
#define TAG_VALID 0
#define TAG_ZERO 1
#define TAG_SPECIAL 2
#define TAG_EMPTY 3

/* MXCSR (SDM Vol. 1 10.2.3) */
#define MXCSR_IE 0x0001
#define MXCSR_DE 0x0002
#define MXCSR_ZE 0x0004
#define MXCSR_OE 0x0008
#define MXCSR_UE 0x0010
#define MXCSR_PE 0x0020
#define MXCSR_FLAGS 0x003f
#define MXCSR_DAZ 0x0040
#define MXCSR_MASK_SHIFT 7
#define MXCSR_RC_SHIFT 13
#define MXCSR_FZ 0x8000
#define MXCSR_SUPPORTED 0xffff  /* MXCSR_MASK: every bit below 16 incl. DAZ */
#define MXCSR_RESET 0x1f80

/* --- availability ---------------------------------------------------------- */
/* x87 ESC instruction: #NM if CR0.EM or CR0.TS (SDM Vol. 3A 2.5, table 2-2);
 * waiting ones then take a pending unmasked exception as #MF. */
void fpu_pending_error(struct cpu *cpu);
void fpu_check_x87(struct cpu *cpu, bool waiting);
/* MMX instruction: #UD if EM, #NM if TS, #MF if pending (fpu_check_mmx);
 * then enters MMX state: TOP = 0, all registers valid (fpu_mmx_state). */
void fpu_check_mmx(struct cpu *cpu);
void fpu_mmx_state(struct cpu *cpu);
void fpu_enter_mmx(struct cpu *cpu);
/* SSE instruction: #UD if EM or !CR4.OSFXSR, #NM if TS. */
void fpu_check_sse(struct cpu *cpu);
/* Raises the unmasked SIMD exceptions in flags (MXCSR bits 0-5):
 * #XM if CR4.OSXMMEXCPT, else #UD. Flags are recorded first. */
void sse_raise_flags(struct cpu *cpu, unsigned flags);

/* --- x87 stack ----------------------------------------------------------- */
static inline unsigned fpu_top(const struct cpu *cpu)
{
    return (cpu->s.fpu.fsw >> FSW_TOP_SHIFT) & 7;
}
static inline void fpu_set_top(struct cpu *cpu, unsigned top)
{
    cpu->s.fpu.fsw = (uint16_t)((cpu->s.fpu.fsw & ~FSW_TOP) | ((top & 7) << FSW_TOP_SHIFT));
}
static inline unsigned fpu_tag(const struct cpu *cpu, unsigned phys)
{
    return (cpu->s.fpu.ftw_full >> (phys * 2)) & 3;
}
static inline void fpu_set_tag(struct cpu *cpu, unsigned phys, unsigned tag)
{
    cpu->s.fpu.ftw_full = (uint16_t)((cpu->s.fpu.ftw_full & ~(3u << (phys * 2))) | (tag << (phys * 2)));
}
/* The tag a value deserves when it is written (SDM Vol. 1 8.1.7). */
unsigned fpu_tag_of(fx80 v);
/* Abridged (FXSAVE) tag byte and back. */
uint8_t fpu_ftw_abridged(const struct cpu *cpu);
void fpu_ftw_from_abridged(struct cpu *cpu, uint8_t abr);
/* Recomputes the full tag word from the register contents (non-empty ones). */
uint16_t fpu_ftw_full(const struct cpu *cpu);
/* FNINIT's state. */
void fpu_reset_x87(struct cpu *cpu);

/* Register stack access (fpu.c): i is the stack index ST(i). */
static inline unsigned fpu_phys(const struct cpu *cpu, unsigned i) { return (fpu_top(cpu) + i) & 7; }
static inline bool x87_empty(const struct cpu *cpu, unsigned i) { return fpu_tag(cpu, fpu_phys(cpu, i)) == TAG_EMPTY; }
static inline fx80 x87_st(const struct cpu *cpu, unsigned i)
{
    unsigned p = fpu_phys(cpu, i);
    fx80 v = { cpu->s.fpu.st[p].mant, cpu->s.fpu.st[p].exp };
    return v;
}
void x87_set_st(struct cpu *cpu, unsigned i, fx80 v);
void x87_push(struct cpu *cpu, fx80 v);
void x87_pop(struct cpu *cpu);
/* The arithmetic environment of FCW. */
struct sf_env x87_env(const struct cpu *cpu);
/* Records the flags of e in FSW (C1 from the rounding, ES/B when unmasked)
 * and says whether the result may be written: not after an unmasked #I, #D
 * or #Z, nor for a memory destination after an unmasked #O or #U. */
bool x87_commit(struct cpu *cpu, const struct sf_env *e, bool mem_dest);
/* Stack faults (SDM Vol. 1 8.5.1.1): set IE+SF and C1; return true when
 * masked, i.e. the instruction goes on with the default response. */
bool x87_underflow(struct cpu *cpu);
bool x87_overflow(struct cpu *cpu);
/* Sets C0-C3 to cc (FSW_C* bits), the rest unchanged. */
static inline void x87_set_cc(struct cpu *cpu, unsigned cc)
{
    cpu->s.fpu.fsw = (uint16_t)((cpu->s.fpu.fsw & ~FSW_CC) | cc);
}

/* Transcendental and environment forms (fpu_trans.c, fpu_env.c), reached
 * through the ESC dispatch of fpu.c. */
void x87_f2xm1(struct cpu *cpu, const struct insn *in);
void x87_fyl2x(struct cpu *cpu, const struct insn *in);
void x87_fyl2xp1(struct cpu *cpu, const struct insn *in);
void x87_fptan(struct cpu *cpu, const struct insn *in);
void x87_fpatan(struct cpu *cpu, const struct insn *in);
void x87_fsin(struct cpu *cpu, const struct insn *in);
void x87_fcos(struct cpu *cpu, const struct insn *in);
void x87_fsincos(struct cpu *cpu, const struct insn *in);
void x87_fldenv(struct cpu *cpu, const struct insn *in);
void x87_fnstenv(struct cpu *cpu, const struct insn *in);
void x87_frstor(struct cpu *cpu, const struct insn *in);
void x87_fnsave(struct cpu *cpu, const struct insn *in);

/* --- guest memory of any length ------------------------------------------ */
/* One access of len bytes at seg:off: segment and page checks of the whole
 * range happen before the first byte is written. */
void fpu_mem_read(struct cpu *cpu, int seg, uint64_t off, void *buf, unsigned len);
void fpu_mem_write(struct cpu *cpu, int seg, uint64_t off, const void *buf, unsigned len);
/* Linear address of the ModRM memory operand (for alignment checks). */
uint64_t fpu_operand_lin(struct cpu *cpu, const struct insn *in, unsigned len, int acc);

#endif
