/* The execution loop and the cache of decoded blocks.
 *
 * A block is a run of decoded instructions starting at a guest physical
 * address, ending at an unconditional branch or other OPF_END instruction
 * or at the end of the page (a conditional branch, taken, leaves it early). Blocks are found through a hash on (physical address, mode) and
 * are dropped page by page when the guest writes a page that holds code.
 * Interrupts, requests and the budget are checked between blocks. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu_int.h"

#define BLOCK_MAX_INSNS 64
#define LOOP_SLICE 4096           /* instructions an in-block loop runs between checks */
#define ARENA_BYTES (16u << 20)   /* decoded code before a full flush */
#define HASH_BITS 15
#define PAGE_HASH_BITS 12
#define NO_PAGE (~0ull)

struct block {
    uint64_t phys;              /* physical address of the first byte */
    uint64_t phys2;             /* second page touched by the last insn, or NO_PAGE */
    uint64_t lin2;              /* its linear page, to recheck the mapping */
    uint64_t lin1;              /* the linear page of the first byte when built */
    uint32_t lin2_epoch;        /* chain_epoch at which lin2 -> phys2 last held */
    struct block *hash_next;
    /* Chaining: the blocks that followed this one, found again without the
     * hash while cpu->chain_epoch is unchanged (it moves with every TLB or
     * block flush, invalidation, and change of mode or CPL). */
    struct block *succ[2];
    uint64_t succ_lin[2];
    uint32_t succ_epoch[2];
    uint8_t succ_next;
    uint32_t n;
    uint32_t span;              /* offset of its last byte from its first */
    uint8_t mode;
    bool valid;
    struct insn insns[];
};

/* Which blocks use a physical page: a list per page-hash bucket. */
struct page_ref {
    uint64_t page;
    struct block *b;
    struct page_ref *next;
};

/* The block last found at a linear address: where links do not reach
 * (returns, indirect jumps, a block's third exit), found without the hash. */
#define JUMP_BITS 12
struct jump_entry {
    uint64_t lin;
    struct block *b;
    uint32_t epoch;             /* cpu->chain_epoch it was found in */
};

struct cpu_block_cache {
    struct block *scratch;      /* a one-instruction block that is never cached */
    struct jump_entry jump[1u << JUMP_BITS];
    uint8_t *arena;
    size_t used;
    struct block *hash[1u << HASH_BITS];
    struct page_ref *pages[1u << PAGE_HASH_BITS];
};

static unsigned hash_of(uint64_t phys, uint8_t mode)
{
    uint64_t h = (phys ^ ((uint64_t)mode << 40)) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> (64 - HASH_BITS));
}

static unsigned page_hash(uint64_t page)
{
    return (unsigned)(((page >> PAGE_SHIFT) * 0x9e3779b97f4a7c15ull) >> (64 - PAGE_HASH_BITS));
}

int cpu_blocks_init(struct cpu *cpu)
{
    struct cpu_block_cache *bc = calloc(1, sizeof(*bc));
    if (!bc)
        return -1;
    bc->arena = malloc(ARENA_BYTES);
    bc->scratch = calloc(1, sizeof(struct block) + 2 * sizeof(struct insn));
    if (!bc->arena || !bc->scratch || smp_attach(cpu) < 0) {
        free(bc->arena);
        free(bc->scratch);
        free(bc);
        return -1;
    }
    cpu->blocks = bc;
    return 0;
}

void cpu_blocks_destroy(struct cpu *cpu)
{
    if (cpu->blocks) {
        smp_detach(cpu);
        free(cpu->blocks->scratch);
        free(cpu->blocks->arena);
        free(cpu->blocks);
        cpu->blocks = NULL;
    }
}

void blocks_flush(struct cpu *cpu)
{
    struct cpu_block_cache *bc = cpu->blocks;
    memset(bc->hash, 0, sizeof(bc->hash));
    memset(bc->pages, 0, sizeof(bc->pages));
    memset(bc->jump, 0, sizeof(bc->jump));
    bc->used = 0;
    chain_expire(cpu);
    /* Code-page marks of this vCPU go too. */
    smp_clear_code_marks(cpu);
    cpu->block_end = true;
}

static void unlink_hash(struct cpu_block_cache *bc, struct block *b)
{
    struct block **pp = &bc->hash[hash_of(b->phys, b->mode)];
    while (*pp && *pp != b)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = b->hash_next;
}

void blocks_invalidate_page(struct cpu *cpu, uint64_t page)
{
    struct cpu_block_cache *bc = cpu->blocks;
    struct page_ref **pp = &bc->pages[page_hash(page)];
    while (*pp) {
        struct page_ref *r = *pp;
        if (r->page != page) {
            pp = &r->next;
            continue;
        }
        if (r->b->valid) {
            r->b->valid = false;
            unlink_hash(bc, r->b);
            chain_expire(cpu);
        }
        *pp = r->next;
    }
    cpu->block_end = true;
}

static void page_link(struct cpu_block_cache *bc, struct block *b, uint64_t page)
{
    struct page_ref *r = (struct page_ref *)(void *)(bc->arena + bc->used);
    bc->used += sizeof(*r);
    r->page = page;
    r->b = b;
    r->next = bc->pages[page_hash(page)];
    bc->pages[page_hash(page)] = r;
}

/* Breakpoints start blocks, so the check between blocks finds them. */
static bool is_breakpoint(const struct cpu *cpu, uint64_t lin)
{
    for (int i = 0; i < cpu->n_breakpoints; i++)
        if (cpu->breakpoints[i] == lin)
            return true;
    return false;
}

/* The step after a block's last record: the block ends after that one,
 * with RIP at the address after it. */
static const struct insn *step_fall_out(struct cpu *cpu, const struct insn *in)
{
    cpu->s.rip = insn_rip(cpu, in);
    return block_leave(cpu, in - 1);
}

/* The sentinel after record idx - 1, whose next address is entry + off. */
static void set_fall_out(struct insn *in, uint32_t idx, uint64_t off)
{
    memset(in, 0, sizeof(*in));
    in->step = step_fall_out;
    in->idx = (uint8_t)idx;
    in->off = (int16_t)off;
}

const struct insn *insn_step_generic(struct cpu *cpu, const struct insn *in)
{
    cpu->s.rip = insn_rip(cpu, in);
    cpu->next_rip = (cpu->s.rip + in->len) & cpu->ip_mask;
    in->fn(cpu, in);
    cpu->s.rip = cpu->next_rip;
    if (unlikely(cpu->block_end))
        return insn_leave(cpu, in);
    return in[1].step(cpu, in + 1);   /* a tail call, as fast_next() */
}

/* A JMP rel in 64-bit mode to a target in its own page, where the block
 * goes on (the target is canonical: its page is; the next record knows its
 * address). */
static const struct insn *step_jmp_within(struct cpu *cpu, const struct insn *in)
{
    return in[1].step(cpu, in + 1);
}

/* How far past record `in` its block falls out when `in` is the last
 * record: the next instruction, or the target of a JMP the block went on at
 * (the block then stopped there: a breakpoint, its size, TF). */
static uint64_t fall_out_after(const struct insn *in)
{
    return in->len + (in->step == step_jmp_within ? in->imm : 0);
}

/* Superblocks and in-block loops are for 64-bit code, where no CS limit
 * applies, and for branches that run a specialised handler (fast_end). */
static bool fast_branch64(const struct cpu *cpu, const struct insn *in)
{
    return cpu_is64(cpu) && in->step != insn_step_generic && in->opsize == 8;
}

static bool is_jmp_rel(const struct cpu *cpu, const struct insn *in)
{
    return (in->op == (OP1 | 0xeb) || in->op == (OP1 | 0xe9)) && fast_branch64(cpu, in);
}

static bool is_jcc(const struct cpu *cpu, const struct insn *in)
{
    return ((in->op & ~0xf) == (OP1 | 0x70) || (in->op & ~0xf) == (OP0F | 0x80)) && fast_branch64(cpu, in);
}

/* The record of the first n that starts at rip, or -1. */
static int record_at(const uint64_t *rips, uint32_t n, uint64_t rip)
{
    for (uint32_t k = 0; k < n; k++)
        if (rips[k] == rip)
            return (int)k;
    return -1;
}

/* An instruction at lin may spill onto the next page (at most 15 bytes,
 * SDM Vol. 2 2.3.11): that page is marked before its bytes are read too. */
#define INSN_MAX_BYTES 15
static void premark_next_page(struct cpu *cpu, uint64_t lin)
{
    uint64_t p2;
    if ((lin & (PAGE_SIZE - 1)) > PAGE_SIZE - INSN_MAX_BYTES &&
        cpu_debug_translate(cpu, (lin | (PAGE_SIZE - 1)) + 1, &p2))
        smp_mark_code_page(cpu, p2 & PAGE_MASK);
}

/* Decodes the instruction at ip into out for a block that has records
 * already. A fault there must leave no trace (CR2 included): it faults for
 * real only if execution reaches it; false then. */
static bool decode_later(struct cpu *cpu, uint64_t ip, struct insn *out)
{
    jmp_buf jb, *outer = cpu->jmp;
    uint64_t cr2 = cpu->s.cr2;
    cpu->jmp = &jb;
    if (setjmp(jb)) {
        cpu->jmp = outer;
        cpu->s.cr2 = cr2;
        return false;
    }
    premark_next_page(cpu, cpu->s.seg[S_CS].base + ip);
    cpu_decode(cpu, ip, out);
    cpu->jmp = outer;
    return true;
}

/* Whether a block may take in the instruction at `lin` after the ones it
 * has: not under single steps or TF (one instruction a block), not past its
 * page, not onto a breakpoint (breakpoints start blocks). */
static bool block_goes_on(struct cpu *cpu, uint64_t lin, uint64_t lin_page)
{
    return !cpu->single_step && !(cpu->s.rflags & FL_TF) && (lin & PAGE_MASK) == lin_page &&
           !(cpu->n_breakpoints && is_breakpoint(cpu, lin)) && !(cpu->dr_exec && dr_exec_hit(cpu, lin));
}

/* Multi-byte NOPs (0F 1F) get no record in 64-bit code: the record after
 * one runs next and counts it (insn->pos). Every kernel function starts
 * with one (its ftrace site), and static keys are NOPs too. Only within the
 * block's page, and while insn->pos fits. (Elsewhere the CS limit check
 * sums the records' lengths.) `pos`: the NOP's own position in the block. */
static bool is_nop_without_record(const struct cpu *cpu, const struct insn *in, unsigned pos, uint64_t start_lin,
                                  uint64_t lin_page)
{
    return in->op == (OP0F | 0x1f) && cpu_is64(cpu) && pos < UINT8_MAX && (start_lin & PAGE_MASK) == lin_page &&
           ((start_lin + in->len - 1) & PAGE_MASK) == lin_page;
}

/* A block that starts with such a NOP (a CALL's target) starts its records
 * at the instruction after it, if the block may go on to that one and it
 * decodes: at most one NOP, so that a block run as one instruction
 * (cpu_run, under TF or an interrupt shadow) can run the NOP alone. */
static bool skip_leading_nop(struct cpu *cpu, struct insn *first, uint64_t *ip, uint64_t ip_mask, uint64_t lin_page)
{
    uint64_t next = (*ip + first->len) & ip_mask;
    struct insn after;
    if (!is_nop_without_record(cpu, first, 0, cpu->s.seg[S_CS].base + *ip, lin_page) ||
        !block_goes_on(cpu, cpu->s.seg[S_CS].base + next, lin_page) || !decode_later(cpu, next, &after))
        return false;
    *first = after;
    *ip = next;
    return true;
}

/* A CMP or TEST just before a Jcc of 64-bit code runs the Jcc too
 * (fast_fused_jcc): one dispatch less, and the condition read off the
 * comparison without the lazy flags' tests. Compilers put one before most
 * Jccs. */
static void fuse_with_jcc(struct insn *jcc)
{
    if (jcc->idx == 0)
        return;
    struct insn *flagger = jcc - 1;
    insn_step f = fast_fused_jcc(flagger->step, jcc->op & 0xf);
    if (f) {
        flagger->step = f;
        flagger->fused = 1;
    }
}

/* Decodes a new block at CS:rip, whose first byte is at `phys`. */
static struct block *build_block(struct cpu *cpu, uint64_t phys)
{
    struct cpu_block_cache *bc = cpu->blocks;
    size_t need = sizeof(struct block) + (BLOCK_MAX_INSNS + 1) * sizeof(struct insn) + 2 * sizeof(struct page_ref);
    if (bc->used + need > ARENA_BYTES)
        blocks_flush(cpu);
    struct block *b = (struct block *)(void *)(bc->arena + bc->used);
    b->phys = phys;
    b->phys2 = NO_PAGE;
    b->lin2 = 0;
    b->mode = cpu->mode;
    b->n = 0;
    b->valid = true;
    b->succ[0] = b->succ[1] = NULL;
    b->succ_next = 0;

    uint64_t ip = cpu->s.rip;
    uint64_t ip_mask = cpu_is64(cpu) ? ~0ull : (cpu->mode & MODE_CS32) ? 0xffffffffull : 0xffff;
    uint64_t page = phys & PAGE_MASK;
    uint64_t lin_page = (cpu->s.seg[S_CS].base + ip) & PAGE_MASK;

    /* Marked before its bytes are read: a write from another vCPU after
     * this point reaches us (smp.c). */
    smp_mark_code_page(cpu, page);
    /* The first instruction's faults are raised; a later one that faults
     * just ends the block (it faults when it is reached). */
    uint64_t rips[BLOCK_MAX_INSNS];
    premark_next_page(cpu, cpu->s.seg[S_CS].base + ip);
    cpu_decode(cpu, ip, &b->insns[0]);
    const uint64_t entry = ip;
    /* Instructions the block holds so far: its records and the NOPs without. */
    unsigned pos = skip_leading_nop(cpu, &b->insns[0], &ip, ip_mask, lin_page) ? 1 : 0;
    for (;;) {
        struct insn *in = &b->insns[b->n];
        uint64_t start_lin = cpu->s.seg[S_CS].base + ip;
        uint64_t end_lin = start_lin + in->len - 1;
        if (b->n > 0 && is_nop_without_record(cpu, in, pos, start_lin, lin_page)) {
            pos++;
            ip = (ip + in->len) & ip_mask;
            goto next;
        }
        rips[b->n] = ip;
        in->idx = (uint8_t)b->n;
        in->loop_to = 0;
        in->pos = (uint8_t)pos++;
        b->n++;
        if ((end_lin & PAGE_MASK) != (start_lin & PAGE_MASK) || (start_lin & PAGE_MASK) != lin_page) {
            /* The instruction spills onto the next page. */
            uint64_t p2;
            if (!cpu_debug_translate(cpu, end_lin & PAGE_MASK, &p2)) {
                in->last = 1;
                break;
            }
            b->phys2 = p2 & PAGE_MASK;
            b->lin2 = end_lin & PAGE_MASK;
            b->lin1 = lin_page;
            b->lin2_epoch = cpu->chain_epoch;
            in->last = 1;
            break;
        }
        ip = (ip + in->len) & ip_mask;
        if (is_jmp_rel(cpu, in)) {
            /* Superblock: a JMP within the page continues the block at its
             * target, or loops back to a record of it. */
            uint64_t target = ip + in->imm;
            int k = record_at(rips, b->n, target);
            if (k >= 0) {
                in->loop_to = (uint8_t)(k + 1);
            } else if ((target & PAGE_MASK) == lin_page && !cpu->single_step && !(cpu->s.rflags & FL_TF)) {
                in->step = step_jmp_within;
                in->last = 0;
                ip = target;
            }
        }
        if (in->last)
            break;
    next:
        if (b->n == BLOCK_MAX_INSNS || !block_goes_on(cpu, cpu->s.seg[S_CS].base + ip, lin_page)) {
            b->insns[b->n - 1].last = 1;
            break;
        }
        if (!decode_later(cpu, ip, &b->insns[b->n])) {
            b->insns[b->n - 1].last = 1;
            break;
        }
    }
    b->span = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct insn *in = &b->insns[i];
        /* (a block lies within a page, so this fits; 16-bit code wraps
         * through ip_mask) */
        in->off = (int16_t)(rips[i] - entry);
        b->span += in->len;
        /* A taken Jcc into the block runs on there (fast_end). */
        if (is_jcc(cpu, in)) {
            int k = record_at(rips, b->n, rips[i] + in->len + in->imm);
            if (k >= 0)
                in->loop_to = (uint8_t)(k + 1);
            fuse_with_jcc(in);
        }
    }
    b->span--;
    set_fall_out(&b->insns[b->n], b->n, rips[b->n - 1] + fall_out_after(&b->insns[b->n - 1]) - entry);
    bc->used += sizeof(struct block) + (b->n + 1) * sizeof(struct insn);
    bc->used = (bc->used + 15) & ~(size_t)15;

    unsigned h = hash_of(phys, b->mode);
    b->hash_next = bc->hash[h];
    bc->hash[h] = b;
    page_link(bc, b, page);
    if (b->phys2 != NO_PAGE) {
        page_link(bc, b, b->phys2);
        smp_mark_code_page(cpu, b->phys2);
    }
    return b;
}

static struct block *find_block(struct cpu *cpu);

/* One instruction decoded afresh, for code that a cached block would run
 * past the CS limit: its own fetch then checks the limit. */
static struct block *one_insn_block(struct cpu *cpu, uint64_t phys)
{
    struct block *b = cpu->blocks->scratch;
    memset(b, 0, sizeof(*b));
    b->phys = phys;
    b->phys2 = NO_PAGE;
    b->mode = cpu->mode;
    b->n = 1;
    cpu_decode(cpu, cpu->s.rip, &b->insns[0]);
    b->insns[0].last = 1;
    b->insns[0].idx = 0;
    b->insns[0].loop_to = 0;
    b->insns[0].off = 0;
    set_fall_out(&b->insns[1], 1, fall_out_after(&b->insns[0]));
    b->span = b->insns[0].len - 1u;
    return b;   /* not valid: never cached nor linked */
}

/* A cached block fits under the CS limit it is run with now? */
static struct block *within_limit(struct cpu *cpu, struct block *b)
{
    if (likely(cpu->mode & MODE_CS64) || cpu->s.rip + b->span <= cpu->s.seg[S_CS].limit)
        return b;
    return one_insn_block(cpu, b->phys);
}

/* What the run after block b will read first, asked of the host's caches
 * while b runs: b's links (read when it ends), and for each block linked
 * after it, its first records and its own links. Kernel code leaves a block
 * every three or four instructions, and these lines are often out of the
 * L1 cache by then (a 4 KiB random read through AHCI runs some 18000 guest
 * instructions, 56 bytes of record each): asking early took 7%
 * off the vCPU time of that benchmark (docs/cpu.md). */
static inline void prefetch_links(const struct block *b)
{
    /* succ, succ_lin and succ_epoch lie together: their two ends */
    __builtin_prefetch(&b->succ[0]);
    __builtin_prefetch(&b->succ_epoch[1]);
}

static inline void prefetch_successors(const struct block *b)
{
    prefetch_links(b);
    for (int i = 0; i < 2; i++) {
        const struct block *s = b->succ[i];
        if (s) {
            __builtin_prefetch(s->insns);
            __builtin_prefetch((const char *)s->insns + 64);
            prefetch_links(s);
        }
    }
}

/* The block linked after b for the current CS:RIP, or NULL. */
static inline struct block *linked_successor(struct cpu *cpu, struct block *b)
{
    uint64_t lin = cpu->s.seg[S_CS].base + cpu->s.rip;
    for (int i = 0; i < 2; i++)
        if (b->succ_lin[i] == lin && b->succ_epoch[i] == cpu->chain_epoch && b->succ[i])
            return within_limit(cpu, b->succ[i]);
    return NULL;
}

static unsigned jump_hash(uint64_t lin)
{
    return (unsigned)((lin * 0x9e3779b97f4a7c15ull) >> (64 - JUMP_BITS));
}

/* The block the jump cache holds for linear address lin, or NULL. */
static inline struct block *jump_cached(struct cpu *cpu, uint64_t lin)
{
    const struct jump_entry *j = &cpu->blocks->jump[jump_hash(lin)];
    return j->lin == lin && j->epoch == cpu->chain_epoch ? j->b : NULL;
}

/* What every block starts with, from cpu_run or run on (block_leave):
 * RIP is its first instruction's. */
static inline void begin_block(struct cpu *cpu, const struct block *b)
{
    prefetch_successors(b);
    cpu->blk_rip = cpu->s.rip;
    cpu->block_end = false;     /* (a slow form's taken branch may have set it) */
}

/* The block at CS:RIP through the jump cache or the hash, linked after
 * prev (if any) for next time. */
static struct block *lookup_block(struct cpu *cpu, struct block *prev)
{
    uint64_t lin = cpu->s.seg[S_CS].base + cpu->s.rip;
    struct block *found = jump_cached(cpu, lin);
    if (!found) {
        struct jump_entry *j = &cpu->blocks->jump[jump_hash(lin)];
        found = find_block(cpu);
        if (found->valid)
            *j = (struct jump_entry){.lin = lin, .b = found, .epoch = cpu->chain_epoch};
    }
    struct block *b = within_limit(cpu, found);
    /* Never a link to the scratch block: its contents change. */
    if (prev && prev->valid && b->valid) {
        int i = prev->succ_next;
        prev->succ_next ^= 1;
        prev->succ[i] = b;
        prev->succ_lin[i] = lin;
        prev->succ_epoch[i] = cpu->chain_epoch;
    }
    return b;
}

/* Requests from other threads: to leave cpu_run, a debugger's stop, SMP work. */
static inline bool requests_pending(struct cpu *cpu)
{
    return atomic_load_explicit(&cpu->exit_request, memory_order_relaxed) |
           atomic_load_explicit(&cpu->debug_stop, memory_order_relaxed) |
           atomic_load_explicit(&cpu->smp_request, memory_order_relaxed);
}

/* The block record `in` belongs to. */
static struct block *block_of(const struct insn *in)
{
    return (struct block *)(void *)((char *)(uintptr_t)(in - in->idx) - offsetof(struct block, insns));
}

/* Nothing raised from outside the running code that the checks between
 * blocks act on: a request or an interrupt from another thread, an NMI, a
 * change of the memory map. (What the guest does to IF, TF, the interrupt
 * shadow, HLT or the mode goes through generic handlers that end their
 * block into cpu_run.) */
static inline bool nothing_raised(struct cpu *cpu)
{
    if (requests_pending(cpu) | atomic_load_explicit(&cpu->nmi_pending, memory_order_relaxed))
        return false;
    if (atomic_load_explicit(&cpu->intr_line, memory_order_relaxed) && (cpu->s.rflags & FL_IF))
        return false;
    return cpu->mem_generation == cpu->mem->generation;
}

/* A 64-bit block left by a specialised handler (a taken branch, a CALL or
 * RET, the fall-out), RIP at where it goes: the next block runs on from
 * here, a tail call like the records' own, when cpu_run would do nothing
 * but find it. That is, within cpu->run_limit (0 when anything was
 * pending as the run began; at most LOOP_SLICE instructions on), nothing
 * raised since, and the next block linked from this one or in the jump
 * cache. Otherwise the block ends into cpu_run (insn_leave). */
const struct insn *block_leave(struct cpu *cpu, const struct insn *in)
{
    uint64_t n = cpu->insn_count + in->pos + 1u;
    if (n < cpu->run_limit && (cpu->mode & MODE_CS64) && !cpu->dr_trap && nothing_raised(cpu)) {
        /* (64-bit: within_limit() passes every block) */
        struct block *next = linked_successor(cpu, block_of(in));
        if (!next)
            next = jump_cached(cpu, cpu->s.seg[S_CS].base + cpu->s.rip);
        if (next) {
            cpu->insn_count = n;
            begin_block(cpu, next);
            return next->insns[0].step(cpu, next->insns);
        }
    }
    return insn_leave(cpu, in);
}

/* The block at CS:RIP, through prev's successor links when they still hold. */
static struct block *next_block(struct cpu *cpu, struct block *prev)
{
    if (prev) {
        struct block *s = linked_successor(cpu, prev);
        if (s)
            return s;
    }
    return lookup_block(cpu, prev);
}

/* A block whose last instruction runs onto the next page is this code only
 * while that page maps phys2 (and the block is entered at the linear page
 * it was built at). Checked once per chain epoch: like a TLB, the block
 * keeps a translation until a flush or INVLPG (SDM Vol. 3A 4.10.4). */
static bool second_page_holds(struct cpu *cpu, struct block *b, uint64_t lin)
{
    if ((lin & PAGE_MASK) != b->lin1)
        return false;
    if (b->lin2_epoch == cpu->chain_epoch)
        return true;
    uint64_t p2;
    if (!cpu_debug_translate(cpu, b->lin2, &p2) || (p2 & PAGE_MASK) != b->phys2)
        return false;
    b->lin2_epoch = cpu->chain_epoch;
    return true;
}

static struct block *find_block(struct cpu *cpu)
{
    uint64_t off = cpu->s.rip;
    uint64_t lin = seg_lin(cpu, S_CS, off, 1, ACC_X);
    struct tlb_entry *e = tlb_entry(cpu, lin, ACC_X);
    uint64_t phys;
    if (likely(e->tag_x == (lin & PAGE_MASK)))
        phys = tlb_page_of(cpu, e)->phys | (lin & (PAGE_SIZE - 1));
    else
        phys = mmu_translate(cpu, lin, ACC_X);

    struct cpu_block_cache *bc = cpu->blocks;
    for (struct block *b = bc->hash[hash_of(phys, cpu->mode)]; b; b = b->hash_next) {
        if (b->phys != phys || b->mode != cpu->mode)
            continue;
        if (b->phys2 != NO_PAGE && !second_page_holds(cpu, b, lin))
            continue;
        return b;
    }
    return build_block(cpu, phys);
}

/* --- exceptions ------------------------------------------------------------ */

bool cpu_exc_has_error(int vec)
{
    switch (vec) {
    case EXC_DF: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP: case EXC_PF: case EXC_AC:
    case 21: /* #CP */
        return true;
    default:
        return false;
    }
}

_Noreturn void cpu_raise(struct cpu *cpu, int vec, uint32_t err)
{
    cpu->exc_vec = vec;
    cpu->exc_err = err;
    cpu->exc_has_err = cpu_exc_has_error(vec);
    longjmp(*(jmp_buf *)cpu->jmp, 1);
}

/* Exception classes for double-fault detection (SDM Vol. 3A table 6-4). */
static int exc_class(int vec)
{
    switch (vec) {
    case EXC_DE: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP: return 1; /* contributory */
    case EXC_PF: return 2;
    case EXC_DF: return 3;
    default: return 0; /* benign */
    }
}

static void deliver_exception(struct cpu *cpu)
{
    int vec = cpu->exc_vec;
    uint32_t err = cpu->exc_err;
    bool has_err = cpu->exc_has_err;

    if (cpu->trace)
        fprintf(cpu->trace, "exception %d err=%#x at %04x:%#" PRIx64 "\n", vec, err,
                cpu->s.seg[S_CS].sel, cpu->s.rip);
    if (cpu->delivering >= 0) {
        int first = exc_class(cpu->delivering), second = exc_class(vec);
        if (first == 3) {
            /* A fault while delivering #DF: shutdown (SDM Vol. 3A 6.15, interrupt 8). */
            cpu->delivering = -1;
            cpu->exit_reason = CPU_EXIT_RESET;
            return;
        }
        if ((first == 1 && second == 1) || (first == 2 && (second == 1 || second == 2))) {
            vec = EXC_DF;
            err = 0;
            has_err = true;
        }
    }
    cpu->delivering = vec;
    cpu->s.halted = false;
    cpu->next_rip = cpu->s.rip;
    flags_materialize(cpu);
    cpu_interrupt(cpu, vec, INTR_EXC, has_err, err);
    cpu->delivering = -1;
}

/* --- the loop --------------------------------------------------------------- */

static bool take_interrupt(struct cpu *cpu)
{
    if (atomic_load_explicit(&cpu->nmi_pending, memory_order_relaxed) && !cpu->s.nmi_blocked) {
        atomic_store(&cpu->nmi_pending, 0);
        cpu->s.halted = false;
        cpu->s.nmi_blocked = true;
        cpu->next_rip = cpu->s.rip;
        cpu_interrupt(cpu, EXC_NMI, INTR_NMI, false, 0);
        return true;
    }
    if (atomic_load_explicit(&cpu->intr_line, memory_order_relaxed) && (cpu->s.rflags & FL_IF)) {
        int vec = cpu->bus.intr_ack(cpu->bus.opaque);
        if (vec < 0)
            return false;
        cpu->s.halted = false;
        cpu->next_rip = cpu->s.rip;
        if (cpu->trace)
            fprintf(cpu->trace, "interrupt %d at %04x:%#" PRIx64 "\n", vec, cpu->s.seg[S_CS].sel,
                    cpu->s.rip);
        cpu_interrupt(cpu, vec, INTR_EXT, false, 0);
        return true;
    }
    return false;
}

static bool at_breakpoint(struct cpu *cpu)
{
    return is_breakpoint(cpu, cpu->s.seg[S_CS].base + cpu->s.rip);
}

/* Stopping for the debugger: the instruction there runs when it resumes. */
static enum cpu_exit debug_exit(struct cpu *cpu)
{
    cpu->resume_at_bp = true;
    return CPU_EXIT_DEBUG;
}

/* Nothing that the top of the loop handles is pending: no request, no
 * interrupt to take, no shadow, HLT, single step, RF, breakpoint, trace or
 * map change (the budget aside). */
static inline bool may_continue(struct cpu *cpu)
{
    return nothing_raised(cpu) &&
           !((cpu->s.rflags & (FL_TF | FL_RF)) | cpu->s.intr_shadow | cpu->s.halted | cpu->single_step |
             cpu->n_breakpoints | cpu->dr_exec | (cpu->trace != NULL));
}

static inline bool quiet(struct cpu *cpu, uint64_t limit)
{
    return cpu->insn_count < limit && may_continue(cpu);
}

/* Where in-block loops (fast_end) stop for the checks between blocks: at
 * the budget, or after LOOP_SLICE instructions, which bounds how late a
 * request or an interrupt from another thread is seen. */
static inline uint64_t loop_limit(const struct cpu *cpu, uint64_t limit)
{
    return limit - cpu->insn_count > LOOP_SLICE ? cpu->insn_count + LOOP_SLICE : limit;
}

enum cpu_exit cpu_run(struct cpu *cpu, uint64_t budget)
{
    jmp_buf jb;
    const uint64_t limit = cpu->insn_count + budget;

    cpu->jmp = &jb;
    cpu->exit_reason = CPU_EXIT_BUDGET;
    if (setjmp(jb)) {
        cpu->jmp = &jb;
        /* A fault counts as an instruction, so that a guest faulting in a
         * loop still ends its budget. */
        cpu->insn_count++;
        cpu->dr_trap = false;   /* a faulting instruction reports no data breakpoint */
        deliver_exception(cpu);
        if (cpu->exit_reason == CPU_EXIT_RESET)
            return CPU_EXIT_RESET;
        if (cpu->single_step)
            return debug_exit(cpu);
    }
    struct block *prev = NULL;
    uint32_t prev_epoch = 0;
    for (;;) {
        /* Requests from other threads: one test in the common case. */
        if (unlikely(requests_pending(cpu))) {
            /* Code-page drops from other vCPUs (smp.c). */
            if (atomic_load_explicit(&cpu->smp_request, memory_order_acquire))
                smp_process_requests(cpu);
            if (atomic_exchange(&cpu->exit_request, 0))
                return CPU_EXIT_REQUEST;
            if (atomic_exchange(&cpu->debug_stop, false))
                return debug_exit(cpu);
        }
        if (cpu->insn_count >= limit)
            return CPU_EXIT_BUDGET;
        if (cpu->mem_generation != cpu->mem->generation)
            tlb_flush(cpu, false);
        /* STI / MOV SS shadow: no interrupt now, and only the one
         * instruction runs before the next check (SDM Vol. 3A 6.8.3). */
        bool shadow = cpu->s.intr_shadow;
        if (shadow)
            cpu->s.intr_shadow = 0;
        else if (!cpu->single_step)   /* a debugger's stepi stays put */
            take_interrupt(cpu);
        if (cpu->s.halted)
            return cpu->single_step ? debug_exit(cpu) : CPU_EXIT_HALT;
        if (cpu->n_breakpoints && !cpu->resume_at_bp && at_breakpoint(cpu))
            return debug_exit(cpu);
        cpu->resume_at_bp = false;
        if (unlikely(cpu->dr_exec) && dr_exec_fault(cpu))
            cpu_raise(cpu, EXC_DB, 0);
        /* RF suppresses instruction breakpoints for one instruction. */
        cpu->s.rflags &= ~(uint64_t)FL_RF;

        /* A successor link is only followed from a block of the same
         * epoch: a flush may have recycled prev's memory. */
        struct block *b = next_block(cpu, cpu->chain_epoch == prev_epoch ? prev : NULL);
        if (cpu->trace)
            fprintf(cpu->trace, "block %04x:%#" PRIx64 " phys %#" PRIx64 " n=%u mode=%#x\n",
                    cpu->s.seg[S_CS].sel, cpu->s.rip, b->phys, b->n, b->mode);
        cpu->ip_mask = cpu_is64(cpu) ? ~0ull : (cpu->mode & MODE_CS32) ? 0xffffffffull : 0xffff;
        cpu->run_limit = may_continue(cpu) ? loop_limit(cpu, limit) : 0;
    run_block:
        /* (A linked successor runs in the same mode: ip_mask holds.) */
        prev = b;
        prev_epoch = cpu->chain_epoch;
        begin_block(cpu, b);
        bool tf = cpu->s.rflags & FL_TF;
        if (unlikely(tf || shadow)) {
            /* One instruction, and no in-block loop: its record alone,
             * since records chain to the next one of their block. */
            cpu->run_limit = 0;
            if (b->insns[0].pos) {
                /* The NOP the block starts with (skip_leading_nop). */
                cpu->s.rip = (cpu->blk_rip + (uint64_t)(int64_t)b->insns[0].off) & cpu->ip_mask;
            } else {
                struct insn one[2];
                one[0] = b->insns[0];
                if (one[0].fused)   /* its Jcc is not in `one` */
                    one[0].step = insn_step_generic;
                set_fall_out(&one[1], 1, fall_out_after(&one[0]));
                one[0].step(cpu, &one[0]);
            }
            cpu->insn_count++;
        } else {
            const struct insn *in = b->insns;
            do
                in = in->step(cpu, in);
            while (in);
            /* (A fault unwinds past this: counts are for statistics and budgets.) */
            const struct insn *last = cpu->blk_last;
            cpu->insn_count += last->pos + 1u;
            /* The block it ended in: later ones may have run on (block_leave). */
            b = prev = block_of(last);
        }
        /* Debug traps after the instruction: single step (SDM Vol. 3A
         * 17.3.1.4; MOV SS / POP SS delay it by one instruction, 6.8.3) and
         * data breakpoints, one #DB for both. */
        bool step = tf && !(cpu->s.intr_shadow & SHADOW_MOVSS);
        if (unlikely(step || cpu->dr_trap)) {
            if (step)
                cpu->s.dr[6] |= 1u << 14;  /* BS */
            cpu->dr_trap = false;
            cpu->next_rip = cpu->s.rip;
            cpu_interrupt(cpu, EXC_DB, INTR_EXC, false, 0);
        }
        if (cpu->exit_reason == CPU_EXIT_RESET)
            return CPU_EXIT_RESET;
        if (cpu->single_step)
            return debug_exit(cpu);
        /* The common case: nothing for the checks above to do, and the next
         * block is linked from this one. */
        if (likely(quiet(cpu, limit))) {
            struct block *n = linked_successor(cpu, b);
            /* Not linked yet, or not linkable in two (a return, say): still
             * nothing for the checks above while the epoch (mode, CPL)
             * holds. */
            if (!n && cpu->chain_epoch == prev_epoch)
                n = lookup_block(cpu, b);
            if (n) {
                b = n;
                shadow = false;
                cpu->run_limit = loop_limit(cpu, limit);
                goto run_block;
            }
        }
    }
}
