/* Direct kernel boot: the Linux x86 boot protocol (the kernel's
 * Documentation/arch/x86/boot.rst), 32-bit entry. caixa plays the boot
 * loader and the firmware at once: it loads the bzImage's protected-mode
 * part, the initrd and the command line, fills the zero page (boot_params)
 * with the e820 map, places the ACPI tables, and starts vCPU 0 in flat
 * 32-bit protected mode at the kernel's entry. No BIOS code runs. */
#ifndef CAIXA_FIRMWARE_LINUX_BOOT_H
#define CAIXA_FIRMWARE_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* What the setup header of a bzImage says (boot.rst, "The real-mode kernel
 * header"); filled by linux_image_parse. */
struct linux_image {
    uint16_t version;          /* boot protocol, e.g. 0x020f */
    size_t hdr_end;            /* the setup header ends here (file offset) */
    size_t setup_size;         /* bytes of real-mode setup, incl. the boot sector */
    const uint8_t *pm;         /* protected-mode kernel inside the file */
    size_t pm_size;
    uint32_t code32_start;     /* load address of the protected-mode kernel */
    uint32_t initrd_addr_max;  /* highest address the initrd may end at, minus 1 */
    uint32_t cmdline_size;     /* longest command line, without the NUL */
    uint32_t init_size;        /* memory the kernel needs from its load address */
    uint64_t pref_address;     /* where a relocatable kernel runs */
    bool relocatable;
};

/* Checks that img (len bytes) is a bzImage this loader can start. Returns 0,
 * or -1 with a one-line reason in why (no "caixa:" prefix). */
int linux_image_parse(const uint8_t *img, size_t len, struct linux_image *out, char *why, size_t why_len);

struct linux_boot {
    const uint8_t *kernel;     /* the whole bzImage file */
    size_t kernel_size;
    const uint8_t *initrd;     /* or NULL */
    size_t initrd_size;
    const char *cmdline;       /* never NULL */
};

/* Validates the kernel, initrd and command line against the VM's RAM before
 * the VM starts. Returns 0, or -1 with a reason in why. */
int linux_boot_check(const struct linux_boot *lb, uint64_t ram_below_4g, char *why, size_t why_len);

/* The firmware ROM of a direct-boot machine: nothing runs from it but its
 * reset vector, which resets the machine through port 0xCF9, so that a
 * kernel that restarts by jumping to F000:FFF0 (Linux's "reboot=bios"
 * fallback) gets the same warm boot a BIOS would give it. */
#define LINUX_BOOT_ROM_SIZE 0x10000
void linux_boot_rom(uint8_t rom[LINUX_BOOT_ROM_SIZE]);

/* The VM's boot hook: called at power-on and at every machine reset, with
 * the platform lock held and every vCPU in its reset state; opaque is the
 * struct linux_boot (which must outlive the VM). */
void linux_boot_on_reset(void *opaque, struct vm *vm);

#endif
