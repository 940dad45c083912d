/* Intel 82371SB PIIX3 function 0: the PCI-to-ISA bridge at PCI 00:01.0.
 * Its configuration space holds the PIRQ route control registers that steer
 * the four PCI interrupt lines PIRQA#-PIRQD# to ISA IRQs; this file applies
 * that routing (PIRQA-D are GSI 16-19 on this platform) so PCI devices work
 * with the 8259 PICs. Its port registers live elsewhere: ELCR in the PIC,
 * 0x61 in the PIT, 0x92 in port92, 0xCF9 in the host bridge.
 * Reference: Intel 82371FB/82371SB datasheet (order 290550), section 2.2
 * (PCI configuration registers, function 0). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"

#define PIIX3_DEVFN 0x08            /* device 1, function 0 */
#define PIIX3_VENDOR 0x8086
#define PIIX3_DEVICE 0x7000

#define HEADER_MULTIFUNCTION 0x80

/* Function 0 registers and their defaults (2.2.x). */
#define PIIX_IORT 0x4C              /* ISA I/O recovery timer: 4Dh */
#define PIIX_XBCS 0x4E              /* X-bus chip select: 0003h */
#define PIIX_PIRQRC 0x60            /* PIRQA-D route control: 80h each */
#define PIIX_TOM 0x69               /* top of memory: 02h */
#define PIIX_MSTAT 0x6A             /* miscellaneous status: 0000h */
#define PIIX_MBIRQ0 0x70            /* motherboard IRQ route: 80h */
#define PIIX_MBIRQ1 0x71
#define PIIX_MBDMA0 0x76            /* motherboard DMA: 0Ch */
#define PIIX_MBDMA1 0x77
#define PIIX_PCSC 0x78              /* programmable chip select: 0002h */
#define PIIX_APICBASE 0x80
#define PIIX_DLC 0x82
#define PIIX_SMICNTL 0xA0           /* 08h */
#define PIIX_SMIEN 0xA2
#define PIIX_SEE 0xA4
#define PIIX_FTMR 0xA8              /* 0Fh */
#define PIIX_SMIREQ 0xAA
#define PIIX_CTLTMR 0xAC
#define PIIX_CTHTMR 0xAE

#define CMD_DEFAULT 0x0007            /* I/O, memory, bus master: always on */
#define CMD_WMASK 0x0008              /* special cycle enable */
#define STS_DEFAULT 0x0200            /* DEVSEL# medium */
#define STS_W1C 0x3800                /* abort status bits */

#define PIRQ_COUNT 4
#define PIRQ_GSI_BASE 16
#define PIRQ_DISABLE 0x80             /* IRQEN#: routing off */
#define PIRQ_IRQ_MASK 0x0F
/* ISA IRQs a PIRQ may be routed to (2.2.11): 3-7, 9-12, 14, 15. */
#define PIRQ_VALID_IRQS 0xDEF8u

struct piix3 {
    device *dev;
    uint8_t cfg[256];
    uint8_t wmask[256];
    bool pirq_level[PIRQ_COUNT];
    uint16_t isa_driven;              /* ISA lines we hold high */
};

static void piix3_route(struct piix3 *s)
{
    uint16_t want = 0;
    for (unsigned i = 0; i < PIRQ_COUNT; i++) {
        uint8_t r = s->cfg[PIIX_PIRQRC + i];
        unsigned irq = r & PIRQ_IRQ_MASK;
        if (s->pirq_level[i] && !(r & PIRQ_DISABLE) && (PIRQ_VALID_IRQS & (1u << irq)))
            want |= (uint16_t)(1u << irq);   /* shared PCI lines are wired-OR */
    }
    uint16_t change = want ^ s->isa_driven;
    s->isa_driven = want;
    for (unsigned irq = 0; irq < 16; irq++)
        if (change & (1u << irq))
            vm_set_irq(s->dev->vm, irq, (want >> irq) & 1);
}

static void piix3_irq_sink(void *opaque, unsigned gsi, int level)
{
    struct piix3 *s = opaque;
    if (gsi < PIRQ_GSI_BASE || gsi >= PIRQ_GSI_BASE + PIRQ_COUNT)
        return;
    s->pirq_level[gsi - PIRQ_GSI_BASE] = level != 0;
    piix3_route(s);
}

static uint32_t piix3_cfg_read(void *opaque, uint8_t reg, unsigned size)
{
    struct piix3 *s = opaque;
    /* vm_pci_config_read hands on aligned accesses only: inside the space. */
    return (uint32_t)get_le(&s->cfg[reg], size);
}

static void piix3_cfg_write(void *opaque, uint8_t reg, uint32_t val, unsigned size)
{
    struct piix3 *s = opaque;
    bool reroute = false;
    for (unsigned i = 0; i < size && reg + i < 256; i++) {
        unsigned r = reg + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (r == PCI_STATUS + 1) {
            s->cfg[r] &= (uint8_t)~(b & (STS_W1C >> 8));
            continue;
        }
        s->cfg[r] = (uint8_t)((s->cfg[r] & ~s->wmask[r]) | (b & s->wmask[r]));
        if (r >= PIIX_PIRQRC && r < PIIX_PIRQRC + PIRQ_COUNT)
            reroute = true;
    }
    if (reroute)
        piix3_route(s);
}

static const pci_ops piix3_pci_ops = { piix3_cfg_read, piix3_cfg_write };

static void piix3_reset(device *dev)
{
    struct piix3 *s = dev->state;
    uint8_t *c = s->cfg, *w = s->wmask;
    memset(c, 0, sizeof(s->cfg));
    memset(w, 0, sizeof(s->wmask));
    put_le(&c[PCI_VENDOR_ID], PIIX3_VENDOR, 2);
    put_le(&c[PCI_DEVICE_ID], PIIX3_DEVICE, 2);
    put_le(&c[PCI_COMMAND], CMD_DEFAULT, 2);
    put_le(&w[PCI_COMMAND], CMD_WMASK, 2);
    put_le(&c[PCI_STATUS], STS_DEFAULT, 2);
    c[PCI_SUBCLASS] = 0x01;   /* ISA bridge */
    c[PCI_CLASS] = 0x06;  /* bridge device */
    c[PCI_HEADER_TYPE] = HEADER_MULTIFUNCTION;

    c[PIIX_IORT] = 0x4D;
    put_le(&c[PIIX_XBCS], 0x0003, 2);
    for (unsigned i = 0; i < PIRQ_COUNT; i++)
        c[PIIX_PIRQRC + i] = PIRQ_DISABLE;
    c[PIIX_TOM] = 0x02;
    c[PIIX_MBIRQ0] = PIRQ_DISABLE;
    c[PIIX_MBIRQ1] = PIRQ_DISABLE;
    c[PIIX_MBDMA0] = 0x0C;
    c[PIIX_MBDMA1] = 0x0C;
    put_le(&c[PIIX_PCSC], 0x0002, 2);
    c[PIIX_SMICNTL] = 0x08;
    c[PIIX_FTMR] = 0x0F;

    static const uint8_t rw_regs[] = {
        PIIX_IORT, PIIX_XBCS, PIIX_XBCS + 1, PIIX_TOM, PIIX_MSTAT, PIIX_MSTAT + 1,
        PIIX_MBIRQ0, PIIX_MBIRQ1, PIIX_MBDMA0, PIIX_MBDMA1, PIIX_PCSC, PIIX_PCSC + 1,
        PIIX_APICBASE, PIIX_DLC, PIIX_SMICNTL, PIIX_SMIEN, PIIX_SMIEN + 1, PIIX_SEE,
        PIIX_SEE + 1, PIIX_SEE + 2, PIIX_SEE + 3, PIIX_FTMR, PIIX_SMIREQ, PIIX_SMIREQ + 1,
        PIIX_CTLTMR, PIIX_CTHTMR,
    };
    for (size_t i = 0; i < sizeof(rw_regs); i++)
        w[rw_regs[i]] = 0xFF;
    for (unsigned i = 0; i < PIRQ_COUNT; i++)
        w[PIIX_PIRQRC + i] = PIRQ_DISABLE | PIRQ_IRQ_MASK;   /* bits 6-4 reserved */
    piix3_route(s);
}

static int piix3_create(device *dev)
{
    struct piix3 *s = dev->state;
    s->dev = dev;
    piix3_reset(dev);
    if (vm_pci_register(dev->vm, PIIX3_DEVFN, &piix3_pci_ops, s) < 0 ||
        vm_add_irq_sink(dev->vm, piix3_irq_sink, s) < 0)
        return -1;
    return 0;
}

static const device_desc piix3_desc = {
    .name = "piix3",
    .state_size = sizeof(struct piix3),
    .create = piix3_create,
    .reset = piix3_reset,
};
DEVICE_REGISTER(piix3_desc);
