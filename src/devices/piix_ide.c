/* The PIIX3 (or PIIX4) IDE function at PCI 00:01.1: two channels in
 * legacy (compatibility) mode at the PC/AT ports, primary 1F0h-1F7h/3F6h
 * on IRQ 14 and secondary 170h-177h/376h on IRQ 15, each with up to two
 * ATA disks or ATAPI CD/DVD drives (the device model is ide_core.c,
 * ide_ata.c, ide_atapi.c), and the bus-master IDE engine at BAR4 that
 * moves DMA data through a physical region descriptor (PRD) table.
 *
 * Config keys: "drive0".."drive3" name the blockdevs of primary master,
 * primary slave, secondary master, secondary slave (absent: no device);
 * "devfn" (default 09h); "model" "piix3" (8086:7010, default) or "piix4"
 * (8086:7111, adds the Ultra DMA registers).
 *
 * The IDE decode enable bits (IDETIM bit 15) come out of reset set, as
 * firmware leaves them, so that a kernel booted without firmware finds the
 * channels; a guest that clears one sees that channel float.
 *
 * References: Intel 82371FB/SB (PIIX/PIIX3) datasheet 290550, 2.3 (PCI
 * configuration, function 1) and 2.7 (bus master IDE registers); Intel
 * 82371AB (PIIX4) datasheet 290562, 4.1-4.2; SFF-8038i rev 1.0 (bus master
 * programming interface, PRD format, status bits); ATA/ATAPI-6 6-7
 * (register block, device control, interrupts). */
#include <stdio.h>
#include <string.h>

#include "devices/ide.h"
#include "runtime/util.h"
#include "vmm/device.h"

#define IDE_DEVFN_DEFAULT 0x09
#define PIIX_VENDOR 0x8086
#define PIIX3_IDE_DEVICE 0x7010
#define PIIX4_IDE_DEVICE 0x7111
#define PIIX4_IDE_REVISION 0x01
#define CLASS_STORAGE 0x01
#define SUBCLASS_IDE 0x01
#define PROG_IF_BUS_MASTER 0x80       /* bus master capable, both channels legacy */
#define STS_DEFAULT 0x0280            /* fast back-to-back, DEVSEL# medium */

/* Function 1 configuration registers (290550 2.3). */
#define IDETIM_PRI 0x40               /* 16 bits each; bit 15: IDE decode enable */
#define IDETIM_SEC 0x42
#define SIDETIM 0x44                  /* slave timing (PIIX3) */
#define UDMACTL 0x48                  /* PIIX4: Ultra DMA control */
#define UDMATIM 0x4A                  /* PIIX4: Ultra DMA timing, 16 bits */
#define IDETIM_DECODE_EN 0x8000
#define BM_BAR 4
#define BM_BAR_SIZE 16

/* Legacy ports and IRQs (PC/AT, ATA-6 annex). */
static const struct {
    uint16_t cmd, ctl;
    unsigned irq;
} legacy[2] = {{0x1F0, 0x3F6, 14}, {0x170, 0x376, 15}};
#define CMD_BLOCK_LEN 8

/* Command block register offsets (ATA-6 7.1 table 2). */
enum {
    REG_DATA, REG_FEATURE_ERROR, REG_COUNT, REG_LBA_LOW, REG_LBA_MID, REG_LBA_HIGH, REG_DEVICE,
    REG_CMD_STATUS,
};

/* Device control register (ATA-6 7.8). */
#define DC_NIEN 0x02
#define DC_SRST 0x04
#define DC_HOB 0x80

#define CMD_EXEC_DIAG 0x90

/* Bus master registers, per channel at BAR4 + 8 * channel (SFF-8038i 4). */
#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BM_CHANNEL_STRIDE 8
#define BMC_START 0x01
#define BMC_TO_MEMORY 0x08            /* read/write control: write to memory */
#define BMS_ACTIVE 0x01
#define BMS_ERROR 0x02
#define BMS_INTR 0x04
#define BMS_DMA_CAP 0x60              /* drive 0/1 DMA capable: plain storage */
/* PRD entry: le32 address (bit 0 zero), le16 byte count (0 = 64 KiB), bit
 * 31 of the second dword: end of table. */
#define PRD_ENTRY 8
#define PRD_EOT 0x80000000u
#define PRD_MAX_BYTES 0x10000u
/* A PRD table lies in one 64 KiB region: at most 8192 entries. */
#define PRD_MAX_ENTRIES (0x10000 / PRD_ENTRY)

struct piix_ide;

struct channel {
    struct piix_ide *s;
    unsigned idx;
    struct ide_dev dev[2];
    struct ide_transport tp;
    unsigned sel;
    uint8_t devctl;
    bool intrq[2];
    int line;
    /* Bus master engine. */
    uint8_t bm_cmd, bm_status;
    uint32_t prd_table;
    uint32_t prd_next;                /* next entry to load */
    unsigned prd_loaded;              /* entries loaded since start */
    uint32_t seg_addr, seg_left;      /* the current entry's rest */
    bool prd_eot;                     /* the end-of-table entry is loaded */
    struct ide_dev *dma_dev;          /* the device whose DMA command waits or runs */
};

struct piix_ide {
    device *dev;
    pci_function pci;
    struct channel ch[2];
    bool piix4;
};

/* --- interrupts --------------------------------------------------------------- */

static bool channel_enabled(const struct channel *ch)
{
    uint16_t t = (uint16_t)get_le(&ch->s->pci.config[ch->idx ? IDETIM_SEC : IDETIM_PRI], 2);
    return t & IDETIM_DECODE_EN;
}

/* INTRQ is driven by the selected device unless nIEN (ATA-6 5.2.9). */
static void update_line(struct channel *ch)
{
    int level = ch->intrq[ch->sel] && !(ch->devctl & DC_NIEN) && ch->dev[ch->sel].kind != IDE_ABSENT;
    if (level && !ch->line)
        ch->bm_status |= BMS_INTR;   /* set by the rising edge (SFF-8038i 4.2) */
    if (level != ch->line) {
        ch->line = level;
        vm_set_irq(ch->s->dev->vm, legacy[ch->idx].irq, level);
    }
}

static struct channel *dev_channel(struct ide_dev *d)
{
    return d->tp->opaque;
}

static void tp_irq(struct ide_dev *d)
{
    struct channel *ch = dev_channel(d);
    ch->intrq[d->unit] = true;
    update_line(ch);
}

/* --- the bus master engine ---------------------------------------------------- */

static void tp_dma_start(struct ide_dev *d)
{
    struct channel *ch = dev_channel(d);
    ch->dma_dev = d;
    if (ch->bm_cmd & BMC_START)
        ide_dma_go(d);
}

static int tp_dma_rw(struct ide_dev *d, void *buf, size_t len, bool to_guest)
{
    struct channel *ch = dev_channel(d);
    pci_function *f = &ch->s->pci;
    uint8_t *p = buf;
    if (!(ch->bm_cmd & BMC_START))
        return 1;
    while (len) {
        if (!ch->seg_left) {
            uint8_t e[PRD_ENTRY];
            if (ch->prd_eot || ch->prd_loaded == PRD_MAX_ENTRIES || !pci_dma_read(f, ch->prd_next, e, sizeof e))
                goto fail;                     /* table too short or not in RAM */
            uint32_t flags = (uint32_t)get_le(e + 4, 4);
            ch->seg_addr = (uint32_t)get_le(e, 4) & ~1u;
            ch->seg_left = flags & 0xFFFE;
            if (!ch->seg_left)
                ch->seg_left = PRD_MAX_BYTES;
            ch->prd_eot = flags & PRD_EOT;
            ch->prd_next += PRD_ENTRY;
            ch->prd_loaded++;
        }
        size_t n = len < ch->seg_left ? len : ch->seg_left;
        bool ok = to_guest ? pci_dma_write(f, ch->seg_addr, p, n) : pci_dma_read(f, ch->seg_addr, p, n);
        if (!ok)
            goto fail;
        ch->seg_addr += (uint32_t)n;
        ch->seg_left -= (uint32_t)n;
        p += n;
        len -= n;
    }
    return 0;
fail:
    ch->bm_status |= BMS_ERROR;
    return -1;
}

/* Active stays set when the table held more than the device moved
 * (SFF-8038i table 2: interrupt with active = PRD not exhausted). */
static void tp_dma_end(struct ide_dev *d, bool error)
{
    struct channel *ch = dev_channel(d);
    if (error)
        ch->bm_status |= BMS_ERROR;
    if (error || (ch->prd_eot && !ch->seg_left))
        ch->bm_status &= (uint8_t)~BMS_ACTIVE;
    ch->dma_dev = NULL;
}

static void bm_start(struct channel *ch, bool start)
{
    bool was = ch->bm_cmd & BMC_START;
    if (start == was)
        return;
    if (start) {
        ch->bm_cmd |= BMC_START;
        ch->bm_status |= BMS_ACTIVE;
        ch->prd_next = ch->prd_table;
        ch->prd_loaded = 0;
        ch->seg_left = 0;
        ch->prd_eot = false;
        if (ch->dma_dev)
            ide_dma_go(ch->dma_dev);
    } else {
        /* Stopping mid-transfer leaves the device waiting (the host resets it). */
        ch->bm_cmd &= (uint8_t)~BMC_START;
        ch->bm_status &= (uint8_t)~BMS_ACTIVE;
    }
}

static uint8_t bm_read_byte(struct channel *ch, unsigned off)
{
    switch (off) {
    case BM_CMD:
        return ch->bm_cmd;
    case BM_STATUS:
        return ch->bm_status;
    case BM_PRD: case BM_PRD + 1: case BM_PRD + 2: case BM_PRD + 3:
        return (uint8_t)(ch->prd_table >> (8 * (off - BM_PRD)));
    }
    return 0;
}

static void bm_write_byte(struct channel *ch, unsigned off, uint8_t v)
{
    switch (off) {
    case BM_CMD:
        ch->bm_cmd = (uint8_t)((ch->bm_cmd & BMC_START) | (v & BMC_TO_MEMORY));
        bm_start(ch, v & BMC_START);
        break;
    case BM_STATUS:
        ch->bm_status = (uint8_t)((ch->bm_status & ~BMS_DMA_CAP) | (v & BMS_DMA_CAP));
        ch->bm_status &= (uint8_t)~(v & (BMS_ERROR | BMS_INTR));
        break;
    case BM_PRD: case BM_PRD + 1: case BM_PRD + 2: case BM_PRD + 3: {
        unsigned sh = 8 * (off - BM_PRD);
        ch->prd_table = (ch->prd_table & ~(0xFFu << sh)) | (uint32_t)v << sh;
        ch->prd_table &= ~3u;                 /* dword aligned */
        break;
    }
    }
}

static uint32_t bm_read(void *opaque, uint16_t off, unsigned size)
{
    struct piix_ide *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && off + i < BM_BAR_SIZE; i++) {
        unsigned o = off + i;
        v |= (uint32_t)bm_read_byte(&s->ch[o / BM_CHANNEL_STRIDE], o % BM_CHANNEL_STRIDE) << (8 * i);
    }
    return v;
}

static void bm_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct piix_ide *s = opaque;
    for (unsigned i = 0; i < size && off + i < BM_BAR_SIZE; i++) {
        unsigned o = off + i;
        bm_write_byte(&s->ch[o / BM_CHANNEL_STRIDE], o % BM_CHANNEL_STRIDE, (uint8_t)(val >> (8 * i)));
    }
}

static const pio_ops bm_ops = {bm_read, bm_write};

/* --- the task-file registers ------------------------------------------------- */

static bool channel_empty(const struct channel *ch)
{
    return ch->dev[0].kind == IDE_ABSENT && ch->dev[1].kind == IDE_ABSENT;
}

static uint8_t read_status(struct channel *ch, bool ack)
{
    struct ide_dev *d = &ch->dev[ch->sel];
    if (d->kind == IDE_ABSENT)
        return 0;                 /* device 0 answers for a missing device 1 (ATA-6 9.16) */
    if (ch->devctl & DC_SRST)
        return ATA_ST_BSY;
    if (ack) {
        ch->intrq[ch->sel] = false;
        update_line(ch);
    }
    return d->status;
}

static uint32_t cmd_read(void *opaque, uint16_t off, unsigned size)
{
    struct channel *ch = opaque;
    if (!channel_enabled(ch))
        return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    /* A channel without devices reads 0, like QEMU's: firmware sees no
     * device at once instead of waiting out BSY of a floating bus. */
    if (channel_empty(ch))
        return 0;
    struct ide_dev *d = &ch->dev[ch->sel];
    if (off == REG_DATA)
        return d->kind == IDE_ABSENT ? 0 : ide_data_read(d, size);
    const struct ide_taskfile *t = &d->tf;
    bool hob = ch->devctl & DC_HOB;
    switch (off) {
    case REG_FEATURE_ERROR:
        return d->kind == IDE_ABSENT ? 0 : d->error;
    case REG_COUNT:
        return hob ? t->hob_count : t->count;
    case REG_LBA_LOW:
        return hob ? t->hob_lba_low : t->lba_low;
    case REG_LBA_MID:
        return hob ? t->hob_lba_mid : t->lba_mid;
    case REG_LBA_HIGH:
        return hob ? t->hob_lba_high : t->lba_high;
    case REG_DEVICE:
        return t->device;
    default:
        return read_status(ch, true);
    }
}

/* Writes reach both devices' registers (ATA-6 5.2); each write pushes the
 * previous value into the HOB byte and clears HOB in device control. */
static void tf_write(struct channel *ch, unsigned off, uint8_t v)
{
    for (unsigned u = 0; u < 2; u++) {
        struct ide_taskfile *t = &ch->dev[u].tf;
        switch (off) {
        case REG_FEATURE_ERROR:
            t->hob_feature = t->feature;
            t->feature = v;
            break;
        case REG_COUNT:
            t->hob_count = t->count;
            t->count = v;
            break;
        case REG_LBA_LOW:
            t->hob_lba_low = t->lba_low;
            t->lba_low = v;
            break;
        case REG_LBA_MID:
            t->hob_lba_mid = t->lba_mid;
            t->lba_mid = v;
            break;
        case REG_LBA_HIGH:
            t->hob_lba_high = t->lba_high;
            t->lba_high = v;
            break;
        case REG_DEVICE:
            t->device = v;
            break;
        }
    }
    ch->devctl &= (uint8_t)~DC_HOB;
    if (off == REG_DEVICE) {
        ch->sel = (v & ATA_DEV_DEV1) ? 1 : 0;
        update_line(ch);
    }
}

static void cmd_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct channel *ch = opaque;
    if (!channel_enabled(ch))
        return;
    struct ide_dev *d = &ch->dev[ch->sel];
    if (off == REG_DATA) {
        if (d->kind != IDE_ABSENT)
            ide_data_write(d, val, size);
        return;
    }
    /* Wider accesses reach the following registers. */
    for (unsigned i = 0; i < size && off + i < CMD_BLOCK_LEN; i++) {
        unsigned o = off + i;
        uint8_t v = (uint8_t)(val >> (8 * i));
        d = &ch->dev[ch->sel];
        if (ch->devctl & DC_SRST)
            continue;
        if (o != REG_CMD_STATUS) {
            /* Ignored while the device is busy (ATA-6 7.x: BSY = 1). */
            if (d->kind == IDE_ABSENT || !(d->status & ATA_ST_BSY))
                tf_write(ch, o, v);
            continue;
        }
        ch->intrq[ch->sel] = false;             /* a new command clears the interrupt */
        update_line(ch);
        if (v == CMD_EXEC_DIAG) {
            /* Both devices run the diagnostics, whichever is selected (ATA-6 8.11). */
            for (unsigned u = 0; u < 2; u++) {
                if (ch->dev[u].kind != IDE_ABSENT && !(ch->dev[u].status & ATA_ST_BSY))
                    ide_exec_command(&ch->dev[u], v);
            }
            ch->sel = 0;                        /* the signature's device register is 0 */
            update_line(ch);
        } else if (d->kind != IDE_ABSENT) {
            ide_exec_command(d, v);
        }
    }
}

static uint32_t ctl_read(void *opaque, uint16_t off, unsigned size)
{
    struct channel *ch = opaque;
    (void)off;
    (void)size;
    if (!channel_enabled(ch))
        return 0xFF;
    if (channel_empty(ch))
        return 0;
    return read_status(ch, false);          /* alternate status: no acknowledge */
}

static void ctl_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct channel *ch = opaque;
    (void)off;
    (void)size;
    if (!channel_enabled(ch))
        return;
    uint8_t old = ch->devctl;
    ch->devctl = (uint8_t)val;
    if ((val & DC_SRST) && !(old & DC_SRST)) {
        /* Software reset of both devices (ATA-6 9.2); the DMA engine's
         * command is gone with them. */
        for (unsigned u = 0; u < 2; u++) {
            ide_reset(&ch->dev[u], false);
            ch->intrq[u] = false;
        }
        ch->dma_dev = NULL;
        ch->sel = 0;
    }
    update_line(ch);
}

static const pio_ops cmd_ops = {cmd_read, cmd_write};
static const pio_ops ctl_ops = {ctl_read, ctl_write};

/* --- the device ------------------------------------------------------------------ */

static void media_changed(void *opaque)
{
    ide_media_changed(opaque);
}

static void piix_ide_reset(device *dev)
{
    struct piix_ide *s = dev->state;
    pci_function_reset(&s->pci);
    put_le(&s->pci.config[PCI_STATUS], STS_DEFAULT, 2);
    put_le(&s->pci.config[IDETIM_PRI], IDETIM_DECODE_EN, 2);
    put_le(&s->pci.config[IDETIM_SEC], IDETIM_DECODE_EN, 2);
    s->pci.config[SIDETIM] = 0;
    s->pci.config[UDMACTL] = 0;
    put_le(&s->pci.config[UDMATIM], 0, 2);
    for (unsigned c = 0; c < 2; c++) {
        struct channel *ch = &s->ch[c];
        for (unsigned u = 0; u < 2; u++) {
            ide_reset(&ch->dev[u], true);
            ch->intrq[u] = false;
        }
        ch->sel = 0;
        ch->devctl = 0;
        ch->bm_cmd = 0;
        ch->bm_status = 0;
        ch->prd_table = 0;
        ch->seg_left = 0;
        ch->prd_eot = false;
        ch->dma_dev = NULL;
        update_line(ch);
    }
}

static void piix_ide_destroy(device *dev)
{
    struct piix_ide *s = dev->state;
    for (unsigned c = 0; c < 2; c++) {
        for (unsigned u = 0; u < 2; u++) {
            struct ide_dev *d = &s->ch[c].dev[u];
            if (d->bd)
                blockdev_set_media_cb(d->bd, NULL, NULL);
            ide_dev_free(d);
        }
    }
}

static int piix_ide_create(device *dev)
{
    struct piix_ide *s = dev->state;
    struct vm *vm = dev->vm;
    s->dev = dev;
    const char *model = cfg_get_str(dev->cfg, "model", "piix3");
    if (strcmp(model, "piix3") != 0 && strcmp(model, "piix4") != 0) {
        vm_error(vm, "model %s: expected piix3 or piix4", model);
        return -1;
    }
    s->piix4 = strcmp(model, "piix4") == 0;
    uint64_t devfn = cfg_get_u64(dev->cfg, "devfn", IDE_DEVFN_DEFAULT);
    if (devfn > 0xFF) {
        vm_error(vm, "devfn %llu out of range", (unsigned long long)devfn);
        return -1;
    }
    for (unsigned c = 0; c < 2; c++) {
        struct channel *ch = &s->ch[c];
        ch->s = s;
        ch->idx = c;
        ch->tp = (struct ide_transport){tp_irq, tp_dma_start, tp_dma_rw, tp_dma_end, ch};
        for (unsigned u = 0; u < 2; u++) {
            char key[8], why[160];
            snprintf(key, sizeof key, "drive%u", c * 2 + u);
            const char *name = cfg_get_str(dev->cfg, key, NULL);
            struct blockdev *bd = NULL;
            if (name && !(bd = vm_blockdev(vm, name))) {
                vm_error(vm, "%s: no drive %s", key, name);
                piix_ide_destroy(dev);
                return -1;
            }
            if (ide_dev_init(&ch->dev[u], bd, u, &ch->tp, why, sizeof why) < 0) {
                vm_error(vm, "%s", why);
                piix_ide_destroy(dev);
                return -1;
            }
            if (bd)
                blockdev_set_media_cb(bd, media_changed, &ch->dev[u]);
        }
    }
    struct pci_id id = {
        .vendor = PIIX_VENDOR,
        .device = s->piix4 ? PIIX4_IDE_DEVICE : PIIX3_IDE_DEVICE,
        .revision = s->piix4 ? PIIX4_IDE_REVISION : 0,
        .class_code = CLASS_STORAGE,
        .subclass = SUBCLASS_IDE,
        .prog_if = PROG_IF_BUS_MASTER,
    };
    pci_function *f = &s->pci;
    pci_function_init(f, vm, (uint8_t)devfn, &id);
    put_le(&f->config[PCI_STATUS], STS_DEFAULT, 2);
    f->wmask[PCI_LATENCY] = 0xF0;             /* master latency timer, bits 7:4 */
    put_le(&f->wmask[IDETIM_PRI], 0xFFFF, 2);
    put_le(&f->wmask[IDETIM_SEC], 0xFFFF, 2);
    f->wmask[SIDETIM] = 0xFF;
    if (s->piix4) {
        f->wmask[UDMACTL] = 0x0F;
        put_le(&f->wmask[UDMATIM], 0x3333, 2);
    }
    pci_function_bar(f, BM_BAR, PCI_BAR_IO, BM_BAR_SIZE, &bm_ops, s);
    f->opaque = s;
    if (pci_function_register(f) < 0) {
        piix_ide_destroy(dev);
        return -1;
    }
    for (unsigned c = 0; c < 2; c++) {
        if (vm_register_pio(vm, legacy[c].cmd, CMD_BLOCK_LEN, &cmd_ops, &s->ch[c]) < 0 ||
            vm_register_pio(vm, legacy[c].ctl, 1, &ctl_ops, &s->ch[c]) < 0) {
            piix_ide_destroy(dev);
            return -1;
        }
    }
    return 0;
}

static const device_desc piix_ide_desc = {
    .name = "piix_ide",
    .state_size = sizeof(struct piix_ide),
    .create = piix_ide_create,
    .reset = piix_ide_reset,
    .destroy = piix_ide_destroy,
};
DEVICE_REGISTER(piix_ide_desc);
