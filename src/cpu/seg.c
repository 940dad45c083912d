/* Segmentation: offset -> linear address checks, and segment loads.
 * SDM Vol. 3A chapter 3 (segments) and 5.3 (limit checking). */
#include "cpu/cpu_int.h"

/* Data/code type bits of a non-system descriptor (SDM Vol. 3A 3.4.5.1). */
#define TYPE_CODE 0x8
#define TYPE_EXPDOWN 0x4   /* data: expand-down */
#define TYPE_WRITE 0x2     /* data: writable */
#define TYPE_READ 0x2      /* code: readable */

static _Noreturn void seg_fault(struct cpu *cpu, int seg)
{
    cpu_raise(cpu, seg == S_SS ? EXC_SS : EXC_GP, 0);
}

uint64_t seg_lin_slow(struct cpu *cpu, int seg, uint64_t off, unsigned size, int acc)
{
    const struct seg_cache *s = &cpu->s.seg[seg];

    if (cpu_is64(cpu)) {
        uint64_t lin = off + (seg >= S_FS ? s->base : 0);
        if ((uint64_t)(((int64_t)lin >> 47) + 1) > 1)
            seg_fault(cpu, seg);
        return lin;
    }
    uint64_t last = off + size - 1;
    if (cpu_protected(cpu)) {
        uint16_t a = s->attr;
        /* A null selector has P clear in its cache. */
        if (!(a & SEGA_P))
            seg_fault(cpu, seg);
        if (a & SEGA_S) {
            unsigned type = a & SEGA_TYPE;
            if (type & TYPE_CODE) {
                if ((acc & ACC_W) || (!(acc & ACC_X) && !(type & TYPE_READ)))
                    seg_fault(cpu, seg);
            } else if ((acc & ACC_W) && !(type & TYPE_WRITE)) {
                seg_fault(cpu, seg);
            }
            if (!(type & TYPE_CODE) && (type & TYPE_EXPDOWN)) {
                uint64_t upper = (a & SEGA_DB) ? 0xffffffffull : 0xffffull;
                if (off <= s->limit || last > upper)
                    seg_fault(cpu, seg);
                return (s->base + off) & 0xffffffffull;
            }
        }
    }
    if (last > s->limit)
        seg_fault(cpu, seg);
    return (s->base + off) & 0xffffffffull;
}

void seg_load_real(struct cpu *cpu, int seg, uint16_t sel)
{
    struct seg_cache *s = &cpu->s.seg[seg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    /* Real mode keeps limit and attributes (unreal mode); V86 forces them
     * (SDM Vol. 3A 20.1.1). */
    if (cpu_v86(cpu)) {
        s->limit = 0xffff;
        s->attr = SEGA_P | SEGA_S | (3 << SEGA_DPL_SHIFT) | (seg == S_CS ? 0xb : 0x3);
    }
}
