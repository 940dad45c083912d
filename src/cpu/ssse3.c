/* SSSE3 (SDM Vol. 2 pages of each), MMX (no prefix) and XMM (66) forms:
 * PSHUFB PHADDW/D/SW PHSUBW/D/SW PMADDUBSW PSIGNB/W/D PMULHRSW (0F 38
 * 00-0B), PABSB/W/D (0F 38 1C-1E) and PALIGNR (0F 3A 0F ib). */
#include "cpu/sse.h"

static int64_t lane_s(const uint8_t *p, unsigned es)
{
    uint64_t v = 0;
    memcpy(&v, p, es);
    return sext(v, es);
}
static void put_lane(uint8_t *p, unsigned es, uint64_t v) { memcpy(p, &v, es); }

static uint64_t sat16(int64_t v) { return (uint64_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v) & 0xffff; }

/* PSHUFB (0F 38 00) */
static void op_pshufb(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    uint8_t t[16];
    for (unsigned i = 0; i < v.n; i++)
        t[i] = (v.s[i] & 0x80) ? 0 : v.d[v.s[i] & (v.n - 1)];
    memcpy(v.d, t, v.n);
    vop_store(cpu, in, &v);
}

/* PHADDW/PHADDD/PHADDSW (01-03), PHSUBW/PHSUBD/PHSUBSW (05-07) */
static void op_phadd(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    unsigned k = in->op & 0xff;
    bool sub = k >= 5, sat = (k & 3) == 3;
    unsigned es = (k & 3) == 2 ? 4 : 2, half = v.n / 2;
    uint8_t t[16];
    for (unsigned i = 0; i < v.n; i += es) {
        const uint8_t *src = i < half ? v.d : v.s;
        unsigned j = (i % half) * 2;
        int64_t a = lane_s(src + j, es), b = lane_s(src + j + es, es), r = sub ? a - b : a + b;
        put_lane(t + i, es, sat ? sat16(r) : (uint64_t)r & size_mask(es));
    }
    memcpy(v.d, t, v.n);
    vop_store(cpu, in, &v);
}

/* PMADDUBSW (04): unsigned bytes of dst times signed bytes of src, pairs
 * added with signed saturation. */
static void op_pmaddubsw(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    for (unsigned i = 0; i < v.n; i += 2) {
        int64_t r = (int64_t)v.d[i] * (int8_t)v.s[i] + (int64_t)v.d[i + 1] * (int8_t)v.s[i + 1];
        put_lane(v.d + i, 2, sat16(r));
    }
    vop_store(cpu, in, &v);
}

/* PSIGNB/W/D (08-0A) */
static void op_psign(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    unsigned es = 1u << ((in->op & 0xff) - 8);
    for (unsigned i = 0; i < v.n; i += es) {
        int64_t s = lane_s(v.s + i, es), a = lane_s(v.d + i, es);
        put_lane(v.d + i, es, (uint64_t)(s < 0 ? -a : s == 0 ? 0 : a) & size_mask(es));
    }
    vop_store(cpu, in, &v);
}

/* PMULHRSW (0B): (a * b + 2^14) >> 15 */
static void op_pmulhrsw(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    for (unsigned i = 0; i < v.n; i += 2) {
        int64_t r = ((lane_s(v.d + i, 2) * lane_s(v.s + i, 2)) + 0x4000) >> 15;
        put_lane(v.d + i, 2, (uint64_t)r & 0xffff);
    }
    vop_store(cpu, in, &v);
}

/* PABSB/W/D (1C-1E): dst = |src| */
static void op_pabs(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    unsigned es = 1u << ((in->op & 0xff) - 0x1c);
    for (unsigned i = 0; i < v.n; i += es) {
        int64_t s = lane_s(v.s + i, es);
        put_lane(v.d + i, es, (uint64_t)(s < 0 ? -s : s) & size_mask(es));
    }
    vop_store(cpu, in, &v);
}

/* PALIGNR (0F 3A 0F ib): (dst:src) >> (imm * 8), low n bytes. */
static void op_palignr(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    uint8_t cat[32] = { 0 };
    memcpy(cat, v.s, v.n);
    memcpy(cat + v.n, v.d, v.n);
    unsigned sh = (unsigned)in->imm & 0xff;
    for (unsigned i = 0; i < v.n; i++)
        v.d[i] = i + sh < 2 * v.n ? cat[i + sh] : 0;
    vop_store(cpu, in, &v);
}

#define M OPF_MODRM
#define R2(op, fn, name) { OP38 | (op), -1, -1, PFX_NONE, M, fn, name }, \
                         { OP38 | (op), -1, -1, PFX_66, M, fn, name }
static const struct op_def ssse3_ops[] = {
    R2(0x00, op_pshufb, "pshufb"),
    R2(0x01, op_phadd, "phaddw"), R2(0x02, op_phadd, "phaddd"), R2(0x03, op_phadd, "phaddsw"),
    R2(0x04, op_pmaddubsw, "pmaddubsw"),
    R2(0x05, op_phadd, "phsubw"), R2(0x06, op_phadd, "phsubd"), R2(0x07, op_phadd, "phsubsw"),
    R2(0x08, op_psign, "psignb"), R2(0x09, op_psign, "psignw"), R2(0x0a, op_psign, "psignd"),
    R2(0x0b, op_pmulhrsw, "pmulhrsw"),
    R2(0x1c, op_pabs, "pabsb"), R2(0x1d, op_pabs, "pabsw"), R2(0x1e, op_pabs, "pabsd"),
    { OP3A | 0x0f, -1, -1, PFX_NONE, M | OPF_IMM8U, op_palignr, "palignr" },
    { OP3A | 0x0f, -1, -1, PFX_66, M | OPF_IMM8U, op_palignr, "palignr" },
    OPS_END
};
OPS_REGISTER(ssse3_ops);
