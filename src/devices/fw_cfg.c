/* QEMU's firmware configuration interface (fw_cfg), the channel SeaBIOS and
 * OVMF read the machine's description from: a 16-bit selector at 0x510, an
 * 8-bit data port at 0x511 and the DMA address register at 0x514-0x51B.
 * Items are blobs keyed by selector; named files get selectors from 0x20 up
 * and are listed in the file directory (key 0x19).
 * Reference: QEMU docs/specs/fw_cfg (guest-side hardware interface). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"

#define FW_CFG_PORT_SEL 0x510           /* 16-bit selector, data at +1 */
#define FW_CFG_PORT_DMA 0x514           /* 64-bit big-endian address */
#define FW_CFG_DMA_LEN 8

/* Selector keys. */
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NOGRAPHIC 0x0004
#define FW_CFG_NB_CPUS 0x0005
#define FW_CFG_BOOT_MENU 0x000E
#define FW_CFG_MAX_CPUS 0x000F
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_FILE_FIRST 0x0020
#define FW_CFG_WRITE_CHANNEL 0x4000     /* selector bit 14: write mode */
#define FW_CFG_KEY_MASK 0xBFFF          /* keeps the arch-local bit 15 */

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA 0x02
/* Read back from the DMA register: "QEMU CFG", big-endian. */
static const uint8_t dma_signature[FW_CFG_DMA_LEN] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

/* FWCfgDmaAccess: be32 control, be32 length, be64 address. */
#define DMA_ACCESS_SIZE 16
#define DMA_CTL_ERROR 0x01
#define DMA_CTL_READ 0x02
#define DMA_CTL_SKIP 0x04
#define DMA_CTL_SELECT 0x08
#define DMA_CTL_WRITE 0x10
#define DMA_CTL_SELECT_SHIFT 16
#define DMA_CHUNK 4096

/* File directory: be32 count, then entries of be32 size, be16 select,
 * be16 reserved, char name[56]. */
#define FW_CFG_NAME_LEN 56
#define FW_CFG_DIR_ENTRY 64
#define FW_CFG_MAX_ITEMS 64

/* e820 entry: le64 address, le64 length, le32 type (ACPI 15.1). */
#define E820_ENTRY_SIZE 20
#define E820_RAM 1

#define ONE_ITEM_MAX (16u << 20)        /* sanity bound for a blob */

struct fw_item {
    uint16_t key;
    char name[FW_CFG_NAME_LEN];         /* "" for a plain key */
    uint8_t *data;
    uint32_t len;
};

struct fw_cfg {
    device *dev;
    struct fw_item items[FW_CFG_MAX_ITEMS];
    unsigned n_items;
    uint16_t next_file_key;
    uint16_t selector;
    struct fw_item *cur;                /* NULL: no such item */
    uint32_t offset;
    uint8_t dma_reg[FW_CFG_DMA_LEN];
};

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* --- the item table ---------------------------------------------------------- */

static struct fw_item *fw_find(struct fw_cfg *s, uint16_t key)
{
    for (unsigned i = 0; i < s->n_items; i++)
        if (s->items[i].key == key)
            return &s->items[i];
    return NULL;
}

/* Adds or replaces an item; takes a copy of data. */
static struct fw_item *fw_set(struct fw_cfg *s, uint16_t key, const char *name, const void *data,
                              uint32_t len)
{
    struct fw_item *it = fw_find(s, key);
    if (!it) {
        if (s->n_items == FW_CFG_MAX_ITEMS)
            return NULL;
        it = &s->items[s->n_items++];
        memset(it, 0, sizeof(*it));
        it->key = key;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, data, len);
    free(it->data);
    it->data = copy;
    it->len = len;
    if (name)
        strncpy(it->name, name, FW_CFG_NAME_LEN - 1);
    return it;
}

static int fw_add_bytes(struct fw_cfg *s, uint16_t key, const void *data, uint32_t len)
{
    return fw_set(s, key, NULL, data, len) ? 0 : -1;
}

static int fw_add_le(struct fw_cfg *s, uint16_t key, uint64_t v, unsigned n)
{
    uint8_t b[8];
    put_le(b, v, n);
    return fw_add_bytes(s, key, b, n);
}

/* Rebuilds key 0x19 from the named items. */
static int fw_rebuild_dir(struct fw_cfg *s)
{
    uint32_t count = 0;
    for (unsigned i = 0; i < s->n_items; i++)
        count += s->items[i].name[0] != 0;
    uint32_t len = 4 + count * FW_CFG_DIR_ENTRY;
    uint8_t *dir = calloc(1, len);
    if (!dir)
        return -1;
    put_be32(dir, count);
    uint8_t *e = dir + 4;
    for (unsigned i = 0; i < s->n_items; i++) {
        const struct fw_item *it = &s->items[i];
        if (!it->name[0])
            continue;
        put_be32(e, it->len);
        put_be16(e + 4, it->key);
        memcpy(e + 8, it->name, strnlen(it->name, FW_CFG_NAME_LEN - 1));
        e += FW_CFG_DIR_ENTRY;
    }
    int r = fw_add_bytes(s, FW_CFG_FILE_DIR, dir, len);
    free(dir);
    return r;
}

/* Adds a named file (the "add-file" API later devices' blobs go through). */
static int fw_add_file(struct fw_cfg *s, const char *name, const void *data, uint32_t len)
{
    if (!name[0] || strlen(name) >= FW_CFG_NAME_LEN || len > ONE_ITEM_MAX)
        return -1;
    uint16_t key = 0;
    for (unsigned i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].name, name) == 0)
            key = s->items[i].key;
    if (!key)
        key = s->next_file_key++;
    if (!fw_set(s, key, name, data, len))
        return -1;
    return fw_rebuild_dir(s);
}

/* A named file holding a little-endian integer of n bytes. */
static int fw_add_le_file(struct fw_cfg *s, const char *name, uint64_t v, unsigned n)
{
    uint8_t b[8];
    put_le(b, v, n);
    return fw_add_file(s, name, b, n);
}

/* --- guest interface --------------------------------------------------------- */

static void fw_select(struct fw_cfg *s, uint16_t sel)
{
    s->selector = sel;
    s->offset = 0;
    s->cur = fw_find(s, sel & FW_CFG_KEY_MASK);
}

static uint8_t fw_read_byte(struct fw_cfg *s)
{
    if (!s->cur || s->offset >= s->cur->len)
        return 0;
    return s->cur->data[s->offset++];
}

/* Executes the FWCfgDmaAccess structure at guest address `addr`. */
static void fw_dma(struct fw_cfg *s, uint64_t addr)
{
    physmem *pm = vm_physmem(s->dev->vm);
    uint8_t acc[DMA_ACCESS_SIZE];
    if (!physmem_rw(pm, addr, acc, sizeof(acc), false))
        return;   /* nowhere to report an error */
    uint32_t control = get_be32(acc);
    uint32_t length = get_be32(acc + 4);
    uint64_t dst = get_be64(acc + 8);
    bool error = false;

    if (control & DMA_CTL_SELECT)
        fw_select(s, (uint16_t)(control >> DMA_CTL_SELECT_SHIFT));
    if (control & DMA_CTL_WRITE) {
        error = true;   /* every item is read-only */
    } else if (control & (DMA_CTL_READ | DMA_CTL_SKIP)) {
        bool read = control & DMA_CTL_READ;
        while (length && !error) {
            uint32_t avail = s->cur && s->offset < s->cur->len ? s->cur->len - s->offset : 0;
            uint32_t n = length < DMA_CHUNK ? length : DMA_CHUNK;
            if (read) {
                uint8_t buf[DMA_CHUNK];
                uint32_t from_item = n < avail ? n : avail;
                if (from_item)
                    memcpy(buf, s->cur->data + s->offset, from_item);
                memset(buf + from_item, 0, n - from_item);   /* past the end: zeros */
                if (!physmem_rw(pm, dst, buf, n, true))
                    error = true;
                dst += n;
            }
            uint32_t adv = n < avail ? n : avail;
            s->offset += adv;
            length -= n;
        }
    }
    uint8_t done[4];
    put_be32(done, error ? DMA_CTL_ERROR : 0);
    physmem_rw(pm, addr, done, sizeof(done), true);
}

static uint32_t fw_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct fw_cfg *s = opaque;
    if (off == 1) {
        uint32_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= (uint32_t)fw_read_byte(s) << (8 * i);
        return v;
    }
    return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;   /* selector: write-only */
}

static void fw_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct fw_cfg *s = opaque;
    (void)size;
    if (off == 0)
        fw_select(s, (uint16_t)val);
    /* Data port writes are ignored (items are read-only). */
}

static uint32_t fw_dma_read(void *opaque, uint16_t off, unsigned size)
{
    (void)opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && off + i < FW_CFG_DMA_LEN; i++)
        v |= (uint32_t)dma_signature[off + i] << (8 * i);
    return v;
}

static void fw_dma_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct fw_cfg *s = opaque;
    /* The register is a big-endian byte string: the byte at port 0x514 + k
     * is bits 63-8k..56-8k. Writing its last byte starts the transfer. */
    for (unsigned i = 0; i < size && off + i < FW_CFG_DMA_LEN; i++)
        s->dma_reg[off + i] = (uint8_t)(val >> (8 * i));
    if (off + size == FW_CFG_DMA_LEN) {
        uint64_t addr = get_be64(s->dma_reg);
        memset(s->dma_reg, 0, sizeof(s->dma_reg));
        fw_dma(s, addr);
    }
}

static const pio_ops fw_io_ops = { fw_io_read, fw_io_write };
static const pio_ops fw_dma_ops = { fw_dma_read, fw_dma_write };

/* --- contents ---------------------------------------------------------------- */

static int fw_add_e820(struct fw_cfg *s, uint64_t ram)
{
    uint64_t below = physmem_below_4g_for(ram);
    uint64_t above = ram - below;
    uint8_t tab[2 * E820_ENTRY_SIZE];
    uint32_t n = 0;
    put_le(tab, 0, 8);
    put_le(tab + 8, below, 8);
    put_le(tab + 16, E820_RAM, 4);
    n++;
    if (above) {
        put_le(tab + E820_ENTRY_SIZE, FOUR_GIB, 8);
        put_le(tab + E820_ENTRY_SIZE + 8, above, 8);
        put_le(tab + E820_ENTRY_SIZE + 16, E820_RAM, 4);
        n++;
    }
    return fw_add_file(s, "etc/e820", tab, n * E820_ENTRY_SIZE);
}

static void fw_cfg_reset(device *dev)
{
    struct fw_cfg *s = dev->state;
    fw_select(s, FW_CFG_SIGNATURE);
    memset(s->dma_reg, 0, sizeof(s->dma_reg));
}

static void fw_cfg_destroy(device *dev)
{
    struct fw_cfg *s = dev->state;
    for (unsigned i = 0; i < s->n_items; i++)
        free(s->items[i].data);
    s->n_items = 0;
}

static int fw_cfg_create(device *dev)
{
    struct fw_cfg *s = dev->state;
    s->dev = dev;
    s->next_file_key = FW_CFG_FILE_FIRST;
    uint64_t ram = cfg_get_u64(dev->cfg, "ram_size", vm_ram_size(dev->vm));
    uint64_t cpus = cfg_get_u64(dev->cfg, "cpus", 1);
    uint64_t max_cpus = cfg_get_u64(dev->cfg, "max_cpus", cpus);
    uint64_t nographic = cfg_get_u64(dev->cfg, "nographic", 0);
    /* SeaBIOS: -1 = wait forever after "No bootable device". */
    uint64_t fail_wait = cfg_get_u64(dev->cfg, "boot_fail_wait", 0xFFFFFFFFu);
    if (cpus < 1 || cpus > 255 || max_cpus < cpus || max_cpus > 255) {
        vm_error(dev->vm, "bad cpu count %llu (max %llu)", (unsigned long long)cpus,
                 (unsigned long long)max_cpus);
        fw_cfg_destroy(dev);
        return -1;
    }
    static const char sig[4] = { 'Q', 'E', 'M', 'U' };
    uint8_t fail_wait_le[4];
    put_le(fail_wait_le, fail_wait, 4);
    int r = 0;
    r |= fw_add_bytes(s, FW_CFG_SIGNATURE, sig, sizeof(sig));
    r |= fw_add_le(s, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, 4);
    r |= fw_add_le(s, FW_CFG_RAM_SIZE, ram, 8);
    r |= fw_add_le(s, FW_CFG_NOGRAPHIC, nographic, 2);
    r |= fw_add_le(s, FW_CFG_NB_CPUS, cpus, 2);
    r |= fw_add_le(s, FW_CFG_MAX_CPUS, max_cpus, 2);
    r |= fw_add_le(s, FW_CFG_BOOT_MENU, 0, 2);   /* SeaBIOS reads it as etc/show-boot-menu */
    r |= fw_rebuild_dir(s);
    r |= fw_add_e820(s, ram);
    /* SeaBIOS's boot order: one OpenFirmware device path per line
     * (SeaBIOS docs/Runtime_config, "bootorder"). */
    const char *bootorder = cfg_get_str(dev->cfg, "bootorder", "");
    r |= fw_add_file(s, "bootorder", bootorder, (uint32_t)strlen(bootorder));
    /* The I/O port of SeaBIOS's serial console, an integer file that
     * SeaBIOS reads with romfile_loadint (1, 2, 4 or 8 bytes, little
     * endian); absent: no serial console. */
    uint64_t sercon = cfg_get_u64(dev->cfg, "sercon_port", 0);
    if (sercon)
        r |= fw_add_le_file(s, "etc/sercon-port", sercon, 8);
    r |= fw_add_file(s, "etc/boot-fail-wait", fail_wait_le, 4);
    if (r) {
        vm_error(dev->vm, "out of memory or item slots");
        fw_cfg_destroy(dev);
        return -1;
    }
    fw_cfg_reset(dev);
    if (vm_register_pio(dev->vm, FW_CFG_PORT_SEL, 2, &fw_io_ops, s) < 0 ||
        vm_register_pio(dev->vm, FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, &fw_dma_ops, s) < 0) {
        fw_cfg_destroy(dev);
        return -1;
    }
    return 0;
}

static const device_desc fw_cfg_desc = {
    .name = "fw_cfg",
    .state_size = sizeof(struct fw_cfg),
    .create = fw_cfg_create,
    .reset = fw_cfg_reset,
    .destroy = fw_cfg_destroy,
};
DEVICE_REGISTER(fw_cfg_desc);
