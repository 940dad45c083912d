/* Direct kernel boot, 32-bit entry (boot.rst, "32-bit Boot Protocol"): the
 * memory layout, the zero page and the CPU state the kernel expects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "firmware/acpi.h"
#include "firmware/linux_boot.h"
#include "runtime/util.h"
#include "vmm/device.h"
#include "vmm/vm.h"

/* Where the loader puts things (all below 1 MiB are free RAM for it: no
 * BIOS runs). */
#define BOOT_GDT_ADDR 0x6000
#define BOOT_PARAMS_ADDR 0x7000
#define BOOT_CMDLINE_ADDR 0x20000
#define EBDA_ADDR 0x9fc00              /* last KiB of conventional memory, as a BIOS has it */
#define CONVENTIONAL_END 0xa0000
#define BIOS_ROM_START 0xf0000         /* reserved in e820, as the system BIOS area */
#define HIGH_MEMORY 0x100000
/* BIOS data area words Linux reads (reserve_bios_regions): EBDA segment
 * and conventional memory size in KiB (IBM PC/AT BIOS data area). */
#define BDA_EBDA_SEG 0x40e
#define BDA_BASE_MEM_KB 0x413
/* The ACPI tables go in the top of RAM below the PCI hole. */
#define ACPI_REGION_SIZE 0x20000
/* ACPI 6.4 5.2.5.1: the RSDP may sit in the first KiB of the EBDA. */
#define RSDP_V2_SIZE 36

/* boot_params ("zero page") offsets, boot.rst and zero-page.rst. */
#define BP_SIZE 4096
#define BP_ACPI_RSDP 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define E820_MAX_ZEROPAGE 128
#define E820_ENTRY 20
#define LOADER_UNDEFINED 0xff          /* type_of_loader: "other" */
#define LOADFLAGS_KEEP 0x01            /* loadflags: LOADED_HIGH; CAN_USE_HEAP etc. are for 16-bit entry */

/* e820 types (ACPI 6.4 15.1 "Address Range Types"). */
enum { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3 };

/* The 32-bit entry's flat segments (boot.rst: __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define GDT_CODE32 0x00cf9b000000ffffull  /* base 0, limit 4 GiB, execute/read, accessed, 32-bit */
#define GDT_DATA32 0x00cf93000000ffffull  /* base 0, limit 4 GiB, read/write, accessed, 32-bit */
/* The same descriptors' type fields, for the segment caches (SDM Vol. 3A
 * table 3-1). */
#define SEG_TYPE_CODE_RX_ACCESSED 0xb
#define SEG_TYPE_DATA_RW_ACCESSED 0x3

struct layout {
    uint64_t low_end;       /* RAM below 4 GiB ends here */
    uint64_t acpi_base;
    uint64_t initrd;        /* load address, 0 if none */
    uint64_t kernel_end;    /* highest byte the decompressed kernel may use, + 1 */
};

static int plan(const struct linux_boot *lb, const struct linux_image *im, uint64_t low_end, struct layout *l,
                char *why, size_t why_len)
{
    l->low_end = low_end;
    uint64_t load_end = (uint64_t)im->code32_start + im->pm_size;
    /* A relocatable kernel decompresses to pref_address (or a random place
     * when KASLR is on, always avoiding the initrd); an old one in place. */
    uint64_t run_at = im->relocatable ? im->pref_address : im->code32_start;
    if (run_at < im->code32_start)
        run_at = im->code32_start;
    l->kernel_end = align_up(run_at + im->init_size, PAGE_SIZE);
    if (load_end > l->kernel_end)
        l->kernel_end = align_up(load_end, PAGE_SIZE);
    if (low_end < l->kernel_end + ACPI_REGION_SIZE) {
        snprintf(why, why_len, "the kernel needs at least %llu MiB of RAM",
                 (unsigned long long)((l->kernel_end + ACPI_REGION_SIZE + (1 << 20) - 1) >> 20));
        return -1;
    }
    l->acpi_base = low_end - ACPI_REGION_SIZE;
    l->initrd = 0;
    if (lb->initrd) {
        uint64_t top = l->acpi_base;
        if (top > (uint64_t)im->initrd_addr_max + 1)
            top = (uint64_t)im->initrd_addr_max + 1;
        if (lb->initrd_size > top || ((top - lb->initrd_size) & PAGE_MASK) < l->kernel_end) {
            snprintf(why, why_len, "the initrd (%zu KiB) does not fit in RAM beside the kernel; give more --memory",
                     lb->initrd_size >> 10);
            return -1;
        }
        l->initrd = (top - lb->initrd_size) & PAGE_MASK;
    }
    return 0;
}

int linux_boot_check(const struct linux_boot *lb, uint64_t ram_below_4g, char *why, size_t why_len)
{
    struct linux_image im;
    if (linux_image_parse(lb->kernel, lb->kernel_size, &im, why, why_len) < 0)
        return -1;
    size_t n = strlen(lb->cmdline);
    if (n > im.cmdline_size) {
        snprintf(why, why_len, "command line of %zu bytes; this kernel takes at most %u", n, im.cmdline_size);
        return -1;
    }
    struct layout l;
    return plan(lb, &im, ram_below_4g, &l, why, why_len);
}

static void e820_add(uint8_t *bp, uint64_t base, uint64_t len, uint32_t type)
{
    unsigned n = bp[BP_E820_ENTRIES];
    if (!len || n >= E820_MAX_ZEROPAGE)
        return;
    uint8_t *e = bp + BP_E820_TABLE + n * E820_ENTRY;
    put_le(e, base, 8);
    put_le(e + 8, len, 8);
    put_le(e + 16, type, 4);
    bp[BP_E820_ENTRIES] = (uint8_t)(n + 1);
}

/* The memory map a PC BIOS would report for this RAM (the same RAM ranges
 * fw_cfg's etc/e820 gives SeaBIOS), with the ACPI tables' region. */
static void fill_e820(uint8_t *bp, struct vm *vm, const struct layout *l)
{
    physmem *pm = vm_physmem(vm);
    e820_add(bp, 0, EBDA_ADDR, E820_RAM);
    e820_add(bp, EBDA_ADDR, CONVENTIONAL_END - EBDA_ADDR, E820_RESERVED);
    e820_add(bp, BIOS_ROM_START, HIGH_MEMORY - BIOS_ROM_START, E820_RESERVED);
    e820_add(bp, HIGH_MEMORY, l->acpi_base - HIGH_MEMORY, E820_RAM);
    e820_add(bp, l->acpi_base, l->low_end - l->acpi_base, E820_ACPI);
    e820_add(bp, FOUR_GIB - pm->bios_size, pm->bios_size, E820_RESERVED);
    if (pm->above_4g)
        e820_add(bp, FOUR_GIB, pm->above_4g, E820_RAM);
}

static void load(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
    /* plan() checked that everything lies in RAM. */
    if (!physmem_rw(vm_physmem(vm), gpa, (void *)src, len, true))
        vm_log(vm, "linux boot: 0x%llx+0x%zx is not RAM", (unsigned long long)gpa, len);
}

void linux_boot_rom(uint8_t rom[LINUX_BOOT_ROM_SIZE])
{
    /* At F000:FFF0 (SDM Vol. 3A 9.1.4, first instruction fetched):
     *   mov dx, 0xcf9 ; mov al, 0x06 ; out dx, al ; 1: hlt ; jmp 1b
     * 0x06 at the PIIX reset control register is a hard reset (82371AB
     * datasheet, RC register). */
    static const uint8_t reset_vector[] = {0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee, 0xf4, 0xeb, 0xfd};
    memset(rom, 0xff, LINUX_BOOT_ROM_SIZE);
    memcpy(rom + LINUX_BOOT_ROM_SIZE - 16, reset_vector, sizeof reset_vector);
}

static void set_seg(struct cpu_state *s, int seg, uint16_t sel, uint16_t type)
{
    s->seg[seg] = (struct seg_cache){
        .sel = sel,
        .attr = (uint16_t)(type | SEGA_S | SEGA_P | SEGA_DB | SEGA_G),
        .limit = 0xffffffffu,
        .base = 0,
    };
}

void linux_boot_on_reset(void *opaque, struct vm *vm)
{
    const struct linux_boot *lb = opaque;
    physmem *pm = vm_physmem(vm);
    struct linux_image im;
    struct layout l;
    char why[160];
    if (linux_image_parse(lb->kernel, lb->kernel_size, &im, why, sizeof why) < 0 ||
        plan(lb, &im, pm->below_4g, &l, why, sizeof why) < 0) {
        vm_log(vm, "linux boot: %s", why); /* linux_boot_check passed before: not reached */
        return;
    }

    static const uint64_t gdt[4] = {0, 0, GDT_CODE32, GDT_DATA32};
    load(vm, BOOT_GDT_ADDR, gdt, sizeof gdt);
    load(vm, im.code32_start, im.pm, im.pm_size);
    if (lb->initrd)
        load(vm, l.initrd, lb->initrd, lb->initrd_size);
    load(vm, BOOT_CMDLINE_ADDR, lb->cmdline, strlen(lb->cmdline) + 1);

    uint8_t bda[8];
    put_le(bda, EBDA_ADDR >> 4, 2);
    load(vm, BDA_EBDA_SEG, bda, 2);
    put_le(bda, EBDA_ADDR >> 10, 2);
    load(vm, BDA_BASE_MEM_KB, bda, 2);

    uint8_t bp[BP_SIZE];
    memset(bp, 0, sizeof bp);
    memcpy(bp + BP_HDR, lb->kernel + BP_HDR, im.hdr_end - BP_HDR);
    bp[BP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    bp[BP_LOADFLAGS] = (uint8_t)(bp[BP_LOADFLAGS] & LOADFLAGS_KEEP);
    put_le(bp + BP_CMD_LINE_PTR, BOOT_CMDLINE_ADDR, 4);
    if (lb->initrd) {
        put_le(bp + BP_RAMDISK_IMAGE, l.initrd, 4);
        put_le(bp + BP_RAMDISK_SIZE, lb->initrd_size, 4);
    }
    fill_e820(bp, vm, &l);
    /* The ACPI tables: found through boot_params (protocol 2.14+) and, for
     * kernels that scan, through the EBDA copy of the RSDP. */
    struct acpi_machine am;
    acpi_machine_init(&am, vm_cpu_count(vm), pm->below_4g, pm->above_4g);
    uint8_t *tables = xcalloc(1, ACPI_REGION_SIZE);
    uint64_t rsdp = 0;
    size_t n = acpi_build(&am, l.acpi_base, tables, ACPI_REGION_SIZE, &rsdp);
    if (n) {
        load(vm, l.acpi_base, tables, n);
        load(vm, EBDA_ADDR, tables + (rsdp - l.acpi_base), RSDP_V2_SIZE);
        put_le(bp + BP_ACPI_RSDP, rsdp, 8);
    } else {
        vm_log(vm, "linux boot: the ACPI tables do not fit in %u KiB", ACPI_REGION_SIZE >> 10);
    }
    free(tables);
    load(vm, BOOT_PARAMS_ADDR, bp, sizeof bp);

    /* vCPU 0 as the 32-bit entry wants it: flat segments, paging and
     * interrupts off, ESI -> boot_params, EBP/EDI/EBX zero. */
    struct cpu *c = vm_cpu(vm, 0);
    struct cpu_state *s = &c->s;
    s->cr0 = CR0_PE | CR0_ET;
    s->cr4 = 0;
    s->efer = 0;
    s->gdtr = (struct dtr){.base = BOOT_GDT_ADDR, .limit = sizeof gdt - 1};
    set_seg(s, S_CS, BOOT_CS, SEG_TYPE_CODE_RX_ACCESSED);
    for (int seg = S_ES; seg <= S_GS; seg++)
        if (seg != S_CS)
            set_seg(s, seg, BOOT_DS, SEG_TYPE_DATA_RW_ACCESSED);
    s->cpl = 0;
    memset(s->regs, 0, sizeof s->regs);
    s->regs[R_SI] = BOOT_PARAMS_ADDR;
    s->rip = im.code32_start;
    cpu_set_rflags(c, FL_1);
    cpu_flush_all(c);
}
