/* Random test cases for the differential tester: operand values biased to
 * the edges (0, 1, -1, signed min/max, powers of two), register choice and
 * instruction encoding from a form row. */
#ifndef CAIXA_TESTS_DIFF_GEN_H
#define CAIXA_TESTS_DIFF_GEN_H

#include "diff.h"

struct rng {
    uint64_t s;
};

uint64_t rng_next(struct rng *r);
unsigned rng_below(struct rng *r, unsigned n);

/* Fills tc with a random instance of form f at operand size opsize.
 * allow_compat lets integer forms run in 32-bit compatibility mode. */
void gen_case(struct tcase *tc, const struct form *f, unsigned opsize, struct rng *r, bool allow_compat);

/* EFLAGS bits the comparison ignores for this case. */
uint32_t case_undef_flags(const struct tcase *tc);

/* Short text for a case: mnemonic, size, operand shape and bytes. */
void case_describe(const struct tcase *tc, char *buf, size_t n);

#endif
