/* Several vCPUs on one guest RAM (DESIGN.md "The software CPU", SMP): the
 * code-page protocol between the vCPUs, and the queue through which one
 * vCPU asks another to drop decoded blocks at its next block boundary.
 *
 * The rules, each vCPU n on its own thread:
 * - n sets its code_map bit of a page before it reads the page's bytes to
 *   decode them, and keeps it while it holds blocks from the page.
 * - No vCPU keeps a write TLB entry for a page whose code_map is non-zero:
 *   the vCPU that sets a bit then drops every vCPU's write entries for the
 *   page (atomic stores into their TLBs), and a TLB fill re-checks code_map
 *   after it published a write entry (mmu.c). Both sides order their store
 *   and load with seq_cst, so one of them sees the other.
 * - A write that reaches a code page on the slow path lands first, then
 *   takes all the page's bits (exchange with 0) and tells each holder: the
 *   writing vCPU drops its own blocks at once (its block ends after the
 *   instruction), the others get a request they act on at their next block
 *   boundary. A vCPU that marks the page after the exchange reads the new
 *   bytes.
 * What stays open is a store that passed its TLB check just before another
 * vCPU marked the page and lands after that vCPU decoded it: a store in
 * flight, which cross-modifying code on hardware must also wait out (the
 * writer finishes, then signals the executor; SDM Vol. 3A 8.1.3). */
#include <pthread.h>
#include <stdlib.h>

#include "cpu/cpu_int.h"

/* Pending page drops per vCPU; more than this and it drops all its blocks. */
#define SMP_QUEUE_PAGES 64

struct cpu_smp {
    pthread_mutex_t lock;
    unsigned n;
    bool overflow;
    uint64_t pages[SMP_QUEUE_PAGES];
};

static uint8_t cpu_bit(const struct cpu *cpu)
{
    return (uint8_t)(1u << cpu->index);
}

static struct cpu *vcpu_at(struct physmem *mem, int i)
{
    return __atomic_load_n(&mem->vcpus[i], __ATOMIC_ACQUIRE);
}

static void drop_holders(struct physmem *mem, struct cpu *self, uint32_t ram_index, uint64_t page);

/* physmem_rw wrote RAM that holds code (DMA, loaders): any thread. */
static void code_written(struct physmem *pm, uint64_t gpa)
{
    phys_page pp = physmem_page(pm, gpa);
    if (pp.ram_index != UINT32_MAX)
        drop_holders(pm, NULL, pp.ram_index, gpa & PAGE_MASK);
}

int smp_attach(struct cpu *cpu)
{
    if (cpu->index < 0 || cpu->index >= PHYSMEM_MAX_VCPUS)
        return -1;
    struct cpu_smp *q = calloc(1, sizeof(*q));
    if (!q || pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return -1;
    }
    cpu->smp = q;
    atomic_store(&cpu->smp_request, 0);
    cpu->mem->code_written = code_written;
    __atomic_store_n(&cpu->mem->vcpus[cpu->index], cpu, __ATOMIC_RELEASE);
    return 0;
}

void smp_detach(struct cpu *cpu)
{
    if (!cpu->smp)
        return;
    void *self = cpu;
    __atomic_compare_exchange_n(&cpu->mem->vcpus[cpu->index], &self, NULL, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    pthread_mutex_destroy(&cpu->smp->lock);
    free(cpu->smp);
    cpu->smp = NULL;
}

static void post(struct cpu *to, uint64_t page)
{
    struct cpu_smp *q = to->smp;
    pthread_mutex_lock(&q->lock);
    if (q->n < SMP_QUEUE_PAGES)
        q->pages[q->n++] = page;
    else
        q->overflow = true;
    atomic_store_explicit(&to->smp_request, 1, memory_order_release);
    pthread_mutex_unlock(&q->lock);
}

void smp_process_requests(struct cpu *cpu)
{
    struct cpu_smp *q = cpu->smp;
    uint64_t pages[SMP_QUEUE_PAGES];
    pthread_mutex_lock(&q->lock);
    unsigned n = q->n;
    bool all = q->overflow;
    memcpy(pages, q->pages, n * sizeof(pages[0]));
    q->n = 0;
    q->overflow = false;
    atomic_store_explicit(&cpu->smp_request, 0, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
    if (all) {
        blocks_flush(cpu);
        return;
    }
    for (unsigned i = 0; i < n; i++)
        blocks_invalidate_page(cpu, pages[i]);
}

void smp_mark_code_page(struct cpu *cpu, uint64_t page)
{
    phys_page pp = physmem_page(cpu->mem, page);
    if (pp.ram_index == UINT32_MAX)
        return;
    uint8_t bit = cpu_bit(cpu);
    uint8_t *m = &cpu->mem->code_map[pp.ram_index];
    if (__atomic_load_n(m, __ATOMIC_RELAXED) & bit)
        return;
    __atomic_fetch_or(m, bit, __ATOMIC_SEQ_CST);
    for (int i = 0; i < PHYSMEM_MAX_VCPUS; i++) {
        struct cpu *o = vcpu_at(cpu->mem, i);
        if (o)
            tlb_drop_writes_to(o, page & PAGE_MASK);
    }
}

/* Takes the page's code_map bits after a write landed and tells each
 * holder; `self` (or NULL) is the calling vCPU, which drops at once. */
static void drop_holders(struct physmem *mem, struct cpu *self, uint32_t ram_index, uint64_t page)
{
    uint8_t *m = &mem->code_map[ram_index];
    /* The write before, the load after: no store-load reordering here. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!__atomic_load_n(m, __ATOMIC_RELAXED))
        return;
    uint8_t bits = __atomic_exchange_n(m, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < PHYSMEM_MAX_VCPUS; i++) {
        if (!(bits & (1u << i)))
            continue;
        struct cpu *o = vcpu_at(mem, i);
        if (o && o == self)
            blocks_invalidate_page(self, page);
        else if (o)
            post(o, page);
    }
}

void smp_phys_written(struct cpu *cpu, uint64_t phys)
{
    phys_page pp = physmem_page(cpu->mem, phys);
    if (pp.ram_index != UINT32_MAX)
        drop_holders(cpu->mem, cpu, pp.ram_index, phys & PAGE_MASK);
}

void cpu_invalidate_code_page(struct cpu *cpu, uint64_t gpa)
{
    phys_page pp = physmem_page(cpu->mem, gpa);
    /* Any thread: even this vCPU hears of it through its queue. */
    if (pp.ram_index != UINT32_MAX)
        drop_holders(cpu->mem, NULL, pp.ram_index, gpa & PAGE_MASK);
}

void smp_clear_code_marks(struct cpu *cpu)
{
    uint8_t bit = cpu_bit(cpu);
    uint8_t *map = cpu->mem->code_map;
    size_t npages = cpu->mem->ram_size >> PAGE_SHIFT;
    for (size_t i = 0; i < npages; i++)
        if (__atomic_load_n(&map[i], __ATOMIC_RELAXED) & bit)
            __atomic_fetch_and(&map[i], (uint8_t)~bit, __ATOMIC_SEQ_CST);
}
