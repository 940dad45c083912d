/* Fuzz target for the CPU decoder and instruction handlers: arbitrary bytes
 * run as guest code in a fresh vCPU, in the mode the first byte picks (real,
 * 16/32-bit protected with or without paging, 64-bit, compatibility,
 * virtual-8086; CPL 0 or 3; IOPL, IF, TF), for a bounded budget. Every
 * exception vector and INT n leads to a HLT, so faults end the run. Nothing
 * the bytes do may crash, hang or trip ASan/UBSan.
 *
 * Built two ways: as a libFuzzer target (LLVMFuzzerTestOneInput), and with
 * FUZZ_STANDALONE as a plain program that runs corpus files or N random
 * inputs:  fuzz_decode [-n N] [-seed S] [FILE|DIR]... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_int.h"

#define RAM_SIZE (2u << 20)
#define BUDGET 10000u
#define CODE_BASE 0x10000u
#define CODE_MAX 0x10000u      /* input bytes beyond this are ignored */

/* Guest layout */
#define IVT 0x0000u            /* real mode: vector v -> 0000:STUBS+v */
#define STUBS 0x0500u          /* 256 x HLT */
#define IDT32 0x1000u          /* 256 8-byte gates */
#define IDT64 0x2000u          /* 256 16-byte gates */
#define GDT 0x3000u
#define PML4 0x4000u
#define PDPT 0x5000u
#define PD64 0x6000u
#define PD32 0x7000u           /* 4 MiB PSE pages */
#define TSS32 0x8000u
#define TSS64 0x8100u
#define STACK0 0x9ff0u         /* ring-0 stack (TSS) */
#define STACK 0xeff0u
#define N_VEC 256

/* GDT selectors */
#define SEL_CODE16 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18
#define SEL_CODE64 0x20
#define SEL_CODE32_U 0x2b
#define SEL_DATA_U 0x33
#define SEL_CODE64_U 0x3b
#define SEL_CODE16_U 0x43
#define SEL_TSS32 0x48
#define SEL_TSS64 0x50     /* 16-byte system descriptor */
#define GDT_LIMIT 0x5f

/* Descriptor access bytes and flags (SDM Vol. 3A 3.4.5, 3.5, 7.2.2) */
#define ACC_CODE 0x9b      /* P, S, execute/read, accessed */
#define ACC_DATA 0x93      /* P, S, read/write, accessed */
#define ACC_DPL3 0x60
#define ACC_TSS_BUSY 0x8b  /* P, 32-bit (or 64-bit) TSS, busy */
#define FLG_G 0x8
#define FLG_DB 0x4
#define FLG_L 0x2
#define GATE_INT 0xee      /* P, DPL 3, 32-bit/64-bit interrupt gate */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull
#define TSS_IOMAP_NONE 0x68  /* I/O map base past the limit: no bitmap */

enum fz_mode { FZ_REAL, FZ_PM16, FZ_PM32, FZ_PM32_PG, FZ_LM64, FZ_COMPAT, FZ_V86, FZ_NMODES };

static uint32_t bus_in(void *o, uint16_t port, unsigned size)
{
    (void)o;
    return (uint32_t)(port * 0x01010101u) & (uint32_t)size_mask(size);
}
static void bus_out(void *o, uint16_t port, unsigned size, uint32_t v)
{
    (void)o; (void)port; (void)size; (void)v;
}
static int bus_ack(void *o)
{
    (void)o;
    return -1;
}
static uint64_t bus_clock(void *o)
{
    (void)o;
    return 0;
}

static void put64(physmem *pm, uint64_t gpa, uint64_t v)
{
    memcpy(pm->ram + gpa, &v, 8);
}

static uint64_t desc(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
    return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)access << 40) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)flags << 52) | ((uint64_t)(base >> 24) << 56);
}

static void build_tables(physmem *pm)
{
    uint8_t *ram = pm->ram;
    memset(ram + STUBS, 0xf4, N_VEC);   /* HLT */
    for (unsigned v = 0; v < N_VEC; v++) {
        uint32_t stub = STUBS + v;
        /* real-mode IVT: offset, segment 0 */
        uint16_t ivt[2] = { (uint16_t)stub, 0 };
        memcpy(ram + IVT + 4 * v, ivt, 4);
        /* 32-bit interrupt gate (SDM Vol. 3A figure 6-2) */
        uint64_t g = (stub & 0xffff) | ((uint64_t)SEL_CODE32 << 16) | ((uint64_t)GATE_INT << 40) |
                     ((uint64_t)(stub >> 16) << 48);
        put64(pm, IDT32 + 8 * v, g);
        /* 64-bit interrupt gate (figure 6-8) */
        g = (stub & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | ((uint64_t)GATE_INT << 40) |
            ((uint64_t)(stub >> 16) << 48);
        put64(pm, IDT64 + 16 * v, g);
        put64(pm, IDT64 + 16 * v + 8, 0);
    }
    put64(pm, GDT + 0x00, 0);
    put64(pm, GDT + SEL_CODE16, desc(CODE_BASE, 0xffff, ACC_CODE, 0));
    put64(pm, GDT + SEL_DATA, desc(0, 0xfffff, ACC_DATA, FLG_G | FLG_DB));
    put64(pm, GDT + SEL_CODE32, desc(0, 0xfffff, ACC_CODE, FLG_G | FLG_DB));
    put64(pm, GDT + SEL_CODE64, desc(0, 0xfffff, ACC_CODE, FLG_G | FLG_L));
    put64(pm, GDT + (SEL_CODE32_U & ~3), desc(0, 0xfffff, ACC_CODE | ACC_DPL3, FLG_G | FLG_DB));
    put64(pm, GDT + (SEL_DATA_U & ~3), desc(0, 0xfffff, ACC_DATA | ACC_DPL3, FLG_G | FLG_DB));
    put64(pm, GDT + (SEL_CODE64_U & ~3), desc(0, 0xfffff, ACC_CODE | ACC_DPL3, FLG_G | FLG_L));
    put64(pm, GDT + (SEL_CODE16_U & ~3), desc(CODE_BASE, 0xffff, ACC_CODE | ACC_DPL3, 0));
    put64(pm, GDT + SEL_TSS32, desc(TSS32, 0x67, ACC_TSS_BUSY, 0));
    put64(pm, GDT + SEL_TSS64, desc(TSS64, 0x67, ACC_TSS_BUSY, 0));
    put64(pm, GDT + SEL_TSS64 + 8, 0);

    /* TSSs: ring-0 stack, no I/O bitmap (SDM Vol. 3A figures 7-2, 7-11) */
    uint32_t esp0 = STACK0, ss0 = SEL_DATA;
    uint16_t iomap = TSS_IOMAP_NONE;
    memcpy(ram + TSS32 + 4, &esp0, 4);
    memcpy(ram + TSS32 + 8, &ss0, 4);
    memcpy(ram + TSS32 + 0x66, &iomap, 2);
    uint64_t rsp0 = STACK0;
    memcpy(ram + TSS64 + 4, &rsp0, 8);
    memcpy(ram + TSS64 + 0x66, &iomap, 2);

    /* long-mode identity map of 1 GiB (2 MiB pages); 32-bit PSE map of 4 GiB */
    put64(pm, PML4, PDPT | PTE_P | PTE_RW | PTE_US);
    put64(pm, PDPT, PD64 | PTE_P | PTE_RW | PTE_US);
    for (uint64_t i = 0; i < 512; i++)
        put64(pm, PD64 + 8 * i, (i << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS);
    for (uint32_t i = 0; i < 1024; i++) {
        uint32_t pde = (i << 22) | (uint32_t)(PTE_P | PTE_RW | PTE_US | PTE_PS);
        memcpy(ram + PD32 + 4 * i, &pde, 4);
    }
}

static void load_seg(struct cpu *cpu, int seg, uint16_t sel)
{
    uint64_t d;
    memcpy(&d, cpu->mem->ram + GDT + (sel & ~7u), 8);
    desc_to_cache(d, sel, &cpu->s.seg[seg]);
}

static void real_seg(struct cpu *cpu, int seg, uint16_t sel, bool code)
{
    struct seg_cache *s = &cpu->s.seg[seg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    s->limit = 0xffff;
    s->attr = SEGA_P | SEGA_S | (code ? 0xb : 0x3);
}

/* Puts the vCPU in the mode the selector byte asks for. */
static void setup_mode(struct cpu *cpu, uint8_t sel)
{
    struct cpu_state *s = &cpu->s;
    enum fz_mode mode = (enum fz_mode)(sel % FZ_NMODES);
    bool user = (sel / FZ_NMODES) & 1;
    uint64_t fl = FL_1 | ((uint64_t)((sel >> 4) & 3) << FL_IOPL_SHIFT);
    if (sel & 0x40)
        fl |= FL_IF;
    if ((sel & 0x80) && (sel & 0x20))
        fl |= FL_TF;

    s->gdtr.base = GDT;
    s->gdtr.limit = GDT_LIMIT;
    s->regs[R_SP] = STACK;
    s->cr0 = CR0_ET | CR0_NE | CR0_MP;
    s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
    if (mode == FZ_REAL) {
        s->idtr.base = IVT;
        s->idtr.limit = 4 * N_VEC - 1;
        real_seg(cpu, S_CS, CODE_BASE >> 4, true);
        for (int i = S_ES; i <= S_GS; i++)
            if (i != S_CS)
                real_seg(cpu, i, 0, false);
        s->rip = 0;
        s->cpl = 0;
    } else if (mode == FZ_V86) {
        s->cr0 |= CR0_PE;
        s->idtr.base = IDT32;
        s->idtr.limit = 8 * N_VEC - 1;
        load_seg(cpu, S_TR, SEL_TSS32);
        real_seg(cpu, S_CS, CODE_BASE >> 4, true);
        for (int i = S_ES; i <= S_GS; i++)
            if (i != S_CS)
                real_seg(cpu, i, 0, false);
        for (int i = S_ES; i <= S_GS; i++)
            s->seg[i].attr |= 3 << SEGA_DPL_SHIFT;
        fl |= FL_VM;
        s->rip = 0;
        s->cpl = 3;
    } else {
        bool lm = mode == FZ_LM64 || mode == FZ_COMPAT;
        s->cr0 |= CR0_PE;
        if (lm) {
            s->cr0 |= CR0_PG;
            s->cr4 |= CR4_PAE;
            s->cr3 = PML4;
            s->efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
            s->idtr.base = IDT64;
            s->idtr.limit = 16 * N_VEC - 1;
            load_seg(cpu, S_TR, SEL_TSS64);
        } else {
            if (mode == FZ_PM32_PG) {
                s->cr0 |= CR0_PG;
                s->cr4 |= CR4_PSE;
                s->cr3 = PD32;
            }
            s->idtr.base = IDT32;
            s->idtr.limit = 8 * N_VEC - 1;
            load_seg(cpu, S_TR, SEL_TSS32);
        }
        uint16_t cs;
        switch (mode) {
        case FZ_PM16: cs = user ? SEL_CODE16_U : SEL_CODE16; break;
        case FZ_LM64: cs = user ? SEL_CODE64_U : SEL_CODE64; break;
        default: cs = user ? SEL_CODE32_U : SEL_CODE32; break;
        }
        uint16_t ds = user ? SEL_DATA_U : SEL_DATA;
        load_seg(cpu, S_CS, cs);
        for (int i = S_ES; i <= S_GS; i++)
            if (i != S_CS)
                load_seg(cpu, i, ds);
        s->cpl = user ? 3 : 0;
        s->rip = mode == FZ_PM16 ? 0 : CODE_BASE;
    }
    cpu_set_rflags(cpu, fl);
    cpu_update_mode(cpu);
    cpu_flush_all(cpu);
}

/* One guest for the whole process, brought back to a clean state for each
 * input: RAM cleared, tables rebuilt, the vCPU reset (which drops its TLB
 * and decoded blocks). Creating them per input costs far more than the run. */
static physmem fz_pm;
static struct cpu fz_cpu;
static bool fz_ready;
static bool fz_verbose;   /* standalone -v: print how each run ended */

static void run_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    if (!fz_ready) {
        struct cpu_bus bus = { .io_in = bus_in, .io_out = bus_out, .intr_ack = bus_ack, .clock_ns = bus_clock };
        if (physmem_init(&fz_pm, RAM_SIZE) < 0 || cpu_init(&fz_cpu, 0, &fz_pm, &bus) < 0)
            abort();
        fz_ready = true;
    }
    memset(fz_pm.ram, 0, RAM_SIZE);
    build_tables(&fz_pm);
    size_t n = size - 1 < CODE_MAX ? size - 1 : CODE_MAX;
    memcpy(fz_pm.ram + CODE_BASE, data + 1, n);
    /* HLT after the input, so straight-line code ends there */
    memset(fz_pm.ram + CODE_BASE + n, 0xf4, CODE_MAX - n);
    cpu_reset(&fz_cpu);
    setup_mode(&fz_cpu, data[0]);
    enum cpu_exit why = cpu_run(&fz_cpu, BUDGET);
    if (fz_verbose)
        printf("mode %u: exit %d after %llu insns at %04x:%#llx (cpu mode %#x, cpl %u)\n", data[0] % FZ_NMODES,
               (int)why, (unsigned long long)fz_cpu.insn_count, fz_cpu.s.seg[S_CS].sel,
               (unsigned long long)fz_cpu.s.rip, fz_cpu.mode, fz_cpu.s.cpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_one(data, size);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/* Watchdog: an input that runs longer than this is a hang (cpu_run must
 * return within its budget); report it in hex and fail at once. */
#define HANG_SECONDS 10
static const uint8_t *cur_input;
static size_t cur_size;

static void on_alarm(int sig)
{
    static const char hex[] = "0123456789abcdef";
    static char line[2 * (CODE_MAX + 1) + 64];
    size_t k = 0;
    (void)sig;
    const char *msg = "fuzz_decode: HANG (cpu_run did not return) on input ";
    while (*msg)
        line[k++] = *msg++;
    for (size_t i = 0; i < cur_size && k + 3 < sizeof(line); i++) {
        line[k++] = hex[cur_input[i] >> 4];
        line[k++] = hex[cur_input[i] & 15];
    }
    line[k++] = '\n';
    if (write(2, line, k) < 0)
        _exit(1);
    _exit(1);
}

static void run_guarded(const uint8_t *data, size_t size)
{
    cur_input = data;
    cur_size = size;
    alarm(HANG_SECONDS);
    run_one(data, size);
    alarm(0);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_decode: cannot open %s\n", path);
        return -1;
    }
    static uint8_t buf[CODE_MAX + 1];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    run_guarded(buf, n);
    return 0;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "fuzz_decode: cannot open %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0, count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        rc |= run_file(p);
        count++;
    }
    closedir(d);
    printf("fuzz_decode: %d inputs from %s\n", count, path);
    return rc;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random inputs biased toward instruction-like bytes: prefixes, 0F maps,
 * ModRM forms, immediates. */
static size_t random_input(uint8_t *buf, size_t max)
{
    static const uint8_t pick[] = { 0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x0f, 0x0f, 0x38, 0x3a, 0x48, 0x4c, 0x41,
                                    0x2e, 0x26, 0x64, 0x65, 0xcd, 0xcc, 0xcf, 0xc3, 0xe8, 0xe9, 0xeb, 0xff,
                                    0x8e, 0x9a, 0xea, 0xca, 0xcb, 0x9c, 0x9d, 0xfa, 0xfb, 0xf4, 0xd8, 0xdd };
    size_t n = 1 + rnd() % max;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        buf[i] = (r & 3) == 0 ? pick[(r >> 8) % sizeof(pick)] : (uint8_t)(r >> 16);
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned long runs = 0;
    uint64_t seed = 1;
    int rc = 0, paths = 0;
    signal(SIGALRM, on_alarm);
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "-runs")) && i + 1 < argc)
            runs = strtoul(argv[++i], NULL, 0);
        else if (!strncmp(argv[i], "-runs=", 6))
            runs = strtoul(argv[i] + 6, NULL, 0);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strncmp(argv[i], "-seed=", 6))
            seed = strtoull(argv[i] + 6, NULL, 0);
        else if (!strcmp(argv[i], "-v"))
            fz_verbose = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: fuzz_decode [-v] [-n N] [-seed S] [FILE|DIR]...\n");
            return 2;
        } else {
            rc |= run_path(argv[i]);
            paths++;
        }
    }
    if (!paths && !runs)
        runs = 1000;
    rng_state = seed ? seed : 1;
    static uint8_t buf[512];
    for (unsigned long k = 0; k < runs; k++) {
        size_t n = random_input(buf, sizeof(buf));
        run_guarded(buf, n);
    }
    if (runs)
        printf("fuzz_decode: %lu random inputs (seed %llu) ran without a crash\n", runs, (unsigned long long)seed);
    if (fz_ready) {
        cpu_destroy(&fz_cpu);
        physmem_destroy(&fz_pm);
    }
    return rc ? 1 : 0;
}
#endif
