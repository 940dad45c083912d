/* Two cascaded Intel 8259A programmable interrupt controllers (PC/AT:
 * master at 0x20, slave at 0xA0 on master IR2) plus the PIIX3 edge/level
 * control registers ELCR1/ELCR2 at 0x4D0/0x4D1.
 *
 * The master's INT output goes to vCPU 0 (through its local APIC's LINT0
 * when there is one: vm_set_extint); it answers the INTA cycle. Lines
 * come in as GSI 0-15. References: Intel 8259A datasheet (order 231468),
 * Intel 82371SB PIIX3 datasheet section 2.3 (ELCR). */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define PIC_MASTER_BASE 0x20
#define PIC_SLAVE_BASE 0xA0
#define PIC_ELCR_BASE 0x4D0
#define PIC_CASCADE_IRQ 2
#define PIC_SPURIOUS_IRQ 7

/* ICW1 (datasheet fig. 7): A0=0 with D4=1. */
#define ICW1_IC4 0x01
#define ICW1_SNGL 0x02
#define ICW1_LTIM 0x08
#define ICW1_INIT 0x10
/* ICW4 */
#define ICW4_AEOI 0x02
#define ICW4_SFNM 0x10
/* OCW2: R SL EOI in bits 7-5, level in 2-0. */
#define OCW2_LEVEL 0x07
/* OCW3: A0=0 with D4=0, D3=1. */
#define OCW3_SEL 0x08
#define OCW3_RIS 0x01
#define OCW3_RR 0x02
#define OCW3_POLL 0x04
#define OCW3_SMM 0x20
#define OCW3_ESMM 0x40
/* Bits of ELCR that can be set (PIIX3 2.3.x: IRQ0-2, 8, 13 are edge only). */
#define ELCR1_MASK 0xF8
#define ELCR2_MASK 0xDE

enum init_step { INIT_DONE, INIT_ICW2, INIT_ICW3, INIT_ICW4 };

struct pic {
    uint8_t irr, isr, imr;
    uint8_t lines;        /* current input levels, for edge detection */
    uint8_t elcr, elcr_mask;
    uint8_t icw1, icw3, icw4, vector_base;
    uint8_t lowest;       /* IR with the lowest priority (rotation) */
    enum init_step step;
    bool read_isr, poll, special_mask, rotate_aeoi;
};

struct pic_pair {
    device *dev;
    struct pic chip[2];   /* 0 master, 1 slave */
    int intr;             /* last level driven on the INTR pin */
};

static bool pic_level_mode(const struct pic *p, unsigned irq)
{
    return (p->icw1 & ICW1_LTIM) || (p->elcr & (1u << irq));
}

/* Priority 0 is highest; the IR after `lowest` has priority 0 (sec. "Rotation"). */
static unsigned pic_priority(const struct pic *p, unsigned irq)
{
    return (irq - p->lowest - 1u) & 7u;
}

/* Highest-priority IR set in mask, or -1. */
static int pic_highest(const struct pic *p, uint8_t mask)
{
    for (unsigned pr = 0; pr < 8; pr++) {
        unsigned irq = (p->lowest + 1u + pr) & 7u;
        if (mask & (1u << irq))
            return (int)irq;
    }
    return -1;
}

/* The IR this chip would present at INTA, or -1 (nothing above in-service). */
static int pic_pending(const struct pic *p, bool master)
{
    int req = pic_highest(p, p->irr & (uint8_t)~p->imr);
    if (req < 0)
        return -1;
    uint8_t isr = p->isr;
    /* Special mask mode: masked levels do not inhibit others. */
    if (p->special_mask)
        isr &= (uint8_t)~p->imr;
    int cur = pic_highest(p, isr);
    if (cur < 0)
        return req;
    unsigned rp = pic_priority(p, (unsigned)req), cp = pic_priority(p, (unsigned)cur);
    /* Special fully nested mode: the cascade IR may interrupt itself. */
    if (master && (p->icw4 & ICW4_SFNM) && (p->icw3 & (1u << cur)) && rp == cp)
        return req;
    return rp < cp ? req : -1;
}

static void pic_update(struct pic_pair *s)
{
    struct pic *m = &s->chip[0], *sl = &s->chip[1];
    /* The slave's INT output is wired to master IR2; model it as a level so a
     * request left pending after the slave's EOI is seen again. */
    uint8_t bit = 1u << PIC_CASCADE_IRQ;
    if (pic_pending(sl, false) >= 0)
        m->irr |= bit;
    else
        m->irr &= (uint8_t)~bit;
    int level = pic_pending(m, true) >= 0;
    if (level != s->intr) {
        s->intr = level;
        vm_set_extint(s->dev->vm, level);
    }
}

static void pic_set_line(struct pic *p, unsigned irq, int level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (pic_level_mode(p, irq)) {
        if (level)
            p->irr |= bit;
        else
            p->irr &= (uint8_t)~bit;
    } else if (level && !(p->lines & bit)) {
        p->irr |= bit;   /* rising edge */
    }
    if (level)
        p->lines |= bit;
    else
        p->lines &= (uint8_t)~bit;
}

static void pic_irq_sink(void *opaque, unsigned gsi, int level)
{
    struct pic_pair *s = opaque;
    if (gsi >= 16 || gsi == PIC_CASCADE_IRQ)
        return;
    pic_set_line(&s->chip[gsi >> 3], gsi & 7u, level);
    pic_update(s);
}

/* The INTA sequence on one chip: returns the IR acknowledged, or the spurious
 * IR7 (ISR untouched) when nothing is pending any more. */
static unsigned pic_ack_chip(struct pic *p, bool master, bool *spurious)
{
    int irq = pic_pending(p, master);
    if (irq < 0) {
        *spurious = true;
        return PIC_SPURIOUS_IRQ;
    }
    *spurious = false;
    uint8_t bit = (uint8_t)(1u << irq);
    if (!pic_level_mode(p, (unsigned)irq) || (master && (p->icw3 & bit)))
        p->irr &= (uint8_t)~bit;
    if (p->icw4 & ICW4_AEOI) {
        if (p->rotate_aeoi)
            p->lowest = (uint8_t)irq;
    } else {
        p->isr |= bit;
    }
    return (unsigned)irq;
}

static int pic_intack(void *opaque)
{
    struct pic_pair *s = opaque;
    struct pic *m = &s->chip[0];
    bool spurious;
    unsigned irq = pic_ack_chip(m, true, &spurious);
    int vector;
    if (!spurious && !(m->icw1 & ICW1_SNGL) && (m->icw3 & (1u << irq))) {
        struct pic *sl = &s->chip[1];
        unsigned sirq = pic_ack_chip(sl, false, &spurious);
        vector = sl->vector_base | (int)sirq;
    } else {
        vector = m->vector_base | (int)irq;
    }
    pic_update(s);
    return vector;
}

/* Poll command (datasheet "The Poll Command"): the read acts as INTA. */
static uint8_t pic_poll(struct pic_pair *s, struct pic *p)
{
    bool master = p == &s->chip[0];
    p->poll = false;
    if (pic_pending(p, master) < 0)
        return 0;
    bool spurious;
    unsigned irq = pic_ack_chip(p, master, &spurious);
    pic_update(s);
    return (uint8_t)(0x80u | irq);
}

static void pic_eoi(struct pic *p, uint8_t ocw2)
{
    unsigned cmd = ocw2 >> 5;
    unsigned level = ocw2 & OCW2_LEVEL;
    int irq;
    switch (cmd) {
    case 1: /* non-specific EOI */
    case 5: /* rotate on non-specific EOI */
        irq = pic_highest(p, p->isr);
        if (irq >= 0) {
            p->isr &= (uint8_t)~(1u << irq);
            if (cmd == 5)
                p->lowest = (uint8_t)irq;
        }
        break;
    case 3: /* specific EOI */
        p->isr &= (uint8_t)~(1u << level);
        break;
    case 7: /* rotate on specific EOI */
        p->isr &= (uint8_t)~(1u << level);
        p->lowest = (uint8_t)level;
        break;
    case 6: /* set priority */
        p->lowest = (uint8_t)level;
        break;
    case 4: /* set rotate in automatic EOI mode */
        p->rotate_aeoi = true;
        break;
    case 0: /* clear rotate in automatic EOI mode */
        p->rotate_aeoi = false;
        break;
    default: /* 2: no operation */
        break;
    }
}

/* ICW1 effects: datasheet "Initialization Command Words", items a-f. */
static void pic_icw1(struct pic *p, uint8_t val)
{
    p->icw1 = val;
    p->step = INIT_ICW2;
    p->imr = 0;
    p->isr = 0;
    p->irr = 0;
    for (unsigned i = 0; i < 8; i++)
        if (pic_level_mode(p, i) && (p->lines & (1u << i)))
            p->irr |= (uint8_t)(1u << i);
    p->lowest = 7;
    p->special_mask = false;
    p->read_isr = false;
    p->poll = false;
    p->rotate_aeoi = false;
    if (!(val & ICW1_IC4))
        p->icw4 = 0;
}

static void pic_write(struct pic_pair *s, struct pic *p, unsigned a0, uint8_t val)
{
    if (a0 == 0) {
        if (val & ICW1_INIT) {
            pic_icw1(p, val);
        } else if (val & OCW3_SEL) {
            if (val & OCW3_RR)
                p->read_isr = val & OCW3_RIS;
            if (val & OCW3_ESMM)
                p->special_mask = val & OCW3_SMM;
            p->poll = val & OCW3_POLL;
        } else {
            pic_eoi(p, val);
        }
    } else {
        switch (p->step) {
        case INIT_ICW2:
            p->vector_base = val & 0xF8;
            if (!(p->icw1 & ICW1_SNGL))
                p->step = INIT_ICW3;
            else
                p->step = (p->icw1 & ICW1_IC4) ? INIT_ICW4 : INIT_DONE;
            break;
        case INIT_ICW3:
            p->icw3 = val;
            p->step = (p->icw1 & ICW1_IC4) ? INIT_ICW4 : INIT_DONE;
            break;
        case INIT_ICW4:
            p->icw4 = val;
            p->step = INIT_DONE;
            break;
        case INIT_DONE:
            p->imr = val;   /* OCW1 */
            break;
        }
    }
    pic_update(s);
}

static uint8_t pic_read(struct pic_pair *s, struct pic *p, unsigned a0)
{
    if (p->poll)
        return pic_poll(s, p);
    if (a0)
        return p->imr;
    return p->read_isr ? p->isr : p->irr;
}

static uint32_t pic_master_read(void *opaque, uint16_t off, unsigned size)
{
    struct pic_pair *s = opaque;
    (void)size;
    return pic_read(s, &s->chip[0], off & 1u);
}

static void pic_master_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct pic_pair *s = opaque;
    (void)size;
    pic_write(s, &s->chip[0], off & 1u, (uint8_t)val);
}

static uint32_t pic_slave_read(void *opaque, uint16_t off, unsigned size)
{
    struct pic_pair *s = opaque;
    (void)size;
    return pic_read(s, &s->chip[1], off & 1u);
}

static void pic_slave_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct pic_pair *s = opaque;
    (void)size;
    pic_write(s, &s->chip[1], off & 1u, (uint8_t)val);
}

static uint32_t elcr_read(void *opaque, uint16_t off, unsigned size)
{
    struct pic_pair *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        unsigned idx = off + i;
        uint32_t b = idx < 2 ? s->chip[idx].elcr : 0xFF;
        v |= b << (8 * i);
    }
    return v;
}

static void elcr_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct pic_pair *s = opaque;
    for (unsigned i = 0; i < size && i < 4; i++) {
        unsigned idx = off + i;
        if (idx >= 2)
            break;
        struct pic *p = &s->chip[idx];
        p->elcr = (uint8_t)(val >> (8 * i)) & p->elcr_mask;
        /* A line switched to level mode reports its live level. */
        for (unsigned irq = 0; irq < 8; irq++) {
            uint8_t bit = (uint8_t)(1u << irq);
            if ((p->elcr & bit) && !(idx == 0 && irq == PIC_CASCADE_IRQ)) {
                if (p->lines & bit)
                    p->irr |= bit;
                else
                    p->irr &= (uint8_t)~bit;
            }
        }
    }
    pic_update(s);
}

static const pio_ops pic_master_ops = { pic_master_read, pic_master_write };
static const pio_ops pic_slave_ops = { pic_slave_read, pic_slave_write };
static const pio_ops elcr_ops = { elcr_read, elcr_write };

static void pic_chip_reset(struct pic *p, uint8_t elcr_mask)
{
    uint8_t lines = p->lines;
    *p = (struct pic){ .elcr_mask = elcr_mask, .lowest = 7, .lines = lines };
}

static void pic_reset(device *dev)
{
    struct pic_pair *s = dev->state;
    pic_chip_reset(&s->chip[0], ELCR1_MASK);
    pic_chip_reset(&s->chip[1], ELCR2_MASK);
    /* PC wiring until the BIOS programs ICW3: slave on master IR2. */
    s->chip[0].icw3 = 1u << PIC_CASCADE_IRQ;
    s->chip[1].icw3 = PIC_CASCADE_IRQ;
    s->intr = 0;
    vm_set_extint(dev->vm, 0);
}

static int pic_create(device *dev)
{
    struct pic_pair *s = dev->state;
    s->dev = dev;
    pic_reset(dev);
    if (vm_register_pio(dev->vm, PIC_MASTER_BASE, 2, &pic_master_ops, s) < 0 ||
        vm_register_pio(dev->vm, PIC_SLAVE_BASE, 2, &pic_slave_ops, s) < 0 ||
        vm_register_pio(dev->vm, PIC_ELCR_BASE, 2, &elcr_ops, s) < 0 ||
        vm_add_irq_sink(dev->vm, pic_irq_sink, s) < 0)
        return -1;
    vm_set_intr_controller(dev->vm, pic_intack, s);
    return 0;
}

static const device_desc pic_desc = {
    .name = "pic",
    .state_size = sizeof(struct pic_pair),
    .create = pic_create,
    .reset = pic_reset,
};
DEVICE_REGISTER(pic_desc);
