/* Test-case generation for the differential tester (diff_gen.h). */
#include <stdio.h>
#include <string.h>

#include "diff_gen.h"

#define FLAG_CF 0x001u
#define FLAG_AF 0x010u
#define FLAG_OF 0x800u

/* Window layout (offsets in the window) */
#define MEMOP_LO 0x400u    /* ModRM memory operands land in [MEMOP_LO, MEMOP_LO + 0x400) */
#define PAGE_EDGE 0x1000u  /* ... or straddle the window's page boundary */
#define STR_SRC 0x1200u    /* string source area (DF=0 start) */
#define STR_DST 0xe00u     /* destination: crosses the page boundary */
#define STR_SPAN 0x400u    /* room for 40 qwords and the random start */
#define X87_OFF 0x300u     /* x87 operand block */
#define SSE_OFF 0x1e00u    /* SSE memory operand (16-byte aligned) */
#define STACK_OFF 0xf00u   /* stack forms: rsp lands in [STACK_OFF, STACK_OFF + 0x200) */

/* ModRM/REX (SDM Vol. 2 2.1.5, 2.2.1) */
#define REX 0x40
#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

uint64_t rng_next(struct rng *r)
{
    /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

unsigned rng_below(struct rng *r, unsigned n)
{
    return (unsigned)((rng_next(r) >> 32) % n);
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* An integer of `size` bytes, biased to the interesting edges. */
static uint64_t gen_int(struct rng *r, unsigned size)
{
    unsigned bits = size * 8;
    uint64_t m = mask_of(size), sign = 1ull << (bits - 1), v;
    switch (rng_below(r, 14)) {
    case 0: v = 0; break;
    case 1: v = 1; break;
    case 2: v = m; break;                            /* -1 */
    case 3: v = sign; break;                         /* signed min */
    case 4: v = sign - 1; break;                     /* signed max */
    case 5: v = 1ull << rng_below(r, bits); break;   /* power of two */
    case 6: v = (1ull << rng_below(r, bits)) - 1; break;
    case 7: v = rng_below(r, 17); break;
    case 8: v = (uint64_t)0 - rng_below(r, 17); break;
    case 9: v = sign + rng_below(r, 4) - 2; break;
    case 10: v = rng_next(r) & 0xff; break;
    default: v = rng_next(r); break;
    }
    return v & m;
}

/* A register value: an operand of `size` with random bits above it half of
 * the time (they must be preserved or cleared exactly as the SDM says). */
static uint64_t gen_reg(struct rng *r, unsigned size)
{
    uint64_t v = gen_int(r, size);
    if (size < 8 && rng_below(r, 2))
        v |= rng_next(r) & ~mask_of(size);
    return v;
}

/* --- floating-point operands ------------------------------------------- */

static uint32_t gen_f32(struct rng *r)
{
    uint32_t s = (uint32_t)rng_below(r, 2) << 31;
    switch (rng_below(r, 12)) {
    case 0: return s;                                           /* +-0 */
    case 1: return s | 0x3f800000u;                             /* +-1 */
    case 2: return s | 0x7f800000u;                             /* inf */
    case 3: return s | 0x7fc00000u | (uint32_t)(rng_next(r) & 0x3fffff);  /* qNaN */
    case 4: return s | 0x7f800000u | (uint32_t)(rng_next(r) & 0x3fffff) | 1; /* sNaN */
    case 5: return s | (uint32_t)(rng_next(r) & 0x7fffff);      /* denormal */
    case 6: return s | 0x7f7fffffu;                             /* max */
    case 7: return s | (uint32_t)((0x3f000000u + (rng_next(r) & 0x01ffffffu)));  /* ~0.5..4 */
    case 8: return s | ((uint32_t)(rng_below(r, 31) + 127) << 23);  /* integers 2^k */
    default: return (uint32_t)rng_next(r);
    }
}

static uint64_t gen_f64(struct rng *r)
{
    uint64_t s = (uint64_t)rng_below(r, 2) << 63;
    switch (rng_below(r, 12)) {
    case 0: return s;
    case 1: return s | 0x3ff0000000000000ull;
    case 2: return s | 0x7ff0000000000000ull;
    case 3: return s | 0x7ff8000000000000ull | (rng_next(r) & 0x7ffffffffffffull);
    case 4: return s | 0x7ff0000000000000ull | (rng_next(r) & 0x7ffffffffffffull) | 1;
    case 5: return s | (rng_next(r) & 0xfffffffffffffull);
    case 6: return s | 0x7fefffffffffffffull;
    case 7: return s | (0x3fe0000000000000ull + (rng_next(r) & 0x003fffffffffffffull));
    case 8: return s | ((uint64_t)(rng_below(r, 63) + 1023) << 52);
    case 9: return s | ((uint64_t)(rng_below(r, 52) + 1023) << 52) | (rng_next(r) & 0xfffffull); /* x.5 etc */
    default: return rng_next(r);
    }
}

/* 80-bit extended: 64-bit significand with explicit integer bit, then
 * sign|exponent (SDM Vol. 1 4.2.2). */
static void gen_f80(struct rng *r, uint8_t out[10])
{
    uint64_t mant;
    uint16_t se = (uint16_t)(rng_below(r, 2) << 15);
    switch (rng_below(r, 14)) {
    case 0: mant = 0; break;                                           /* zero */
    case 1: mant = 1ull << 63; se |= 0x3fff; break;                    /* 1 */
    case 2: mant = 1ull << 63; se |= 0x7fff; break;                    /* inf */
    case 3: mant = (3ull << 62) | (rng_next(r) >> 2); se |= 0x7fff; break; /* qNaN */
    case 4: mant = (1ull << 63) | ((rng_next(r) >> 2) | 1); se |= 0x7fff; break; /* sNaN */
    case 5: mant = rng_next(r) >> 1; break;                            /* denormal */
    case 6: mant = (1ull << 63) | rng_next(r); se |= (uint16_t)(0x3fff + rng_below(r, 64) - 8); break;
    case 7: mant = (1ull << 63) | (rng_next(r) << 40); se |= (uint16_t)(0x3fff + rng_below(r, 24)); break; /* near-integers */
    case 8: mant = (1ull << 63) | rng_next(r); se |= (uint16_t)(0x7ffe - rng_below(r, 4)); break; /* huge */
    case 9: mant = (1ull << 63) | rng_next(r); se |= (uint16_t)(1 + rng_below(r, 4)); break;     /* tiny */
    case 10: mant = rng_next(r) >> 1; se |= (uint16_t)(1 + rng_below(r, 0x7ffe)); break;         /* unnormal */
    default: mant = (1ull << 63) | rng_next(r); se |= (uint16_t)(1 + rng_below(r, 0x7ffe)); break;
    }
    memcpy(out, &mant, 8);
    memcpy(out + 8, &se, 2);
}

static void gen_xmm(struct rng *r, uint64_t sp, uint8_t out[16])
{
    for (unsigned i = 0; i < 16;) {
        if (sp & S_SSE_PS) {
            uint32_t v = gen_f32(r);
            memcpy(out + i, &v, 4);
            i += 4;
        } else if (sp & S_SSE_PD) {
            uint64_t v = gen_f64(r);
            memcpy(out + i, &v, 8);
            i += 8;
        } else {
            unsigned lane = 1u << rng_below(r, 4);
            uint64_t v = gen_int(r, lane);
            memcpy(out + i, &v, lane);
            i += lane;
        }
    }
}

/* --- encoding ------------------------------------------------------------ */

static unsigned parse_hex(const char *s, uint8_t *out, unsigned max)
{
    unsigned n = 0;
    while (*s && n < max) {
        if (*s == ' ') {
            s++;
            continue;
        }
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

struct enc {
    uint8_t *p;
    unsigned n;
};

static void put(struct enc *e, unsigned b)
{
    e->p[e->n++] = (uint8_t)b;
}

static void put_n(struct enc *e, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        put(e, (unsigned)(v >> (8 * i)) & 0xff);
}

/* A random register for an operand: never RSP/SPL; 4 is AH only for byte
 * operands without REX. */
static int pick_reg(struct rng *r, unsigned nregs, bool four_ok, uint16_t avoid)
{
    for (;;) {
        int x = (int)rng_below(r, nregs);
        if (x == 4 && !four_ok)
            continue;
        if (avoid & (1u << x))
            continue;
        return x;
    }
}

static uint64_t win_addr(uint64_t off)
{
    return host_region() + WIN_OFF + off;
}

static void win_put(struct tcase *tc, uint64_t addr, uint64_t v, unsigned size)
{
    uint64_t off = addr - win_addr(0);
    if (off + size <= WIN_SIZE)
        memcpy(tc->win + off, &v, size);
}

static uint64_t win_get(const struct tcase *tc, uint64_t addr, unsigned size)
{
    uint64_t v = 0, off = addr - win_addr(0);
    if (off + size <= WIN_SIZE)
        memcpy(&v, tc->win + off, size);
    return v;
}

static void set_sized(uint64_t *reg, unsigned size, uint64_t v)
{
    *reg = (*reg & ~mask_of(size)) | (v & mask_of(size));
}

/* LEA with a random addressing form: ModRM, SIB, displacement, 67h. */
static void gen_lea(struct tcase *tc, struct rng *r, struct enc *e, unsigned opsize)
{
    bool a32 = rng_below(r, 3) == 0;
    /* 67h flips the address size: 32-bit code -> 16-bit, 16-bit code -> 32-bit */
    bool addr16 = tc->code16 ? !a32 : (a32 && tc->compat);
    unsigned rex = opsize == 8 ? REX_W : 0;
    unsigned regop = (unsigned)pick_reg(r, tc->compat ? 8 : 16, false, 0);
    unsigned mod = rng_below(r, 3), rm = rng_below(r, 8);
    if (!tc->compat)
        rex |= (regop >= 8 ? REX_R : 0) | (rng_below(r, 2) ? REX_X : 0) | (rng_below(r, 2) ? REX_B : 0);
    if (a32)
        put(e, 0x67);
    if ((opsize == 2) != tc->code16)
        put(e, 0x66);
    if (rex)
        put(e, REX | rex);
    put(e, 0x8d);
    put(e, (mod << 6) | ((regop & 7) << 3) | rm);
    if (addr16) {
        /* 16-bit addressing, no SIB (SDM Vol. 2 table 2-1) */
        if (mod == 1)
            put(e, rng_below(r, 256));
        else if (mod == 2 || (mod == 0 && rm == 6))
            put_n(e, gen_int(r, 2), 2);
    } else {
        bool sib_base5 = false;
        if (rm == 4) {
            unsigned sib = rng_below(r, 256);
            if ((sib & 7) == 4 && !(rex & REX_B))
                sib ^= 1;   /* base RSP: the host's stack pointer is not the guest's */
            put(e, sib);
            sib_base5 = (sib & 7) == 5;
        }
        if (mod == 1)
            put(e, rng_below(r, 256));
        else if (mod == 2 || (mod == 0 && (rm == 5 || sib_base5)))
            put_n(e, gen_int(r, 4), 4);
    }
    tc->regop = (int)regop;
    tc->used = 0xffff;
}

static void gen_encoded(struct tcase *tc, const struct form *f, unsigned opsize, struct rng *r)
{
    struct enc e = { tc->code, 0 };
    unsigned nregs = tc->compat ? 8 : 16;
    bool byteop = opsize == 1;
    bool use_rex = !tc->compat && (!byteop || rng_below(r, 2));
    bool four_ok = byteop && !use_rex;
    unsigned rex = opsize == 8 ? REX_W : 0;
    uint16_t implicit = f->implicit;

    if (f->sp & S_LEA) {
        for (int i = 0; i < 16; i++)
            tc->in.regs[i] = gen_reg(r, opsize);
        gen_lea(tc, r, &e, opsize);
        tc->len = e.n;
        return;
    }
    if (!use_rex)
        nregs = 8;

    /* registers */
    tc->regop = tc->rmreg = tc->base = -1;
    tc->byte_hi = four_ok;
    if (f->ext == EXT_R)
        tc->regop = pick_reg(r, nregs, four_ok, 0);
    if (f->ext == EXT_OPREG)
        tc->rmreg = pick_reg(r, nregs, four_ok, f->opc == 0x90 ? RB(0) : 0);
    bool modrm = f->ext >= 0 || f->ext == EXT_R;
    if (modrm) {
        tc->has_mem = f->rmk == RM_MEM || (f->rmk == RM_ANY && rng_below(r, 2));
        if (tc->has_mem) {
            uint16_t avoid = RB(4) | RB(12) | implicit;
            if (tc->regop >= 0)
                avoid |= (uint16_t)RB(tc->regop);
            tc->base = pick_reg(r, nregs, false, avoid);
        } else {
            tc->rmreg = pick_reg(r, nregs, four_ok, 0);
        }
    }

    /* values */
    for (int i = 0; i < 16; i++)
        tc->in.regs[i] = gen_reg(r, opsize);
    int8_t disp = 0;
    if (tc->has_mem) {
        uint64_t ea = rng_below(r, 4) ? win_addr(MEMOP_LO + rng_below(r, 0x400))
                                      : win_addr(PAGE_EDGE - 1 - rng_below(r, 16));
        if ((f->sp & S_CX8) && opsize == 8)
            ea &= ~15ull;   /* CMPXCHG16B needs 16-byte alignment (else #GP) */
        disp = (int8_t)(rng_below(r, 128) - 64);
        tc->ea = ea;
        tc->in.regs[tc->base] = ea - (uint64_t)(int64_t)disp;
        win_put(tc, ea, gen_int(r, opsize), opsize);
        if (f->sp & S_CX8)
            win_put(tc, ea + 8, rng_next(r), 8);
    }

    /* prefixes and REX; segment overrides: CS/SS/DS/ES are flat on both
     * sides (CS is not writable in 32-bit code: #GP), GS has base 0 */
    if ((f->sp & S_LOCK) && tc->has_mem && rng_below(r, 2))
        put(&e, 0xf0);
    if (tc->has_mem && tc->code16)
        put(&e, 0x67);   /* 32-bit addressing: the window is above 64 KiB */
    if (tc->has_mem && rng_below(r, 4) == 0) {
        static const uint8_t segpfx[5] = { 0x26, 0x2e, 0x36, 0x3e, 0x65 };
        unsigned n = !tc->compat && host_gs_zero() ? 5 : 4;
        put(&e, segpfx[rng_below(r, n)]);
    }
    if (opsize == 2 ? !tc->code16 : (opsize == 4 && tc->code16))
        put(&e, 0x66);
    if (f->pfx)
        put(&e, f->pfx);
    if (tc->regop >= 8)
        rex |= REX_R;
    if ((tc->rmreg >= 8) || (tc->base >= 8))
        rex |= REX_B;
    if (use_rex && (rex || byteop || rng_below(r, 4) == 0))
        put(&e, REX | rex);
    else if (rex)
        put(&e, REX | rex);

    /* opcode */
    if (f->map == MAP_0F)
        put(&e, 0x0f);
    else if (f->map == MAP_38) {
        put(&e, 0x0f);
        put(&e, 0x38);
    } else if (f->map == MAP_3A) {
        put(&e, 0x0f);
        put(&e, 0x3a);
    }
    unsigned opc = f->opc;
    if (f->sp & S_CC) {
        tc->cc = (uint8_t)rng_below(r, 16);
        opc += tc->cc;
    }
    if (f->ext == EXT_OPREG)
        opc += (unsigned)tc->rmreg & 7;
    put(&e, opc);
    if (modrm) {
        unsigned reg = f->ext >= 0 ? (unsigned)f->ext : (unsigned)tc->regop & 7;
        if (tc->has_mem) {
            put(&e, 0x40 | (reg << 3) | ((unsigned)tc->base & 7));
            put(&e, (uint8_t)disp);
        } else {
            put(&e, 0xc0 | (reg << 3) | ((unsigned)tc->rmreg & 7));
        }
    }

    /* immediate */
    uint64_t imm = 0;
    switch (f->imm) {
    case I_8: imm = gen_int(r, 1); put_n(&e, imm, 1); break;
    case I_16: imm = gen_int(r, 2); put_n(&e, imm, 2); break;
    case I_Z: imm = gen_int(r, opsize == 2 ? 2 : 4); put_n(&e, imm, opsize == 2 ? 2 : 4); break;
    case I_V: imm = gen_int(r, opsize); put_n(&e, imm, opsize); break;
    case I_CNT:
        imm = rng_below(r, 4) == 0 ? rng_next(r) & 0xff : rng_below(r, 66);
        put_n(&e, imm, 1);
        tc->count = imm;
        break;
    default: break;
    }
    tc->len = e.n;

    /* operand-dependent set-up */
    uint64_t *regs = tc->in.regs;
    if (f->sp & S_ONE)
        tc->count = 1;
    if (f->sp & S_CL) {
        uint64_t c = rng_below(r, 4) == 0 ? rng_next(r) & 0xff : rng_below(r, 66);
        if (tc->base != 1)
            regs[1] = (regs[1] & ~0xffull) | c;
        tc->count = regs[1] & 0xff;
    }
    /* the r/m operand's value */
    uint64_t rmval;
    if (tc->has_mem)
        rmval = win_get(tc, tc->ea, opsize);
    else if (tc->rmreg >= 0)
        rmval = byteop && four_ok && tc->rmreg >= 4 ? (regs[tc->rmreg - 4] >> 8) & 0xff
                                                    : regs[tc->rmreg] & mask_of(opsize);
    else
        rmval = 0;
    bool rm_implicit = tc->rmreg >= 0 && ((implicit >> tc->rmreg) & 1);
    if (four_ok && tc->rmreg >= 4 && tc->rmreg < 8 && ((implicit >> (tc->rmreg - 4)) & 1))
        rm_implicit = true;
    if ((f->sp & (S_DIV | S_IDIV)) && rmval != 0 && !rm_implicit && rng_below(r, 4)) {
        /* a dividend whose quotient fits, most of the time */
        if (f->sp & S_DIV) {
            uint64_t hi = rng_next(r) % rmval;
            if (byteop)
                regs[0] = (regs[0] & ~0xff00ull) | (hi << 8);
            else
                set_sized(&regs[2], opsize, hi);
        } else {
            uint64_t lo = byteop ? regs[0] & 0xff : regs[0] & mask_of(opsize);
            bool neg = (lo >> (opsize * 8 - 1)) & 1;
            if (byteop)
                regs[0] = (regs[0] & ~0xff00ull) | (neg ? 0xff00ull : 0);
            else
                set_sized(&regs[2], opsize, neg ? ~0ull : 0);
        }
    }
    if ((f->sp & S_BITOFF) && tc->has_mem) {
        /* bit offset within +-1024 bits of the operand (the window) */
        uint64_t off = (uint64_t)((int64_t)rng_below(r, 2048) - 1024);
        set_sized(&regs[tc->regop], opsize, off);
    }
    if ((f->sp & S_CMPXCHG) && rng_below(r, 2) && !(tc->rmreg == 0) && tc->base != 0) {
        if (byteop)
            regs[0] = (regs[0] & ~0xffull) | (rmval & 0xff);
        else
            set_sized(&regs[0], opsize, rmval);
    }
    if ((f->sp & S_CX8) && rng_below(r, 2)) {
        if (opsize == 8) {
            regs[0] = win_get(tc, tc->ea, 8);
            regs[2] = win_get(tc, tc->ea + 8, 8);
        } else {
            uint64_t m = win_get(tc, tc->ea, 8);
            regs[0] = (regs[0] & ~0xffffffffull) | (m & 0xffffffff);
            regs[2] = (regs[2] & ~0xffffffffull) | (m >> 32);
        }
    }
    if ((f->sp & S_BSF) && rmval == 0 && tc->regop >= 0)
        tc->skip_regs |= (uint16_t)RB(tc->regop);
    if (f->sp & S_SHXD) {
        unsigned mc = (unsigned)(tc->count & (opsize == 8 ? 63 : 31));
        if (mc > opsize * 8) {
            if (tc->has_mem)
                tc->skip_mem = true;
            else
                tc->skip_regs |= (uint16_t)RB(tc->rmreg);
        }
    }
    tc->used = implicit;
    if (tc->regop >= 0)
        tc->used |= (uint16_t)RB(tc->regop);
    if (tc->rmreg >= 0)
        tc->used |= (uint16_t)RB(four_ok && tc->rmreg >= 4 ? tc->rmreg - 4 : tc->rmreg);
    if (tc->regop >= 0 && four_ok && tc->regop >= 4)
        tc->used |= (uint16_t)RB(tc->regop - 4);
    if (tc->base >= 0)
        tc->used |= (uint16_t)RB(tc->base);
}

/* String ops: pointers into the window, a small count, DF either way, and
 * data that makes REPE/REPNE stop at a chosen element. */
static void gen_string(struct tcase *tc, struct rng *r, unsigned es)
{
    uint64_t *regs = tc->in.regs;
    bool a32 = false, df = rng_below(r, 2);
    for (unsigned i = 0; i < tc->len; i++)
        if (tc->code[i] == 0x67)
            a32 = true;
    unsigned count = rng_below(r, 5) == 0 ? 0 : 1 + rng_below(r, 40);
    uint64_t si, di;
    if (!df) {
        si = win_addr(STR_SRC + rng_below(r, 64));
        di = win_addr(STR_DST + rng_below(r, 64));
    } else {
        si = win_addr(STR_SRC + STR_SPAN - 8 - rng_below(r, 64));
        di = win_addr(STR_DST + STR_SPAN - 8 - rng_below(r, 64));
    }
    if (rng_below(r, 8) == 0)
        di = si + (uint64_t)((int64_t)rng_below(r, 33) - 16);   /* overlapping MOVS */
    regs[6] = si;
    regs[7] = di;
    regs[1] = count;
    if (a32) {
        /* 32-bit address size uses ESI/EDI/ECX only */
        regs[6] |= rng_next(r) << 32;
        regs[7] |= rng_next(r) << 32;
        regs[1] |= rng_next(r) << 32;
        /* A zero ECX: Intel processors still write ECX, ESI and EDI at the
         * address size (zero-extending them), AMD's leave them alone. */
        if (count == 0 && host_is_amd())
            tc->skip_regs |= (uint16_t)((1u << 1) | (1u << 6) | (1u << 7));
    }
    if (df)
        tc->in.rflags |= DF_DF;
    else
        tc->in.rflags &= ~(uint64_t)DF_DF;
    /* CMPS: destination equals source for k elements; SCAS: k elements
     * equal to the accumulator (REPE) or element k equal to it (REPNE). */
    unsigned k = rng_below(r, count + 2);
    int64_t step = df ? -(int64_t)es : (int64_t)es;
    uint64_t acc = regs[0] & mask_of(es);
    for (unsigned i = 0; i < k; i++) {
        uint64_t s = si + (uint64_t)(step * (int64_t)i), d = di + (uint64_t)(step * (int64_t)i);
        switch (rng_below(r, 3)) {
        case 0: win_put(tc, d, win_get(tc, s, es), es); break;
        case 1: win_put(tc, d, acc, es); break;
        default: break;
        }
    }
    if (rng_below(r, 2))
        win_put(tc, di + (uint64_t)(step * (int64_t)k), acc, es);
    tc->used = RB(0) | RB(1) | RB(6) | RB(7);
}

static void gen_raw(struct tcase *tc, const struct form *f, struct rng *r)
{
    uint8_t bytes[24];
    unsigned n = parse_hex(f->raw, bytes, sizeof(bytes));
    unsigned opsize = tc->opsize;
    struct enc e = { tc->code, 0 };
    tc->regop = tc->rmreg = tc->base = -1;
    for (int i = 0; i < 16; i++)
        tc->in.regs[i] = gen_reg(r, opsize);
    for (unsigned i = 0; i < n; i++) {
        put(&e, bytes[i]);
        /* x87 snippets: sometimes load a random control word after FNINIT */
        if (i == 1 && (f->sp & S_FPU_CW) && rng_below(r, 2)) {
            put(&e, 0xd9);
            put(&e, 0x6b);
            put(&e, 0x70);
        }
    }
    if (f->sp & S_CC) {
        tc->cc = (uint8_t)rng_below(r, 16);
        tc->code[f->opc] = (uint8_t)(tc->code[f->opc] + tc->cc);
    }
    if (f->imm == I_8)
        put(&e, rng_below(r, 256));
    if (f->sp & S_BCDIMM)
        put(&e, rng_below(r, 4) ? 10 : rng_below(r, 256));
    if (f->sp & S_ENTER) {
        put_n(&e, rng_below(r, 4) ? 8 * rng_below(r, 8) : rng_below(r, 0x100), 2);
        put(&e, rng_below(r, 4) ? rng_below(r, 4) : rng_below(r, 256));
    }
    tc->len = e.n;
    tc->used = f->implicit;
    if (f->sp & S_STR)
        gen_string(tc, r, opsize);
    if (f->sp & S_X87) {
        uint64_t b = win_addr(X87_OFF);
        tc->in.regs[3] = b;
        uint8_t *w = tc->win + X87_OFF;
        gen_f80(r, w + 0x00);
        gen_f80(r, w + 0x10);
        uint64_t d0 = gen_f64(r), d1 = gen_f64(r);
        uint32_t s0 = gen_f32(r), s1 = gen_f32(r);
        uint32_t i32 = (uint32_t)gen_int(r, 4);
        uint64_t i64 = gen_int(r, 8);
        memcpy(w + 0x40, &d0, 8);
        memcpy(w + 0x48, &d1, 8);
        memcpy(w + 0x50, &s0, 4);
        memcpy(w + 0x54, &s1, 4);
        memcpy(w + 0x58, &i32, 4);
        memcpy(w + 0x60, &i64, 8);
        /* FCW: all exceptions masked, random rounding, precision 24/53/64 */
        static const uint16_t pc[3] = { 0x000, 0x200, 0x300 };
        uint16_t fcw = (uint16_t)(0x7f | pc[rng_below(r, 3)] | (rng_below(r, 4) << 10));
        memcpy(w + 0x70, &fcw, 2);
        tc->used = RB(0) | RB(3);
    }
    if (f->sp & S_MEMRBX) {
        uint64_t b = win_addr(SSE_OFF);
        tc->in.regs[3] = b;
        gen_xmm(r, f->sp, tc->win + SSE_OFF);
        gen_xmm(r, f->sp, tc->win + SSE_OFF + 16);
        tc->ea = b;
        tc->has_mem = true;
    }
}

/* Stack forms: rsp (and rbp for ENTER/LEAVE) point into the window; RET
 * and CALL r get a return/target address that continues at the next
 * instruction, POPF a flags image without TF/AC. */
static void gen_stack(struct tcase *tc, const struct form *f, struct rng *r)
{
    uint64_t *regs = tc->in.regs;
    uint64_t next = host_insn_addr(false) + tc->len;
    uint64_t sp = win_addr(STACK_OFF + 8 * rng_below(r, 0x40));
    if (rng_below(r, 8) == 0)
        sp += rng_below(r, 8);   /* misaligned stacks work too */
    regs[4] = sp;
    if (f->sp & S_RETADDR)
        win_put(tc, sp, next, 8);
    if (f->sp & S_CALLREG)
        regs[0] = next;
    if (f->sp & S_POPF)
        win_put(tc, sp, (rng_next(r) & (DF_ARITH | DF_DF)) | 0x202, 8);
    /* ENTER's nesting level copies frame pointers from [rbp - 8i]; LEAVE
     * loads rsp from rbp */
    regs[5] = win_addr(STACK_OFF + 0x100 + 8 * rng_below(r, 0x20));
    tc->used |= RB(4) | RB(5);
}

void gen_case(struct tcase *tc, const struct form *f, unsigned opsize, struct rng *r, bool allow_compat)
{
    memset(tc, 0, sizeof(*tc));
    tc->f = f;
    tc->opsize = opsize;
    tc->regop = tc->rmreg = tc->base = -1;
    for (unsigned i = 0; i < WIN_SIZE; i += 8) {
        uint64_t v = rng_next(r);
        memcpy(tc->win + i, &v, 8);
    }
    tc->in.rflags = 0x2 | (rng_next(r) & DF_ARITH);
    tc->in.mxcsr = 0x1f80;
    if (f->sp & S_SSE) {
        tc->in.mxcsr |= rng_below(r, 4) << 13;          /* rounding control */
        if (rng_below(r, 8) == 0)
            tc->in.mxcsr |= 0x8000;                     /* FTZ */
        if (rng_below(r, 8) == 0)
            tc->in.mxcsr |= 0x40;                       /* DAZ */
        if (rng_below(r, 4) == 0)
            tc->in.mxcsr |= (uint32_t)rng_below(r, 64); /* sticky flags */
        for (unsigned x = 0; x < 16; x++)
            gen_xmm(r, f->sp, tc->in.xmm[x]);
    }
    tc->compat = (f->sp & S_COMPAT) ||
                 (allow_compat && !f->raw && opsize != 8 && rng_below(r, 8) == 0);
    if (tc->compat && !(f->sp & S_COMPAT) && host_has_code16() && rng_below(r, 2))
        tc->code16 = true;   /* integer forms: 16-bit code half of the time */
    if (f->sp & S_STACK)
        tc->compat = tc->code16 = false;
    if (f->raw)
        gen_raw(tc, f, r);
    else
        gen_encoded(tc, f, opsize, r);
    if (f->sp & S_STACK)
        gen_stack(tc, f, r);
}

uint32_t case_undef_flags(const struct tcase *tc)
{
    const struct form *f = tc->f;
    uint32_t u = f->undef;
    if (f->sp & (S_SHL | S_SAR | S_ROT | S_SHXD)) {
        unsigned w = tc->opsize * 8;
        unsigned mc = (unsigned)(tc->count & (tc->opsize == 8 ? 63 : 31));
        if (mc == 0)
            return u;   /* nothing changes: every flag is preserved */
        if (f->sp & (S_SHL | S_SAR)) {
            /* SDM SAL/SAR/SHL/SHR "Flags Affected" */
            u |= FLAG_AF;
            if (mc != 1)
                u |= FLAG_OF;
            if ((f->sp & S_SHL) && mc >= w)
                u |= FLAG_CF;
        }
        if ((f->sp & S_ROT) && mc != 1)
            u |= FLAG_OF;   /* RCL/RCR/ROL/ROR: OF only for 1-bit rotates */
        if (f->sp & S_SHXD) {
            u |= FLAG_AF;
            if (mc != 1)
                u |= FLAG_OF;
            if (mc > w)
                u |= DF_ARITH;  /* count > operand size: result and flags undefined */
        }
    }
    return u;
}

static const char *const reg64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const reg8hi[8] = { "al", "cl", "dl", "bl", "ah", "ch", "dh", "bh" };

static const char *reg_name(const struct tcase *tc, int r)
{
    return tc->byte_hi && r < 8 ? reg8hi[r] : reg64[r];
}

void case_describe(const struct tcase *tc, char *buf, size_t n)
{
    const struct form *f = tc->f;
    static const char *const cc[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
                                        "s", "ns", "p", "np", "l", "ge", "le", "g" };
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "%s%s", f->name, (f->sp & S_CC) ? cc[tc->cc & 15] : "");
    if (!f->raw || (f->sp & S_STR))
        k += (size_t)snprintf(buf + k, n - k, ".%u", tc->opsize * 8);
    if (tc->compat)
        k += (size_t)snprintf(buf + k, n - k, tc->code16 ? " (code16)" : " (compat32)");
    if (tc->regop >= 0 && k < n)
        k += (size_t)snprintf(buf + k, n - k, " reg=%s", reg_name(tc, tc->regop));
    if (tc->rmreg >= 0 && k < n)
        k += (size_t)snprintf(buf + k, n - k, " rm=%s", reg_name(tc, tc->rmreg));
    if (tc->has_mem && tc->base >= 0 && k < n)
        k += (size_t)snprintf(buf + k, n - k, " rm=[%s%+d]", reg64[tc->base],
                              (int)(tc->ea - tc->in.regs[tc->base]));
    if (k < n)
        k += (size_t)snprintf(buf + k, n - k, " bytes=");
    for (unsigned i = 0; i < tc->len && k + 3 < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%02x", tc->code[i]);
}
