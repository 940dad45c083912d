/* PAE paging's PDPTE registers (SDM Vol. 3A 4.4.1): loaded by MOV to CR3
 * (and CR0/CR4 changes), checked for reserved bits then (#GP(0)), and used
 * by translations until the next load, whatever memory holds meanwhile. */
#include "cpu_test_harness.h"

#define PDPT 0x20000u        /* 32-byte aligned */
#define PD 0x21000u
#define BAD_PDPT 0x30000u
#define PTE_P 0x1u
#define PTE_RW 0x2u
#define PTE_PS 0x80u
#define PDPTE_RSVD_BIT5 0x20u /* reserved in a PAE PDPTE */

/* Identity map of the first 2 MiB with one large page, then paging on. */
static void pae_setup(struct th *t)
{
    uint64_t pdpte = PD | PTE_P, pde = PTE_P | PTE_RW | PTE_PS;
    uint64_t bad = PD | PTE_P | PDPTE_RSVD_BIT5;
    th_poke(t, PDPT, &pdpte, 8);
    th_poke(t, PD, &pde, 8);
    th_poke(t, BAD_PDPT, &bad, 8);
    t->cpu.s.cr4 |= CR4_PAE;
    t->cpu.s.cr3 = PDPT;
    t->cpu.s.cr0 |= CR0_PG;
    cpu_update_mode(&t->cpu);
    cpu_flush_all(&t->cpu);   /* loads the PDPTEs, as MOV CR3 would */
}

static void test_reserved_pdpte_faults_mov_cr3(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    pae_setup(&t);
    const uint8_t code[] = {
        0xb8, 0x00, 0x00, 0x03, 0x00,   /* mov eax, BAD_PDPT */
        0x0f, 0x22, 0xd8,               /* mov cr3, eax */
    };
    th_run(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_GP);
    assert_int_equal(t.cpu.s.cr3, PDPT);
    th_destroy(&t);
}

static void test_pdptes_are_cached_until_cr3_load(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    pae_setup(&t);
    uint32_t marker = 0x12345678;
    th_poke(&t, TH_DATA, &marker, 4);
    const uint8_t code[] = {
        0xc7, 0x05, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,  /* mov dword [PDPT], 0 */
        0x8b, 0x1d, 0x00, 0x00, 0x01, 0x00,                          /* mov ebx, [TH_DATA] */
    };
    th_run_ok(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.regs[R_BX], marker);   /* the old PDPTE still maps it */
    /* Reloading CR3 picks up the not-present PDPTE: the next fetch faults,
     * and so do #PF and #DF deliveries, since nothing is mapped: shutdown. */
    const uint8_t reload[] = {
        0x0f, 0x20, 0xd8,   /* mov eax, cr3 */
        0x0f, 0x22, 0xd8,   /* mov cr3, eax */
        0x90,               /* nop */
    };
    th_poke(&t, TH_CODE + 0x100, reload, sizeof(reload));
    t.cpu.s.rip = TH_CODE + 0x100;
    assert_int_equal(cpu_run(&t.cpu, 100), CPU_EXIT_RESET);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserved_pdpte_faults_mov_cr3),
        cmocka_unit_test(test_pdptes_are_cached_until_cr3_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
