/* SSE/MMX operand access shared by sse.c, sse_fp.c, sse_int.c and ssse3.c.
 * Only src/cpu/ includes this. */
#ifndef CAIXA_CPU_SSE_H
#define CAIXA_CPU_SSE_H

#include "cpu/fpu.h"

typedef __typeof__(((struct fpu_state *)0)->xmm[0]) xmm_t;

#define SSE_ALIGN 16

static inline xmm_t *xreg(struct cpu *cpu, unsigned r) { return &cpu->s.fpu.xmm[r & 15]; }

/* MMX registers alias the x87 significands; a write sets the exponent
 * field to all ones (SDM Vol. 1 9.5.1). Register numbers ignore REX. */
#define MMX_EXP 0xffff
static inline uint64_t mmx_get(const struct cpu *cpu, unsigned r) { return cpu->s.fpu.st[r & 7].mant; }
static inline void mmx_set(struct cpu *cpu, unsigned r, uint64_t v)
{
    cpu->s.fpu.st[r & 7].mant = v;
    cpu->s.fpu.st[r & 7].exp = MMX_EXP;
}

/* xmm/m128 source operand; aligned: #GP(0) unless 16-byte aligned. */
void sse_read128(struct cpu *cpu, const struct insn *in, xmm_t *out, bool aligned);
/* m128 destination. */
void sse_write128(struct cpu *cpu, const struct insn *in, const xmm_t *v, bool aligned);
/* xmm low part or memory of size bytes (4 or 8): scalar sources. */
uint64_t sse_read_low(struct cpu *cpu, const struct insn *in, unsigned size);
/* mm/m64 source (MMX forms). */
uint64_t mmx_read_src(struct cpu *cpu, const struct insn *in);

/* Operands of an instruction with MMX (no prefix) and XMM (66) forms:
 * d = destination register, s = source (register or aligned memory),
 * n = 8 or 16 bytes. vop_load does the checks (and the MMX transition
 * after the memory read); vop_store writes d back. src_bytes < n reads
 * only that much memory (PUNPCKLxx mm, m32). */
struct vop {
    uint8_t d[16], s[16];
    unsigned n;
};
void vop_load(struct cpu *cpu, const struct insn *in, struct vop *v, unsigned mmx_src_bytes);
void vop_store(struct cpu *cpu, const struct insn *in, const struct vop *v);

/* 66 prefix => XMM form, else MMX form (for the instructions that have both). */
static inline bool sse_is_xmm(const struct insn *in) { return in->pfx66; }

#endif
