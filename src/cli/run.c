/* `caixa run`: boot a PC in the foreground from flags, no registration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "drivers/chardev.h"
#include "firmware/linux_boot.h"
#include "runtime/errors.h"
#include "runtime/log.h"
#include "runtime/util.h"
#include "vmm/device.h"
#include "vmm/memory.h"
#include "vmm/vm.h"

#if __has_include("debug/gdbstub.h")
#include "debug/gdbstub.h"
#define HAVE_GDBSTUB 1
#endif

#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"
#define DEFAULT_MEMORY_MB 256
#define MAX_MEMORY_MB 65536
#define BIOS_UNIT 0x10000u         /* 64 KiB */
#define BIOS_MAX (2u << 20)        /* 2 MiB */
#define KERNEL_MAX (256u << 20)
#define INITRD_MAX (2048u << 20)
/* The default guest (scripts/build-guest.sh) lives beside the binary. */
#define DEFAULT_GUEST_DIR "default-guest"

static const char run_usage[] =
    "usage: caixa run [flags]\n"
    "\n"
    "Boots a PC (i440FX, PIIX3/PIIX4 PM, 8259 PICs, local and I/O APICs, 8254 PIT,\n"
    "HPET, RTC, 16550A COM1, 8042, ACPI, fw_cfg)\n"
    "in the foreground: a Linux kernel given with --kernel, else the firmware\n"
    "given with --bios (SeaBIOS by default when drives are attached), else the\n"
    "default guest built by `make guest`.\n"
    "\n"
    "  --memory MB          guest RAM in MiB, 1..65536 (default 256)\n"
    "  --cpus N             virtual CPUs, 1..4 (default 1)\n"
    "  --bios FILE          firmware image, 64 KiB..2 MiB in 64 KiB units\n"
    "                       (default " DEFAULT_BIOS ")\n"
    "  --kernel BZIMAGE     boot this Linux kernel directly (x86 boot protocol)\n"
    "  --initrd FILE        initial ramdisk for --kernel\n"
    "  --append CMDLINE     kernel command line for --kernel\n"
    "  --disk FILE[,if=ide|sata|virtio][,readonly]\n"
    "                       attach a disk image (VDI, VMDK, VHD, qcow2, raw: told\n"
    "                       apart by content) or an iSCSI LUN (FILE = iscsi://HOST[:PORT]/IQN/LUN)\n"
    "                       on IDE (default), AHCI SATA or virtio-blk; repeatable\n"
    "  --cdrom FILE[,if=ide|sata]\n"
    "                       attach a CD/DVD drive holding an ISO image; repeatable\n"
    "  --boot ORDER         firmware boot order, e.g. cdrom,disk (default: disk,cdrom)\n"
    "  --serial BACKEND     COM1: stdio, file:PATH or none (default stdio)\n"
    "  --debugcon FILE      debug console port 0x402 to FILE (or stdio, file:PATH, none)\n"
    "  --debug-exit         port 0xF4: a write of V ends caixa with status (V<<1)|1\n"
    "  --no-reboot          a guest reset or triple fault ends caixa with status 3\n"
    "  --gdb PORT           gdb remote stub on 127.0.0.1:PORT\n"
    "  --trace FILE         log executed blocks and exceptions to FILE\n"
    "  --help               this text\n";

struct run_opts {
    uint64_t memory_mb;
    uint64_t cpus;
    const char *bios;
    const char *serial;
    const char *debugcon;
    bool debug_exit;
    bool no_reboot;
    int gdb_port;            /* 0: none */
    const char *trace;
    const char *kernel, *initrd, *append;
    struct vm_drive drives[VM_MAX_DRIVES];
    int ndrives;
    enum vm_boot_dev boot[VM_MAX_BOOT];
};

static const struct {
    const char *name;
    enum vm_drive_bus bus;
} drive_buses[] = {
    {"ide", VM_BUS_IDE},
    {"sata", VM_BUS_SATA},
    {"virtio", VM_BUS_VIRTIO},
};

/* "FILE[,if=BUS][,readonly]" for --disk/--cdrom. The file name ends at the
 * first comma, which becomes its terminator once the options are read (argv
 * is ours to change). Returns false after a message. */
static bool parse_drive(const char *flag, char *arg, bool cdrom, struct run_opts *o)
{
    if (o->ndrives == VM_MAX_DRIVES) {
        log_error("%s %s: at most %d drives", flag, arg, VM_MAX_DRIVES);
        return false;
    }
    struct vm_drive *d = &o->drives[o->ndrives];
    *d = (struct vm_drive){.bus = VM_BUS_IDE, .cdrom = cdrom, .read_only = cdrom};
    const char *comma = strchr(arg, ',');
    size_t flen = comma ? (size_t)(comma - arg) : strlen(arg);
    if (flen == 0) {
        log_error("%s '%s': expected FILE[,if=ide|sata%s]", flag, arg, cdrom ? "" : "|virtio][,readonly");
        return false;
    }
    while (comma) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        size_t olen = comma ? (size_t)(comma - opt) : strlen(opt);
        bool ok = false;
        if (olen > 3 && strncmp(opt, "if=", 3) == 0) {
            for (size_t b = 0; b < ARRAY_SIZE(drive_buses); b++)
                if (strlen(drive_buses[b].name) == olen - 3 && !strncmp(opt + 3, drive_buses[b].name, olen - 3)) {
                    d->bus = drive_buses[b].bus;
                    ok = !(cdrom && d->bus == VM_BUS_VIRTIO);
                }
        } else if (olen == 8 && strncmp(opt, "readonly", 8) == 0) {
            d->read_only = ok = true;
        }
        if (!ok) {
            log_error("%s %s: unknown option '%.*s' (expected if=ide|sata%s)", flag, arg, (int)olen, opt,
                      cdrom ? "" : "|virtio or readonly");
            return false;
        }
    }
    arg[flen] = 0;
    d->spec = arg;
    o->ndrives++;
    return true;
}

/* "cdrom,disk": the devices the firmware tries, in order. */
static bool parse_boot(const char *arg, struct run_opts *o)
{
    int n = 0;
    const char *p = arg;
    while (*p) {
        size_t len = strcspn(p, ",");
        enum vm_boot_dev dev = VM_BOOT_NONE;
        if (len == 4 && !strncmp(p, "disk", 4))
            dev = VM_BOOT_DISK;
        else if ((len == 5 && !strncmp(p, "cdrom", 5)) || (len == 3 && !strncmp(p, "dvd", 3)))
            dev = VM_BOOT_CDROM;
        if (dev == VM_BOOT_NONE || n == VM_MAX_BOOT) {
            log_error("--boot %s: expected a list of disk and cdrom, e.g. cdrom,disk", arg);
            return false;
        }
        o->boot[n++] = dev;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0) {
        log_error("--boot: expected a list of disk and cdrom, e.g. cdrom,disk");
        return false;
    }
    return true;
}

/* "--flag VALUE" or "--flag=VALUE": the value, or NULL after a message. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    const char *arg = argv[*i];
    size_t n = strlen(flag);
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc) {
        log_error("%s needs a value (try 'caixa run --help')", flag);
        return NULL;
    }
    return argv[++*i];
}

static bool is_flag(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Returns -1 on success, else the exit status to end with. */
static int parse(int argc, char **argv, struct run_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(run_usage, stdout);
            return CAIXA_EXIT_OK;
        } else if (strcmp(a, "--debug-exit") == 0) {
            o->debug_exit = true;
        } else if (strcmp(a, "--no-reboot") == 0) {
            o->no_reboot = true;
        } else if (is_flag(a, "--memory")) {
            if (!(v = flag_value(argc, argv, &i, "--memory")))
                return CAIXA_EXIT_USAGE;
            if (!parse_u64(v, &o->memory_mb) || o->memory_mb < 1 || o->memory_mb > MAX_MEMORY_MB) {
                log_error("--memory %s: expected a size in MiB from 1 to %d", v, MAX_MEMORY_MB);
                return CAIXA_EXIT_USAGE;
            }
        } else if (is_flag(a, "--cpus")) {
            if (!(v = flag_value(argc, argv, &i, "--cpus")))
                return CAIXA_EXIT_USAGE;
            if (!parse_u64(v, &o->cpus) || o->cpus < 1 || o->cpus > CAIXA_MAX_CPUS) {
                log_error("--cpus %s: expected a number of vCPUs from 1 to %d", v, CAIXA_MAX_CPUS);
                return CAIXA_EXIT_USAGE;
            }
        } else if (is_flag(a, "--bios")) {
            if (!(o->bios = flag_value(argc, argv, &i, "--bios")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--kernel")) {
            if (!(o->kernel = flag_value(argc, argv, &i, "--kernel")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--initrd")) {
            if (!(o->initrd = flag_value(argc, argv, &i, "--initrd")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--append")) {
            if (!(o->append = flag_value(argc, argv, &i, "--append")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--disk") || is_flag(a, "--cdrom")) {
            bool cd = is_flag(a, "--cdrom");
            const char *flag = cd ? "--cdrom" : "--disk";
            if (!(v = flag_value(argc, argv, &i, flag)) || !parse_drive(flag, (char *)v, cd, o))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--boot")) {
            if (!(v = flag_value(argc, argv, &i, "--boot")) || !parse_boot(v, o))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--serial")) {
            if (!(o->serial = flag_value(argc, argv, &i, "--serial")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--debugcon")) {
            if (!(o->debugcon = flag_value(argc, argv, &i, "--debugcon")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--trace")) {
            if (!(o->trace = flag_value(argc, argv, &i, "--trace")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--gdb")) {
            uint64_t port;
            if (!(v = flag_value(argc, argv, &i, "--gdb")))
                return CAIXA_EXIT_USAGE;
            if (!parse_u64(v, &port) || port < 1 || port > 65535) {
                log_error("--gdb %s: expected a TCP port from 1 to 65535", v);
                return CAIXA_EXIT_USAGE;
            }
            o->gdb_port = (int)port;
        } else if (a[0] == '-') {
            log_error("run: unknown flag '%s' (try 'caixa run --help')", a);
            return CAIXA_EXIT_USAGE;
        } else {
            log_error("run: unexpected argument '%s' (try 'caixa run --help')", a);
            return CAIXA_EXIT_USAGE;
        }
    }
    if ((o->initrd || o->append) && !o->kernel) {
        log_error("%s needs --kernel", o->initrd ? "--initrd" : "--append");
        return CAIXA_EXIT_USAGE;
    }
    return -1;
}

static int load_bios(const char *path, bool is_default, uint8_t **img, size_t *size)
{
    const char *what = is_default ? "BIOS" : "--bios";
    if (read_file(path, BIOS_MAX, img, size) < 0) {
        if (errno == EFBIG)
            log_error("%s %s: larger than 2 MiB", what, path);
        else if (is_default && errno == ENOENT)
            log_error("%s %s: %s (install seabios, or give --bios FILE)", what, path, strerror(errno));
        else
            log_error("%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (*size < BIOS_UNIT || *size % BIOS_UNIT) {
        log_error("%s %s: %zu bytes; a BIOS image is 64 KiB to 2 MiB in whole 64 KiB units", what, path, *size);
        free(*img);
        return -1;
    }
    return 0;
}

/* "--debugcon FILE" takes a bare path as well as a host-end spec. */
static char *debugcon_spec(const char *arg)
{
    if (!strcmp(arg, "stdio") || !strcmp(arg, "none") || !strncmp(arg, "file:", 5))
        return xstrdup(arg);
    char *s = xmalloc(strlen(arg) + 6);
    memcpy(s, "file:", 5);
    strcpy(s + 5, arg);
    return s;
}

/* The loader's inputs; the VM's boot hook reads them at every reset. */
struct kernel_boot {
    struct linux_boot lb;
    uint8_t *kernel, *initrd;
    char *cmdline;
};

static void kernel_boot_free(struct kernel_boot *k)
{
    free(k->kernel);
    free(k->initrd);
    free(k->cmdline);
}

static int read_input(const char *flag, const char *path, size_t max, uint8_t **buf, size_t *len)
{
    if (read_file(path, max, buf, len) == 0)
        return 0;
    if (errno == EFBIG)
        log_error("%s %s: larger than %zu MiB", flag, path, max >> 20);
    else
        log_error("%s %s: %s", flag, path, strerror(errno));
    return -1;
}

/* The directory of the running binary + "/" + name, or NULL. */
static char *beside_binary(const char *name)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    char *p = xmalloc(strlen(exe) + strlen(name) + 2);
    sprintf(p, "%s/%s", exe, name);
    return p;
}

/* The default guest's files; its command line is in the "cmdline" file. */
static int default_guest(struct run_opts *o, char **owned)
{
    static const char *const names[3] = {DEFAULT_GUEST_DIR "/vmlinuz", DEFAULT_GUEST_DIR "/initramfs.cpio.gz",
                                         DEFAULT_GUEST_DIR "/cmdline"};
    char *paths[3];
    for (int i = 0; i < 3; i++) {
        if (!(paths[i] = owned[i] = beside_binary(names[i]))) {
            log_error("cannot locate the default guest (no /proc/self/exe)");
            return -1;
        }
    }
    if (access(paths[0], R_OK) != 0) {
        log_error("no default guest: %s is missing (build it with 'make guest', or give --kernel or --bios)",
                  paths[0]);
        return -1;
    }
    uint8_t *cmd;
    size_t n;
    if (read_input("default guest", paths[2], 4096, &cmd, &n) < 0)
        return -1;
    char *line = xmalloc(n + 1);
    memcpy(line, cmd, n);
    line[n] = '\0';
    free(cmd);
    line[strcspn(line, "\n")] = '\0';
    owned[3] = line;
    o->kernel = paths[0];
    o->initrd = paths[1];
    if (!o->append)
        o->append = line;
    return 0;
}

static int load_kernel(const struct run_opts *o, uint64_t ram, struct kernel_boot *k)
{
    memset(k, 0, sizeof *k);
    size_t klen, ilen = 0;
    if (read_input("--kernel", o->kernel, KERNEL_MAX, &k->kernel, &klen) < 0)
        return -1;
    if (o->initrd && read_input("--initrd", o->initrd, INITRD_MAX, &k->initrd, &ilen) < 0)
        return -1;
    k->cmdline = xstrdup(o->append ? o->append : "");
    k->lb = (struct linux_boot){
        .kernel = k->kernel, .kernel_size = klen,
        .initrd = k->initrd, .initrd_size = ilen,
        .cmdline = k->cmdline,
    };
    char why[200];
    if (linux_boot_check(&k->lb, physmem_below_4g_for(ram), why, sizeof why) < 0) {
        log_error("--kernel %s: %s", o->kernel, why);
        return -1;
    }
    return 0;
}

/* Ctrl-A X on the serial console (drivers/chardev.h): power off, status 0. */
static void quit_key(void *opaque)
{
    vm_request_poweroff(opaque, CAIXA_EXIT_OK);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {.memory_mb = DEFAULT_MEMORY_MB, .cpus = 1, .serial = "stdio"};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
#ifndef HAVE_GDBSTUB
    if (o.gdb_port) {
        log_error("--gdb: not built yet");
        return CAIXA_EXIT_USAGE;
    }
#endif
    char *guest_paths[4] = {NULL, NULL, NULL, NULL};
    struct kernel_boot kb = {0};
    if (!o.kernel && !o.bios && o.ndrives == 0 && default_guest(&o, guest_paths) < 0)
        rc = CAIXA_EXIT_USAGE;
    if (rc < 0 && o.kernel && load_kernel(&o, o.memory_mb << 20, &kb) < 0)
        rc = CAIXA_EXIT_USAGE;
    for (int i = 0; i < 4; i++)
        free(guest_paths[i]);
    uint8_t *bios = NULL;
    size_t bios_size = 0;
    if (rc < 0 && kb.kernel && !o.bios) {
        /* Direct boot runs no BIOS: a ROM with only a reset vector. */
        bios_size = LINUX_BOOT_ROM_SIZE;
        bios = xmalloc(bios_size);
        linux_boot_rom(bios);
    } else if (rc < 0 && load_bios(o.bios ? o.bios : DEFAULT_BIOS, !o.bios, &bios, &bios_size) < 0) {
        rc = CAIXA_EXIT_USAGE;
    }
    if (rc >= 0) {
        kernel_boot_free(&kb);
        return rc;
    }
    FILE *trace = NULL;
    if (o.trace) {
        trace = fopen(o.trace, "w");
        if (!trace) {
            log_error("--trace %s: %s", o.trace, strerror(errno));
            free(bios);
            kernel_boot_free(&kb);
            return CAIXA_EXIT_USAGE;
        }
    }
    char *debugcon = o.debugcon ? debugcon_spec(o.debugcon) : NULL;
    struct vm_params p = {
        .ram_size = o.memory_mb << 20,
        .bios = bios,
        .bios_size = bios_size,
        .serial = o.serial,
        .debugcon = debugcon,
        .debug_exit = o.debug_exit,
        .no_reboot = o.no_reboot,
        .ncpus = (int)o.cpus,
        .trace = trace,
        .boot_fn = kb.kernel ? linux_boot_on_reset : NULL,
        .boot_opaque = kb.kernel ? &kb.lb : NULL,
        .ndrives = o.ndrives,
    };
    memcpy(p.drives, o.drives, sizeof p.drives);
    memcpy(p.boot, o.boot, sizeof p.boot);
    struct vm *vm = vm_create(&p);
    free(bios); /* physmem keeps its own copy */
    free(debugcon);
    if (!vm) {
        if (trace)
            fclose(trace);
        kernel_boot_free(&kb);
        return CAIXA_EXIT_USAGE;
    }
#ifdef HAVE_GDBSTUB
    if (o.gdb_port && gdbstub_start(vm, o.gdb_port) < 0) {
        vm_destroy(vm);
        if (trace)
            fclose(trace);
        kernel_boot_free(&kb);
        return CAIXA_EXIT_USAGE;
    }
#endif
    chardev_set_escape(vm_chardev(vm, "serial0"), quit_key, vm);
    rc = vm_run(vm);
#ifdef HAVE_GDBSTUB
    gdbstub_stop(rc);
#endif
    vm_destroy(vm);
    if (trace)
        fclose(trace);
    kernel_boot_free(&kb);
    return rc;
}
