/* Paging and the software TLB: SDM Vol. 3A chapter 4.
 * Supports 32-bit paging with PSE 4 MiB pages, PAE with NX, and 4-level
 * IA-32e paging with 2 MiB and 1 GiB pages; CR0.WP; accessed and dirty bits;
 * global pages. */
#include "cpu/cpu_sys.h"

/* Paging-structure entry bits (SDM Vol. 3A 4.3, 4.4.2, 4.5) */
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)
/* Page-fault error code bits (SDM Vol. 3A 4.7) */
#define PFEC_P 0x01
#define PFEC_W 0x02
#define PFEC_U 0x04
#define PFEC_RSVD 0x08
#define PFEC_I 0x10

/* Page-frame bits within the physical-address width CPUID reports. */
#define PHYS_ADDR_MASK (CPU_PHYS_ADDR_MASK & PAGE_MASK)

struct walk {
    uint64_t phys;     /* physical address of the access */
    bool user, write, exec;  /* what the combined entries permit */
    bool dirty;        /* final entry has D set */
    bool global;
    uint64_t page_size;
    /* The entries used, for setting their A/D bits once the access is allowed. */
    uint64_t ent_pa[4], ent[4];
    int n;
};

static uint64_t a20(const struct cpu *cpu, uint64_t pa)
{
    return pa & ~((uint64_t)cpu->s.a20_mask_bit << 20);
}

static uint64_t pt_read(struct cpu *cpu, uint64_t pa, bool wide)
{
    return physmem_read(cpu->mem, a20(cpu, pa), wide ? 8 : 4);
}

/* A/D updates are locked operations (SDM Vol. 3A 4.8): an atomic OR on
 * RAM, so that another vCPU's update of the same entry is never lost. */
static void pt_set_bits(struct cpu *cpu, uint64_t pa, uint64_t old, uint64_t bits, bool wide)
{
    if ((old & bits) == bits)
        return;
    pa = a20(cpu, pa);
    uint8_t *p = physmem_ram_ptr(cpu->mem, pa, wide ? 8 : 4);
    if (p && wide && !(pa & 7))
        __atomic_fetch_or((uint64_t *)(void *)p, bits, __ATOMIC_SEQ_CST);
    else if (p && !wide && !(pa & 3))
        __atomic_fetch_or((uint32_t *)(void *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
    else
        physmem_write(cpu->mem, pa, old | bits, wide ? 8 : 4);
}

/* Walks the paging structures for `lin` without changing them. Returns 0
 * on success or the #PF error code bits (without U/W/I, which the caller
 * adds). */
static int walk(struct cpu *cpu, uint64_t lin, struct walk *w)
{
    uint64_t cr4 = cpu->s.cr4;
    bool nxe = cpu->s.efer & EFER_NXE;
    uint64_t rsvd_nx = nxe ? 0 : PTE_NX;
    uint64_t *ent_pa = w->ent_pa, *ent = w->ent;
    int levels, n = 0;
    uint64_t table, e = 0;
    int shift;

    w->user = w->write = w->exec = true;
    w->global = false;

    if (!(cr4 & CR4_PAE)) {
        /* 32-bit paging: 10/10/12, or 10/22 with PSE. */
        table = cpu->s.cr3 & 0xfffff000ull;
        levels = 2;
        shift = 22;
        for (int l = 0; l < levels; l++, shift -= 10) {
            uint64_t pa = table + (((lin >> shift) & 0x3ff) << 2);
            e = pt_read(cpu, pa, false);
            if (!(e & PTE_P))
                return 0x100;  /* not present */
            ent_pa[n] = pa;
            ent[n++] = e;
            w->user &= (e & PTE_US) != 0;
            w->write &= (e & PTE_RW) != 0;
            if (l == 0 && (e & PTE_PS) && (cr4 & CR4_PSE)) {
                /* PSE-36 is not advertised: bits 13-20 must be zero. */
                if (e & 0x3fe000ull)
                    return PFEC_RSVD | PFEC_P;
                w->phys = (e & 0xffc00000ull) | (lin & 0x3fffffull);
                w->page_size = 1u << 22;
                goto leaf;
            }
            table = e & 0xfffff000ull;
        }
        w->phys = table | (lin & 0xfff);
        w->page_size = PAGE_SIZE;
        goto leaf;
    }

    if (cpu->s.efer & EFER_LMA) {
        table = cpu->s.cr3 & PHYS_ADDR_MASK;
        levels = 4;
        shift = 39;
    } else {
        /* PAE: the PDPTE picked by bits 31:30, from the registers loaded
         * with CR3 (SDM 4.4.1); they were checked when loaded. */
        e = cpu->s.pdpte[(lin >> 30) & 3];
        if (!(e & PTE_P))
            return 0x100;
        table = e & PHYS_ADDR_MASK;
        levels = 2;
        shift = 21;
    }
    for (int l = 0; l < levels; l++, shift -= 9) {
        uint64_t pa = table + (((lin >> shift) & 0x1ff) << 3);
        e = pt_read(cpu, pa, true);
        if (!(e & PTE_P))
            return 0x100;
        if (e & ((~PHYS_ADDR_MASK & ~0xfffull & ~PTE_NX) | rsvd_nx))
            return PFEC_RSVD | PFEC_P;
        ent_pa[n] = pa;
        ent[n++] = e;
        w->user &= (e & PTE_US) != 0;
        w->write &= (e & PTE_RW) != 0;
        w->exec &= !(nxe && (e & PTE_NX));
        bool last = l == levels - 1;
        if (!last && (e & PTE_PS)) {
            int depth_from_leaf = levels - 1 - l; /* 1: 2 MiB, 2: 1 GiB */
            if (levels == 4 && l == 0)
                return PFEC_RSVD | PFEC_P;   /* no PS in PML4E */
            uint64_t psize = 1ull << shift;
            /* Reserved: address bits below the page size, except PAT (bit 12). */
            if (e & (psize - 1) & ~0x1fffull)
                return PFEC_RSVD | PFEC_P;
            (void)depth_from_leaf;
            w->phys = (e & PHYS_ADDR_MASK & ~(psize - 1)) | (lin & (psize - 1));
            w->page_size = psize;
            goto leaf;
        }
        table = e & PHYS_ADDR_MASK;
    }
    w->phys = table | (lin & 0xfff);
    w->page_size = PAGE_SIZE;

leaf:
    w->global = (e & PTE_G) && (cr4 & CR4_PGE);
    w->dirty = (e & PTE_D) != 0;
    w->n = n;
    return 0;
}

/* Sets the accessed bits of the walk's entries and, for a write, the dirty
 * bit of the last one (SDM Vol. 3A 4.8). */
static void walk_set_ad(struct cpu *cpu, struct walk *w, bool is_write)
{
    bool wide = (cpu->s.cr4 & CR4_PAE) != 0;
    for (int i = 0; i < w->n - 1; i++)
        pt_set_bits(cpu, w->ent_pa[i], w->ent[i], PTE_A, wide);
    pt_set_bits(cpu, w->ent_pa[w->n - 1], w->ent[w->n - 1], is_write ? (PTE_A | PTE_D) : PTE_A, wide);
    if (is_write)
        w->dirty = true;
}

/* PDPTE bits that must be zero in a present entry: 1-2, 5-8, 63 and those
 * above the physical-address width (SDM Vol. 3A 4.4.1, table 4-8). */
#define PDPTE_RESERVED (0x1e6ull | ~(PHYS_ADDR_MASK | 0xfffull))

bool mmu_read_pdptes(struct cpu *cpu, uint64_t cr3, uint64_t out[4])
{
    for (unsigned i = 0; i < 4; i++) {
        uint64_t e = pt_read(cpu, (cr3 & 0xffffffe0ull) + i * 8, true);
        if ((e & PTE_P) && (e & PDPTE_RESERVED))
            return false;
        out[i] = e;
    }
    return true;
}

static _Noreturn void page_fault(struct cpu *cpu, uint64_t lin, int code, int acc)
{
    uint32_t err = code & ~0x100;
    if (acc & ACC_W)
        err |= PFEC_W;
    if (cpu->s.cpl == 3 && !(acc & ACC_SUPER))
        err |= PFEC_U;
    if ((acc & ACC_X) && (cpu->s.cr4 & CR4_PAE) && (cpu->s.efer & EFER_NXE))
        err |= PFEC_I;
    cpu->s.cr2 = lin;
    cpu_raise(cpu, EXC_PF, err);
}

/* --- victim entries ------------------------------------------------------ */

static bool entry_valid(const struct tlb_entry *e)
{
    return (e->tag_r & e->tag_w & e->tag_x) != TLB_INVALID;
}

static void entry_drop(struct tlb_entry *e)
{
    e->tag_r = e->tag_w = e->tag_x = TLB_INVALID;
}

static bool entry_maps(const struct tlb_entry *e, uint64_t page)
{
    return e->tag_r == page || e->tag_w == page || e->tag_x == page;
}

/* The linear page a valid entry maps: every valid tag names it. */
static uint64_t entry_page(const struct tlb_entry *e)
{
    return e->tag_r != TLB_INVALID ? e->tag_r : e->tag_w != TLB_INVALID ? e->tag_w : e->tag_x;
}

/* The tag an access of kind acc needs. */
static uint64_t entry_tag(const struct tlb_entry *e, int acc)
{
    return (acc & ACC_W) ? e->tag_w : (acc & ACC_X) ? e->tag_x : e->tag_r;
}

static void set_page(struct tlb_page *dst, const struct tlb_page *src)
{
    /* Other vCPUs read phys (tlb_drop_writes_to). */
    __atomic_store_n(&dst->phys, src->phys, __ATOMIC_RELAXED);
    dst->ram_index = src->ram_index;
    dst->global = src->global;
}

/* An entry that maps a page smp.c has since marked as code may not keep
 * writing it: the entry is published, then the mark is checked. */
static void recheck_code_page(struct cpu *cpu, struct tlb_entry *e, uint32_t ram_index)
{
    if (e->tag_w == TLB_INVALID)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (ram_index != UINT32_MAX && __atomic_load_n(&cpu->mem->code_map[ram_index], __ATOMIC_RELAXED))
        __atomic_store_n(&e->tag_w, TLB_INVALID, __ATOMIC_RELAXED);
}

/* Set 0 or 1 of an entry that is not in the alignment-checked set. */
static int set_of(const struct cpu *cpu, const struct tlb_entry *e)
{
    return e >= &cpu->tlb->e[1][0];
}

/* The entry at e is about to map `page`: what it maps now becomes a
 * victim, and a victim copy of `page` goes (one copy of a page at most). */
static void victim_evict(struct cpu *cpu, struct tlb_entry *e, uint64_t page)
{
    struct cpu_tlb *t = cpu->tlb;
    int u = set_of(cpu, e);
    for (unsigned i = 0; i < VTLB_SIZE; i++)
        if (entry_valid(&t->ve[u][i]) && entry_page(&t->ve[u][i]) == page)
            entry_drop(&t->ve[u][i]);
    if (!entry_valid(e) || entry_page(e) == page)
        return;
    unsigned i = t->vnext[u]++ % VTLB_SIZE;
    set_page(&t->vpage[u][i], tlb_page_of(cpu, e));
    t->ve[u][i] = *e;
}

/* A victim that allows this access trades places with e, the entry lin
 * indexes: a TLB hit one step late, without a walk. */
static bool victim_take(struct cpu *cpu, struct tlb_entry *e, uint64_t lin, int acc)
{
    struct cpu_tlb *t = cpu->tlb;
    int u = set_of(cpu, e);
    uint64_t page = lin & PAGE_MASK;
    for (unsigned i = 0; i < VTLB_SIZE; i++) {
        struct tlb_entry *v = &t->ve[u][i];
        if (entry_tag(v, acc) != page)
            continue;
        struct tlb_page *tp = tlb_page_of(cpu, e), *vp = &t->vpage[u][i];
        struct tlb_entry old = *e;
        struct tlb_page old_page = *tp;
        set_page(tp, vp);
        *e = *v;
        bool keep = entry_valid(&old);
        if (keep)
            set_page(vp, &old_page);
        if (keep)
            *v = old;
        else
            entry_drop(v);
        recheck_code_page(cpu, e, tp->ram_index);
        return true;
    }
    return false;
}

/* Translate and fill the TLB entry for the page. */
uint64_t mmu_translate(struct cpu *cpu, uint64_t lin, int acc)
{
    bool user = cpu->s.cpl == 3 && !(acc & ACC_SUPER);
    bool is_write = acc & ACC_W;
    struct walk w;
    uint64_t phys;

    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    bool cached = e < &cpu->tlb->e[2][0];  /* alignment-checked accesses stay on the slow path */
    if (cached && victim_take(cpu, e, lin, acc))
        return tlb_page_of(cpu, e)->phys | (lin & (PAGE_SIZE - 1));

    if (!(cpu->s.cr0 & CR0_PG)) {
        phys = lin & 0xffffffffull;
        w.user = w.write = w.exec = w.dirty = true;
        w.global = false;
    } else {
        int r = walk(cpu, lin, &w);
        if (r)
            page_fault(cpu, lin, r, acc);
        bool wp = (cpu->s.cr0 & CR0_WP) || user;
        if ((user && !w.user) || (is_write && wp && !w.write) || ((acc & ACC_X) && !w.exec))
            page_fault(cpu, lin, PFEC_P, acc);
        walk_set_ad(cpu, &w, is_write);
        phys = w.phys;
        /* Without CR0.WP supervisor writes ignore R/W (SDM Vol. 3A 4.6.1). */
        if (!wp)
            w.write = true;
    }
    phys = a20(cpu, phys);

    if (!cached)
        return phys;
    uint64_t lpage = lin & PAGE_MASK;
    phys_page pp = physmem_page(cpu->mem, phys);
    victim_evict(cpu, e, lpage);
    entry_drop(e);
    /* Data breakpoints keep their page's reads and writes on the slow path. */
    bool watched = cpu->dr_data && dr_page_watched(cpu, lpage);
    struct tlb_page *tp = tlb_page_of(cpu, e);
    set_page(tp, &(struct tlb_page){.phys = phys & PAGE_MASK, .ram_index = pp.ram_index, .global = w.global});
    if (pp.read) {
        e->addend = (uintptr_t)pp.read - (uintptr_t)lpage;
        if (!watched)
            e->tag_r = lpage;
        if (w.exec)
            e->tag_x = lpage;
        if (w.write && w.dirty && pp.write == pp.read && !watched)
            e->tag_w = lpage;
    } else if (pp.write) {
        e->addend = (uintptr_t)pp.write - (uintptr_t)lpage;
        if (w.write && w.dirty && !watched)
            e->tag_w = lpage;
    }
    /* Another vCPU may have marked the page as code since physmem_page looked. */
    recheck_code_page(cpu, e, pp.ram_index);
    return phys;
}

/* The write lands first, then the vCPUs holding code there hear of it. */
static void phys_write(struct cpu *cpu, uint64_t phys, unsigned size, uint64_t val)
{
    physmem_write(cpu->mem, phys, val, size);
    smp_phys_written(cpu, phys);
}

/* #AC for a misaligned CPL 3 data access under CR0.AM + EFLAGS.AC. */
static void check_alignment(struct cpu *cpu, uint64_t lin, unsigned size, int acc)
{
    if (cpu->ac_check && cpu->s.cpl == 3 && !(acc & (ACC_SUPER | ACC_X)) && (lin & (size - 1)))
        cpu_raise(cpu, EXC_AC, 0);
}

uint64_t lin_read_slow(struct cpu *cpu, uint64_t lin, unsigned size, int acc)
{
    check_alignment(cpu, lin, size, acc);
    if (cpu->mem_generation != cpu->mem->generation)
        tlb_flush(cpu, false);
    if (((lin & (PAGE_SIZE - 1)) + size) > PAGE_SIZE) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= lin_read(cpu, lin + i, 1, acc) << (8 * i);
        return v;
    }
    uint64_t phys = mmu_translate(cpu, lin, acc);
    if (unlikely(cpu->dr_data) && !(acc & ACC_X))
        dr_check_data(cpu, lin, size, false);
    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    uint64_t tag = (acc & ACC_X) ? e->tag_x : e->tag_r;
    if (tag == (lin & PAGE_MASK))
        return lin_read(cpu, lin, size, acc);
    return physmem_read(cpu->mem, phys, size);
}

void lin_write_slow(struct cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int acc)
{
    check_alignment(cpu, lin, size, acc);
    if (cpu->mem_generation != cpu->mem->generation)
        tlb_flush(cpu, false);
    if (((lin & (PAGE_SIZE - 1)) + size) > PAGE_SIZE) {
        /* Both pages must be writable before any byte changes. */
        unsigned first = PAGE_SIZE - (lin & (PAGE_SIZE - 1));
        uint64_t p0 = mmu_translate(cpu, lin, acc | ACC_W);
        uint64_t p1 = mmu_translate(cpu, lin + first, acc | ACC_W);
        if (unlikely(cpu->dr_data))
            dr_check_data(cpu, lin, size, true);
        for (unsigned i = 0; i < size; i++)
            phys_write(cpu, i < first ? p0 + i : p1 + (i - first), 1, (val >> (8 * i)) & 0xff);
        return;
    }
    uint64_t phys = mmu_translate(cpu, lin, acc | ACC_W);
    if (unlikely(cpu->dr_data))
        dr_check_data(cpu, lin, size, true);
    struct tlb_entry *e = tlb_entry(cpu, lin, acc);
    if (e->tag_w == (lin & PAGE_MASK)) {
        lin_write(cpu, lin, size, val, acc);
        return;
    }
    phys_write(cpu, phys, size, val);
}

void lin_probe_write(struct cpu *cpu, uint64_t lin, unsigned size)
{
    mmu_translate(cpu, lin, ACC_W);
    if (((lin & (PAGE_SIZE - 1)) + size) > PAGE_SIZE)
        mmu_translate(cpu, (lin | (PAGE_SIZE - 1)) + 1, ACC_W);
}

/* Flushes n entries of a main or a victim set (p: their slow-path pages),
 * but for global ones when asked (CR4.PGE, SDM Vol. 3A 4.10.4.1). */
static void flush_run(struct tlb_entry *e, const struct tlb_page *p, unsigned n, bool keep_global)
{
    for (unsigned i = 0; i < n; i++)
        if (!(keep_global && p[i].global && e[i].tag_r != TLB_INVALID))
            entry_drop(&e[i]);
}

static void drop_writes_run(struct tlb_entry *e, const struct tlb_page *p, unsigned n, uint64_t phys_page)
{
    for (unsigned i = 0; i < n; i++)
        if (__atomic_load_n(&p[i].phys, __ATOMIC_RELAXED) == phys_page)
            __atomic_store_n(&e[i].tag_w, TLB_INVALID, __ATOMIC_RELAXED);
}

void tlb_flush(struct cpu *cpu, bool keep_global)
{
    struct cpu_tlb *t = cpu->tlb;
    chain_expire(cpu);
    for (int u = 0; u < 3; u++)
        flush_run(t->e[u], t->page[u], TLB_SIZE, keep_global);
    for (int u = 0; u < 2; u++)
        flush_run(t->ve[u], t->vpage[u], VTLB_SIZE, keep_global);
    if (cpu->mem_generation != cpu->mem->generation) {
        cpu->mem_generation = cpu->mem->generation;
        blocks_flush(cpu);
    }
}

void tlb_flush_page(struct cpu *cpu, uint64_t lin)
{
    struct cpu_tlb *t = cpu->tlb;
    chain_expire(cpu);
    uint64_t page = lin & PAGE_MASK;
    for (int u = 0; u < 3; u++) {
        struct tlb_entry *e = &t->e[u][(lin >> PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (entry_maps(e, page))
            entry_drop(e);
    }
    for (int u = 0; u < 2; u++)
        for (unsigned i = 0; i < VTLB_SIZE; i++)
            if (entry_maps(&t->ve[u][i], page))
                entry_drop(&t->ve[u][i]);
}

/* A page just became a code page: no TLB entry may keep writing it
 * directly. Other vCPUs' threads call this too (smp.c): atomic accesses,
 * and the entry's owner at worst loses a write entry it must refill. */
void tlb_drop_writes_to(struct cpu *cpu, uint64_t phys_page)
{
    struct cpu_tlb *t = cpu->tlb;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (int u = 0; u < 3; u++)
        drop_writes_run(t->e[u], t->page[u], TLB_SIZE, phys_page);
    for (int u = 0; u < 2; u++)
        drop_writes_run(t->ve[u], t->vpage[u], VTLB_SIZE, phys_page);
}

void lin_locked_target(struct cpu *cpu, uint64_t lin, unsigned size, struct locked_target *t)
{
    uint64_t off = lin & (PAGE_SIZE - 1);
    struct tlb_entry *e = tlb_entry(cpu, lin, ACC_W);
    t->slow = false;
    t->first = size;
    t->phys[1] = 0;
    if (likely(tlb_hit(e->tag_w, lin, size))) {
        t->host = (uint8_t *)(uintptr_t)(lin + e->addend);
        t->phys[0] = tlb_page_of(cpu, e)->phys | off;
        return;
    }
    check_alignment(cpu, lin, size, ACC_W);
    if (cpu->mem_generation != cpu->mem->generation)
        tlb_flush(cpu, false);
    t->slow = true;
    if (off + size > PAGE_SIZE) {
        /* Both pages writable before anything changes. */
        t->first = (unsigned)(PAGE_SIZE - off);
        t->phys[0] = mmu_translate(cpu, lin, ACC_W);
        t->phys[1] = mmu_translate(cpu, lin + t->first, ACC_W);
        t->host = NULL;
    } else {
        t->phys[0] = t->phys[1] = mmu_translate(cpu, lin, ACC_W);
        /* A code page or a watched one: RAM all the same. */
        t->host = physmem_ram_ptr(cpu->mem, t->phys[0], size);
    }
    if (unlikely(cpu->dr_data))
        dr_check_data(cpu, lin, size, true);
}

bool cpu_debug_translate(struct cpu *cpu, uint64_t lin, uint64_t *phys)
{
    struct walk w;
    if (!(cpu->s.cr0 & CR0_PG)) {
        *phys = a20(cpu, lin & 0xffffffffull);
        return true;
    }
    if (walk(cpu, lin, &w))
        return false;
    *phys = a20(cpu, w.phys);
    return true;
}

size_t cpu_debug_access(struct cpu *cpu, uint64_t lin, void *buf, size_t len, bool write)
{
    size_t done = 0;
    uint8_t *b = buf;
    while (done < len) {
        uint64_t phys;
        if (!cpu_debug_translate(cpu, lin + done, &phys))
            break;
        size_t chunk = PAGE_SIZE - ((lin + done) & (PAGE_SIZE - 1));
        if (chunk > len - done)
            chunk = len - done;
        if (!physmem_rw(cpu->mem, phys, b + done, chunk, write))
            break;
        if (write)
            cpu_invalidate_code_page(cpu, phys);
        done += chunk;
    }
    return done;
}
