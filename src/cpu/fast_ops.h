/* Shared pieces of the specialised handlers (fast_*.c): each of those
 * files writes one always-inline template per operation, with the operand
 * size, the ModRM form and the operation as compile-time constants, and
 * lets the macros below stamp out the handlers and their struct op_fast
 * rows. A template must do exactly what the generic handler does for its
 * case (alu.c, shift.c, datamov.c, branch.c, stack.c, muldiv.c). */
#ifndef CAIXA_CPU_FAST_OPS_H
#define CAIXA_CPU_FAST_OPS_H

#include "cpu/cpu_int.h"

#define FAST_INLINE static inline __attribute__((always_inline))
/* A handler: every inline helper it calls (cpu_int.h's memory path among
 * them) is inlined into it. */
#define FAST_HANDLER(name) __attribute__((flatten)) static void name(struct cpu *cpu, const struct insn *in)

/* The form argument `mem` of a template: bit 0 says a memory form, bit 1
 * a quick one. A quick form takes only what it can do without a call (a
 * TLB hit in 64-bit mode, flags the lazy state gives inline): for anything
 * else its template returns false before any side effect and the handler
 * starts over in the matching slow form. The quick path then makes no call
 * and needs no register saves. Templates return true when done. */
#define FAST_R 0u     /* register form (or no ModRM) */
#define FAST_M 1u     /* memory form, any address size */
#define FAST_RQ 2u    /* register form, quick */
#define FAST_M64 3u   /* memory form with 64-bit addresses, quick */
#define FAST_IS_MEM(mem) (((mem) & 1u) != 0)
#define FAST_QUICK(mem) (((mem) & 2u) != 0)

/* Handler `name` runs tmpl(cpu, in, args..., q) in the quick form q; when
 * that declines, it goes on to handler `slow`, the slow form s. */
#define FAST_QUICK_HANDLERS(name, slow, q, s, tmpl, ...)                                    \
    __attribute__((noinline)) FAST_HANDLER(slow) { tmpl(cpu, in, __VA_ARGS__, s); }         \
    FAST_HANDLER(name)                                                                      \
    {                                                                                       \
        if (!tmpl(cpu, in, __VA_ARGS__, q))                                                 \
            slow(cpu, in);                                                                  \
    }
/* Handlers stem<size>_r (register form), stem<size>_q (memory, 64-bit
 * addresses) and their slow forms stem<size>_rs and stem<size>_m (memory,
 * any address size), calling tmpl(cpu, in, args..., size, mem). */
#define FAST_RM_PAIR(stem, size, tmpl, ...)                                                 \
    FAST_QUICK_HANDLERS(stem##size##_r, stem##size##_rs, FAST_RQ, FAST_R, tmpl, __VA_ARGS__, size) \
    FAST_QUICK_HANDLERS(stem##size##_q, stem##size##_m, FAST_M64, FAST_M, tmpl, __VA_ARGS__, size)
/* The same at operand sizes 4 and 8. */
#define FAST_RM_PAIRS48(stem, tmpl, ...)                                                    \
    FAST_RM_PAIR(stem, 4, tmpl, __VA_ARGS__) FAST_RM_PAIR(stem, 8, tmpl, __VA_ARGS__)
/* Their struct op_fast rows for opcode opc, ModRM.reg reg (-1 any). */
#define FAST_RM_ROWS(opc, reg, stem, size)                                                  \
    {(opc), (reg), (size), FAST_REG, 0, stem##size##_r},                                    \
    {(opc), (reg), (size), FAST_MEM, 8, stem##size##_q},                                    \
    {(opc), (reg), (size), FAST_MEM, 0, stem##size##_m}
#define FAST_RM_ROWS48(opc, reg, stem)                                                      \
    FAST_RM_ROWS(opc, reg, stem, 4), FAST_RM_ROWS(opc, reg, stem, 8)

/* Handler stem<size> of an opcode without ModRM (a register in the
 * opcode, an implied one, or none), and its row. */
#define FAST_PLAIN(stem, size, tmpl, ...)                                                   \
    FAST_QUICK_HANDLERS(stem##size, stem##size##_s, FAST_RQ, FAST_R, tmpl, __VA_ARGS__, size)
#define FAST_PLAIN48(stem, tmpl, ...)                                                       \
    FAST_PLAIN(stem, 4, tmpl, __VA_ARGS__) FAST_PLAIN(stem, 8, tmpl, __VA_ARGS__)
#define FAST_PLAIN_ROW(opc, stem, size) {(opc), -1, (size), FAST_ANY, 0, stem##size}
#define FAST_PLAIN_ROWS48(opc, stem) FAST_PLAIN_ROW(opc, stem, 4), FAST_PLAIN_ROW(opc, stem, 8)

/* M(cc, args...) for the 16 condition codes (Jcc, SETcc, CMOVcc). */
#define FAST_EACH_CC(M, ...)                                                                \
    M(0, __VA_ARGS__) M(1, __VA_ARGS__) M(2, __VA_ARGS__) M(3, __VA_ARGS__)                 \
    M(4, __VA_ARGS__) M(5, __VA_ARGS__) M(6, __VA_ARGS__) M(7, __VA_ARGS__)                 \
    M(8, __VA_ARGS__) M(9, __VA_ARGS__) M(10, __VA_ARGS__) M(11, __VA_ARGS__)               \
    M(12, __VA_ARGS__) M(13, __VA_ARGS__) M(14, __VA_ARGS__) M(15, __VA_ARGS__)

/* insn_ea() of a memory form; without the address-size mask for FAST_M64. */
FAST_INLINE uint64_t fast_ea(const struct cpu *cpu, const struct insn *in, unsigned mem)
{
    if (mem != FAST_M64)
        return insn_ea(cpu, in);
    uint64_t a = (uint64_t)(int64_t)in->disp;
    if (in->riprel)
        return a + cpu->next_rip;
    if (in->base != REG_NONE)
        a += cpu->s.regs[in->base];
    if (in->index != REG_NONE)
        a += cpu->s.regs[in->index] << in->scale;
    return a;
}
/* The host address of a TLB hit for the memory operand (FAST_M64), or NULL:
 * what seg_lin() and lin_read()/lin_write() do when they take no slow path. */
FAST_INLINE uint8_t *fast_host(struct cpu *cpu, const struct insn *in, unsigned size, bool rd, bool wr)
{
    if (unlikely(!cpu_is64(cpu)))
        return NULL;
    uint64_t lin = fast_ea(cpu, in, FAST_M64);
    if (in->seg >= S_FS)
        lin += cpu->s.seg[in->seg].base;
    /* canonical: bits 63..47 all equal */
    if (unlikely((uint64_t)(((int64_t)lin >> 47) + 1) > 1))
        return NULL;
    const struct tlb_entry *e = tlb_entry(cpu, lin, ACC_R);
    if ((rd && e->tag_r != (lin & PAGE_MASK)) || (wr && e->tag_w != (lin & PAGE_MASK)) ||
        (lin & (PAGE_SIZE - 1)) > PAGE_SIZE - size)
        return NULL;
    return (uint8_t *)(uintptr_t)(lin + e->addend);
}
FAST_INLINE uint64_t fast_load(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}
FAST_INLINE void fast_store(uint8_t *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: *p = (uint8_t)v; return;
    case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); return; }
    case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); return; }
    default: memcpy(p, &v, 8); return;
    }
}

/* r/m operand of a form known at compile time: false only for a FAST_M64
 * that is not a TLB hit. */
FAST_INLINE bool fast_rm_get(struct cpu *cpu, const struct insn *in, unsigned size, unsigned mem, uint64_t *v)
{
    if (mem == FAST_M64) {
        const uint8_t *p = fast_host(cpu, in, size, true, false);
        if (!p)
            return false;
        *v = fast_load(p, size);
    } else if (FAST_IS_MEM(mem)) {
        *v = mem_read(cpu, in->seg, fast_ea(cpu, in, mem), size);
    } else {
        *v = greg_read(cpu, in, in->rm, size);
    }
    return true;
}
FAST_INLINE bool fast_rm_put(struct cpu *cpu, const struct insn *in, unsigned size, unsigned mem, uint64_t v)
{
    if (mem == FAST_M64) {
        uint8_t *p = fast_host(cpu, in, size, false, true);
        if (!p)
            return false;
        fast_store(p, size, v);
    } else if (FAST_IS_MEM(mem)) {
        mem_write(cpu, in->seg, fast_ea(cpu, in, mem), size, v);
    } else {
        greg_write(cpu, in, in->rm, size, v);
    }
    return true;
}
/* A read-modify-write memory operand: one segment check (a writable data
 * segment is readable) for the read and the write. */
struct fast_rmw {
    uint64_t lin;
    uint8_t *host;   /* FAST_M64 */
};
FAST_INLINE bool fast_rmw_get(struct cpu *cpu, const struct insn *in, unsigned size, unsigned mem,
                              struct fast_rmw *r, uint64_t *v)
{
    if (mem == FAST_M64) {
        r->host = fast_host(cpu, in, size, true, true);
        if (!r->host)
            return false;
        *v = fast_load(r->host, size);
        return true;
    }
    r->lin = seg_lin(cpu, in->seg, fast_ea(cpu, in, mem), size, ACC_W);
    *v = lin_read(cpu, r->lin, size, ACC_R);
    return true;
}
FAST_INLINE void fast_rmw_put(struct cpu *cpu, const struct fast_rmw *r, unsigned size, unsigned mem, uint64_t v)
{
    if (mem == FAST_M64)
        fast_store(r->host, size, v);
    else
        lin_write(cpu, r->lin, size, v, ACC_W);
}

/* CF as flag_cf() computes it, inline for the operations that set it
 * most; false (a quick form starts over) when that takes a call. */
FAST_INLINE bool fast_cf(struct cpu *cpu, unsigned mem, bool *cf)
{
    const struct lazy_flags *lf = &cpu->s.lf;
    switch (lf->op) {
    case LF_ADD: *cf = lf->res < lf->dst; return true;
    case LF_SUB: *cf = lf->dst < lf->src; return true;
    case LF_LOGIC: *cf = false; return true;
    case LF_INC: case LF_DEC: *cf = lf->src; return true;
    default:
        if (FAST_QUICK(mem))
            return false;
        *cf = flag_cf(cpu);
        return true;
    }
}

/* cond_true(cpu, cc) for a constant cc, with its fast paths inline; false
 * as fast_cf(). */
FAST_INLINE bool fast_cond(struct cpu *cpu, unsigned cc, unsigned mem, bool *res)
{
    const struct lazy_flags *lf = &cpu->s.lf;
    bool r = false, known = false;
    if (likely(lf->op != LF_NONE)) {
        known = true;
        switch (cc >> 1) {
        case 1:   /* B */
            if (lf->op == LF_SUB)
                r = lf->dst < lf->src;
            else
                known = fast_cf(cpu, FAST_RQ, &r);
            break;
        case 2: r = lf->res == 0; break;                              /* Z */
        case 4: r = (lf->res & sign_bit(lf->size)) != 0; break;      /* S */
        case 3: known = lf->op == LF_SUB; r = lf->dst <= lf->src; break;  /* BE */
        case 6: known = lf->op == LF_SUB; r = sext(lf->dst, lf->size) < sext(lf->src, lf->size); break;   /* L */
        case 7: known = lf->op == LF_SUB; r = sext(lf->dst, lf->size) <= sext(lf->src, lf->size); break;  /* LE */
        default: known = false; break;
        }
    }
    if (known) {
        *res = (cc & 1) ? !r : r;
        return true;
    }
    if (FAST_QUICK(mem))
        return false;
    *res = cond_true(cpu, cc);
    return true;
}

/* All six arithmetic flags at once: flags_write(cpu, FL_ARITH, f) without
 * folding the lazy state first (every flag it would fold is replaced). */
FAST_INLINE void fast_flags_arith(struct cpu *cpu, uint32_t f)
{
    cpu->s.rflags = (cpu->s.rflags & ~(uint64_t)FL_ARITH) | (f & FL_ARITH);
    cpu->s.lf.op = LF_NONE;
}

/* branch_near() for a constant operand size, inline in 64-bit mode. */
FAST_INLINE void fast_branch(struct cpu *cpu, uint64_t target, unsigned opsize)
{
    if (opsize == 8 && likely(cpu_is64(cpu))) {
        /* canonical: bits 63..47 all equal (SDM Vol. 1 3.3.7.1) */
        if ((uint64_t)(((int64_t)target >> 47) + 1) > 1)
            cpu_gp0(cpu);
        cpu->next_rip = target;
        cpu->block_end = true;   /* as branch_near: taken, it leaves the block */
        return;
    }
    branch_near(cpu, target, opsize);
}

/* stack_asize() without a call in 64-bit mode. */
FAST_INLINE unsigned fast_stack_asize(const struct cpu *cpu)
{
    return likely(cpu_is64(cpu)) ? 8 : stack_asize(cpu);
}
/* push() and pop(), inline. */
FAST_INLINE void fast_push(struct cpu *cpu, unsigned size, uint64_t v)
{
    unsigned as = fast_stack_asize(cpu);
    uint64_t sp = (cpu->s.regs[R_SP] - size) & size_mask(as);
    mem_write(cpu, S_SS, sp, size, v);
    areg_write(cpu, R_SP, as, sp);
}
FAST_INLINE uint64_t fast_pop(struct cpu *cpu, unsigned size)
{
    unsigned as = fast_stack_asize(cpu);
    uint64_t sp = cpu->s.regs[R_SP] & size_mask(as);
    uint64_t v = mem_read(cpu, S_SS, sp, size);
    areg_write(cpu, R_SP, as, sp + size);
    return v;
}

#endif
