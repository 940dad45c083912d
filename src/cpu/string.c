/* String instructions: MOVS CMPS STOS LODS SCAS INS OUTS with REP, REPE and
 * REPNE (Intel SDM Vol. 2 instruction pages and "REP/REPE/REPZ/REPNE/
 * REPNZ"). rSI/rDI/rCX are used at the address size. A long REP runs in
 * slices: after STR_SLICE iterations the instruction ends its block with
 * rip left on itself, so interrupts and timers are checked and the
 * instruction resumes with the registers as updated (as hardware does).
 * Forward REP MOVS/STOS over RAM run a page at a time through host
 * pointers (str_fast); everything else goes element by element. */
#include "cpu/cpu_int.h"

/* Iterations of one REP instruction per handler call. */
#define STR_SLICE 4096

enum { STR_MOVS, STR_CMPS, STR_STOS, STR_LODS, STR_SCAS, STR_INS, STR_OUTS };

static void cmp_flags(struct cpu *cpu, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size);
    a &= m;
    b &= m;
    lf_set(cpu, LF_SUB, size, a, b, (a - b) & m);
}

/* One iteration; updates rSI/rDI (not rCX). */
static void str_once(struct cpu *cpu, const struct insn *in, unsigned kind, unsigned size, uint64_t delta)
{
    unsigned as = in->addrsize;
    uint64_t si = areg_read(cpu, R_SI, as), di = areg_read(cpu, R_DI, as), v, lin;
    switch (kind) {
    case STR_MOVS:
        v = mem_read(cpu, in->seg, si, size);
        mem_write(cpu, S_ES, di, size, v);
        areg_write(cpu, R_SI, as, si + delta);
        areg_write(cpu, R_DI, as, di + delta);
        break;
    case STR_CMPS:
        v = mem_read(cpu, in->seg, si, size);
        cmp_flags(cpu, size, v, mem_read(cpu, S_ES, di, size));
        areg_write(cpu, R_SI, as, si + delta);
        areg_write(cpu, R_DI, as, di + delta);
        break;
    case STR_STOS:
        mem_write(cpu, S_ES, di, size, cpu->s.regs[R_AX]);
        areg_write(cpu, R_DI, as, di + delta);
        break;
    case STR_LODS:
        v = mem_read(cpu, in->seg, si, size);
        greg_write(cpu, in, R_AX, size, v);
        areg_write(cpu, R_SI, as, si + delta);
        break;
    case STR_SCAS:
        cmp_flags(cpu, size, cpu->s.regs[R_AX], mem_read(cpu, S_ES, di, size));
        areg_write(cpu, R_DI, as, di + delta);
        break;
    case STR_INS:
        /* the destination is checked before the port is read, so that a
         * fault does not lose the data read */
        lin = seg_lin(cpu, S_ES, di, size, ACC_W);
        lin_probe_write(cpu, lin, size);
        v = io_in(cpu, (uint16_t)cpu->s.regs[R_DX], size);
        lin_write(cpu, lin, size, v, ACC_W);
        areg_write(cpu, R_DI, as, di + delta);
        break;
    default: /* OUTS */
        v = mem_read(cpu, in->seg, si, size);
        io_out(cpu, (uint16_t)cpu->s.regs[R_DX], size, (uint32_t)v);
        areg_write(cpu, R_SI, as, si + delta);
        break;
    }
}

/* Host pointer for [lin, lin + len) if it is in one page with a TLB hit
 * for the access (RAM only: code pages, ROM and MMIO never hit for writes),
 * else NULL. */
static uint8_t *tlb_host(struct cpu *cpu, uint64_t lin, uint64_t len, int acc)
{
    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    uint64_t tag = acc == ACC_W ? e->tag_w : e->tag_r;
    if (tag != (lin & PAGE_MASK) || (lin & (PAGE_SIZE - 1)) + len > PAGE_SIZE)
        return NULL;
    return (uint8_t *)(uintptr_t)(lin + e->addend);
}

/* Elements that fit before the offset leaves its page or wraps the address size. */
static uint64_t page_room(uint64_t off, uint64_t base, unsigned as, unsigned size)
{
    uint64_t room = PAGE_SIZE - ((base + off) & (PAGE_SIZE - 1));
    uint64_t to_wrap = size_mask(as) - off + 1;
    if (as < 8 && to_wrap < room)
        room = to_wrap;
    return room / size;
}

/* Expand-down data segments: type bit 2 without the code bit (SDM Vol. 3A 3.4.5.1). */
#define SEG_TYPE_CODE 0x8
#define SEG_TYPE_EXPDOWN 0x4

/* True if [off, off + bytes) is inside the segment limit, so that checking
 * the whole run at once cannot fault where element-wise execution would
 * have done some elements first. Expand-down segments take the slow path. */
static bool run_in_limit(const struct cpu *cpu, int seg, uint64_t off, uint64_t bytes)
{
    if (cpu_is64(cpu))
        return true;
    const struct seg_cache *s = &cpu->s.seg[seg];
    if ((s->attr & SEGA_S) && (s->attr & (SEG_TYPE_CODE | SEG_TYPE_EXPDOWN)) == SEG_TYPE_EXPDOWN)
        return false;
    return off + bytes - 1 <= s->limit;
}

/* STOS's run: bytes (a whole number of elements) of the element size's
 * low part of v. Each size has its own loop with a constant-size store: a
 * copy of a run-time size costs a call-like sequence per element. */
static void fill(uint8_t *d, uint64_t v, unsigned size, uint64_t bytes)
{
    uint64_t splat = (v & 0xff) * 0x0101010101010101ull;
    if (((v ^ splat) & size_mask(size)) == 0) {
        /* every byte alike (zero, all ones, REP STOSB) */
        memset(d, (int)(v & 0xff), bytes);
        return;
    }
    if (size == 2) {
        uint16_t x = (uint16_t)v;
        for (uint64_t i = 0; i < bytes; i += 2)
            memcpy(d + i, &x, 2);
    } else if (size == 4) {
        uint32_t x = (uint32_t)v;
        for (uint64_t i = 0; i < bytes; i += 4)
            memcpy(d + i, &x, 4);
    } else {
        for (uint64_t i = 0; i < bytes; i += 8)
            memcpy(d + i, &v, 8);
    }
}

/* REP MOVS/STOS forward (DF = 0) over RAM: up to max elements at once,
 * through host pointers. Returns the elements done, 0 when the slow path
 * must take the next one (TLB miss, page or address-size edge, DF = 1). */
static uint64_t str_fast(struct cpu *cpu, const struct insn *in, unsigned kind, unsigned size, uint64_t max)
{
    unsigned as = in->addrsize;
    if (cpu->s.rflags & FL_DF)
        return 0;
    uint64_t di = areg_read(cpu, R_DI, as), si = areg_read(cpu, R_SI, as);
    uint64_t k = page_room(di, cpu->s.seg[S_ES].base, as, size);
    if (kind == STR_MOVS) {
        uint64_t ks = page_room(si, cpu->s.seg[in->seg].base, as, size);
        if (ks < k)
            k = ks;
    }
    if (k > max)
        k = max;
    if (k == 0)
        return 0;
    uint64_t bytes = k * size;
    if (!run_in_limit(cpu, S_ES, di, bytes) || (kind == STR_MOVS && !run_in_limit(cpu, in->seg, si, bytes)))
        return 0;
    /* the segment checks (type, presence, canonical form) cover the whole run */
    uint8_t *d = tlb_host(cpu, seg_lin(cpu, S_ES, di, (unsigned)bytes, ACC_W), bytes, ACC_W);
    if (!d)
        return 0;
    if (kind == STR_MOVS) {
        const uint8_t *src = tlb_host(cpu, seg_lin(cpu, in->seg, si, (unsigned)bytes, ACC_R), bytes, ACC_R);
        if (!src)
            return 0;
        if (d > src && d < src + bytes) {
            /* overlap ahead of the source: element order matters (pattern fill) */
            for (uint64_t i = 0; i < bytes; i += size)
                memmove(d + i, src + i, size);
        } else {
            memmove(d, src, bytes);
        }
        areg_write(cpu, R_SI, as, si + bytes);
    } else {
        fill(d, cpu->s.regs[R_AX], size, bytes);
    }
    areg_write(cpu, R_DI, as, di + bytes);
    return k;
}

static void string_op(struct cpu *cpu, const struct insn *in, unsigned kind)
{
    unsigned as = in->addrsize, size = in->opsize;
    /* INS/OUTS have no 64-bit form: REX.W leaves them at 32 bits (SDM INS/OUTS) */
    if (size == 8 && (kind == STR_INS || kind == STR_OUTS))
        size = 4;
    uint64_t delta = (cpu->s.rflags & FL_DF) ? 0 - (uint64_t)size : size;
    if (!in->rep) {
        str_once(cpu, in, kind, size, delta);
        return;
    }
    bool conditional = kind == STR_CMPS || kind == STR_SCAS;
    bool fast = kind == STR_MOVS || kind == STR_STOS;
    uint64_t n = areg_read(cpu, R_CX, as);
    /* With a 32-bit address size Intel processors write ECX (zero-extending
     * RCX) even for a zero count, and for MOVS/STOS also their pointers. */
    areg_write(cpu, R_CX, as, n);
    if (fast) {
        areg_write(cpu, R_DI, as, areg_read(cpu, R_DI, as));
        if (kind == STR_MOVS)
            areg_write(cpu, R_SI, as, areg_read(cpu, R_SI, as));
    }
    /* single-stepping (TF or the debugger) traps after each iteration (SDM Vol. 3A 17.3.1.4) */
    uint64_t slice = (cpu->s.rflags & FL_TF) || cpu->single_step ? 1 : STR_SLICE;
    while (n != 0) {
        if (slice == 0) {
            cpu->next_rip = cpu->s.rip;
            cpu->block_end = true;
            return;
        }
        uint64_t done = fast ? str_fast(cpu, in, kind, size, n < slice ? n : slice) : 0;
        if (done == 0) {
            str_once(cpu, in, kind, size, delta);
            done = 1;
        }
        n -= done;
        slice -= done;
        areg_write(cpu, R_CX, as, n);
        /* Each step (one element, or a page-sized copy) counts toward the
         * budget, so a long REP cannot hold the vCPU past its slice. */
        cpu->insn_count++;
        /* REPE stops when ZF = 0, REPNE when ZF = 1 */
        if (conditional && flag_zf(cpu) != (in->rep == PFX_REP))
            return;
    }
}

static void op_movs(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_MOVS); }
static void op_cmps(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_CMPS); }
static void op_stos(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_STOS); }
static void op_lods(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_LODS); }
static void op_scas(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_SCAS); }
static void op_ins(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_INS); }
static void op_outs(struct cpu *cpu, const struct insn *in) { string_op(cpu, in, STR_OUTS); }

#define B OPF_BYTE
static const struct op_def string_ops[] = {
    {OP1 | 0xa4, -1, -1, PFX_ANY, B, op_movs, "movs"},
    {OP1 | 0xa5, -1, -1, PFX_ANY, 0, op_movs, "movs"},
    {OP1 | 0xa6, -1, -1, PFX_ANY, B, op_cmps, "cmps"},
    {OP1 | 0xa7, -1, -1, PFX_ANY, 0, op_cmps, "cmps"},
    {OP1 | 0xaa, -1, -1, PFX_ANY, B, op_stos, "stos"},
    {OP1 | 0xab, -1, -1, PFX_ANY, 0, op_stos, "stos"},
    {OP1 | 0xac, -1, -1, PFX_ANY, B, op_lods, "lods"},
    {OP1 | 0xad, -1, -1, PFX_ANY, 0, op_lods, "lods"},
    {OP1 | 0xae, -1, -1, PFX_ANY, B, op_scas, "scas"},
    {OP1 | 0xaf, -1, -1, PFX_ANY, 0, op_scas, "scas"},
    {OP1 | 0x6c, -1, -1, PFX_ANY, B, op_ins, "ins"},
    {OP1 | 0x6d, -1, -1, PFX_ANY, 0, op_ins, "ins"},
    {OP1 | 0x6e, -1, -1, PFX_ANY, B, op_outs, "outs"},
    {OP1 | 0x6f, -1, -1, PFX_ANY, 0, op_outs, "outs"},
    OPS_END};
OPS_REGISTER(string_ops);
