/* The guest physical map (memory.h). Decoding order for an address:
 * MMIO regions, then RAM below 0xA0000, the legacy window 0xA0000-0xFFFFF
 * (VGA hole, then PAM-controlled shadow RAM / BIOS alias), RAM up to the
 * PCI hole, the BIOS image below 4 GiB, RAM above 4 GiB; anything else is
 * unassigned: reads are all ones, writes are dropped (PC bus behaviour). */
#include "vmm/memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* PAM: i440FX datasheet 3.2.18, one read-enable/write-enable pair per
 * 16 KiB of 0xC0000-0xFFFFF (0xF0000 is one 64 KiB unit there; we keep 16 KiB). */
#define PAM_SEG_SHIFT 14
#define PAM_SEGS 16
/* The BIOS image's low alias covers at most 0xE0000-0xFFFFF (128 KiB). */
#define BIOS_LOW_ALIAS_MAX (LEGACY_END - LEGACY_BIOS_BASE)
#define BIOS_MIN_SIZE 0x10000u
#define BIOS_MAX_SIZE 0x200000u

enum kind { K_UNASSIGNED, K_RAM, K_ROM, K_MMIO };

/* What a span of guest-physical addresses starting at gpa is. */
struct span {
    enum kind kind;
    uint8_t *host;      /* K_RAM / K_ROM: host pointer for gpa */
    uint64_t ram_off;   /* K_RAM: offset in the RAM block */
    struct mmio_region *mmio;
    uint64_t len;       /* bytes from gpa with this same meaning (>= 1) */
};

static void bump_generation(physmem *pm)
{
    __atomic_add_fetch(&pm->generation, 1, __ATOMIC_SEQ_CST);
}

int physmem_init(physmem *pm, uint64_t ram_size)
{
    memset(pm, 0, sizeof *pm);
    /* Whole pages, at least the 1 MiB the legacy window is shadowed in. */
    if (ram_size < LEGACY_END || (ram_size & (PAGE_SIZE - 1)) ||
        ram_size > (uint64_t)UINT32_MAX * PAGE_SIZE) {
        errno = EINVAL;
        return -1;
    }
    if (ram_size > SIZE_MAX) {
        errno = ENOMEM;
        return -1;
    }
    void *ram = mmap(NULL, (size_t)ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        return -1;
    uint64_t pages = ram_size >> PAGE_SHIFT;
    uint8_t *code_map = calloc((size_t)pages, 1);
    if (!code_map) {
        munmap(ram, (size_t)ram_size);
        errno = ENOMEM;
        return -1;
    }
    pm->ram = ram;
    pm->ram_size = ram_size;
    pm->below_4g = physmem_below_4g_for(ram_size);
    pm->above_4g = ram_size - pm->below_4g;
    pm->code_map = code_map;
    physmem_reset(pm);
    return 0;
}

void physmem_destroy(physmem *pm)
{
    if (pm->ram)
        munmap(pm->ram, (size_t)pm->ram_size);
    free(pm->code_map);
    free(pm->bios);
    memset(pm, 0, sizeof *pm);
}

int physmem_set_bios(physmem *pm, const uint8_t *image, size_t size)
{
    if (size < BIOS_MIN_SIZE || size > BIOS_MAX_SIZE || (size & (PAGE_SIZE - 1))) {
        errno = EINVAL;
        return -1;
    }
    uint8_t *copy = malloc(size);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(copy, image, size);
    free(pm->bios);
    pm->bios = copy;
    pm->bios_size = size;
    bump_generation(pm);
    return 0;
}

int physmem_add_mmio(physmem *pm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque)
{
    if (!ops || size == 0 || base + size < base) {
        errno = EINVAL;
        return -1;
    }
    int slot = -1;
    for (int i = 0; i < pm->n_mmio; i++) {
        const struct mmio_region *r = &pm->mmio[i];
        if (r->size == 0 && slot < 0)
            slot = i;
        if (r->size && base < r->base + r->size && r->base < base + size) {
            errno = EEXIST;
            return -1;
        }
    }
    if (slot < 0) {
        if (pm->n_mmio >= PHYSMEM_MAX_MMIO) {
            errno = ENOSPC;
            return -1;
        }
        slot = pm->n_mmio++;
    }
    pm->mmio[slot] = (struct mmio_region){base, size, ops, opaque};
    bump_generation(pm);
    return 0;
}

void *physmem_del_mmio(physmem *pm, uint64_t base, uint64_t size)
{
    for (int i = 0; i < pm->n_mmio; i++) {
        struct mmio_region *r = &pm->mmio[i];
        if (r->size && r->base == base && r->size == size) {
            /* A vCPU may be in this region's callbacks right now: leave ops
             * and opaque valid, only stop matching addresses. */
            r->size = 0;
            bump_generation(pm);
            return r->opaque;
        }
    }
    errno = ENOENT;
    return NULL;
}

void physmem_set_pam(physmem *pm, uint32_t base, uint32_t size, bool read_ram, bool write_ram)
{
    bool changed = false;
    for (unsigned seg = 0; seg < PAM_SEGS; seg++) {
        uint32_t s = LEGACY_ROM_BASE + (seg << PAM_SEG_SHIFT);
        uint32_t e = s + (1u << PAM_SEG_SHIFT);
        if (s >= (uint64_t)base + size || e <= base)
            continue;
        changed |= pm->pam_read_ram[seg] != read_ram || pm->pam_write_ram[seg] != write_ram;
        pm->pam_read_ram[seg] = read_ram;
        pm->pam_write_ram[seg] = write_ram;
    }
    if (changed)
        bump_generation(pm);
}

void physmem_reset(physmem *pm)
{
    for (int i = 0; i < PAM_SEGS; i++)
        pm->pam_read_ram[i] = pm->pam_write_ram[i] = false;
    bump_generation(pm);
}

static struct mmio_region *find_mmio(physmem *pm, uint64_t gpa, uint64_t *next_start)
{
    for (int i = 0; i < pm->n_mmio; i++) {
        struct mmio_region *r = &pm->mmio[i];
        if (gpa - r->base < r->size)
            return r;
        if (r->size && r->base > gpa && r->base < *next_start)
            *next_start = r->base;
    }
    return NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Decodes gpa for a read (write=false) or a write. */
static struct span decode(physmem *pm, uint64_t gpa, bool write)
{
    struct span sp = {.kind = K_UNASSIGNED};
    uint64_t next_mmio = UINT64_MAX;
    struct mmio_region *r = find_mmio(pm, gpa, &next_mmio);
    if (r) {
        sp.kind = K_MMIO;
        sp.mmio = r;
        sp.len = r->base + r->size - gpa;
        if (sp.len == 0) /* region reaching the top of the address space */
            sp.len = UINT64_MAX;
        return sp;
    }
    uint64_t end; /* first address past this span (before clipping to MMIO) */
    if (gpa < LEGACY_VGA_BASE) {
        sp.kind = K_RAM;
        sp.ram_off = gpa;
        end = LEGACY_VGA_BASE;
    } else if (gpa < LEGACY_ROM_BASE) {
        end = LEGACY_ROM_BASE;
    } else if (gpa < LEGACY_END) {
        unsigned seg = (unsigned)((gpa - LEGACY_ROM_BASE) >> PAM_SEG_SHIFT);
        end = LEGACY_ROM_BASE + ((uint64_t)(seg + 1) << PAM_SEG_SHIFT);
        if (write ? pm->pam_write_ram[seg] : pm->pam_read_ram[seg]) {
            sp.kind = K_RAM;
            sp.ram_off = gpa;
        } else if (!write && gpa >= LEGACY_BIOS_BASE) {
            /* The image's last bytes end at 1 MiB. */
            uint64_t below_top = LEGACY_END - gpa;
            uint64_t alias = min_u64(pm->bios_size, BIOS_LOW_ALIAS_MAX);
            if (below_top <= alias) {
                sp.kind = K_ROM;
                sp.host = pm->bios + (pm->bios_size - below_top);
            }
        }
    } else if (gpa < pm->below_4g) {
        sp.kind = K_RAM;
        sp.ram_off = gpa;
        end = pm->below_4g;
    } else if (gpa < FOUR_GIB - pm->bios_size) {
        end = FOUR_GIB - pm->bios_size;
    } else if (gpa < FOUR_GIB) {
        sp.kind = write ? K_UNASSIGNED : K_ROM; /* writes to ROM are dropped */
        sp.host = pm->bios + (gpa - (FOUR_GIB - pm->bios_size));
        end = FOUR_GIB;
    } else if (gpa - FOUR_GIB < pm->above_4g) {
        sp.kind = K_RAM;
        sp.ram_off = pm->below_4g + (gpa - FOUR_GIB);
        end = FOUR_GIB + pm->above_4g;
    } else {
        end = UINT64_MAX; /* nothing up to the top */
    }
    if (sp.kind == K_RAM)
        sp.host = pm->ram + sp.ram_off;
    end = min_u64(end, next_mmio);
    sp.len = end - gpa;
    if (sp.len == 0)
        sp.len = 1;
    return sp;
}

static uint64_t ones(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

uint64_t physmem_read(physmem *pm, uint64_t gpa, unsigned size)
{
    if (size == 0 || size > 8)
        return 0;
    struct span sp = decode(pm, gpa, false);
    if (sp.len < size) {
        /* Straddles two kinds of memory: byte by byte, little-endian. */
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= physmem_read(pm, gpa + i, 1) << (8 * i);
        return v;
    }
    uint64_t v = 0;
    switch (sp.kind) {
    case K_RAM:
    case K_ROM:
        memcpy(&v, sp.host, size); /* the host is little-endian x86 */
        return v;
    case K_MMIO:
        return sp.mmio->ops->read ? sp.mmio->ops->read(sp.mmio->opaque, gpa - sp.mmio->base, size) & ones(size)
                                  : ones(size);
    case K_UNASSIGNED:
        break;
    }
    return ones(size);
}

void physmem_write(physmem *pm, uint64_t gpa, uint64_t val, unsigned size)
{
    if (size == 0 || size > 8)
        return;
    struct span sp = decode(pm, gpa, true);
    if (sp.len < size) {
        for (unsigned i = 0; i < size; i++)
            physmem_write(pm, gpa + i, (val >> (8 * i)) & 0xff, 1);
        return;
    }
    switch (sp.kind) {
    case K_RAM:
        memcpy(sp.host, &val, size);
        break;
    case K_MMIO:
        if (sp.mmio->ops->write)
            sp.mmio->ops->write(sp.mmio->opaque, gpa - sp.mmio->base, val & ones(size), size);
        break;
    case K_ROM:
    case K_UNASSIGNED:
        break;
    }
}

phys_page physmem_page(physmem *pm, uint64_t gpa)
{
    phys_page pg = {NULL, NULL, UINT32_MAX};
    uint64_t base = gpa & PAGE_MASK;
    struct span rd = decode(pm, base, false);
    struct span wr = decode(pm, base, true);
    /* Only a page that is one kind from start to end gets pointers. */
    if (rd.len >= PAGE_SIZE && (rd.kind == K_RAM || rd.kind == K_ROM))
        pg.read = rd.host;
    if (wr.len >= PAGE_SIZE && wr.kind == K_RAM &&
        !__atomic_load_n(&pm->code_map[wr.ram_off >> PAGE_SHIFT], __ATOMIC_ACQUIRE))
        pg.write = wr.host;
    if (pg.read && rd.kind == K_RAM)
        pg.ram_index = (uint32_t)(rd.ram_off >> PAGE_SHIFT);
    return pg;
}

/* After a write of n bytes of RAM at gpa (RAM offset ram_off): pages that
 * a vCPU holds code from are reported (the store, then the check). */
static void notify_code_pages(physmem *pm, uint64_t gpa, uint64_t ram_off, size_t n)
{
    if (!pm->code_written || n == 0)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (uint64_t pg = ram_off >> PAGE_SHIFT; pg <= (ram_off + n - 1) >> PAGE_SHIFT; pg++)
        if (__atomic_load_n(&pm->code_map[pg], __ATOMIC_RELAXED))
            pm->code_written(pm, gpa + ((pg << PAGE_SHIFT) - ram_off));
}

bool physmem_rw(physmem *pm, uint64_t gpa, void *buf, size_t len, bool write)
{
    uint8_t *p = buf;
    bool ok = true;
    while (len > 0) {
        struct span sp = decode(pm, gpa, write);
        size_t n = (size_t)min_u64(sp.len, len);
        switch (sp.kind) {
        case K_RAM:
            if (write) {
                memcpy(sp.host, p, n);
                notify_code_pages(pm, gpa, sp.ram_off, n);
            } else {
                memcpy(p, sp.host, n);
            }
            break;
        case K_ROM:
            memcpy(p, sp.host, n); /* decode() gives ROM for reads only */
            break;
        case K_UNASSIGNED:
            /* A write to the BIOS ROM is dropped as on the bus, not an error. */
            if (write && gpa >= FOUR_GIB - pm->bios_size && gpa < FOUR_GIB)
                break;
            if (write && gpa >= LEGACY_BIOS_BASE && gpa < LEGACY_END)
                break;
            /* fall through */
        case K_MMIO:
            if (!write)
                memset(p, 0xff, n);
            ok = false;
            break;
        }
        p += n;
        len -= n;
        gpa += n;
        if (gpa == 0 && len > 0) { /* wrapped past the top of the address space */
            if (!write)
                memset(p, 0xff, len);
            return false;
        }
    }
    return ok;
}

void physmem_ram_written(physmem *pm, uint64_t gpa, size_t len)
{
    if (len && physmem_ram_ptr(pm, gpa, len))
        notify_code_pages(pm, gpa, gpa >= FOUR_GIB ? pm->below_4g + (gpa - FOUR_GIB) : gpa, len);
}

uint8_t *physmem_ram_ptr(physmem *pm, uint64_t gpa, size_t len)
{
    uint64_t end = gpa + len;
    if (end < gpa)
        return NULL;
    /* Plain RAM: no PAM window, no VGA hole, no MMIO. */
    bool low = end <= LEGACY_VGA_BASE;
    bool mid = gpa >= LEGACY_END && end <= pm->below_4g;
    bool high = gpa >= FOUR_GIB && end - FOUR_GIB <= pm->above_4g;
    if (!low && !mid && !high)
        return NULL;
    for (int i = 0; i < pm->n_mmio; i++) {
        const struct mmio_region *r = &pm->mmio[i];
        if (r->size && gpa < r->base + r->size && r->base < end + (len == 0))
            return NULL;
    }
    return pm->ram + (high ? pm->below_4g + (gpa - FOUR_GIB) : gpa);
}
