/* caixa-diff: runs every form of diff_forms.c on random and edge operands
 * on the host CPU and on caixa's CPU and reports each difference in a
 * register, the memory window, a defined flag or the exception raised.
 *
 *   caixa-diff [--quick] [--seed N] [-n ITER] [--only NAME] [--max-print N]
 *              [--no-compat] [--selftest] [--list] [--dump] [--info]
 *
 * Exit status: 0 all equal, 1 mismatches (or a failed self-test), 2 set-up
 * failure. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff_gen.h"

#define ITER_FULL 1500u
#define ITER_QUICK 120u
#define EXC_UD 6

static const struct {
    uint32_t bit;
    const char *name;
} flag_names[] = { { 0x001, "CF" }, { 0x004, "PF" }, { 0x010, "AF" }, { 0x040, "ZF" },
                   { 0x080, "SF" }, { 0x400, "DF" }, { 0x800, "OF" } };

static const char *const reg64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

struct opts {
    unsigned iters;
    uint64_t seed;
    const char *only;
    unsigned max_print;
    bool compat, selftest, list, dump, info;
};

enum verdict { V_SAME, V_DIFF };

static size_t cat(char *buf, size_t n, size_t k, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#include <stdarg.h>
static size_t cat(char *buf, size_t n, size_t k, const char *fmt, ...)
{
    if (k >= n)
        return k;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
    return w < 0 ? k : k + (size_t)w;
}

static size_t flag_list(char *buf, size_t n, size_t k, uint32_t bits)
{
    bool first = true;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        if (bits & flag_names[i].bit) {
            k = cat(buf, n, k, "%s%s", first ? "" : "|", flag_names[i].name);
            first = false;
        }
    return k;
}

/* Compares the host and caixa results of tc; describes the differences. */
static enum verdict compare(const struct tcase *tc, const struct dresult *h, const struct dresult *g, char *msg,
                            size_t n)
{
    const struct form *f = tc->f;
    size_t k = 0;
    msg[0] = 0;
    if (g->lost) {
        cat(msg, n, k, "caixa did not reach the final HLT (rip=%#" PRIx64 ")", g->end_rip);
        return V_DIFF;
    }
    if (h->fault != g->fault) {
        if (h->fault < 0 && g->fault == EXC_UD) {
            cat(msg, n, k, "caixa raised #UD (not implemented?)");
            return V_DIFF;
        }
        cat(msg, n, k, "exception: host=%d caixa=%d (-1 = none)", h->fault, g->fault);
        return V_DIFF;
    }
    if (h->fault >= 0)
        return V_SAME;   /* both faulted with the same vector */

    uint64_t rmask = tc->compat ? 0xffffffffull : ~0ull;
    for (int r = 0; r < 16; r++) {
        if ((r == 4 && !(f->sp & S_STACK)) || ((tc->skip_regs >> r) & 1))
            continue;
        uint64_t hv = h->st.regs[r] & rmask, gv = g->st.regs[r] & rmask;
        if (hv != gv)
            k = cat(msg, n, k, "%s: host=%#" PRIx64 " caixa=%#" PRIx64 "; ", reg64[r], hv, gv);
    }
    uint32_t fmask = (DF_ARITH & ~case_undef_flags(tc)) | DF_DF;
    uint32_t fd = (uint32_t)(h->st.rflags ^ g->st.rflags) & fmask;
    if (fd) {
        k = cat(msg, n, k, "flags ");
        k = flag_list(msg, n, k, fd);
        k = cat(msg, n, k, ": host=%#x caixa=%#x (defined mask %#x); ", (unsigned)(h->st.rflags & fmask),
                (unsigned)(g->st.rflags & fmask), fmask);
    }
    if (!tc->skip_mem && memcmp(h->win, g->win, WIN_SIZE) != 0) {
        unsigned i = 0;
        while (h->win[i] == g->win[i])
            i++;
        unsigned a = i & ~7u;
        uint64_t hv, gv;
        memcpy(&hv, h->win + a, 8);
        memcpy(&gv, g->win + a, 8);
        k = cat(msg, n, k, "mem[%#" PRIx64 "]: host=%#" PRIx64 " caixa=%#" PRIx64 "; ",
                host_region() + WIN_OFF + a, hv, gv);
    }
    if (f->sp & S_SSE) {
        for (int x = 0; x < 16; x++) {
            if (memcmp(h->st.xmm[x], g->st.xmm[x], 16) != 0) {
                uint64_t hq[2], gq[2];
                memcpy(hq, h->st.xmm[x], 16);
                memcpy(gq, g->st.xmm[x], 16);
                k = cat(msg, n, k, "xmm%d: host=%016" PRIx64 "_%016" PRIx64 " caixa=%016" PRIx64 "_%016" PRIx64 "; ",
                        x, hq[1], hq[0], gq[1], gq[0]);
            }
        }
        if (h->st.mxcsr != g->st.mxcsr)
            k = cat(msg, n, k, "mxcsr: host=%#x caixa=%#x; ", h->st.mxcsr, g->st.mxcsr);
    }
    if ((f->sp & S_X87) && h->st.fsw != g->st.fsw)
        k = cat(msg, n, k, "fsw: host=%#x caixa=%#x; ", h->st.fsw, g->st.fsw);
    return k ? V_DIFF : V_SAME;
}

/* The inputs that matter for a case, for the report line. */
static void describe_inputs(const struct tcase *tc, char *buf, size_t n)
{
    size_t k = 0;
    for (int r = 0; r < 16; r++)
        if ((tc->used >> r) & 1 && (r != 4 || (tc->f->sp & S_STACK)))
            k = cat(buf, n, k, "%s=%#" PRIx64 " ", reg64[r], tc->in.regs[r]);
    k = cat(buf, n, k, "flags=%#" PRIx64, tc->in.rflags & (DF_ARITH | DF_DF));
    if (tc->f->sp & S_CL)
        k = cat(buf, n, k, " cl=%" PRIu64, tc->count);
    if (tc->has_mem) {
        uint64_t off = tc->ea - host_region() - WIN_OFF, v[2] = { 0, 0 };
        if (off + 16 <= WIN_SIZE)
            memcpy(v, tc->win + off, 16);
        k = cat(buf, n, k, " mem[%#" PRIx64 "]=%#" PRIx64, tc->ea, v[0]);
        if ((tc->f->sp & (S_SSE | S_CX8)))
            k = cat(buf, n, k, "_%#" PRIx64, v[1]);
    }
    if (tc->f->sp & S_SSE) {
        uint64_t q[4];
        memcpy(q, tc->in.xmm[1], 16);
        memcpy(q + 2, tc->in.xmm[2], 16);
        k = cat(buf, n, k, " xmm1=%016" PRIx64 "_%016" PRIx64 " xmm2=%016" PRIx64 "_%016" PRIx64 " mxcsr=%#x", q[1],
                q[0], q[3], q[2], tc->in.mxcsr);
    }
    if (tc->f->sp & S_X87) {
        const uint8_t *w = tc->win + 0x300;
        uint64_t am, bm;
        uint16_t ae, be, cw;
        memcpy(&am, w, 8);
        memcpy(&ae, w + 8, 2);
        memcpy(&bm, w + 16, 8);
        memcpy(&be, w + 24, 2);
        memcpy(&cw, w + 0x70, 2);
        cat(buf, n, k, " A=%04x:%016" PRIx64 " B=%04x:%016" PRIx64 " fcw=%#x", ae, am, be, bm, cw);
    }
}

/* --dump: what the host run changed, to check the tester itself. */
static void dump_case(const struct tcase *tc, const struct dresult *h, const struct dresult *g)
{
    char d[256], in[768];
    case_describe(tc, d, sizeof(d));
    describe_inputs(tc, in, sizeof(in));
    printf("CASE %s | in: %s | host:", d, in);
    if (h->fault >= 0)
        printf(" fault %d", h->fault);
    for (int r = 0; r < 16; r++)
        if ((r != 4 || (tc->f->sp & S_STACK)) && h->st.regs[r] != tc->in.regs[r])
            printf(" %s=%#" PRIx64, reg64[r], h->st.regs[r]);
    printf(" flags=%#" PRIx64, h->st.rflags & (DF_ARITH | DF_DF));
    unsigned nb = 0;
    for (unsigned i = 0; i < WIN_SIZE; i++)
        nb += h->win[i] != tc->win[i];
    printf(" membytes=%u", nb);
    for (int x = 0; x < 16; x++)
        if (memcmp(h->st.xmm[x], tc->in.xmm[x], 16)) {
            uint64_t q[2];
            memcpy(q, h->st.xmm[x], 16);
            printf(" xmm%d=%016" PRIx64 "_%016" PRIx64, x, q[1], q[0]);
        }
    if (tc->f->sp & S_SSE)
        printf(" mxcsr=%#x", h->st.mxcsr);
    if (tc->f->sp & S_X87)
        printf(" fsw=%#x", h->st.fsw);
    printf(" | caixa: fault %d lost %d rip %#" PRIx64 "\n", g->fault, g->lost, g->end_rip);
}

struct stat {
    const struct form *f;
    unsigned size;
    unsigned runs, diffs, faults;
};

static void usage(void)
{
    puts("usage: caixa-diff [--quick] [--seed N] [-n ITER] [--only NAME] [--max-print N]\n"
         "                  [--no-compat] [--selftest] [--list] [--dump] [--info]\n"
         "Compares caixa's CPU with the host CPU instruction by instruction.\n"
         "  --quick       fewer iterations (for make check)\n"
         "  --seed N      random seed (default: time)\n"
         "  -n ITER       cases per form and operand size\n"
         "  --only NAME   forms whose name contains NAME\n"
         "  --max-print N mismatch lines printed per form and size (default 8)\n"
         "  --no-compat   do not run integer forms in 32/16-bit code (compatibility mode)\n"
         "  --selftest    check that perturbed results are detected as mismatches\n"
         "  --list        list the forms\n"
         "  --dump        print what each case changed on the host (debugging the tester)\n"
         "  --info        also run informational forms (x87 transcendentals); they never fail");
}

static int parse(int argc, char **argv, struct opts *o)
{
    o->iters = ITER_FULL;
    o->seed = (uint64_t)time(NULL);
    o->only = NULL;
    o->max_print = 8;
    o->selftest = o->list = o->dump = o->info = false;
    o->compat = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick"))
            o->iters = ITER_QUICK;
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            o->seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "-n") && i + 1 < argc)
            o->iters = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--only") && i + 1 < argc)
            o->only = argv[++i];
        else if (!strcmp(a, "--max-print") && i + 1 < argc)
            o->max_print = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--no-compat"))
            o->compat = false;
        else if (!strcmp(a, "--selftest"))
            o->selftest = true;
        else if (!strcmp(a, "--list"))
            o->list = true;
        else if (!strcmp(a, "--dump"))
            o->dump = true;
        else if (!strcmp(a, "--info"))
            o->info = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "caixa-diff: unknown argument '%s' (try --help)\n", a);
            return -1;
        }
    }
    if (o->seed == 0)
        o->seed = 1;   /* xorshift needs a non-zero state */
    return 0;
}

/* Perturbs one compared item of g (a copy of the host result) and checks
 * that compare() notices: the tester must be able to fail. */
static bool selftest_case(const struct tcase *tc, const struct dresult *h, struct rng *r)
{
    static struct dresult g;
    char msg[1024];
    g = *h;
    if (compare(tc, h, &g, msg, sizeof(msg)) != V_SAME) {
        printf("SELFTEST: identical results reported as different: %s\n", msg);
        return false;
    }
    if (h->fault >= 0) {
        g.fault = h->fault == 13 ? 0 : 13;
    } else {
        for (;;) {
            unsigned what = rng_below(r, 5);
            if (what == 0) {
                int reg = (int)rng_below(r, 16);
                if (reg == 4 || ((tc->skip_regs >> reg) & 1))
                    continue;
                g.st.regs[reg] ^= 1ull << rng_below(r, tc->compat ? 32 : 64);
            } else if (what == 1) {
                uint32_t def = (DF_ARITH & ~case_undef_flags(tc)) | DF_DF;
                uint32_t bit;
                do
                    bit = 1u << rng_below(r, 12);
                while (!(def & bit));
                g.st.rflags ^= bit;
            } else if (what == 2) {
                if (tc->skip_mem)
                    continue;
                g.win[rng_below(r, WIN_SIZE)] ^= (uint8_t)(1u << rng_below(r, 8));
            } else if (what == 3) {
                if (!(tc->f->sp & S_SSE))
                    continue;
                g.st.xmm[rng_below(r, 16)][rng_below(r, 16)] ^= 0x10;
            } else {
                g.fault = 0;
            }
            break;
        }
    }
    if (compare(tc, h, &g, msg, sizeof(msg)) == V_SAME) {
        char d[256];
        case_describe(tc, d, sizeof(d));
        printf("SELFTEST: a perturbed result was not detected: %s\n", d);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return 2;
    if (o.list) {
        for (size_t i = 0; i < diff_n_forms; i++)
            printf("%-24s sizes=%#x %s\n", diff_forms[i].name, diff_forms[i].sizes,
                   diff_forms[i].raw ? diff_forms[i].raw : "");
        return 0;
    }
    uint64_t region = host_init();
    if (!region) {
        fprintf(stderr, "caixa-diff: cannot map the test region below 2 GiB\n");
        return 2;
    }
    if (!o.selftest && guest_init(region) < 0) {
        fprintf(stderr, "caixa-diff: cannot create the guest CPU\n");
        return 2;
    }
    printf("caixa-diff: seed %" PRIu64 ", %u cases per form and size, region %#" PRIx64 "%s\n", o.seed, o.iters,
           region, o.selftest ? " (self-test)" : "");

    struct rng rng = { o.seed * 0x9e3779b97f4a7c15ull | 1 };
    static struct tcase tc;
    static struct dresult hr, gr;
    struct stat *stats = calloc(diff_n_forms * 4, sizeof(*stats));
    size_t nstats = 0;
    unsigned long total = 0, ndiff = 0, self_bad = 0;
    unsigned nskipped = 0;
    uint32_t hfeat = host_features(), gfeat = o.selftest ? hfeat : guest_features();
    char msg[2048], desc[256], in[768];

    for (size_t fi = 0; fi < diff_n_forms; fi++) {
        const struct form *f = &diff_forms[fi];
        if (o.only && !strstr(f->name, o.only))
            continue;
        if ((f->sp & S_INFO) && !o.info)
            continue;
        unsigned feat = f->sp >> S_FEAT_SHIFT;
        if (feat && !((hfeat & gfeat) >> feat & 1)) {
            printf("SKIP  %-22s needs %s, which %s does not report in CPUID\n", f->name, feature_names[feat],
                   (hfeat >> feat & 1) ? "caixa" : "the host");
            nskipped++;
            continue;
        }
        for (unsigned sz = 1; sz <= 8; sz <<= 1) {
            if (!(f->sizes & sz))
                continue;
            struct stat *st = &stats[nstats++];
            st->f = f;
            st->size = sz;
            unsigned printed = 0;
            for (unsigned it = 0; it < o.iters; it++) {
                gen_case(&tc, f, sz, &rng, o.compat);
                host_run(&tc, &hr);
                st->runs++;
                total++;
                if (hr.fault >= 0)
                    st->faults++;
                if (o.selftest) {
                    if (!selftest_case(&tc, &hr, &rng))
                        self_bad++;
                    continue;
                }
                guest_run(&tc, &gr);
                if (o.dump)
                    dump_case(&tc, &hr, &gr);
                enum verdict v = compare(&tc, &hr, &gr, msg, sizeof(msg));
                if (v == V_SAME)
                    continue;
                st->diffs++;
                if (!(f->sp & S_INFO))
                    ndiff++;
                if (printed++ < o.max_print) {
                    case_describe(&tc, desc, sizeof(desc));
                    describe_inputs(&tc, in, sizeof(in));
                    printf("%s %s | in: %s | %s\n", (f->sp & S_INFO) ? "INFO-DIFF" : "MISMATCH", desc, in, msg);
                }
            }
        }
    }

    if (o.selftest) {
        printf("caixa-diff self-test: %lu cases, %lu perturbations undetected\n", total, self_bad);
        free(stats);
        return self_bad ? 1 : 0;
    }
    printf("\n--- summary (form.size: mismatches/runs) ---\n");
    unsigned bad_forms = 0;
    for (size_t i = 0; i < nstats; i++) {
        struct stat *st = &stats[i];
        if (st->diffs) {
            bool info = st->f->sp & S_INFO;
            printf("%s  %-22s .%-2u %6u/%u%s\n", info ? "INFO" : "FAIL", st->f->name, st->size * 8, st->diffs,
                   st->runs, st->faults ? " (some cases fault on the host)" : "");
            bad_forms += !info;
        }
    }
    printf("caixa-diff: %lu cases, %lu mismatches in %u form/size pairs, %u forms skipped; seed %" PRIu64 "\n",
           total, ndiff, bad_forms, nskipped, o.seed);
    free(stats);
    guest_destroy();
    return ndiff ? 1 : 0;
}
