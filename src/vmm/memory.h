/* Guest physical memory map (VirtualBox's PGM): RAM below and above the PCI
 * hole, the BIOS ROM (top of 4 GiB and the legacy alias below 1 MiB), the PAM
 * shadow-RAM window 0xC0000-0xFFFFF, and MMIO regions with device callbacks.
 *
 * The software CPU caches host pointers handed out by physmem_page(); any
 * change of the map bumps `generation`, which tells every vCPU to drop its
 * TLB and decoded blocks. */
#ifndef CAIXA_VMM_MEMORY_H
#define CAIXA_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1u << PAGE_SHIFT)
#define PAGE_MASK (~(uint64_t)(PAGE_SIZE - 1))

/* i440FX: RAM above this goes above 4 GiB (QEMU's and SeaBIOS's layout). */
#define PCI_HOLE_START 0xE0000000ull
#define FOUR_GIB 0x100000000ull

/* Legacy window: VGA memory, option ROMs, system BIOS (PC/AT memory map). */
#define LEGACY_VGA_BASE 0xA0000u
#define LEGACY_ROM_BASE 0xC0000u
#define LEGACY_BIOS_BASE 0xE0000u
#define LEGACY_END 0x100000u

typedef struct mmio_ops {
    /* off is relative to the region base; size is 1, 2, 4 or 8. */
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
} mmio_ops;

struct mmio_region {
    uint64_t base, size;
    const mmio_ops *ops;
    void *opaque;
};

/* What one guest-physical page is, for the CPU's TLB. */
typedef struct phys_page {
    uint8_t *read;   /* host pointer to the page start for reads, or NULL (slow path) */
    uint8_t *write;  /* host pointer for writes, or NULL (slow path: MMIO, ROM, code page) */
    uint32_t ram_index; /* page index into the RAM block, or UINT32_MAX */
} phys_page;

#define PHYSMEM_MAX_MMIO 64
/* code_map has one bit per vCPU. */
#define PHYSMEM_MAX_VCPUS 8

typedef struct physmem {
    uint8_t *ram;            /* host mapping of all guest RAM */
    uint64_t ram_size;       /* bytes */
    uint64_t below_4g;       /* RAM bytes mapped from 0 */
    uint64_t above_4g;       /* RAM bytes mapped from 4 GiB */
    uint8_t *bios;           /* BIOS image, mapped at 4G - bios_size */
    uint64_t bios_size;
    /* PAM: per 16 KiB segment of 0xC0000-0xFFFFF, reads/writes hit shadow RAM. */
    bool pam_read_ram[16], pam_write_ram[16];
    struct mmio_region mmio[PHYSMEM_MAX_MMIO];
    int n_mmio;
    /* Per RAM page: bit n set = vCPU n holds decoded code from the page.
     * Shared by the vCPU threads: read and change it only with __atomic
     * builtins (the CPU keeps the protocol, src/cpu/smp.c). */
    uint8_t *code_map;
    /* The vCPUs (struct cpu *) running on this memory, by index: the CPU
     * registers them so that one vCPU can reach the others' TLBs and
     * request queues. */
    void *vcpus[PHYSMEM_MAX_VCPUS];
    /* Set by the CPU: physmem_rw calls it after writing a page whose
     * code_map is non-zero (DMA over code), with the page's address. */
    void (*code_written)(struct physmem *pm, uint64_t gpa);
    /* Bumped on every map change (PAM, MMIO add); CPUs flush on mismatch. */
    volatile uint32_t generation;
} physmem;

/* RAM mapped from address 0 for a RAM size: what lies below the PCI hole. */
static inline uint64_t physmem_below_4g_for(uint64_t ram_size)
{
    return ram_size < PCI_HOLE_START ? ram_size : PCI_HOLE_START;
}

/* Returns 0, or -1 with errno set when the host cannot give the RAM. */
int physmem_init(physmem *pm, uint64_t ram_size);
void physmem_destroy(physmem *pm);
/* Takes a copy of the image (64 KiB..2 MiB, power of two recommended). */
int physmem_set_bios(physmem *pm, const uint8_t *image, size_t size);
int physmem_add_mmio(physmem *pm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque);
/* Removes the region registered at exactly base/size (a PCI BAR moving);
 * returns its opaque, or NULL with errno ENOENT. Its slot is reused later. */
void *physmem_del_mmio(physmem *pm, uint64_t base, uint64_t size);
/* PAM control for [base, base+size) inside 0xC0000-0xFFFFF. */
void physmem_set_pam(physmem *pm, uint32_t base, uint32_t size, bool read_ram, bool write_ram);

/* Page descriptor for the CPU's TLB (gpa need not be aligned). */
phys_page physmem_page(physmem *pm, uint64_t gpa);
/* Slow-path accesses: any address, size 1/2/4/8, never crossing a page. */
uint64_t physmem_read(physmem *pm, uint64_t gpa, unsigned size);
void physmem_write(physmem *pm, uint64_t gpa, uint64_t val, unsigned size);
/* DMA and loaders: bounds-checked copy; returns false if any byte is not RAM/ROM. */
bool physmem_rw(physmem *pm, uint64_t gpa, void *buf, size_t len, bool write);
/* Host pointer to len bytes of RAM at gpa, or NULL if not all plain RAM.
 * Whoever writes through it (zero-copy DMA) calls physmem_ram_written
 * afterwards, so that vCPUs drop code they decoded from those bytes. */
uint8_t *physmem_ram_ptr(physmem *pm, uint64_t gpa, size_t len);
void physmem_ram_written(physmem *pm, uint64_t gpa, size_t len);
/* Resets PAM to power-on state (reads and writes go to ROM/PCI). */
void physmem_reset(physmem *pm);

#endif
