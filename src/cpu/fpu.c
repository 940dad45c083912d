/* The x87 FPU: the ESC opcodes D8-DF (SDM Vol. 1 ch. 8, Vol. 2 "F" pages),
 * FWAIT, the register stack and tags, stack faults, the exception flags and
 * the pending-exception (#MF) and #NM rules. Arithmetic is softfloat80.c;
 * transcendentals fpu_trans.c; environment images fpu_env.c.
 *
 * Each ESC opcode has one row; the handler dispatches on ModRM through the
 * memory-form and register-form tables below. */
#include "cpu/fpu.h"

/* --- availability ---------------------------------------------------------- */
void fpu_check_x87(struct cpu *cpu, bool waiting)
{
    if (cpu->s.cr0 & (CR0_EM | CR0_TS))
        cpu_raise(cpu, EXC_NM, 0);
    if (waiting)
        fpu_pending_error(cpu);
}

/* A pending unmasked x87 error at a waiting instruction: #MF with CR0.NE=1;
 * with NE=0 the PC way, FERR# to the chipset (IRQ 13), and the instruction
 * goes on as with IGNNE# asserted (SDM Vol. 1 8.7, D.2.1). */
void fpu_pending_error(struct cpu *cpu)
{
    if (!(cpu->s.fpu.fsw & FSW_ES))
        return;
    if (cpu->s.cr0 & CR0_NE)
        cpu_raise(cpu, EXC_MF, 0);
    if (cpu->bus.ferr) {
        cpu->bus.ferr(cpu->bus.opaque);
        cpu->block_end = true;   /* let IRQ 13 in promptly */
    }
}

void fpu_check_mmx(struct cpu *cpu)
{
    if (cpu->s.cr0 & CR0_EM)
        cpu_ud(cpu);
    if (cpu->s.cr0 & CR0_TS)
        cpu_raise(cpu, EXC_NM, 0);
    fpu_pending_error(cpu);
}

void fpu_mmx_state(struct cpu *cpu)
{
    /* SDM Vol. 1 9.5.1: TOP = 0 and every register valid. */
    fpu_set_top(cpu, 0);
    cpu->s.fpu.ftw_full = 0;
}

void fpu_enter_mmx(struct cpu *cpu)
{
    fpu_check_mmx(cpu);
    fpu_mmx_state(cpu);
}

void fpu_check_sse(struct cpu *cpu)
{
    if ((cpu->s.cr0 & CR0_EM) || !(cpu->s.cr4 & CR4_OSFXSR))
        cpu_ud(cpu);
    if (cpu->s.cr0 & CR0_TS)
        cpu_raise(cpu, EXC_NM, 0);
}

void sse_raise_flags(struct cpu *cpu, unsigned flags)
{
    struct fpu_state *f = &cpu->s.fpu;
    unsigned masks = f->mxcsr >> MXCSR_MASK_SHIFT;
    /* An unmasked pre-computation exception (#I #D #Z) in any element stops
     * the instruction before it computes: only those flags are recorded
     * (SDM Vol. 1 11.5.1). */
    unsigned pre = flags & (MXCSR_IE | MXCSR_DE | MXCSR_ZE);
    if (pre & ~masks)
        flags = pre;
    f->mxcsr |= flags & MXCSR_FLAGS;
    unsigned unmasked = flags & ~masks & MXCSR_FLAGS;
    if (unmasked)
        cpu_raise(cpu, (cpu->s.cr4 & CR4_OSXMMEXCPT) ? EXC_XM : EXC_UD, 0);
}

/* --- tags and stack ------------------------------------------------------ */
unsigned fpu_tag_of(fx80 v)
{
    switch (f80_classify(v)) {
    case F80_NORMAL: return TAG_VALID;
    case F80_ZERO: return TAG_ZERO;
    default: return TAG_SPECIAL;
    }
}

uint16_t fpu_ftw_full(const struct cpu *cpu)
{
    uint16_t t = 0;
    for (unsigned p = 0; p < 8; p++) {
        unsigned tag = fpu_tag(cpu, p);
        if (tag != TAG_EMPTY) {
            fx80 v = { cpu->s.fpu.st[p].mant, cpu->s.fpu.st[p].exp };
            tag = fpu_tag_of(v);
        }
        t |= (uint16_t)(tag << (p * 2));
    }
    return t;
}

uint8_t fpu_ftw_abridged(const struct cpu *cpu)
{
    uint8_t a = 0;
    for (unsigned p = 0; p < 8; p++)
        if (fpu_tag(cpu, p) != TAG_EMPTY)
            a |= (uint8_t)(1u << p);
    return a;
}

void fpu_ftw_from_abridged(struct cpu *cpu, uint8_t abr)
{
    uint16_t t = 0;
    for (unsigned p = 0; p < 8; p++)
        t |= (uint16_t)(((abr >> p) & 1 ? TAG_VALID : TAG_EMPTY) << (p * 2));
    cpu->s.fpu.ftw_full = t;
}

void fpu_reset_x87(struct cpu *cpu)
{
    struct fpu_state *f = &cpu->s.fpu;
    f->fcw = FCW_INIT;
    f->fsw = 0;
    f->ftw_full = 0xffff;
    f->fop = 0;
    f->fip = f->fdp = 0;
    f->fcs = f->fds = 0;
}

void x87_set_st(struct cpu *cpu, unsigned i, fx80 v)
{
    unsigned p = fpu_phys(cpu, i);
    cpu->s.fpu.st[p].mant = v.mant;
    cpu->s.fpu.st[p].exp = v.se;
    fpu_set_tag(cpu, p, fpu_tag_of(v));
}

void x87_push(struct cpu *cpu, fx80 v)
{
    fpu_set_top(cpu, fpu_top(cpu) - 1);
    x87_set_st(cpu, 0, v);
}

void x87_pop(struct cpu *cpu)
{
    fpu_set_tag(cpu, fpu_top(cpu), TAG_EMPTY);
    fpu_set_top(cpu, fpu_top(cpu) + 1);
}

/* FCW.PC -> significand bits; 01 is reserved (treated as 64). */
static const uint8_t pc_bits[4] = { 24, 64, 53, 64 };

struct sf_env x87_env(const struct cpu *cpu)
{
    uint16_t cw = cpu->s.fpu.fcw;
    struct sf_env e = { (uint8_t)((cw >> FCW_RC_SHIFT) & 3), pc_bits[(cw >> FCW_PC_SHIFT) & 3],
                        (uint8_t)(cw & FCW_MASKS), 0, false };
    return e;
}

static void x87_signal(struct cpu *cpu, unsigned flags)
{
    struct fpu_state *f = &cpu->s.fpu;
    f->fsw |= (uint16_t)flags;
    if (flags & ~f->fcw & FSW_EXC)
        f->fsw |= FSW_ES | FSW_B;
}

bool x87_commit(struct cpu *cpu, const struct sf_env *e, bool mem_dest)
{
    struct fpu_state *f = &cpu->s.fpu;
    unsigned flags = e->flags;
    bool c1 = e->c1;
    /* An unmasked pre-computation exception stops the instruction before
     * it computes: no #O #U #P, no rounding (SDM Vol. 1 8.6). So does an
     * unmasked #O/#U when the destination is memory (Vol. 1 8.5.4). */
    if (flags & ~f->fcw & (SF_IE | SF_DE | SF_ZE)) {
        flags &= SF_IE | SF_DE | SF_ZE;
        c1 = false;
    } else if (mem_dest && (flags & ~f->fcw & (SF_OE | SF_UE))) {
        flags &= SF_OE | SF_UE;
        c1 = false;
    }
    x87_signal(cpu, flags);
    f->fsw = (uint16_t)((f->fsw & ~FSW_C1) | (c1 ? FSW_C1 : 0));
    unsigned unmasked = flags & ~f->fcw & FSW_EXC;
    unsigned stop = SF_IE | SF_DE | SF_ZE | (mem_dest ? SF_OE | SF_UE : 0);
    return !(unmasked & stop);
}

bool x87_underflow(struct cpu *cpu)
{
    cpu->s.fpu.fsw &= ~FSW_C1;
    x87_signal(cpu, SF_IE | FSW_SF);
    return cpu->s.fpu.fcw & SF_IE;
}

bool x87_overflow(struct cpu *cpu)
{
    cpu->s.fpu.fsw |= FSW_C1;
    x87_signal(cpu, SF_IE | FSW_SF);
    return cpu->s.fpu.fcw & SF_IE;
}

/* --- guest memory of any length -------------------------------------------- */
static uint64_t lin_mask(const struct cpu *cpu) { return cpu_is64(cpu) ? ~0ull : 0xffffffffull; }

void fpu_mem_read(struct cpu *cpu, int seg, uint64_t off, void *buf, unsigned len)
{
    uint64_t lin = seg_lin(cpu, seg, off, len, ACC_R);
    uint8_t *p = buf;
    for (unsigned i = 0; i < len;) {
        unsigned n = len - i >= 8 ? 8 : len - i >= 4 ? 4 : len - i >= 2 ? 2 : 1;
        uint64_t v = lin_read(cpu, (lin + i) & lin_mask(cpu), n, ACC_R);
        memcpy(p + i, &v, n);  /* little-endian host */
        i += n;
    }
}

void fpu_mem_write(struct cpu *cpu, int seg, uint64_t off, const void *buf, unsigned len)
{
    uint64_t lin = seg_lin(cpu, seg, off, len, ACC_W);
    const uint8_t *p = buf;
    lin_probe_write(cpu, lin, len);
    for (unsigned i = 0; i < len;) {
        unsigned n = len - i >= 8 ? 8 : len - i >= 4 ? 4 : len - i >= 2 ? 2 : 1;
        uint64_t v = 0;
        memcpy(&v, p + i, n);
        lin_write(cpu, (lin + i) & lin_mask(cpu), n, v, ACC_W);
        i += n;
    }
}

uint64_t fpu_operand_lin(struct cpu *cpu, const struct insn *in, unsigned len, int acc)
{
    return seg_lin(cpu, in->seg, insn_ea(cpu, in), len, acc);
}

/* --- operands ------------------------------------------------------------ */
enum { MT_F32, MT_I32, MT_F64, MT_I16 };  /* D8, DA, DC, DE memory operand types */

static uint64_t read_operand_raw(struct cpu *cpu, const struct insn *in, unsigned mt)
{
    static const uint8_t size[4] = { 4, 4, 8, 2 };
    return mem_read(cpu, in->seg, insn_ea(cpu, in), size[mt]);
}

/* Memory operand -> extended; an SNaN stays signaling so that the
 * arithmetic sees it (and raises #I) as the hardware does. *de: the source
 * was a denormal single/double; the caller reports #D unless #I or #Z win. */
static fx80 operand_value(const struct sf_env *e, uint64_t raw, unsigned mt, bool *de)
{
    struct sf_env t = *e;
    fx80 v;
    *de = false;
    switch (mt) {
    case MT_F32: v = f80_from_f32(&t, (uint32_t)raw); break;
    case MT_F64: v = f80_from_f64(&t, raw); break;
    case MT_I32: return f80_from_i64((int32_t)(uint32_t)raw);
    default: return f80_from_i64((int16_t)(uint16_t)raw);
    }
    if (t.flags & SF_IE)
        v.mant &= ~(1ull << 62);
    *de = t.flags & SF_DE;
    return v;
}

static void add_source_de(struct sf_env *e, bool de, fx80 st0)
{
    if (de && !(e->flags & (SF_IE | SF_ZE)) && !f80_is_nan(st0))
        e->flags |= SF_DE;
}

/* --- arithmetic ---------------------------------------------------------- */
enum { AR_ADD, AR_MUL, AR_COM, AR_COMP, AR_SUB, AR_SUBR, AR_DIV, AR_DIVR };

static fx80 arith(struct sf_env *e, unsigned k, fx80 a, fx80 b)
{
    switch (k) {
    case AR_ADD: return f80_add(e, a, b);
    case AR_MUL: return f80_mul(e, a, b);
    case AR_SUB: return f80_sub(e, a, b);
    case AR_SUBR: return f80_sub(e, b, a);
    case AR_DIV: return f80_div(e, a, b);
    default: return f80_div(e, b, a);
    }
}

/* C3 C2 C0 of a comparison (SDM Vol. 1 table 8-6); F80_LT.. order. */
static const uint16_t cmp_cc[4] = { FSW_C0, FSW_C3, 0, FSW_C3 | FSW_C2 | FSW_C0 };
/* ZF PF CF of FCOMI (SDM Vol. 2 FCOMI table). */
static const uint32_t cmp_fl[4] = { FL_CF, FL_ZF, 0, FL_ZF | FL_PF | FL_CF };

/* Compares ST(0) with b (ST(0) checked non-empty by the caller); pops. */
static void compare(struct cpu *cpu, fx80 a, fx80 b, bool quiet, unsigned pops, bool eflags)
{
    struct sf_env e = x87_env(cpu);
    int rel = f80_compare(&e, a, b, quiet);
    if (!x87_commit(cpu, &e, false)) {
        /* the condition codes are still set ("unordered" after #I), no pop */
        if (e.flags & SF_IE)
            rel = F80_UN;
        pops = 0;
    }
    if (eflags)
        flags_write(cpu, FL_ARITH, cmp_fl[rel]);
    else
        x87_set_cc(cpu, cmp_cc[rel]);
    while (pops--)
        x87_pop(cpu);
}

/* Stack underflow of a comparison: masked, the result is "unordered". */
static void compare_underflow(struct cpu *cpu, unsigned pops, bool eflags)
{
    if (!x87_underflow(cpu))
        pops = 0;  /* unmasked: "unordered" all the same, no pop */
    if (eflags)
        flags_write(cpu, FL_ARITH, cmp_fl[F80_UN]);
    else
        x87_set_cc(cpu, cmp_cc[F80_UN]);
    while (pops--)
        x87_pop(cpu);
}

/* D8 DA DC DE with a memory operand: ST(0) op= m. */
static void fx_arith_mem(struct cpu *cpu, const struct insn *in)
{
    static const uint8_t mtype[8] = { MT_F32, 0, MT_I32, 0, MT_F64, 0, MT_I16, 0 };
    unsigned mt = mtype[in->op & 7], k = in->reg & 7;
    uint64_t raw = read_operand_raw(cpu, in, mt);
    bool cmp = k == AR_COM || k == AR_COMP;
    if (x87_empty(cpu, 0)) {
        if (cmp)
            compare_underflow(cpu, k == AR_COMP, false);
        else if (x87_underflow(cpu))
            x87_set_st(cpu, 0, f80_indefinite);
        return;
    }
    struct sf_env e = x87_env(cpu);
    bool de;
    fx80 b = operand_value(&e, raw, mt, &de), a = x87_st(cpu, 0);
    if (cmp) {
        int rel = f80_compare(&e, a, b, false);
        add_source_de(&e, de, a);
        if (x87_commit(cpu, &e, false)) {
            x87_set_cc(cpu, cmp_cc[rel]);
            if (k == AR_COMP)
                x87_pop(cpu);
        } else {
            x87_set_cc(cpu, cmp_cc[(e.flags & SF_IE) ? F80_UN : rel]);
        }
        return;
    }
    fx80 r = arith(&e, k, a, b);
    add_source_de(&e, de, a);
    if (x87_commit(cpu, &e, false))
        x87_set_st(cpu, 0, r);
}

/* D8 / DC / DE register forms: ST(0) op= ST(i), ST(i) op= ST(0) (+pop). */
static void fx_arith_reg(struct cpu *cpu, const struct insn *in)
{
    unsigned esc = in->op & 7, i = in->rm & 7, k = in->reg & 7;
    bool pop = esc == 6;
    if (k == AR_COM || k == AR_COMP) {
        unsigned pops = (k == AR_COMP) + (esc == 6);  /* DE D9: FCOMPP */
        if (x87_empty(cpu, 0) || x87_empty(cpu, i))
            compare_underflow(cpu, pops, false);
        else
            compare(cpu, x87_st(cpu, 0), x87_st(cpu, i), false, pops, false);
        return;
    }
    unsigned dst = esc == 0 ? 0 : i;
    if (esc != 0 && k >= AR_SUB)
        k ^= 1;  /* DC/DE: ST(i) = ST(i) - ST(0) is encoded as "FSUB ST(i), ST(0)" at /5 */
    if (x87_empty(cpu, 0) || x87_empty(cpu, i)) {
        if (x87_underflow(cpu)) {
            x87_set_st(cpu, dst, f80_indefinite);
            if (pop)
                x87_pop(cpu);
        }
        return;
    }
    struct sf_env e = x87_env(cpu);
    fx80 a = x87_st(cpu, dst), b = x87_st(cpu, dst == 0 ? i : 0);
    fx80 r = arith(&e, k, a, b);
    if (!x87_commit(cpu, &e, false))
        return;
    x87_set_st(cpu, dst, r);
    if (pop)
        x87_pop(cpu);
}

/* --- loads ------------------------------------------------------------ */
static void push_checked(struct cpu *cpu, fx80 v)
{
    if (!x87_empty(cpu, 7)) {
        if (x87_overflow(cpu))
            x87_push(cpu, f80_indefinite);
        return;
    }
    cpu->s.fpu.fsw &= ~FSW_C1;
    x87_push(cpu, v);
}

/* FLD m32/m64 (D9 /0, DD /0) */
static void fx_fld_real(struct cpu *cpu, const struct insn *in)
{
    bool dbl = (in->op & 7) == 5;
    uint64_t raw = mem_read(cpu, in->seg, insn_ea(cpu, in), dbl ? 8 : 4);
    struct sf_env e = x87_env(cpu);
    fx80 v = dbl ? f80_from_f64(&e, raw) : f80_from_f32(&e, (uint32_t)raw);
    if (!x87_empty(cpu, 7)) {
        push_checked(cpu, v);
        return;
    }
    /* an unmasked #D still loads the value, an unmasked #I does not */
    x87_commit(cpu, &e, false);
    if ((e.flags & SF_IE) & ~cpu->s.fpu.fcw)
        return;
    x87_push(cpu, v);
}

/* FLD m80 (DB /5) */
static void fx_fld_ext(struct cpu *cpu, const struct insn *in)
{
    uint64_t ea = insn_ea(cpu, in);
    uint8_t b[10];
    fpu_mem_read(cpu, in->seg, ea, b, 10);
    fx80 v;
    memcpy(&v.mant, b, 8);
    memcpy(&v.se, b + 8, 2);
    push_checked(cpu, v);
}

/* FILD m16/m32/m64 (DF /0, DB /0, DF /5) */
static void fx_fild(struct cpu *cpu, const struct insn *in)
{
    uint64_t ea = insn_ea(cpu, in);
    int64_t v;
    if ((in->op & 7) == 3)
        v = (int32_t)mem_read32(cpu, in->seg, ea);
    else if (in->reg == 5)
        v = (int64_t)mem_read64(cpu, in->seg, ea);
    else
        v = (int16_t)mem_read16(cpu, in->seg, ea);
    push_checked(cpu, f80_from_i64(v));
}

/* FBLD (DF /4) */
static void fx_fbld(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[10];
    fpu_mem_read(cpu, in->seg, insn_ea(cpu, in), b, 10);
    push_checked(cpu, f80_from_bcd(b));
}

/* FLD ST(i) (D9 C0+i) */
static void fx_fld_st(struct cpu *cpu, const struct insn *in)
{
    unsigned i = in->rm & 7;
    if (x87_empty(cpu, i)) {
        if (x87_underflow(cpu)) {
            if (!x87_empty(cpu, 7))
                x87_overflow(cpu);
            x87_push(cpu, f80_indefinite);
        }
        return;
    }
    push_checked(cpu, x87_st(cpu, i));
}

/* --- stores ------------------------------------------------------------- */
/* Common tail of stores to memory: ST(0) empty -> masked default value. */
static void store_tail(struct cpu *cpu, const struct insn *in, const struct sf_env *e, const void *buf,
                       unsigned len, bool pop)
{
    struct fpu_state *f = &cpu->s.fpu;
    unsigned unmasked = e->flags & ~f->fcw & FSW_EXC;
    if (!(unmasked & (SF_IE | SF_DE | SF_ZE | SF_OE | SF_UE)))
        fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), buf, len);
    if (x87_commit(cpu, e, true) && pop)
        x87_pop(cpu);
}

/* FST/FSTP m32 m64 (D9 /2 /3, DD /2 /3) */
static void fx_fst_real(struct cpu *cpu, const struct insn *in)
{
    bool dbl = (in->op & 7) == 5, pop = in->reg == 3;
    uint64_t v;
    if (x87_empty(cpu, 0)) {
        v = dbl ? 0xfff8000000000000ull : 0xffc00000u;  /* real indefinite */
        if (!(cpu->s.fpu.fcw & SF_IE)) {
            x87_underflow(cpu);
            return;
        }
        fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), &v, dbl ? 8 : 4);
        x87_underflow(cpu);
        if (pop)
            x87_pop(cpu);
        return;
    }
    struct sf_env e = x87_env(cpu);
    fx80 a = x87_st(cpu, 0);
    v = dbl ? f80_to_f64(&e, a) : f80_to_f32(&e, a);
    store_tail(cpu, in, &e, &v, dbl ? 8 : 4, pop);
}

/* FSTP m80 (DB /7) */
static void fx_fstp_ext(struct cpu *cpu, const struct insn *in)
{
    fx80 a = x87_empty(cpu, 0) ? f80_indefinite : x87_st(cpu, 0);
    if (x87_empty(cpu, 0) && !(cpu->s.fpu.fcw & SF_IE)) {
        x87_underflow(cpu);
        return;
    }
    uint8_t b[10];
    memcpy(b, &a.mant, 8);
    memcpy(b + 8, &a.se, 2);
    fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), b, 10);
    if (x87_empty(cpu, 0))
        x87_underflow(cpu);
    else
        cpu->s.fpu.fsw &= ~FSW_C1;
    x87_pop(cpu);
}

/* FIST/FISTP/FISTTP m16 m32 m64 (DF /1-/3 /7, DB /1-/3, DD /1) */
static void fx_fist(struct cpu *cpu, const struct insn *in)
{
    unsigned esc = in->op & 7, r = in->reg;
    unsigned bytes = esc == 3 ? 4 : esc == 5 ? 8 : r == 7 ? 8 : 2;
    bool trunc = r == 1, pop = r != 2;
    struct sf_env e = x87_env(cpu);
    int64_t v;
    if (x87_empty(cpu, 0)) {
        if (!(cpu->s.fpu.fcw & SF_IE)) {
            x87_underflow(cpu);
            return;
        }
        v = (int64_t)(~0ull << (bytes * 8 - 1));
        fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), &v, bytes);
        x87_underflow(cpu);
        if (pop)
            x87_pop(cpu);
        return;
    }
    v = f80_to_int(&e, x87_st(cpu, 0), bytes, trunc);
    store_tail(cpu, in, &e, &v, bytes, pop);
}

/* FBSTP (DF /6) */
static void fx_fbstp(struct cpu *cpu, const struct insn *in)
{
    struct sf_env e = x87_env(cpu);
    uint8_t b[10];
    if (x87_empty(cpu, 0)) {
        struct sf_env t = e;
        f80_to_bcd(&t, f80_indefinite, b);  /* the packed BCD indefinite */
        if (!(cpu->s.fpu.fcw & SF_IE)) {
            x87_underflow(cpu);
            return;
        }
        fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), b, 10);
        x87_underflow(cpu);
        x87_pop(cpu);
        return;
    }
    f80_to_bcd(&e, x87_st(cpu, 0), b);
    store_tail(cpu, in, &e, b, 10, true);
}

/* FST/FSTP ST(i) (DD D0+i, DD D8+i; aliases D9 D8+i, DF D0+i, DF D8+i) */
static void fx_fst_st(struct cpu *cpu, const struct insn *in)
{
    unsigned i = in->rm & 7;
    bool pop = !((in->op & 7) == 5 && in->reg == 2);
    if (x87_empty(cpu, 0)) {
        if (!x87_underflow(cpu))
            return;
        x87_set_st(cpu, i, f80_indefinite);
    } else {
        cpu->s.fpu.fsw &= ~FSW_C1;
        x87_set_st(cpu, i, x87_st(cpu, 0));
    }
    if (pop)
        x87_pop(cpu);
}

/* --- comparisons ---------------------------------------------------------- */
/* FUCOM/FUCOMP (DD E0+i, E8+i), FUCOMPP (DA E9) */
static void fx_fucom(struct cpu *cpu, const struct insn *in)
{
    unsigned i = in->rm & 7;
    unsigned pops = (in->op & 7) == 2 ? 2 : in->reg == 5;
    if (x87_empty(cpu, 0) || x87_empty(cpu, i))
        compare_underflow(cpu, pops, false);
    else
        compare(cpu, x87_st(cpu, 0), x87_st(cpu, i), true, pops, false);
}

/* FUCOMI/FCOMI (DB E8+i, F0+i), FUCOMIP/FCOMIP (DF E8+i, F0+i) */
static void fx_fcomi(struct cpu *cpu, const struct insn *in)
{
    unsigned i = in->rm & 7;
    bool quiet = in->reg == 5;
    unsigned pops = (in->op & 7) == 7;
    cpu->s.fpu.fsw &= ~FSW_C1;
    if (x87_empty(cpu, 0) || x87_empty(cpu, i))
        compare_underflow(cpu, pops, true);
    else
        compare(cpu, x87_st(cpu, 0), x87_st(cpu, i), quiet, pops, true);
}

/* FTST (D9 E4) */
static void fx_ftst(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (x87_empty(cpu, 0))
        compare_underflow(cpu, 0, false);
    else
        compare(cpu, x87_st(cpu, 0), f80_make(false, 0, 0), false, 0, false);
}

/* FXAM (D9 E5): class in C3 C2 C0, sign in C1 (SDM Vol. 2 FXAM table). */
static void fx_fxam(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    fx80 a = x87_st(cpu, 0);
    unsigned cc;
    if (x87_empty(cpu, 0)) {
        cc = FSW_C3 | FSW_C0;
    } else {
        switch (f80_classify(a)) {
        case F80_UNSUPPORTED: cc = 0; break;
        case F80_QNAN: case F80_SNAN: cc = FSW_C0; break;
        case F80_NORMAL: cc = FSW_C2; break;
        case F80_INF: cc = FSW_C2 | FSW_C0; break;
        case F80_ZERO: cc = FSW_C3; break;
        default: cc = FSW_C3 | FSW_C2; break;
        }
    }
    if (f80_sign(a))
        cc |= FSW_C1;
    x87_set_cc(cpu, cc);
}

/* --- simple register operations ------------------------------------------ */
/* FCHS FABS (D9 E0, E1) */
static void fx_fchs_fabs(struct cpu *cpu, const struct insn *in)
{
    if (x87_empty(cpu, 0)) {
        if (x87_underflow(cpu))
            x87_set_st(cpu, 0, f80_indefinite);
        return;
    }
    fx80 a = x87_st(cpu, 0);
    if ((in->rm & 7) == 0)
        a.se ^= 0x8000;
    else
        a.se &= 0x7fff;
    cpu->s.fpu.fsw &= ~FSW_C1;
    x87_set_st(cpu, 0, a);
}

/* FXCH (D9 C8+i; aliases DD C8+i, DF C8+i) */
static void fx_fxch(struct cpu *cpu, const struct insn *in)
{
    unsigned i = in->rm & 7;
    if (x87_empty(cpu, 0) || x87_empty(cpu, i)) {
        if (!x87_underflow(cpu))
            return;
        if (x87_empty(cpu, 0))
            x87_set_st(cpu, 0, f80_indefinite);
        if (x87_empty(cpu, i))
            x87_set_st(cpu, i, f80_indefinite);
    } else {
        cpu->s.fpu.fsw &= ~FSW_C1;
    }
    fx80 a = x87_st(cpu, 0), b = x87_st(cpu, i);
    x87_set_st(cpu, 0, b);
    x87_set_st(cpu, i, a);
}

/* FFREE (DD C0+i), FFREEP (DF C0+i) */
static void fx_ffree(struct cpu *cpu, const struct insn *in)
{
    fpu_set_tag(cpu, fpu_phys(cpu, in->rm & 7), TAG_EMPTY);
    if ((in->op & 7) == 7)
        x87_pop(cpu);
}

/* FDECSTP FINCSTP (D9 F6, F7) */
static void fx_fdecstp(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu->s.fpu.fsw &= ~FSW_C1;
    fpu_set_top(cpu, fpu_top(cpu) - 1);
}
static void fx_fincstp(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu->s.fpu.fsw &= ~FSW_C1;
    fpu_set_top(cpu, fpu_top(cpu) + 1);
}

static void fx_nop(struct cpu *cpu, const struct insn *in) { (void)cpu; (void)in; }

/* Constants (D9 E8-EE): the 66-bit internal values rounded by RC (SDM Vol. 1
 * 8.3.8): significand for nearest, and whether the exact value lies above
 * it (rounds up for RU) or below (down for RD/RZ). */
static void fx_fldconst(struct cpu *cpu, const struct insn *in)
{
    static const struct { uint16_t se; uint64_t m; int8_t dir; } k[7] = {
        { 0x3fff, 0x8000000000000000ull, 0 },   /* 1 */
        { 0x4000, 0xd49a784bcd1b8afeull, 1 },   /* log2(10) */
        { 0x3fff, 0xb8aa3b295c17f0bcull, -1 },  /* log2(e) */
        { 0x4000, 0xc90fdaa22168c235ull, -1 },  /* pi */
        { 0x3ffd, 0x9a209a84fbcff799ull, -1 },  /* log10(2) */
        { 0x3ffe, 0xb17217f7d1cf79acull, -1 },  /* ln(2) */
        { 0, 0, 0 },                            /* +0 */
    };
    unsigned n = in->rm & 7;
    unsigned rc = (cpu->s.fpu.fcw >> FCW_RC_SHIFT) & 3;
    uint64_t m = k[n].m;
    if (k[n].dir > 0 && rc == SF_RU)
        m++;
    else if (k[n].dir < 0 && (rc == SF_RD || rc == SF_RZ))
        m--;
    fx80 v = { m, k[n].se };
    push_checked(cpu, v);
}

/* FSQRT FRNDINT FSCALE FPREM FPREM1 FXTRACT */
static void fx_fsqrt(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (x87_empty(cpu, 0)) {
        if (x87_underflow(cpu))
            x87_set_st(cpu, 0, f80_indefinite);
        return;
    }
    struct sf_env e = x87_env(cpu);
    fx80 r = (in->rm & 7) == 2 ? f80_sqrt(&e, x87_st(cpu, 0)) : f80_round_int(&e, x87_st(cpu, 0));
    if (x87_commit(cpu, &e, false))
        x87_set_st(cpu, 0, r);
}

static void fx_fscale(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (x87_empty(cpu, 0) || x87_empty(cpu, 1)) {
        if (x87_underflow(cpu))
            x87_set_st(cpu, 0, f80_indefinite);
        return;
    }
    struct sf_env e = x87_env(cpu);
    fx80 r = f80_scale(&e, x87_st(cpu, 0), x87_st(cpu, 1));
    if (x87_commit(cpu, &e, false))
        x87_set_st(cpu, 0, r);
}

static void fx_fprem(struct cpu *cpu, const struct insn *in)
{
    bool nearest = (in->rm & 7) == 5;  /* D9 F5 FPREM1, D9 F8 FPREM */
    if (x87_empty(cpu, 0) || x87_empty(cpu, 1)) {
        if (x87_underflow(cpu)) {
            x87_set_st(cpu, 0, f80_indefinite);
            x87_set_cc(cpu, 0);
        }
        return;
    }
    struct sf_env e = x87_env(cpu);
    uint64_t q;
    bool partial;
    fx80 r = f80_rem(&e, x87_st(cpu, 0), x87_st(cpu, 1), nearest, &q, &partial);
    if (!x87_commit(cpu, &e, false))
        return;
    x87_set_st(cpu, 0, r);
    unsigned cc = 0;
    if (partial)
        cc = FSW_C2;
    else if (!(e.flags & SF_IE))
        cc = ((q & 4) ? FSW_C0 : 0) | ((q & 2) ? FSW_C3 : 0) | ((q & 1) ? FSW_C1 : 0);
    x87_set_cc(cpu, cc);
}

static void fx_fxtract(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (x87_empty(cpu, 0)) {
        if (x87_underflow(cpu)) {
            x87_set_st(cpu, 0, f80_indefinite);
            if (x87_empty(cpu, 7))
                x87_push(cpu, f80_indefinite);
        }
        return;
    }
    if (!x87_empty(cpu, 7)) {
        if (x87_overflow(cpu)) {
            x87_set_st(cpu, 0, f80_indefinite);
            x87_push(cpu, f80_indefinite);
        }
        return;
    }
    struct sf_env e = x87_env(cpu);
    fx80 sig, ex = f80_xtract(&e, x87_st(cpu, 0), &sig);
    if (!x87_commit(cpu, &e, false))
        return;
    x87_set_st(cpu, 0, ex);
    x87_push(cpu, sig);
}

/* FCMOVcc (DA C0-DF, DB C0-DF) */
static void fx_fcmov(struct cpu *cpu, const struct insn *in)
{
    static const uint8_t cc[4] = { 0x2 /* B */, 0x4 /* E */, 0x6 /* BE */, 0xa /* P (U) */ };
    unsigned i = in->rm & 7;
    bool take = cond_true(cpu, cc[in->reg & 3] | ((in->op & 7) == 3));
    if (x87_empty(cpu, 0) || x87_empty(cpu, i)) {
        if (x87_underflow(cpu))
            x87_set_st(cpu, 0, f80_indefinite);
        return;
    }
    cpu->s.fpu.fsw &= ~FSW_C1;
    if (take)
        x87_set_st(cpu, 0, x87_st(cpu, i));
}

/* --- control ---------------------------------------------------------------- */
static void fx_fldcw(struct cpu *cpu, const struct insn *in)
{
    struct fpu_state *f = &cpu->s.fpu;
    f->fcw = mem_read16(cpu, in->seg, insn_ea(cpu, in));
    /* a newly unmasked pending flag becomes pending (ES) */
    if (f->fsw & ~f->fcw & FSW_EXC)
        f->fsw |= FSW_ES | FSW_B;
    else
        f->fsw &= ~(FSW_ES | FSW_B);
}

static void fx_fnstcw(struct cpu *cpu, const struct insn *in)
{
    mem_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->s.fpu.fcw);
}

static void fx_fnstsw(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        greg_write(cpu, in, R_AX, 2, cpu->s.fpu.fsw);
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->s.fpu.fsw);
}

static void fx_fnclex(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu->s.fpu.fsw &= ~(FSW_EXC | FSW_SF | FSW_ES | FSW_B);
}

static void fx_fninit(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    fpu_reset_x87(cpu);
}

/* --- dispatch ------------------------------------------------------------- */
enum {
    K_UD,       /* invalid encoding */
    K_ARITH,    /* waiting, records FIP/FOP (and FDP for memory forms) */
    K_CTRL_W,   /* waiting control instruction: no FIP/FOP update */
    K_CTRL_NW,  /* non-waiting control instruction (FN*) */
};
struct x87_form {
    insn_fn fn;
    uint8_t kind;
};
#define A(f) { f, K_ARITH }
#define CW(f) { f, K_CTRL_W }
#define CN(f) { f, K_CTRL_NW }
#define UD { NULL, K_UD }

/* Memory forms by [opcode & 7][reg]. */
static const struct x87_form mem_forms[8][8] = {
    { A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem),
      A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem) },
    { A(fx_fld_real), UD, A(fx_fst_real), A(fx_fst_real),
      CW(x87_fldenv), CW(fx_fldcw), CN(x87_fnstenv), CN(fx_fnstcw) },
    { A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem),
      A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem) },
    { A(fx_fild), A(fx_fist), A(fx_fist), A(fx_fist), UD, A(fx_fld_ext), UD, A(fx_fstp_ext) },
    { A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem),
      A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem) },
    { A(fx_fld_real), A(fx_fist), A(fx_fst_real), A(fx_fst_real),
      CW(x87_frstor), UD, CN(x87_fnsave), CN(fx_fnstsw) },
    { A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem),
      A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem), A(fx_arith_mem) },
    { A(fx_fild), A(fx_fist), A(fx_fist), A(fx_fist), A(fx_fbld), A(fx_fild), A(fx_fbstp), A(fx_fist) },
};

/* Register forms by [opcode & 7][reg]; NULL fn with K_ARITH: see rm_forms. */
#define RM_GROUP { NULL, K_ARITH }
static const struct x87_form reg_forms[8][8] = {
    { A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg),
      A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg) },
    { A(fx_fld_st), A(fx_fxch), RM_GROUP, A(fx_fst_st), RM_GROUP, RM_GROUP, RM_GROUP, RM_GROUP },
    { A(fx_fcmov), A(fx_fcmov), A(fx_fcmov), A(fx_fcmov), UD, RM_GROUP, UD, UD },
    { A(fx_fcmov), A(fx_fcmov), A(fx_fcmov), A(fx_fcmov), RM_GROUP, A(fx_fcomi), A(fx_fcomi), UD },
    { A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg),
      A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg) },
    { A(fx_ffree), A(fx_fxch), A(fx_fst_st), A(fx_fst_st), A(fx_fucom), A(fx_fucom), UD, UD },
    { A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), RM_GROUP,
      A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg), A(fx_arith_reg) },
    { A(fx_ffree), A(fx_fxch), A(fx_fst_st), A(fx_fst_st), RM_GROUP, A(fx_fcomi), A(fx_fcomi), UD },
};

/* Register forms that also depend on rm: D9 D0-FF, DA E8-EF, DB E0-E7,
 * DE D8-DF, DF E0-E7. */
static const struct x87_form *rm_form(unsigned esc, unsigned reg, unsigned rm)
{
    static const struct x87_form d9[5][8] = {
        { A(fx_nop), UD, UD, UD, UD, UD, UD, UD },                                  /* D0: FNOP */
        { A(fx_fchs_fabs), A(fx_fchs_fabs), UD, UD, A(fx_ftst), A(fx_fxam), UD, UD }, /* E0 */
        { A(fx_fldconst), A(fx_fldconst), A(fx_fldconst), A(fx_fldconst),
          A(fx_fldconst), A(fx_fldconst), A(fx_fldconst), UD },                       /* E8 */
        { A(x87_f2xm1), A(x87_fyl2x), A(x87_fptan), A(x87_fpatan),
          A(fx_fxtract), A(fx_fprem), A(fx_fdecstp), A(fx_fincstp) },                 /* F0 */
        { A(fx_fprem), A(x87_fyl2xp1), A(fx_fsqrt), A(x87_fsincos),
          A(fx_fsqrt), A(fx_fscale), A(x87_fsin), A(x87_fcos) },                      /* F8 */
    };
    static const struct x87_form ud = UD;
    static const struct x87_form fucompp = A(fx_fucom), fcompp = A(fx_arith_reg);
    static const struct x87_form db_e0[8] = {
        CN(fx_nop), CN(fx_nop), CN(fx_fnclex), CN(fx_fninit), CN(fx_nop), UD, UD, UD, /* FENI FDISI - - FSETPM */
    };
    static const struct x87_form fnstsw_ax = CN(fx_fnstsw);
    switch (esc) {
    case 1: return reg == 2 ? &d9[0][rm] : &d9[reg - 3][rm];
    case 2: return rm == 1 ? &fucompp : &ud;
    case 3: return &db_e0[rm];
    case 6: return rm == 1 ? &fcompp : &ud;
    default: return rm == 0 ? &fnstsw_ax : &ud;
    }
}

static void op_esc(struct cpu *cpu, const struct insn *in)
{
    unsigned esc = in->op & 7, reg = in->reg & 7;
    const struct x87_form *f;
    if (in->mod == 3) {
        f = &reg_forms[esc][reg];
        if (f->kind == K_ARITH && !f->fn)
            f = rm_form(esc, reg, in->rm & 7);
    } else {
        f = &mem_forms[esc][reg];
    }
    if (f->kind == K_UD) {
        /* #NM comes before #UD for ESC opcodes (SDM Vol. 3A table 2-2) */
        fpu_check_x87(cpu, false);
        cpu_ud(cpu);
    }
    fpu_check_x87(cpu, f->kind != K_CTRL_NW);
    f->fn(cpu, in);
    if (f->kind == K_ARITH) {
        struct fpu_state *s = &cpu->s.fpu;
        s->fop = (uint16_t)((esc << 8) | (in->mod << 6) | (reg << 3) | (in->rm & 7));
        s->fip = cpu->s.rip;
        s->fcs = cpu->s.seg[S_CS].sel;
        if (in->mod != 3) {
            s->fdp = insn_ea(cpu, in);
            s->fds = cpu->s.seg[in->seg].sel;
        }
    }
}

/* FWAIT (9B): #NM if CR0.MP and CR0.TS, then pending exceptions. */
static void op_fwait(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if ((cpu->s.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
        cpu_raise(cpu, EXC_NM, 0);
    fpu_pending_error(cpu);
}

#define ESC_ROW(b) { OP1 | (b), -1, -1, PFX_ANY, OPF_MODRM, op_esc, "fpu" }
static const struct op_def fpu_ops[] = {
    ESC_ROW(0xd8), ESC_ROW(0xd9), ESC_ROW(0xda), ESC_ROW(0xdb),
    ESC_ROW(0xdc), ESC_ROW(0xdd), ESC_ROW(0xde), ESC_ROW(0xdf),
    { OP1 | 0x9b, -1, -1, PFX_ANY, 0, op_fwait, "fwait" },
    OPS_END
};
OPS_REGISTER(fpu_ops);
