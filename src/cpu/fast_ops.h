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
/* A handler is an insn_step: every inline helper it calls (cpu_int.h's
 * memory path among them) is inlined into it. */
#define FAST_HANDLER(name)                                                                  \
    __attribute__((flatten)) static const struct insn *name(struct cpu *cpu, const struct insn *in)

/* Whether the quick forms of a file's templates may end the block (a taken
 * branch): a file of branches defines it to 1 before including this. */
#ifndef FAST_MAY_END
#define FAST_MAY_END 0
#endif

/* Goes on to the next record of the block from inside a handler: a tail
 * call, so the records of a block chain from one handler to the next (one
 * indirect jump each), in-block loops included, and the loop in exec.c
 * only sees where the block is left. A chain never leaves its block (the
 * sentinel and a branch out return NULL) and an in-block loop stops at
 * cpu->run_limit (at most LOOP_SLICE instructions), so a build that makes
 * no tail calls (unoptimised) holds at most that many frames. */
FAST_INLINE const struct insn *fast_next(struct cpu *cpu, const struct insn *next)
{
    return next->step(cpu, next);
}

/* After a taken branch (RIP at its target): a Jcc or JMP to a record of
 * its own block (loop_to, set by exec.c) runs on there rather than leave
 * the block and come back, unless cpu->run_limit says the checks between
 * blocks are due (it is 0 when anything is pending). The block's exit
 * counts from its start (insn->pos): a jump from record j to k counts
 * pos(j) + 1 - pos(k) now (records it skips forward count negatively,
 * since the exit counts them). */
FAST_INLINE const struct insn *fast_jumped(struct cpu *cpu, const struct insn *in)
{
    if (in->loop_to) {
        const struct insn *to = in - in->idx + (in->loop_to - 1);
        uint64_t n = cpu->insn_count + (uint64_t)((int64_t)in->pos + 1 - to->pos);
        if (n < cpu->run_limit) {
            cpu->insn_count = n;
            cpu->block_end = false;
            return fast_next(cpu, to);
        }
    }
    return block_leave(cpu, in);
}

/* The address of the running record in 64-bit code (insn_rip without
 * the mask). */
FAST_INLINE uint64_t fast_rip64(const struct cpu *cpu, const struct insn *in)
{
    return cpu->blk_rip + (uint64_t)(int64_t)in->off;
}
/* A quick form raises an exception: RIP first (it lags inside a block). */
FAST_INLINE _Noreturn void fast_raise(struct cpu *cpu, const struct insn *in, int vec)
{
    cpu->s.rip = insn_rip(cpu, in);
    cpu_raise(cpu, vec, 0);
}

/* A taken near branch of 64-bit mode to target (no RIP mask, no CS limit):
 * RIP just moves (the loop reads neither next_rip nor block_end after a
 * block). A fault leaves RIP at the branch. */
FAST_INLINE const struct insn *fast_taken64(struct cpu *cpu, const struct insn *in, uint64_t target)
{
    /* canonical: bits 63..47 all equal (SDM Vol. 1 3.3.7.1); a record of
     * the block (loop_to) is on its page, which is */
    if (!in->loop_to && !is_canonical(target))
        fast_raise(cpu, in, EXC_GP);
    cpu->s.rip = target;
    return fast_jumped(cpu, in);
}

/* Around a template, what the generic step does around a handler: RIP and
 * next_rip before, then RIP moves on and the block ends if the handler (or
 * a slow path: code invalidation, data breakpoint) asked for it. */
FAST_INLINE void fast_begin(struct cpu *cpu, const struct insn *in)
{
    cpu->s.rip = insn_rip(cpu, in);
    cpu->next_rip = (cpu->s.rip + in->len) & cpu->ip_mask;
}
FAST_INLINE const struct insn *fast_end(struct cpu *cpu, const struct insn *in)
{
    cpu->s.rip = cpu->next_rip;
    if (cpu->block_end)
        return fast_jumped(cpu, in);
    return fast_next(cpu, in + 1);
}

/* The form argument `mem` of a template: bit 0 says a memory form, bit 1
 * a quick one. A quick form takes only what it can do without a call (a
 * TLB hit in 64-bit mode, flags the lazy state gives inline): for anything
 * else its template returns false before any side effect and the handler
 * starts over in the matching slow form. The quick path then makes no call
 * (but cpu_raise, after fast_raise sets RIP) and needs no register saves;
 * nothing in it can ask the block to end but a branch (FAST_MAY_END), and
 * but for a branch it leaves RIP alone (insn_rip). Templates return true
 * when done. */
#define FAST_R 0u     /* register form (or no ModRM) */
#define FAST_M 1u     /* memory form, any address size */
#define FAST_RQ 2u    /* register form, quick */
#define FAST_M64 3u   /* memory form with 64-bit addresses, quick */
#define FAST_M64B 7u  /* the same with base + displacement only, DS/ES/SS/CS */
#define FAST_M64X 11u /* the same with base + index * scale + displacement */
#define FAST_IS_MEM(mem) (((mem) & 1u) != 0)
#define FAST_QUICK(mem) (((mem) & 2u) != 0)
#define FAST_IS_Q64(mem) (((mem) & 3u) == 3u)

/* Handler `name` runs tmpl(cpu, in, args..., q) in the quick form q; when
 * that declines, it goes on to handler `slow`, the slow form s. */
#define FAST_QUICK_HANDLERS(name, slow, q, s, tmpl, ...)                                    \
    FAST_SLOW_HANDLER(slow, s, tmpl, __VA_ARGS__)                                           \
    FAST_QUICK_ONLY(name, slow, q, tmpl, __VA_ARGS__)
/* Only the slow handler. */
#define FAST_SLOW_HANDLER(slow, s, tmpl, ...)                                               \
    __attribute__((noinline)) FAST_HANDLER(slow)                                            \
    {                                                                                       \
        fast_begin(cpu, in);                                                                \
        tmpl(cpu, in, __VA_ARGS__, s);                                                      \
        return fast_end(cpu, in);                                                           \
    }
/* Only the quick handler, going on to an existing slow one. Outside the
 * files of branches, quick templates read neither cpu->next_rip nor
 * cpu->s.rip (which it then leaves alone) and cannot end the block. */
#define FAST_QUICK_ONLY(name, slow, q, tmpl, ...)                                           \
    FAST_HANDLER(name)                                                                      \
    {                                                                                       \
        if (FAST_MAY_END)                                                                   \
            fast_begin(cpu, in);                                                            \
        if (!tmpl(cpu, in, __VA_ARGS__, q))                                                 \
            return slow(cpu, in);                                                           \
        if (FAST_MAY_END)                                                                   \
            return fast_end(cpu, in);                                                       \
        return fast_next(cpu, in + 1);                                                      \
    }
/* Handlers stem<size>_r (register form), stem<size>_q (memory, 64-bit
 * addresses), stem<size>_b (the same, base + displacement), stem<size>_x
 * (base + index * scale + displacement) and their slow forms stem<size>_rs
 * and stem<size>_m (memory, any address size), calling
 * tmpl(cpu, in, args..., size, mem). */
#define FAST_RM_PAIR(stem, size, tmpl, ...)                                                 \
    FAST_QUICK_HANDLERS(stem##size##_r, stem##size##_rs, FAST_RQ, FAST_R, tmpl, __VA_ARGS__, size) \
    FAST_QUICK_HANDLERS(stem##size##_q, stem##size##_m, FAST_M64, FAST_M, tmpl, __VA_ARGS__, size) \
    FAST_QUICK_ONLY(stem##size##_b, stem##size##_m, FAST_M64B, tmpl, __VA_ARGS__, size)    \
    FAST_QUICK_ONLY(stem##size##_x, stem##size##_m, FAST_M64X, tmpl, __VA_ARGS__, size)
/* The same at operand sizes 4 and 8. */
#define FAST_RM_PAIRS48(stem, tmpl, ...)                                                    \
    FAST_RM_PAIR(stem, 4, tmpl, __VA_ARGS__) FAST_RM_PAIR(stem, 8, tmpl, __VA_ARGS__)
/* The same at operand sizes 2, 4 and 8. */
#define FAST_RM_PAIRS248(stem, tmpl, ...)                                                   \
    FAST_RM_PAIR(stem, 2, tmpl, __VA_ARGS__) FAST_RM_PAIRS48(stem, tmpl, __VA_ARGS__)
/* Their struct op_fast rows for opcode opc, ModRM.reg reg (-1 any). */
#define FAST_RM_ROWS(opc, reg, stem, size)                                                  \
    {(opc), (reg), (size), FAST_REG, 0, stem##size##_r},                                    \
    {(opc), (reg), (size), FAST_MEMB, 8, stem##size##_b},                                   \
    {(opc), (reg), (size), FAST_MEMX, 8, stem##size##_x},                                   \
    {(opc), (reg), (size), FAST_MEM, 8, stem##size##_q},                                    \
    {(opc), (reg), (size), FAST_MEM, 0, stem##size##_m}
#define FAST_RM_ROWS48(opc, reg, stem)                                                      \
    FAST_RM_ROWS(opc, reg, stem, 4), FAST_RM_ROWS(opc, reg, stem, 8)
#define FAST_RM_ROWS248(opc, reg, stem)                                                     \
    FAST_RM_ROWS(opc, reg, stem, 2), FAST_RM_ROWS48(opc, reg, stem)

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
    if (mem == FAST_M64B)
        return (uint64_t)(int64_t)in->disp + cpu->s.regs[in->base];
    if (mem == FAST_M64X)
        return (uint64_t)(int64_t)in->disp + cpu->s.regs[in->base] + (cpu->s.regs[in->index] << in->scale);
    if (mem != FAST_M64)
        return insn_ea(cpu, in);
    uint64_t a = (uint64_t)(int64_t)in->disp;
    if (in->riprel)
        return a + fast_rip64(cpu, in) + in->len;   /* 64-bit: next_rip unmasked */
    if (in->base != REG_NONE)
        a += cpu->s.regs[in->base];
    if (in->index != REG_NONE)
        a += cpu->s.regs[in->index] << in->scale;
    return a;
}
/* The host address of a 64-bit mode linear address (segment base applied)
 * on a TLB hit: what lin_read()/lin_write() do when they take no slow path.
 * (A non-canonical address never matches a tag: the slow path faults.) */
FAST_INLINE bool fast_lin_host(struct cpu *cpu, uint64_t lin, unsigned size, bool rd, bool wr, uint8_t **p)
{
    const struct tlb_entry *e = tlb_entry(cpu, lin, ACC_R);
    if ((rd && !tlb_hit(e->tag_r, lin, size)) || (wr && !tlb_hit(e->tag_w, lin, size)))
        return false;
    *p = (uint8_t *)(uintptr_t)(lin + e->addend);
    return true;
}
/* The same for the memory operand of a quick memory form, which only
 * 64-bit code has (its blocks run in the mode they were decoded in). */
FAST_INLINE bool fast_host(struct cpu *cpu, const struct insn *in, unsigned mem, unsigned size, bool rd, bool wr,
                           uint8_t **p)
{
    uint64_t lin = fast_ea(cpu, in, mem);
    if (mem != FAST_M64B && mem != FAST_M64X && in->seg >= S_FS)
        lin += cpu->s.seg[in->seg].base;
    return fast_lin_host(cpu, lin, size, rd, wr, p);
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
    if (FAST_IS_Q64(mem)) {
        uint8_t *p;
        if (!fast_host(cpu, in, mem, size, true, false, &p))
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
    if (FAST_IS_Q64(mem)) {
        uint8_t *p;
        if (!fast_host(cpu, in, mem, size, false, true, &p))
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
    uint8_t *host;   /* quick forms */
};
FAST_INLINE bool fast_rmw_get(struct cpu *cpu, const struct insn *in, unsigned size, unsigned mem,
                              struct fast_rmw *r, uint64_t *v)
{
    if (FAST_IS_Q64(mem)) {
        if (!fast_host(cpu, in, mem, size, true, true, &r->host))
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
    if (FAST_IS_Q64(mem))
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
    /* counts are 1..31 (63): beyond the width CF is 0 (as lf_cf) */
    case LF_SHL: *cf = lf->src <= lf->size * 8u && ((lf->dst >> (lf->size * 8u - lf->src)) & 1); return true;
    case LF_SHR: *cf = lf->src <= lf->size * 8u && ((lf->dst >> (lf->src - 1)) & 1); return true;
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
    bool r = false;
    bool known = lf_cond_quick(&cpu->s.lf, cc >> 1, &r);
    /* B after other operations: CF as fast_cf computes it. */
    if (!known && (cc >> 1) == 1 && cpu->s.lf.op != LF_NONE)
        known = fast_cf(cpu, FAST_RQ, &r);
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
        if (!is_canonical(target))
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
/* The host address of the stack slot at rSP + off (off 0 or -size) for a
 * quick form: 64-bit mode (SS base 0; size 8 is only there) and a TLB hit. */
FAST_INLINE bool fast_stack_host(struct cpu *cpu, int64_t off, unsigned size, bool wr, uint8_t **p)
{
    if (size != 8 && unlikely(!cpu_is64(cpu)))
        return false;
    return fast_lin_host(cpu, cpu->s.regs[R_SP] + (uint64_t)off, size, !wr, wr, p);
}

#endif
