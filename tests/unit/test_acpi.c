/* ACPI tables: structure, checksums and contents checked here against the
 * ACPI 6.4 layouts, then handed to ACPICA's disassembler (iasl -d, Debian's
 * acpica-tools) as the oracle: every table must disassemble without errors
 * and the DSDT's ASL must compile back (iasl) to the same AML. */
#include "device_test_harness.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "runtime/util.h"

#define BUF_SIZE (64u << 10)
#define GPA 0x7FFE0000ull

struct tables {
    uint8_t buf[BUF_SIZE];
    size_t len;
    uint64_t gpa, rsdp;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* Host pointer to the table at guest address a, checked to lie in buf. */
static const uint8_t *at(const struct tables *t, uint64_t a, size_t len)
{
    assert_true(a >= t->gpa && a - t->gpa + len <= t->len);
    return t->buf + (a - t->gpa);
}

static const uint8_t *table(const struct tables *t, uint64_t a)
{
    const uint8_t *h = at(t, a, 36);
    uint32_t len = le32(h + 4);
    at(t, a, len);
    assert_int_equal(sum(h, len), 0);
    return h;
}

static void build(struct tables *t, int ncpus, uint64_t below, uint64_t above, uint64_t gpa)
{
    struct acpi_machine m;
    acpi_machine_init(&m, ncpus, below, above);
    t->gpa = gpa;
    t->len = acpi_build(&m, gpa, t->buf, sizeof t->buf, &t->rsdp);
    assert_true(t->len > 0);
}

/* The table with signature sig among the XSDT's, checking the RSDT lists
 * the same ones. */
static const uint8_t *find(const struct tables *t, const char *sig)
{
    const uint8_t *rsdp = at(t, t->rsdp, 36);
    const uint8_t *xsdt = table(t, le64(rsdp + 24));
    const uint8_t *rsdt = table(t, le32(rsdp + 16));
    unsigned n = (le32(xsdt + 4) - 36) / 8;
    assert_int_equal((le32(rsdt + 4) - 36) / 4, n);
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = le64(xsdt + 36 + 8 * i);
        assert_int_equal(le32(rsdt + 36 + 4 * i), a);
        const uint8_t *h = table(t, a);
        if (memcmp(h, sig, 4) == 0)
            return h;
    }
    fail_msg("no %s table", sig);
    return NULL;
}

static void test_rsdp_and_roots(void **st)
{
    (void)st;
    static struct tables t;
    static const uint64_t gpas[] = { GPA, 0x9F004, 0xFFFF0000ull - BUF_SIZE };
    for (size_t g = 0; g < ARRAY_SIZE(gpas); g++) {
        for (int n = 1; n <= 4; n++) {
            build(&t, n, 0x20000000, 0, gpas[g]);
            assert_int_equal(t.rsdp % 16, 0);
            const uint8_t *r = at(&t, t.rsdp, 36);
            assert_memory_equal(r, "RSD PTR ", 8);
            assert_int_equal(sum(r, 20), 0);
            assert_int_equal(sum(r, 36), 0);
            assert_int_equal(r[15], 2);
            assert_int_equal(le32(r + 20), 36);
            const char *sigs[] = { "FACP", "APIC", "HPET" };
            for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
                assert_non_null(find(&t, sigs[i]));
        }
    }
}

static void test_fadt(void **st)
{
    (void)st;
    static struct tables t;
    build(&t, 2, 0x20000000, 0, GPA);
    const uint8_t *f = find(&t, "FACP");
    assert_int_equal(le32(f + 4), 276);
    assert_int_equal(f[8], 6);
    assert_int_equal(le16(f + 46), 9);                 /* SCI_INT */
    assert_int_equal(le32(f + 48), 0);                 /* SMI_CMD: ACPI mode only */
    assert_int_equal(le32(f + 56), 0x600);             /* PM1a_EVT_BLK */
    assert_int_equal(le32(f + 64), 0x604);             /* PM1a_CNT_BLK */
    assert_int_equal(le32(f + 76), 0x608);             /* PM_TMR_BLK */
    assert_int_equal(le32(f + 80), 0x60C);             /* GPE0_BLK */
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    assert_int_equal(f[91], 4);
    assert_int_equal(f[92], 4);
    assert_int_equal(le16(f + 109), 0x3);              /* legacy devices, 8042 */
    uint32_t flags = le32(f + 112);
    assert_int_equal(flags & (1u << 4), 0);            /* fixed power button */
    assert_int_equal(flags & (1u << 8), 0);            /* 24-bit PM timer (PIIX4) */
    assert_int_equal(flags & (1u << 10), 1u << 10);    /* RESET_REG_SUP */
    assert_int_equal(flags & (1u << 20), 0);           /* not hardware-reduced */
    assert_int_equal(f[116], 1);                       /* reset reg: system I/O */
    assert_int_equal(f[117], 8);
    assert_int_equal(le64(f + 120), 0xCF9);
    assert_int_equal(f[128], 0x06);
    /* 32- and 64-bit DSDT pointers agree; FACS and DSDT are sound. */
    assert_int_equal(le64(f + 132), 0);                /* FACS: 32-bit pointer only */
    assert_int_equal(le64(f + 140), le32(f + 40));
    assert_int_equal(le32(f + 36) % 64, 0);
    const uint8_t *facs = at(&t, le32(f + 36), 64);
    assert_memory_equal(facs, "FACS", 4);
    assert_int_equal(le32(facs + 4), 64);
    const uint8_t *dsdt = table(&t, le32(f + 40));
    assert_memory_equal(dsdt, "DSDT", 4);
    assert_int_equal(dsdt[8], 2);                      /* 64-bit integers */
    /* Extended blocks equal the legacy ones. */
    static const unsigned x[][3] = { {148, 56, 4}, {172, 64, 2}, {208, 76, 4}, {220, 80, 4} };
    for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
        const uint8_t *g = f + x[i][0];
        assert_int_equal(g[0], 1);
        assert_int_equal(g[1], x[i][2] * 8);
        assert_int_equal(le64(g + 4), le32(f + x[i][1]));
    }
}

static void test_madt(void **st)
{
    (void)st;
    static struct tables t;
    for (int n = 1; n <= 4; n++) {
        build(&t, n, 0x20000000, 0, GPA);
        const uint8_t *m = find(&t, "APIC");
        assert_int_equal(le32(m + 36), 0xFEE00000u);
        assert_int_equal(le32(m + 40) & 1, 1);         /* PCAT_COMPAT */
        uint32_t len = le32(m + 4);
        int lapics = 0, ioapics = 0, nmis = 0;
        bool irq0 = false, sci = false;
        for (uint32_t o = 44; o < len; o += m[o + 1]) {
            const uint8_t *e = m + o;
            assert_true(e[1] >= 2 && o + e[1] <= len);
            switch (e[0]) {
            case 0:
                assert_int_equal(e[2], lapics);         /* UID */
                assert_int_equal(e[3], lapics);         /* APIC ID */
                assert_int_equal(le32(e + 4), 1);       /* enabled */
                lapics++;
                break;
            case 1:
                assert_int_equal(e[2], n);              /* I/O APIC ID after the CPUs' */
                assert_int_equal(le32(e + 4), 0xFEC00000u);
                assert_int_equal(le32(e + 8), 0);
                ioapics++;
                break;
            case 2:
                assert_int_equal(e[2], 0);
                if (e[3] == 0) {
                    assert_int_equal(le32(e + 4), 2);
                    assert_int_equal(le16(e + 8), 0x5);  /* edge, active high */
                    irq0 = true;
                } else if (e[3] == 9) {
                    assert_int_equal(le32(e + 4), 9);
                    assert_int_equal(le16(e + 8), 0xD);  /* level, active high */
                    sci = true;
                } else {
                    fail_msg("unexpected override for IRQ %u", e[3]);
                }
                break;
            case 4:
                assert_int_equal(e[2], 0xFF);
                assert_int_equal(e[5], 1);              /* LINT1 */
                nmis++;
                break;
            default:
                fail_msg("unexpected MADT entry type %u", e[0]);
            }
        }
        assert_int_equal(lapics, n);
        assert_int_equal(ioapics, 1);
        assert_int_equal(nmis, 1);
        assert_true(irq0 && sci);
    }
}

static void test_hpet_table_matches_device(void **st)
{
    (void)st;
    static struct tables t;
    build(&t, 1, 0x20000000, 0, GPA);
    const uint8_t *h = find(&t, "HPET");
    assert_int_equal(le32(h + 4), 56);
    assert_int_equal(h[40], 0);                        /* system memory */
    assert_int_equal(le64(h + 44), 0xFED00000u);
    /* The block ID is the HPET's own capabilities register, and the PM
     * blocks sit where the PIIX4 function decodes them. */
    struct vm *vm = dt_vm_new();
    vm_lock(vm);
    uint32_t cap = (uint32_t)physmem_read(&vm->mem, le64(h + 44), 4);
    vm_unlock(vm);
    assert_int_equal(le32(h + 36), cap);
    const uint8_t *f = find(&t, "FACP");
    assert_int_equal(dt_pci_read32(vm, 1, 3, 0x40) & ~1u, le32(f + 56));
    vm_destroy(vm);
}

static void test_too_small(void **st)
{
    (void)st;
    static struct tables t;
    static uint8_t small[BUF_SIZE];
    build(&t, 4, 0x20000000, 0, GPA);
    struct acpi_machine m;
    acpi_machine_init(&m, 4, 0x20000000, 0);
    uint64_t r = 0;
    for (size_t cap = 0; cap < t.len; cap += 7)
        assert_int_equal(acpi_build(&m, GPA, small, cap, &r), 0);
    assert_int_equal(acpi_build(&m, GPA, small, t.len, &r), t.len);
    assert_memory_equal(small, t.buf, t.len);          /* deterministic */
    /* No room below 4 GiB for the RSDT's pointers; bad CPU counts. */
    assert_int_equal(acpi_build(&m, 0xFFFFFF00ull, small, sizeof small, &r), 0);
    m.ncpus = 0;
    assert_int_equal(acpi_build(&m, GPA, small, sizeof small, &r), 0);

    /* A 64-bit window past the physical address width is left out: one
     * QWord descriptor (46 bytes) less. */
    acpi_machine_init(&m, 1, 0x20000000, 0);
    uint8_t *body;
    size_t full = acpi_dsdt_body(&m, &body);
    free(body);
    m.phys_addr_limit = 1ull << 34;
    size_t cut = acpi_dsdt_body(&m, &body);
    free(body);
    assert_int_equal(full - cut, 46);
}

/* --- the AML encoder ----------------------------------------------------- */

static void test_aml_encoding(void **st)
{
    (void)st;
    struct aml a;
    aml_init(&a);
    aml_eisaid(&a, "PNP0A03");
    static const uint8_t eisa[] = { 0x0C, 0x41, 0xD0, 0x0A, 0x03 };
    assert_int_equal(a.len, sizeof eisa);
    assert_memory_equal(a.buf, eisa, sizeof eisa);
    aml_free(&a);

    aml_init(&a);
    aml_name(&a, "\\_SB.PCI0.ISA.COM1");
    static const uint8_t path[] = { 0x08, '\\', 0x2F, 4, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
                                    'I', 'S', 'A', '_', 'C', 'O', 'M', '1' };
    assert_memory_equal(a.buf, path, sizeof path);
    aml_free(&a);

    /* PkgLength: one byte up to 63, then two (12 bits), three (20 bits). */
    static const size_t sizes[] = { 10, 61, 62, 100, 4000, 4094, 5000, 70000 };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        aml_init(&a);
        aml_scope(&a, "X");
        for (size_t k = 4; k < sizes[i]; k++)     /* NameSeg "X___" is 4 bytes */
            aml_int(&a, 0);
        aml_end(&a);
        assert_true(aml_ok(&a));
        size_t body = sizes[i], n = body + 1 <= 63 ? 1 : body + 2 < 4096 ? 2 : 3;
        assert_int_equal(a.len, 1 + n + body);
        const uint8_t *p = a.buf + 1;
        size_t got = n == 1 ? p[0] : (size_t)(p[0] & 0x0F) | (size_t)p[1] << 4 |
                                         (n == 3 ? (size_t)p[2] << 12 : 0);
        assert_int_equal(p[0] >> 6, n - 1);
        assert_int_equal(got, n + body);
        aml_free(&a);
    }

    /* Integers take the shortest encoding. */
    aml_init(&a);
    aml_int(&a, 0);
    aml_int(&a, 1);
    aml_int(&a, 0xFF);
    aml_int(&a, 0x100);
    aml_int(&a, 0x10000);
    aml_int(&a, 0x100000000ull);
    static const uint8_t ints[] = { 0x00, 0x01, 0x0A, 0xFF, 0x0B, 0x00, 0x01, 0x0C, 0, 0, 1, 0,
                                    0x0E, 0, 0, 0, 0, 1, 0, 0, 0 };
    assert_int_equal(a.len, sizeof ints);
    assert_memory_equal(a.buf, ints, sizeof ints);
    aml_free(&a);

    /* Errors: bad names, unbalanced nesting. */
    aml_init(&a);
    aml_device(&a, "TOOLONG");
    aml_end(&a);
    assert_false(aml_ok(&a));
    aml_free(&a);
    aml_init(&a);
    aml_device(&a, "1ABC");
    aml_end(&a);
    assert_false(aml_ok(&a));
    aml_free(&a);
    aml_init(&a);
    aml_scope(&a, "\\_SB");
    assert_false(aml_ok(&a));
    aml_end(&a);
    assert_true(aml_ok(&a));
    aml_end(&a);
    assert_false(aml_ok(&a));
    aml_free(&a);
}

/* --- the oracle: ACPICA ---------------------------------------------------- */

static bool have_iasl(void)
{
    return system("iasl -v >/dev/null 2>&1") == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *read_all(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    assert_int_equal(read_file(path, 16u << 20, &buf, len), 0);
    char *s = realloc(buf, *len + 1);
    assert_non_null(s);
    s[*len] = 0;
    return s;
}

/* Runs cmd in dir with its output in dir/log; returns the exit status. */
static int run(const char *dir, const char *cmd, const char *log)
{
    char line[1024];
    snprintf(line, sizeof line, "cd '%s' && %s >'%s' 2>&1", dir, cmd, log);
    return system(line);
}

static char *read_log(const char *dir, const char *log)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, log);
    return read_all(path, &len);
}

static unsigned count(const char *s, const char *what)
{
    unsigned n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

static void disassemble(const char *dir, const char *name, const uint8_t *tbl, char **dsl)
{
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    write_file(path, tbl, le32(tbl + 4));
    snprintf(cmd, sizeof cmd, "iasl -d %s.dat", name);
    assert_int_equal(run(dir, cmd, "disasm.log"), 0);
    snprintf(path, sizeof path, "%s/%s.dsl", dir, name);
    size_t len;
    *dsl = read_all(path, &len);
    /* iasl marks table fields it cannot parse and bad checksums. */
    assert_null(strstr(*dsl, "**** "));
    assert_null(strstr(*dsl, "Invalid"));
}

static void test_iasl_oracle(void **st)
{
    (void)st;
    if (!have_iasl()) {
        print_message("iasl not installed (Debian acpica-tools): oracle skipped\n");
        skip();
    }
    static struct tables t;
    build(&t, 4, 0x7FFE0000, 0x40000000, GPA);
    char dir[] = "/tmp/caixa-acpi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const sigs[] = { "FACP", "APIC", "HPET" };
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        char *dsl;
        disassemble(dir, sigs[i], find(&t, sigs[i]), &dsl);
        free(dsl);
    }
    const uint8_t *rsdp = at(&t, t.rsdp, 36);
    const uint8_t *tabs[] = { table(&t, le64(rsdp + 24)), table(&t, le32(rsdp + 16)) };
    for (int i = 0; i < 2; i++) {
        char *dsl, name[5] = { 0 };
        memcpy(name, tabs[i], 4);
        disassemble(dir, name, tabs[i], &dsl);
        free(dsl);
    }
    /* The DSDT: disassembles, names what we put in, compiles back to the
     * same AML. */
    const uint8_t *fadt = find(&t, "FACP");
    const uint8_t *dsdt = table(&t, le32(fadt + 40));
    char *dsl;
    disassemble(dir, "DSDT", dsdt, &dsl);
    static const char *const want[] = {
        "Device (PCI0)", "EisaId (\"PNP0A03\")", "_PRT", "WordBusNumber", "0x0CF7", "0xF300",
        "0x000BFFFF", "0x7FFE0000", "0xFEBFFFFF", "0x0000000140000000", "EisaId (\"PNP0501\")",
        "0x03F8", "EisaId (\"PNP0303\")", "EisaId (\"PNP0F13\")", "EisaId (\"PNP0B00\")",
        "EisaId (\"PNP0100\")", "EisaId (\"PNP0000\")", "EisaId (\"PNP0103\")", "0xFED00000",
        "Device (CP03)", "\"ACPI0007\"", "Name (_S5, Package (0x04)",
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        if (!strstr(dsl, want[i]))
            fail_msg("DSDT disassembly lacks '%s'", want[i]);
    free(dsl);
    assert_int_equal(run(dir, "iasl -p recompiled DSDT.dsl", "compile.log"), 0);
    char *log = read_log(dir, "compile.log");
    if (!strstr(log, "0 Errors, 0 Warnings, 0 Remarks"))
        fail_msg("iasl complains about the DSDT:\n%s", log);
    free(log);
    char path[512];
    snprintf(path, sizeof path, "%s/recompiled.aml", dir);
    size_t len;
    char *aml = read_all(path, &len);
    uint32_t dlen = le32(dsdt + 4);
    assert_int_equal(len, dlen);
    assert_memory_equal(aml + 36, dsdt + 36, dlen - 36);
    free(aml);

    /* ACPICA's interpreter loads the namespace and decodes every _CRS and
     * the _PRT through its resource manager, as Linux will. */
    static const char *const devs[] = {
        "PCI0", "PCI0.ISA.PIC", "PCI0.ISA.TMR", "PCI0.ISA.RTC", "PCI0.ISA.KBD",
        "PCI0.ISA.MOU", "PCI0.ISA.COM1", "PCI0.ISA.HPET",
    };
    char cmd[1024] = "acpiexec -b \"evaluate \\_S5";
    for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
        strcat(cmd, "; resources \\_SB.");
        strcat(cmd, devs[i]);
    }
    strcat(cmd, "\" DSDT.dat");
    assert_int_equal(run(dir, cmd, "exec.log"), 0);
    log = read_log(dir, "exec.log");
    if (strstr(log, "Could not locate") || strstr(log, "AcpiGetCurrentResources failed") ||
        strstr(log, "AcpiGetIrqRoutingTable failed") ||
        count(log, "Evaluating _CRS") != ARRAY_SIZE(devs) ||
        count(log, "PCI IRQ Routing Table Package") != 31 * 4 ||
        !strstr(log, "[Package] Contains 4 Elements"))
        fail_msg("acpiexec:\n%s", log);
    free(log);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsdp_and_roots),
        cmocka_unit_test(test_fadt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_hpet_table_matches_device),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_aml_encoding),
        cmocka_unit_test(test_iasl_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
