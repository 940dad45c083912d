/* x87 and SSE state images: FSTENV/FLDENV/FSAVE/FRSTOR in the 16/32-bit
 * real and protected formats (SDM Vol. 1 8.1.10, figures 8-9 to 8-12),
 * FXSAVE/FXRSTOR (Vol. 1 10.5.1, Vol. 2 FXSAVE table 3-53), LDMXCSR/STMXCSR.
 * (The fences and CLFLUSH of group 0F AE are in sysinsn.c.) */
#include "cpu/fpu.h"

#define ENV16_LEN 14
#define ENV32_LEN 28
#define ST_IMAGE_LEN 10
#define FXSAVE_LEN 512
#define FXSAVE_ALIGN 16
/* FXSAVE image offsets (SDM Vol. 2 table 3-53) */
#define FX_FCW 0
#define FX_FSW 2
#define FX_FTW 4
#define FX_FOP 6
#define FX_FIP 8
#define FX_FCS 12
#define FX_FDP 16
#define FX_FDS 20
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_ST 32
#define FX_XMM 160
#define FX_REG_STRIDE 16

static void put16(uint8_t *p, uint32_t v) { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t x; memcpy(&x, p, 2); return x; }
static uint32_t get32(const uint8_t *p) { uint32_t x; memcpy(&x, p, 4); return x; }
static uint64_t get64(const uint8_t *p) { uint64_t x; memcpy(&x, p, 8); return x; }

/* Real and V86 mode images hold 20/32-bit linear pointers and the opcode. */
static bool env_real_format(const struct cpu *cpu) { return !cpu_protected(cpu); }

static unsigned env_store(struct cpu *cpu, uint8_t *b, bool o32)
{
    const struct fpu_state *f = &cpu->s.fpu;
    uint32_t ftw = fpu_ftw_full(cpu);
    uint32_t lip = (uint32_t)(f->fip + ((uint32_t)f->fcs << 4));
    uint32_t ldp = (uint32_t)(f->fdp + ((uint32_t)f->fds << 4));
    uint32_t fop = f->fop & 0x7ff;
    if (o32) {
        put32(b + 0, 0xffff0000u | f->fcw);
        put32(b + 4, 0xffff0000u | f->fsw);
        put32(b + 8, 0xffff0000u | ftw);
        if (env_real_format(cpu)) {
            put32(b + 12, 0xffff0000u | (lip & 0xffff));
            put32(b + 16, ((lip >> 16) << 12) | fop);
            put32(b + 20, 0xffff0000u | (ldp & 0xffff));
            put32(b + 24, (ldp >> 16) << 12);
        } else {
            put32(b + 12, (uint32_t)f->fip);
            put32(b + 16, f->fcs | (fop << 16));
            put32(b + 20, (uint32_t)f->fdp);
            put32(b + 24, 0xffff0000u | f->fds);
        }
        return ENV32_LEN;
    }
    put16(b + 0, f->fcw);
    put16(b + 2, f->fsw);
    put16(b + 4, ftw);
    if (env_real_format(cpu)) {
        put16(b + 6, lip);
        put16(b + 8, (((lip >> 16) & 0xf) << 12) | fop);
        put16(b + 10, ldp);
        put16(b + 12, ((ldp >> 16) & 0xf) << 12);
    } else {
        put16(b + 6, (uint32_t)f->fip);
        put16(b + 8, f->fcs);
        put16(b + 10, (uint32_t)f->fdp);
        put16(b + 12, f->fds);
    }
    return ENV16_LEN;
}

static void env_load(struct cpu *cpu, const uint8_t *b, bool o32)
{
    struct fpu_state *f = &cpu->s.fpu;
    uint16_t ftw;
    if (o32) {
        f->fcw = get16(b + 0);
        f->fsw = get16(b + 4);
        ftw = get16(b + 8);
        if (env_real_format(cpu)) {
            f->fip = (get16(b + 12) | ((get32(b + 16) >> 12) << 16)) & 0xffffffffu;
            f->fop = get16(b + 16) & 0x7ff;
            f->fdp = (get16(b + 20) | ((get32(b + 24) >> 12) << 16)) & 0xffffffffu;
            f->fcs = f->fds = 0;
        } else {
            f->fip = get32(b + 12);
            f->fcs = get16(b + 16);
            f->fop = (get32(b + 16) >> 16) & 0x7ff;
            f->fdp = get32(b + 20);
            f->fds = get16(b + 24);
        }
    } else {
        f->fcw = get16(b + 0);
        f->fsw = get16(b + 2);
        ftw = get16(b + 4);
        if (env_real_format(cpu)) {
            f->fip = get16(b + 6) | ((uint32_t)(get16(b + 8) >> 12) << 16);
            f->fop = get16(b + 8) & 0x7ff;
            f->fdp = get16(b + 10) | ((uint32_t)(get16(b + 12) >> 12) << 16);
            f->fcs = f->fds = 0;
        } else {
            f->fip = get16(b + 6);
            f->fcs = get16(b + 8);
            f->fdp = get16(b + 10);
            f->fds = get16(b + 12);
        }
    }
    /* Only "empty" matters in the loaded tags; the rest follows the contents. */
    uint16_t t = 0;
    for (unsigned p = 0; p < 8; p++)
        t |= (uint16_t)((((ftw >> (p * 2)) & 3) == TAG_EMPTY ? TAG_EMPTY : TAG_VALID) << (p * 2));
    f->ftw_full = t;
    if (f->fsw & ~f->fcw & FSW_EXC)
        f->fsw |= FSW_ES | FSW_B;
    else
        f->fsw &= ~(FSW_ES | FSW_B);
}

static bool env_o32(const struct insn *in) { return in->opsize != 2; }

void x87_fnstenv(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[ENV32_LEN];
    unsigned len = env_store(cpu, b, env_o32(in));
    fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), b, len);
    cpu->s.fpu.fcw |= FCW_MASKS;  /* FSTENV masks all exceptions after storing */
}

void x87_fldenv(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[ENV32_LEN];
    bool o32 = env_o32(in);
    fpu_mem_read(cpu, in->seg, insn_ea(cpu, in), b, o32 ? ENV32_LEN : ENV16_LEN);
    env_load(cpu, b, o32);
}

void x87_fnsave(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[ENV32_LEN + 8 * ST_IMAGE_LEN];
    unsigned len = env_store(cpu, b, env_o32(in));
    for (unsigned i = 0; i < 8; i++) {
        fx80 v = x87_st(cpu, i);
        memcpy(b + len + i * ST_IMAGE_LEN, &v.mant, 8);
        memcpy(b + len + i * ST_IMAGE_LEN + 8, &v.se, 2);
    }
    fpu_mem_write(cpu, in->seg, insn_ea(cpu, in), b, len + 8 * ST_IMAGE_LEN);
    fpu_reset_x87(cpu);
}

void x87_frstor(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[ENV32_LEN + 8 * ST_IMAGE_LEN];
    bool o32 = env_o32(in);
    unsigned len = o32 ? ENV32_LEN : ENV16_LEN;
    fpu_mem_read(cpu, in->seg, insn_ea(cpu, in), b, len + 8 * ST_IMAGE_LEN);
    env_load(cpu, b, o32);
    for (unsigned i = 0; i < 8; i++) {
        unsigned p = fpu_phys(cpu, i);
        memcpy(&cpu->s.fpu.st[p].mant, b + len + i * ST_IMAGE_LEN, 8);
        memcpy(&cpu->s.fpu.st[p].exp, b + len + i * ST_IMAGE_LEN + 8, 2);
    }
}

/* --- FXSAVE / FXRSTOR ------------------------------------------------------ */
static void fx_check(struct cpu *cpu, const struct insn *in, int acc)
{
    if (cpu->s.cr0 & (CR0_EM | CR0_TS))
        cpu_raise(cpu, EXC_NM, 0);
    if (fpu_operand_lin(cpu, in, FXSAVE_LEN, acc) & (FXSAVE_ALIGN - 1))
        cpu_gp0(cpu);
}

static unsigned fx_xmm_count(const struct cpu *cpu) { return cpu_is64(cpu) ? 16 : 8; }

static void op_fxsave(struct cpu *cpu, const struct insn *in)
{
    const struct fpu_state *f = &cpu->s.fpu;
    uint8_t b[FXSAVE_LEN];
    fx_check(cpu, in, ACC_W);
    uint64_t ea = insn_ea(cpu, in);
    memset(b, 0, sizeof(b));
    put16(b + FX_FCW, f->fcw);
    put16(b + FX_FSW, f->fsw);
    b[FX_FTW] = fpu_ftw_abridged(cpu);
    put16(b + FX_FOP, f->fop & 0x7ff);
    if (in->opsize == 8) {   /* FXSAVE64 (REX.W) */
        put64(b + FX_FIP, f->fip);
        put64(b + FX_FDP, f->fdp);
    } else {
        put32(b + FX_FIP, (uint32_t)f->fip);
        put16(b + FX_FCS, f->fcs);
        put32(b + FX_FDP, (uint32_t)f->fdp);
        put16(b + FX_FDS, f->fds);
    }
    bool sse = cpu->s.cr4 & CR4_OSFXSR;
    if (sse) {
        put32(b + FX_MXCSR, f->mxcsr);
        put32(b + FX_MXCSR_MASK, MXCSR_SUPPORTED);
    }
    for (unsigned i = 0; i < 8; i++) {
        fx80 v = x87_st(cpu, i);
        put64(b + FX_ST + i * FX_REG_STRIDE, v.mant);
        put16(b + FX_ST + i * FX_REG_STRIDE + 8, v.se);
    }
    unsigned len = FX_XMM;
    if (sse) {
        for (unsigned i = 0; i < fx_xmm_count(cpu); i++)
            memcpy(b + FX_XMM + i * FX_REG_STRIDE, f->xmm[i].b, 16);
        len += fx_xmm_count(cpu) * FX_REG_STRIDE;
    }
    /* the reserved and software-available bytes beyond are left alone */
    fpu_mem_write(cpu, in->seg, ea, b, len);
}

static void op_fxrstor(struct cpu *cpu, const struct insn *in)
{
    struct fpu_state *f = &cpu->s.fpu;
    uint8_t b[FXSAVE_LEN];
    fx_check(cpu, in, ACC_R);
    fpu_mem_read(cpu, in->seg, insn_ea(cpu, in), b, FXSAVE_LEN);
    bool sse = cpu->s.cr4 & CR4_OSFXSR;
    uint32_t mxcsr = get32(b + FX_MXCSR);
    if (sse && (mxcsr & ~MXCSR_SUPPORTED))
        cpu_gp0(cpu);
    f->fcw = get16(b + FX_FCW);
    f->fsw = get16(b + FX_FSW);
    fpu_ftw_from_abridged(cpu, b[FX_FTW]);
    f->fop = get16(b + FX_FOP) & 0x7ff;
    if (in->opsize == 8) {
        f->fip = get64(b + FX_FIP);
        f->fdp = get64(b + FX_FDP);
    } else {
        f->fip = get32(b + FX_FIP);
        f->fcs = get16(b + FX_FCS);
        f->fdp = get32(b + FX_FDP);
        f->fds = get16(b + FX_FDS);
    }
    for (unsigned i = 0; i < 8; i++) {
        unsigned p = fpu_phys(cpu, i);
        f->st[p].mant = get64(b + FX_ST + i * FX_REG_STRIDE);
        f->st[p].exp = get16(b + FX_ST + i * FX_REG_STRIDE + 8);
    }
    if (sse) {
        f->mxcsr = mxcsr;
        for (unsigned i = 0; i < fx_xmm_count(cpu); i++)
            memcpy(f->xmm[i].b, b + FX_XMM + i * FX_REG_STRIDE, 16);
    }
}

/* --- MXCSR --------------------------------------------------------------- */
static void op_ldmxcsr(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    uint32_t v = mem_read32(cpu, in->seg, insn_ea(cpu, in));
    if (v & ~MXCSR_SUPPORTED)
        cpu_gp0(cpu);
    cpu->s.fpu.mxcsr = v;
}

static void op_stmxcsr(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    mem_write(cpu, in->seg, insn_ea(cpu, in), 4, cpu->s.fpu.mxcsr);
}

#define M OPF_MODRM
static const struct op_def fpu_env_ops[] = {
    { OP0F | 0xae, 0, -1, PFX_NONE, M | OPF_MEM, op_fxsave, "fxsave" },
    { OP0F | 0xae, 1, -1, PFX_NONE, M | OPF_MEM, op_fxrstor, "fxrstor" },
    { OP0F | 0xae, 2, -1, PFX_NONE, M | OPF_MEM, op_ldmxcsr, "ldmxcsr" },
    { OP0F | 0xae, 3, -1, PFX_NONE, M | OPF_MEM, op_stmxcsr, "stmxcsr" },
    OPS_END
};
OPS_REGISTER(fpu_env_ops);
