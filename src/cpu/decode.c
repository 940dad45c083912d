/* The table-driven decoder: prefixes, opcode maps, ModRM/SIB, displacement
 * and immediates, then the op_def row that matches (SDM Vol. 2 chapter 2).
 * Rows come from every instruction-group file through OPS_REGISTER. */
#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>

#include "cpu/cpu_int.h"

#define MAX_INSN_LEN 15   /* SDM Vol. 2 2.3.11: longer -> #GP(0) */
#define N_OPCODES (4 * 256)

/* Legacy prefixes (SDM Vol. 2 2.1.1) */
#define P_LOCK 0xf0
#define P_REPNE 0xf2
#define P_REP 0xf3
#define P_OPSIZE 0x66
#define P_ADDRSIZE 0x67

struct op_slot {
    const struct op_def **defs;
    uint32_t n;
    uint32_t any_flags;  /* union of the rows' flags: does the opcode take ModRM? */
};

static struct op_slot slots[N_OPCODES];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

extern const struct op_def *const __start_caixa_ops[];
extern const struct op_def *const __stop_caixa_ops[];
/* Weak: a build may have no fast variants at all. */
extern const struct op_fast *const __start_caixa_fastops[] __attribute__((weak));
extern const struct op_fast *const __stop_caixa_fastops[] __attribute__((weak));

/* Specialised handlers per opcode. */
struct fast_slot {
    const struct op_fast **rows;
    uint32_t n;
};
static struct fast_slot fast_slots[N_OPCODES];

static void add_row(const struct op_def *d)
{
    struct op_slot *s = &slots[d->op & (N_OPCODES - 1)];
    const struct op_def **nd = realloc(s->defs, (s->n + 1) * sizeof(*nd));
    if (!nd)
        abort();
    s->defs = nd;
    /* Specific rows (prefix, reg, rm, mode form) before generic ones. */
    uint32_t pos = s->n;
    int spec = (d->pfx != PFX_ANY) + (d->reg >= 0) + (d->rm >= 0) +
               ((d->flags & (OPF_MEM | OPF_REG | OPF_NO64 | OPF_ONLY64)) != 0);
    while (pos > 0) {
        const struct op_def *p = s->defs[pos - 1];
        int pspec = (p->pfx != PFX_ANY) + (p->reg >= 0) + (p->rm >= 0) +
                    ((p->flags & (OPF_MEM | OPF_REG | OPF_NO64 | OPF_ONLY64)) != 0);
        if (pspec >= spec)
            break;
        s->defs[pos] = p;
        pos--;
    }
    s->defs[pos] = d;
    s->n++;
    s->any_flags |= d->flags;
}

static void add_fast(const struct op_fast *f)
{
    struct fast_slot *s = &fast_slots[f->op & (N_OPCODES - 1)];
    const struct op_fast **nr = realloc(s->rows, (s->n + 1) * sizeof(*nr));
    if (!nr)
        abort();
    s->rows = nr;
    s->rows[s->n++] = f;
}

static void build_tables(void)
{
    for (const struct op_def *const *a = __start_caixa_ops; a < __stop_caixa_ops; a++)
        for (const struct op_def *d = *a; d->fn; d++)
            add_row(d);
    for (const struct op_fast *const *a = __start_caixa_fastops; a < __stop_caixa_fastops; a++)
        for (const struct op_fast *f = *a; f->fn; f++)
            add_fast(f);
}

/* The specialised handler for a decoded instruction of row d, if any. */
static insn_step pick_fast(const struct op_def *d, const struct insn *in, uint8_t modrm)
{
    const struct fast_slot *s = &fast_slots[in->op & (N_OPCODES - 1)];
    if (!s->n || d->pfx != PFX_ANY || in->lock)   /* LOCK: the generic handler is atomic */
        return insn_step_generic;
    for (uint32_t i = 0; i < s->n; i++) {
        const struct op_fast *f = s->rows[i];
        if (f->reg >= 0 && f->reg != ((modrm >> 3) & 7))
            continue;
        if (f->opsize && f->opsize != in->opsize)
            continue;
        if (f->addrsize && f->addrsize != in->addrsize)
            continue;
        if ((f->form == FAST_REG && in->mod != 3) || (f->form >= FAST_MEM && in->mod == 3))
            continue;
        if (f->form == FAST_MEMB &&
            (in->riprel || in->index != REG_NONE || in->base == REG_NONE || in->seg >= S_FS))
            continue;
        if (f->form == FAST_MEMX &&
            (in->riprel || in->index == REG_NONE || in->base == REG_NONE || in->seg >= S_FS))
            continue;
        return f->fn;
    }
    return insn_step_generic;
}

void cpu_decode_init(void)
{
    pthread_once(&init_once, build_tables);
}

struct fetch {
    struct cpu *cpu;
    uint64_t ip;
    uint64_t ip_mask;
    unsigned pos;
};

static uint8_t fetch8(struct fetch *f)
{
    if (f->pos >= MAX_INSN_LEN)
        cpu_raise(f->cpu, EXC_GP, 0);
    uint64_t off = (f->ip + f->pos) & f->ip_mask;
    uint64_t lin = seg_lin(f->cpu, S_CS, off, 1, ACC_X);
    f->pos++;
    return (uint8_t)lin_read(f->cpu, lin, 1, ACC_X);
}

static uint64_t fetch_n(struct fetch *f, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)fetch8(f) << (8 * i);
    return v;
}

/* 16-bit ModRM memory forms (SDM Vol. 2 table 2-1). */
static const uint8_t modrm16_base[8] = { R_BX, R_BX, R_BP, R_BP, R_SI, R_DI, R_BP, R_BX };
static const uint8_t modrm16_index[8] = { R_SI, R_DI, R_SI, R_DI, REG_NONE, REG_NONE, REG_NONE, REG_NONE };

static void decode_modrm(struct fetch *f, struct insn *in, uint8_t modrm, uint8_t rex, bool seg_set)
{
    unsigned mod = modrm >> 6, rm = modrm & 7;
    in->mod = (uint8_t)mod;
    in->reg = (uint8_t)(((modrm >> 3) & 7) | ((rex & 4) << 1));
    in->rm = (uint8_t)(rm | ((rex & 1) << 3));
    in->base = in->index = REG_NONE;
    in->scale = 0;
    in->disp = 0;
    in->riprel = 0;
    if (mod == 3)
        return;
    uint8_t defseg = S_DS;
    if (in->addrsize == 2) {
        if (mod == 0 && rm == 6) {
            in->disp = (int16_t)fetch_n(f, 2);
        } else {
            in->base = modrm16_base[rm];
            in->index = modrm16_index[rm];
            if (in->base == R_BP)
                defseg = S_SS;
            if (mod == 1)
                in->disp = (int8_t)fetch8(f);
            else if (mod == 2)
                in->disp = (int16_t)fetch_n(f, 2);
        }
    } else {
        unsigned base = rm;
        if (rm == 4) {
            uint8_t sib = fetch8(f);
            unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
            base = sib & 7;
            in->scale = sib >> 6;
            if (idx != R_SP)
                in->index = (uint8_t)idx;
            if (base == 5 && mod == 0) {
                in->disp = (int32_t)fetch_n(f, 4);
                goto done;
            }
        } else if (rm == 5 && mod == 0) {
            in->disp = (int32_t)fetch_n(f, 4);
            if (cpu_is64(f->cpu))
                in->riprel = 1;
            goto done;
        }
        in->base = (uint8_t)(base | ((rex & 1) << 3));
        if (base == R_SP || base == R_BP)
            defseg = S_SS;
        if (mod == 1)
            in->disp = (int8_t)fetch8(f);
        else if (mod == 2)
            in->disp = (int32_t)fetch_n(f, 4);
    }
done:
    if (!seg_set)
        in->seg = defseg;
}

static bool row_matches(const struct op_def *d, unsigned mpfx, uint8_t modrm, bool has_modrm, bool is64)
{
    if (d->pfx != PFX_ANY && d->pfx != mpfx)
        return false;
    if ((d->flags & OPF_NO64) && is64)
        return false;
    if ((d->flags & OPF_ONLY64) && !is64)
        return false;
    if (!has_modrm)
        return true;
    unsigned mod = modrm >> 6;
    if (d->reg >= 0 && d->reg != ((modrm >> 3) & 7))
        return false;
    if (d->rm >= 0 && (mod != 3 || d->rm != (modrm & 7)))
        return false;
    if ((d->flags & OPF_MEM) && mod == 3)
        return false;
    if ((d->flags & OPF_REG) && mod != 3)
        return false;
    return true;
}

void cpu_decode(struct cpu *cpu, uint64_t ip, struct insn *in)
{
    bool is64 = cpu_is64(cpu);
    bool d32 = cpu->mode & MODE_CS32;
    struct fetch f = { cpu, ip, is64 ? ~0ull : d32 ? 0xffffffffull : 0xffff, 0 };
    bool p66 = false, p67 = false, seg_set = false;
    uint8_t rex = 0, last_rep = 0, b;

    memset(in, 0, sizeof(*in));
    in->seg = S_DS;
    for (;;) {
        b = fetch8(&f);
        switch (b) {
        case 0x26: case 0x2e: case 0x36: case 0x3e:
            rex = 0;
            if (!is64) {
                in->seg = (uint8_t)((b >> 3) & 3);
                seg_set = true;
            }
            continue;
        case 0x64: case 0x65:
            rex = 0;
            in->seg = (uint8_t)(S_FS + (b & 1));
            seg_set = true;
            continue;
        case P_OPSIZE: rex = 0; p66 = true; continue;
        case P_ADDRSIZE: rex = 0; p67 = true; continue;
        case P_LOCK: rex = 0; in->lock = 1; continue;
        case P_REPNE: case P_REP: rex = 0; last_rep = b; continue;
        default: break;
        }
        if (is64 && (b & 0xf0) == 0x40) {
            rex = b;   /* REX counts only right before the opcode */
            continue;
        }
        break;
    }
    unsigned op = b;
    if (b == 0x0f) {
        b = fetch8(&f);
        if (b == 0x38)
            op = OP38 | fetch8(&f);
        else if (b == 0x3a)
            op = OP3A | fetch8(&f);
        else
            op = OP0F | b;
    }
    in->op = (uint16_t)op;
    in->rex = rex;
    in->pfx66 = p66;
    in->rep = last_rep == P_REP ? PFX_REP : last_rep == P_REPNE ? PFX_REPNE : 0;
    if (is64)
        in->addrsize = p67 ? 4 : 8;
    else
        in->addrsize = (d32 != p67) ? 4 : 2;

    const struct op_slot *slot = &slots[op];
    bool has_modrm = slot->any_flags & OPF_MODRM;
    uint8_t modrm = has_modrm ? fetch8(&f) : 0;
    unsigned mpfx = last_rep == P_REP ? PFX_F3 : last_rep == P_REPNE ? PFX_F2 : p66 ? PFX_66 : PFX_NONE;
    const struct op_def *d = NULL;
    for (uint32_t i = 0; i < slot->n; i++) {
        if (row_matches(slot->defs[i], mpfx, modrm, has_modrm, is64)) {
            d = slot->defs[i];
            break;
        }
    }
    if (!d)
        cpu_ud(cpu);
    uint32_t fl = d->flags;

    if (fl & OPF_BYTE)
        in->opsize = 1;
    else if (is64 && (fl & OPF_F64))
        in->opsize = 8;
    else if (is64 && (fl & OPF_DEF64))
        in->opsize = p66 ? 2 : 8;
    else if (rex & 8)
        in->opsize = 8;
    else if (is64)
        in->opsize = p66 ? 2 : 4;
    else
        in->opsize = (d32 != p66) ? 4 : 2;

    if (has_modrm) {
        decode_modrm(&f, in, modrm, rex, seg_set);
    } else {
        /* +r opcodes name their register in the low bits. */
        in->reg = (uint8_t)((b & 7) | ((rex & 1) << 3));
        in->mod = 3;
        in->rm = in->reg;
        in->base = in->index = REG_NONE;
    }

    if (fl & (OPF_IMM8 | OPF_IMM8U))
        in->imm = (fl & OPF_IMM8) ? (uint64_t)(int64_t)(int8_t)fetch8(&f) : fetch8(&f);
    else if (fl & OPF_IMM16)
        in->imm = fetch_n(&f, 2);
    else if (fl & OPF_IMMZ)
        in->imm = in->opsize == 2 ? (uint64_t)(int64_t)(int16_t)fetch_n(&f, 2)
                                  : (uint64_t)(int64_t)(int32_t)fetch_n(&f, 4);
    else if (fl & OPF_IMMV)
        in->imm = fetch_n(&f, in->opsize == 1 ? 1 : in->opsize);
    else if (fl & OPF_MOFFS)
        in->imm = fetch_n(&f, in->addrsize);
    else if (fl & OPF_FAR) {
        in->imm = fetch_n(&f, in->opsize == 2 ? 2 : 4);
        in->imm2 = (uint32_t)fetch_n(&f, 2);
    } else if (fl & OPF_ENTER) {
        in->imm = fetch_n(&f, 2);
        in->imm2 = fetch8(&f);
    }

    if (in->lock && (!(fl & OPF_LOCK) || in->mod == 3))
        cpu_ud(cpu);
    in->fn = d->fn;
    in->step = pick_fast(d, in, modrm);
    in->len = (uint8_t)f.pos;
    in->last = (fl & OPF_END) != 0;
}

const char *cpu_insn_name(const struct insn *in)
{
    const struct op_slot *s = &slots[in->op & (N_OPCODES - 1)];
    for (uint32_t i = 0; i < s->n; i++)
        if (s->defs[i]->fn == in->fn)
            return s->defs[i]->name;
    return "?";
}
