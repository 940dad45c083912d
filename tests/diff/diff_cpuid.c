/* CPUID feature bits of the host and of caixa's CPU model: a form that
 * needs a feature runs only when both report it (caixa may model an older
 * CPU, where e.g. F3 0F BC is BSF rather than TZCNT). */
#include <cpuid.h>

#include "diff.h"

const char *const feature_names[F_NFEAT] = { "-", "POPCNT", "LZCNT", "BMI1", "MOVBE", "ADX",
                                             "LAHF-SAHF in 64-bit mode", "CMPXCHG16B", "SSE3", "SSSE3" };

/* Where each feature is reported (SDM Vol. 2 CPUID, tables 3-10, 3-11). */
static const struct {
    uint32_t leaf;
    int reg;   /* 1 ebx, 2 ecx, 3 edx */
    unsigned bit;
} feature_bits[F_NFEAT] = {
    [F_POPCNT] = { 1, 2, 23 },         [F_LZCNT] = { 0x80000001, 2, 5 }, [F_BMI1] = { 7, 1, 3 },
    [F_MOVBE] = { 1, 2, 22 },          [F_ADX] = { 7, 1, 19 },           [F_LAHF64] = { 0x80000001, 2, 0 },
    [F_CX16] = { 1, 2, 13 },           [F_SSE3] = { 1, 2, 0 },           [F_SSSE3] = { 1, 2, 9 },
};

typedef void (*cpuid_fn)(uint32_t leaf, uint32_t sub, uint32_t out[4]);

static void host_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
    __cpuid_count(leaf, sub, out[0], out[1], out[2], out[3]);
}

static uint32_t features(cpuid_fn fn)
{
    uint32_t r[4], max_std, max_ext, f = 0;
    fn(0, 0, r);
    max_std = r[0];
    fn(0x80000000, 0, r);
    max_ext = r[0];
    for (int i = 1; i < F_NFEAT; i++) {
        uint32_t leaf = feature_bits[i].leaf;
        if (leaf >= 0x80000000 ? leaf > max_ext : leaf > max_std)
            continue;
        fn(leaf, 0, r);
        if ((r[feature_bits[i].reg] >> feature_bits[i].bit) & 1)
            f |= 1u << i;
    }
    return f;
}

uint32_t host_features(void)
{
    return features(host_cpuid);
}

uint32_t guest_features(void)
{
    return features(guest_cpuid);
}
