/* The instruction forms under test, one row per form: opcode map and byte,
 * ModRM use, operand sizes, immediate, implicit registers, and the EFLAGS
 * bits that the Intel SDM (Vol. 2, each instruction's "Flags Affected")
 * leaves undefined. Flags an instruction leaves unchanged are defined (they
 * must be preserved) and are compared. Raw rows give fixed bytes (x87, SSE,
 * string ops, BCD) in hex. */
#include "diff.h"

/* EFLAGS bits (SDM Vol. 1 3.4.3) */
#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ALLF (CF | PF | AF | ZF | SF | OF)

#define AX RB(0)
#define CX RB(1)
#define DX RB(2)
#define BX RB(3)
#define SI RB(6)
#define DI RB(7)

/* name, map, opcode, ext, prefix, sizes, imm, rm, implicit, undefined flags, special */
#define F(nm, map, opc, ext, pfx, sz, imm, rmk, impl, undef, sp) \
    { nm, map, opc, ext, pfx, sz, imm, rmk, impl, undef, sp, 0 }
#define RAW(nm, bytes, sz, impl, undef, sp) \
    { nm, MAP_1, 0, EXT_NONE, 0, sz, I_NONE, RM_ANY, impl, undef, sp, bytes }

/* ADD OR ADC SBB AND SUB XOR CMP: opcodes 8n+0..5 and group 1 (80/81/83 /n). */
#define ALU(n, nm, u, lk)                                                    \
    F(nm, MAP_1, 8 * (n) + 0, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, u, lk),     \
    F(nm, MAP_1, 8 * (n) + 1, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, u, lk),   \
    F(nm, MAP_1, 8 * (n) + 2, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, u, 0),      \
    F(nm, MAP_1, 8 * (n) + 3, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, u, 0),    \
    F(nm, MAP_1, 8 * (n) + 4, EXT_NONE, 0, SZ_B, I_8, RM_ANY, AX, u, 0),     \
    F(nm, MAP_1, 8 * (n) + 5, EXT_NONE, 0, SZ_WDQ, I_Z, RM_ANY, AX, u, 0),   \
    F(nm, MAP_1, 0x80, n, 0, SZ_B, I_8, RM_ANY, 0, u, lk),                   \
    F(nm, MAP_1, 0x81, n, 0, SZ_WDQ, I_Z, RM_ANY, 0, u, lk),                 \
    F(nm, MAP_1, 0x83, n, 0, SZ_WDQ, I_8, RM_ANY, 0, u, lk)

/* Group 2 (C0/C1 imm8, D0/D1 by 1, D2/D3 by CL); flag rules in S_*. */
#define SHIFT(n, nm, k)                                                      \
    F(nm, MAP_1, 0xc0, n, 0, SZ_B, I_CNT, RM_ANY, 0, 0, k),                  \
    F(nm, MAP_1, 0xc1, n, 0, SZ_WDQ, I_CNT, RM_ANY, 0, 0, k),                \
    F(nm, MAP_1, 0xd0, n, 0, SZ_B, I_NONE, RM_ANY, 0, 0, (k) | S_ONE),       \
    F(nm, MAP_1, 0xd1, n, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, (k) | S_ONE),     \
    F(nm, MAP_1, 0xd2, n, 0, SZ_B, I_NONE, RM_ANY, CX, 0, (k) | S_CL),       \
    F(nm, MAP_1, 0xd3, n, 0, SZ_WDQ, I_NONE, RM_ANY, CX, 0, (k) | S_CL)

/* String ops in four sizes; p is a prefix ("f3 " ...). */
#define STR4(nm, p, ob, ow, impl, u)                                         \
    RAW(nm "b", p ob, SZ_B, impl, u, S_STR),                                 \
    RAW(nm "w", "66 " p ow, SZ_W, impl, u, S_STR),                           \
    RAW(nm "d", p ow, SZ_D, impl, u, S_STR),                                 \
    RAW(nm "q", p "48 " ow, SZ_Q, impl, u, S_STR)
#define SIMPL (SI | DI | CX | AX)

/* x87 snippets: fninit, operands from [rbx] (A at +0, B at +0x10 as 80-bit,
 * doubles at +0x40/+0x48, floats at +0x50/+0x54, int32 at +0x58, int64 at
 * +0x60, FCW at +0x70), results stored at +0x20/+0x30; the x87 stack ends
 * empty. */
#define X_INIT "db e3 "
#define X_LDA "db 6b 00 "
#define X_LDB "db 6b 10 "
#define X_OUT "db 7b 20 "
#define X_OUT2 "db 7b 30 "
#define X_POP "dd d8 "
#define X87(nm, body) RAW(nm, X_INIT body, SZ_Q, BX | AX, 0, S_X87)
#define X87F(nm, body) RAW(nm, X_INIT body, SZ_Q, BX | AX, 0, S_X87 | S_FPU_CW)
#define X87I(nm, body) RAW(nm, X_INIT body, SZ_Q, BX | AX, 0, S_X87 | S_FPU_CW | S_INFO)

/* SSE: register form xmm1, xmm2 (ModRM CA) and memory form xmm1, [rbx]
 * (ModRM 0B, 16-byte aligned). */
#define SSE(nm, pre, ty) \
    RAW(nm, pre " ca", SZ_Q, 0, 0, S_SSE | (ty)), RAW(nm " m", pre " 0b", SZ_Q, BX, 0, S_SSE | S_MEMRBX | (ty))
#define SSEI(nm, pre, ty) \
    { nm, MAP_1, 0, EXT_NONE, 0, SZ_Q, I_8, RM_ANY, 0, 0, S_SSE | (ty), pre " ca" }, \
    { nm " m", MAP_1, 0, EXT_NONE, 0, SZ_Q, I_8, RM_ANY, BX, 0, S_SSE | S_MEMRBX | (ty), pre " 0b" }
#define SSER(nm, bytes, ty) RAW(nm, bytes, SZ_Q, 0, 0, S_SSE | (ty))
#define SSERI(nm, bytes, ty) { nm, MAP_1, 0, EXT_NONE, 0, SZ_Q, I_8, RM_ANY, 0, 0, S_SSE | (ty), bytes }
#define SSEM(nm, bytes, ty) RAW(nm, bytes, SZ_Q, BX, 0, S_SSE | S_MEMRBX | (ty))
/* the four float kinds of one opcode: ps, pd, ss, sd */
#define SSE4(nm, op, u) \
    SSE(nm "ps", "0f " op, S_SSE_PS), SSE(nm "pd", "66 0f " op, S_SSE_PD), \
    SSE(nm "ss", "f3 0f " op, S_SSE_PS), SSE(nm "sd", "f2 0f " op, S_SSE_PD)
#define PI(nm, op) SSE(nm, "66 0f " op, S_SSE_INT)
#define P38(nm, op) SSE(nm, "66 0f 38 " op, S_SSE_INT | FEAT(F_SSSE3))

#define MULU (SF | ZF | AF | PF)
#define BTU (OF | SF | AF | PF)

const struct form diff_forms[] = {
    ALU(0, "add", 0, S_LOCK), ALU(1, "or", AF, S_LOCK), ALU(2, "adc", 0, S_LOCK), ALU(3, "sbb", 0, S_LOCK),
    ALU(4, "and", AF, S_LOCK), ALU(5, "sub", 0, S_LOCK), ALU(6, "xor", AF, S_LOCK), ALU(7, "cmp", 0, 0),
    F("test", MAP_1, 0x84, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, AF, 0),
    F("test", MAP_1, 0x85, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, AF, 0),
    F("test", MAP_1, 0xa8, EXT_NONE, 0, SZ_B, I_8, RM_ANY, AX, AF, 0),
    F("test", MAP_1, 0xa9, EXT_NONE, 0, SZ_WDQ, I_Z, RM_ANY, AX, AF, 0),
    F("test", MAP_1, 0xf6, 0, 0, SZ_B, I_8, RM_ANY, 0, AF, 0),
    F("test", MAP_1, 0xf7, 0, 0, SZ_WDQ, I_Z, RM_ANY, 0, AF, 0),
    F("test(/1)", MAP_1, 0xf6, 1, 0, SZ_B, I_8, RM_ANY, 0, AF, 0),
    F("test(/1)", MAP_1, 0xf7, 1, 0, SZ_WDQ, I_Z, RM_ANY, 0, AF, 0),
    F("inc", MAP_1, 0xfe, 0, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("inc", MAP_1, 0xff, 0, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("dec", MAP_1, 0xfe, 1, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("dec", MAP_1, 0xff, 1, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("not", MAP_1, 0xf6, 2, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("not", MAP_1, 0xf7, 2, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("neg", MAP_1, 0xf6, 3, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("neg", MAP_1, 0xf7, 3, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),

    SHIFT(0, "rol", S_ROT), SHIFT(1, "ror", S_ROT), SHIFT(2, "rcl", S_ROT), SHIFT(3, "rcr", S_ROT),
    SHIFT(4, "shl", S_SHL), SHIFT(5, "shr", S_SHL), SHIFT(6, "sal(/6)", S_SHL), SHIFT(7, "sar", S_SAR),
    F("shld", MAP_0F, 0xa4, EXT_R, 0, SZ_WDQ, I_CNT, RM_ANY, 0, 0, S_SHXD),
    F("shld", MAP_0F, 0xa5, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, CX, 0, S_SHXD | S_CL),
    F("shrd", MAP_0F, 0xac, EXT_R, 0, SZ_WDQ, I_CNT, RM_ANY, 0, 0, S_SHXD),
    F("shrd", MAP_0F, 0xad, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, CX, 0, S_SHXD | S_CL),

    F("mul", MAP_1, 0xf6, 4, 0, SZ_B, I_NONE, RM_ANY, AX, MULU, 0),
    F("mul", MAP_1, 0xf7, 4, 0, SZ_WDQ, I_NONE, RM_ANY, AX | DX, MULU, 0),
    F("imul", MAP_1, 0xf6, 5, 0, SZ_B, I_NONE, RM_ANY, AX, MULU, 0),
    F("imul", MAP_1, 0xf7, 5, 0, SZ_WDQ, I_NONE, RM_ANY, AX | DX, MULU, 0),
    F("imul", MAP_0F, 0xaf, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, MULU, 0),
    F("imul", MAP_1, 0x69, EXT_R, 0, SZ_WDQ, I_Z, RM_ANY, 0, MULU, 0),
    F("imul", MAP_1, 0x6b, EXT_R, 0, SZ_WDQ, I_8, RM_ANY, 0, MULU, 0),
    F("div", MAP_1, 0xf6, 6, 0, SZ_B, I_NONE, RM_ANY, AX, ALLF, S_DIV),
    F("div", MAP_1, 0xf7, 6, 0, SZ_WDQ, I_NONE, RM_ANY, AX | DX, ALLF, S_DIV),
    F("idiv", MAP_1, 0xf6, 7, 0, SZ_B, I_NONE, RM_ANY, AX, ALLF, S_IDIV),
    F("idiv", MAP_1, 0xf7, 7, 0, SZ_WDQ, I_NONE, RM_ANY, AX | DX, ALLF, S_IDIV),

    F("bt", MAP_0F, 0xa3, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, BTU, S_BITOFF),
    F("bts", MAP_0F, 0xab, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, BTU, S_BITOFF | S_LOCK),
    F("btr", MAP_0F, 0xb3, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, BTU, S_BITOFF | S_LOCK),
    F("btc", MAP_0F, 0xbb, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, BTU, S_BITOFF | S_LOCK),
    F("bt", MAP_0F, 0xba, 4, 0, SZ_WDQ, I_8, RM_ANY, 0, BTU, 0),
    F("bts", MAP_0F, 0xba, 5, 0, SZ_WDQ, I_8, RM_ANY, 0, BTU, S_LOCK),
    F("btr", MAP_0F, 0xba, 6, 0, SZ_WDQ, I_8, RM_ANY, 0, BTU, S_LOCK),
    F("btc", MAP_0F, 0xba, 7, 0, SZ_WDQ, I_8, RM_ANY, 0, BTU, S_LOCK),
    F("bsf", MAP_0F, 0xbc, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, CF | OF | SF | AF | PF, S_BSF),
    F("bsr", MAP_0F, 0xbd, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, CF | OF | SF | AF | PF, S_BSF),
    F("tzcnt", MAP_0F, 0xbc, EXT_R, 0xf3, SZ_WDQ, I_NONE, RM_ANY, 0, OF | SF | AF | PF, FEAT(F_BMI1)),
    F("lzcnt", MAP_0F, 0xbd, EXT_R, 0xf3, SZ_WDQ, I_NONE, RM_ANY, 0, OF | SF | AF | PF, FEAT(F_LZCNT)),
    F("popcnt", MAP_0F, 0xb8, EXT_R, 0xf3, SZ_WDQ, I_NONE, RM_ANY, 0, 0, FEAT(F_POPCNT)),
    F("bswap", MAP_0F, 0xc8, EXT_OPREG, 0, SZ_DQ, I_NONE, RM_REG, 0, 0, 0),
    F("movbe", MAP_38, 0xf0, EXT_R, 0, SZ_WDQ, I_NONE, RM_MEM, 0, 0, FEAT(F_MOVBE)),
    F("movbe", MAP_38, 0xf1, EXT_R, 0, SZ_WDQ, I_NONE, RM_MEM, 0, 0, FEAT(F_MOVBE)),
    F("adcx", MAP_38, 0xf6, EXT_R, 0x66, SZ_DQ, I_NONE, RM_ANY, 0, 0, FEAT(F_ADX)),
    F("adox", MAP_38, 0xf6, EXT_R, 0xf3, SZ_DQ, I_NONE, RM_ANY, 0, 0, FEAT(F_ADX)),

    F("cmpxchg", MAP_0F, 0xb0, EXT_R, 0, SZ_B, I_NONE, RM_ANY, AX, 0, S_CMPXCHG | S_LOCK),
    F("cmpxchg", MAP_0F, 0xb1, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, AX, 0, S_CMPXCHG | S_LOCK),
    F("xadd", MAP_0F, 0xc0, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("xadd", MAP_0F, 0xc1, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("xchg", MAP_1, 0x86, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("xchg", MAP_1, 0x87, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_LOCK),
    F("xchg", MAP_1, 0x90, EXT_OPREG, 0, SZ_WDQ, I_NONE, RM_REG, AX, 0, 0),
    F("cmpxchg8b", MAP_0F, 0xc7, 1, 0, SZ_D, I_NONE, RM_MEM, AX | DX | BX | CX, 0, S_CX8 | S_LOCK),
    F("cmpxchg16b", MAP_0F, 0xc7, 1, 0, SZ_Q, I_NONE, RM_MEM, AX | DX | BX | CX, 0, S_CX8 | S_LOCK | FEAT(F_CX16)),

    F("cmov", MAP_0F, 0x40, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, S_CC),
    F("set", MAP_0F, 0x90, 0, 0, SZ_B, I_NONE, RM_ANY, 0, 0, S_CC),
    F("cbw/cwde/cdqe", MAP_1, 0x98, EXT_NONE, 0, SZ_WDQ, I_NONE, RM_ANY, AX, 0, 0),
    F("cwd/cdq/cqo", MAP_1, 0x99, EXT_NONE, 0, SZ_WDQ, I_NONE, RM_ANY, AX | DX, 0, 0),
    RAW("lahf", "9f", SZ_B, AX, 0, FEAT(F_LAHF64)),
    RAW("sahf", "9e", SZ_B, AX, 0, FEAT(F_LAHF64)),
    RAW("lahf(compat)", "9f", SZ_B, AX, 0, S_COMPAT),
    RAW("sahf(compat)", "9e", SZ_B, AX, 0, S_COMPAT),
    RAW("cmc", "f5", SZ_B, 0, 0, 0),
    RAW("clc", "f8", SZ_B, 0, 0, 0),
    RAW("stc", "f9", SZ_B, 0, 0, 0),

    F("mov", MAP_1, 0x88, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0x89, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0x8a, EXT_R, 0, SZ_B, I_NONE, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0x8b, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0xc6, 0, 0, SZ_B, I_8, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0xc7, 0, 0, SZ_WDQ, I_Z, RM_ANY, 0, 0, 0),
    F("mov", MAP_1, 0xb0, EXT_OPREG, 0, SZ_B, I_8, RM_REG, 0, 0, 0),
    F("mov", MAP_1, 0xb8, EXT_OPREG, 0, SZ_WDQ, I_V, RM_REG, 0, 0, 0),
    F("movzx", MAP_0F, 0xb6, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("movzx", MAP_0F, 0xb7, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("movsx", MAP_0F, 0xbe, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("movsx", MAP_0F, 0xbf, EXT_R, 0, SZ_WDQ, I_NONE, RM_ANY, 0, 0, 0),
    F("movsxd", MAP_1, 0x63, EXT_R, 0, SZ_DQ, I_NONE, RM_ANY, 0, 0, 0),
    F("lea", MAP_1, 0x8d, EXT_R, 0, SZ_WDQ, I_NONE, RM_MEM, 0, 0, S_LEA),

    /* branches: taken or not, both end at the same place; the skipped
     * MOV AL,1 shows which way they went. Raw S_CC rows: opc = index of the
     * byte that gets the condition code added. */
    { "j", MAP_1, 0, EXT_NONE, 0, SZ_B, I_NONE, RM_ANY, AX, 0, S_CC, "70 02 b0 01" },
    { "j(rel32)", MAP_1, 1, EXT_NONE, 0, SZ_B, I_NONE, RM_ANY, AX, 0, S_CC, "0f 80 02 00 00 00 b0 01" },
    RAW("loop", "e2 02 b0 01", SZ_Q, AX | CX, 0, 0), RAW("loope", "e1 02 b0 01", SZ_Q, AX | CX, 0, 0),
    RAW("loopne", "e0 02 b0 01", SZ_Q, AX | CX, 0, 0), RAW("jrcxz", "e3 02 b0 01", SZ_Q, AX | CX, 0, 0),
    RAW("jecxz", "67 e3 02 b0 01", SZ_Q, AX | CX, 0, 0), RAW("loop a32", "67 e2 02 b0 01", SZ_Q, AX | CX, 0, 0),
    RAW("jmp rel8", "eb 02 b0 01", SZ_Q, AX, 0, 0), RAW("jmp rel32", "e9 02 00 00 00 b0 01", SZ_Q, AX, 0, 0),
    RAW("xlat", "d7", SZ_B, AX | BX, 0, S_MEMRBX), RAW("xlat rex.w", "48 d7", SZ_B, AX | BX, 0, S_MEMRBX),
    RAW("nop", "90", SZ_Q, 0, 0, 0), RAW("nopl", "0f 1f 44 00 00", SZ_Q, 0, 0, 0), RAW("pause", "f3 90", SZ_Q, 0, 0, 0),
    RAW("movnti", "0f c3 03", SZ_D, BX, 0, S_MEMRBX), RAW("movnti q", "48 0f c3 03", SZ_Q, BX, 0, S_MEMRBX),
    RAW("lfence", "0f ae e8", SZ_Q, 0, 0, 0), RAW("mfence", "0f ae f0", SZ_Q, 0, 0, 0),
    RAW("sfence", "0f ae f8", SZ_Q, 0, 0, 0), RAW("prefetcht0", "0f 18 0b", SZ_Q, BX, 0, S_MEMRBX),
    RAW("clflush", "0f ae 3b", SZ_Q, BX, 0, S_MEMRBX),

    /* stack: rsp points into the window on both sides and is compared */
    F("push", MAP_1, 0x50, EXT_OPREG, 0, SZ_W | SZ_Q, I_NONE, RM_REG, 0, 0, S_STACK),
    F("pop", MAP_1, 0x58, EXT_OPREG, 0, SZ_W | SZ_Q, I_NONE, RM_REG, 0, 0, S_STACK),
    F("push", MAP_1, 0x6a, EXT_NONE, 0, SZ_W | SZ_Q, I_8, RM_ANY, 0, 0, S_STACK),
    F("push", MAP_1, 0x68, EXT_NONE, 0, SZ_W | SZ_Q, I_Z, RM_ANY, 0, 0, S_STACK),
    F("push", MAP_1, 0xff, 6, 0, SZ_W | SZ_Q, I_NONE, RM_ANY, 0, 0, S_STACK),
    F("pop", MAP_1, 0x8f, 0, 0, SZ_W | SZ_Q, I_NONE, RM_ANY, 0, 0, S_STACK),
    RAW("pushfq", "9c", SZ_Q, 0, 0, S_STACK), RAW("pushf16", "66 9c", SZ_W, 0, 0, S_STACK),
    RAW("popfq", "9d", SZ_Q, 0, 0, S_STACK | S_POPF),
    { "enter", MAP_1, 0, EXT_NONE, 0, SZ_Q, I_NONE, RM_ANY, RB(5), 0, S_STACK | S_ENTER, "c8" },
    { "enter16", MAP_1, 0, EXT_NONE, 0, SZ_W, I_NONE, RM_ANY, RB(5), 0, S_STACK | S_ENTER, "66 c8" },
    RAW("leave", "c9", SZ_Q, RB(5), 0, S_STACK), RAW("leave16", "66 c9", SZ_W, RB(5), 0, S_STACK),
    RAW("call rel32", "e8 00 00 00 00", SZ_Q, 0, 0, S_STACK),
    RAW("call rax", "ff d0", SZ_Q, AX, 0, S_STACK | S_CALLREG),
    RAW("ret", "c3", SZ_Q, 0, 0, S_STACK | S_RETADDR), RAW("ret imm16", "c2 10 00", SZ_Q, 0, 0, S_STACK | S_RETADDR),

    /* string ops */
    STR4("movs", "", "a4", "a5", SIMPL, 0), STR4("rep movs", "f3 ", "a4", "a5", SIMPL, 0),
    STR4("stos", "", "aa", "ab", SIMPL, 0), STR4("rep stos", "f3 ", "aa", "ab", SIMPL, 0),
    STR4("lods", "", "ac", "ad", SIMPL, 0), STR4("rep lods", "f3 ", "ac", "ad", SIMPL, 0),
    STR4("scas", "", "ae", "af", SIMPL, 0), STR4("repe scas", "f3 ", "ae", "af", SIMPL, 0),
    STR4("repne scas", "f2 ", "ae", "af", SIMPL, 0),
    STR4("cmps", "", "a6", "a7", SIMPL, 0), STR4("repe cmps", "f3 ", "a6", "a7", SIMPL, 0),
    STR4("repne cmps", "f2 ", "a6", "a7", SIMPL, 0),
    STR4("a32 rep movs", "67 f3 ", "a4", "a5", SIMPL, 0), STR4("a32 rep stos", "67 f3 ", "aa", "ab", SIMPL, 0),
    STR4("a32 repe cmps", "67 f3 ", "a6", "a7", SIMPL, 0),
    STR4("a32 repne scas", "67 f2 ", "ae", "af", SIMPL, 0),

    /* BCD and one-byte INC/DEC: invalid in 64-bit mode, run in compatibility mode */
    RAW("daa", "27", SZ_B, AX, OF, S_COMPAT),
    RAW("das", "2f", SZ_B, AX, OF, S_COMPAT),
    RAW("aaa", "37", SZ_B, AX, OF | SF | ZF | PF, S_COMPAT),
    RAW("aas", "3f", SZ_B, AX, OF | SF | ZF | PF, S_COMPAT),
    { "aam", MAP_1, 0, EXT_NONE, 0, SZ_B, I_NONE, RM_ANY, AX, OF | AF | CF, S_COMPAT | S_BCDIMM, "d4" },
    { "aad", MAP_1, 0, EXT_NONE, 0, SZ_B, I_NONE, RM_ANY, AX, OF | AF | CF, S_COMPAT | S_BCDIMM, "d5" },
    RAW("inc eax(40)", "40", SZ_D, AX, 0, S_COMPAT), RAW("inc edi(47)", "47", SZ_D, DI, 0, S_COMPAT),
    RAW("dec ecx(49)", "49", SZ_D, CX, 0, S_COMPAT), RAW("inc si(66 46)", "66 46", SZ_W, SI, 0, S_COMPAT),

    /* x87 */
    X87F("faddp", X_LDA X_LDB "de c1 " X_OUT), X87F("fsubp", X_LDA X_LDB "de e9 " X_OUT),
    X87F("fsubrp", X_LDA X_LDB "de e1 " X_OUT), X87F("fmulp", X_LDA X_LDB "de c9 " X_OUT),
    X87F("fdivp", X_LDA X_LDB "de f9 " X_OUT), X87F("fdivrp", X_LDA X_LDB "de f1 " X_OUT),
    X87F("fadd m64", X_LDA "dc 43 40 " X_OUT), X87F("fsub m64", X_LDA "dc 63 40 " X_OUT),
    X87F("fsubr m64", X_LDA "dc 6b 40 " X_OUT), X87F("fmul m64", X_LDA "dc 4b 40 " X_OUT),
    X87F("fdiv m64", X_LDA "dc 73 40 " X_OUT), X87F("fdivr m64", X_LDA "dc 7b 40 " X_OUT),
    X87F("fadd m32", X_LDA "d8 43 50 " X_OUT), X87F("fmul m32", X_LDA "d8 4b 50 " X_OUT),
    X87F("fsqrt", X_LDA "d9 fa " X_OUT), X87("fabs", X_LDA "d9 e1 " X_OUT),
    X87("fchs", X_LDA "d9 e0 " X_OUT), X87F("frndint", X_LDA "d9 fc " X_OUT),
    X87F("fscale", X_LDB X_LDA "d9 fd " X_OUT X_OUT2), X87("fprem", X_LDB X_LDA "d9 f8 " X_OUT X_OUT2),
    X87("fprem1", X_LDB X_LDA "d9 f5 " X_OUT X_OUT2), X87("fxtract", X_LDA "d9 f4 " X_OUT X_OUT2),
    X87("fxch", X_LDA X_LDB "d9 c9 " X_OUT X_OUT2),
    X87("fcompp", X_LDB X_LDA "de d9 "), X87("fucompp", X_LDB X_LDA "da e9 "),
    X87("fcom m64", X_LDA "dc 53 40 " X_POP),
    X87("fcomi", X_LDB X_LDA "db f1 " X_POP X_POP), X87("fucomi", X_LDB X_LDA "db e9 " X_POP X_POP),
    X87("fcomip", X_LDB X_LDA "df f1 " X_POP), X87("fucomip", X_LDB X_LDA "df e9 " X_POP),
    X87("ftst", X_LDA "d9 e4 " X_POP), X87("fxam", X_LDA "d9 e5 " X_POP),
    X87F("fld1", "d9 e8 " X_OUT), X87F("fldz", "d9 ee " X_OUT), X87F("fldpi", "d9 eb " X_OUT),
    X87F("fldl2e", "d9 ea " X_OUT), X87F("fldl2t", "d9 e9 " X_OUT), X87F("fldlg2", "d9 ec " X_OUT),
    X87F("fldln2", "d9 ed " X_OUT),
    X87("fld m64", "dd 43 40 " X_OUT), X87("fld m32", "d9 43 50 " X_OUT),
    X87("fild m32", "db 43 58 " X_OUT), X87F("fild m64", "df 6b 60 " X_OUT), X87("fild m16", "df 43 58 " X_OUT),
    X87F("fstp m64", X_LDA "dd 5b 20 "), X87F("fstp m32", X_LDA "d9 5b 20 "),
    X87F("fistp m32", X_LDA "db 5b 20 "), X87F("fistp m64", X_LDA "df 7b 20 "),
    X87F("fist m16", X_LDA "df 53 20 " X_POP), RAW("fisttp m32", X_INIT X_LDA "db 4b 20 ", SZ_Q, BX | AX, 0, S_X87 | FEAT(F_SSE3)),
    X87F("fiadd m32", X_LDA "da 43 58 " X_OUT), X87F("fimul m32", X_LDA "da 4b 58 " X_OUT),
    X87F("fbstp", X_LDA "df 73 20 "), X87F("fistp m16", X_LDA "df 5b 20 "),
    RAW("fisttp m64", X_INIT X_LDA "dd 4b 20 ", SZ_Q, BX | AX, 0, S_X87 | FEAT(F_SSE3)),
    X87("fld st1", X_LDA X_LDB "d9 c1 " X_OUT X_OUT2 X_POP), X87F("fst st1", X_LDA X_LDB "dd d1 " X_OUT X_OUT2),
    /* transcendental: the host's microcode rounding is not specified bit for
     * bit, so these run only with --info and do not fail the run */
    X87I("fsin", X_LDA "d9 fe " X_OUT), X87I("fcos", X_LDA "d9 ff " X_OUT),
    X87I("fptan", X_LDA "d9 f2 " X_OUT X_OUT2), X87I("fsincos", X_LDA "d9 fb " X_OUT X_OUT2),
    X87I("fpatan", X_LDB X_LDA "d9 f3 " X_OUT), X87I("f2xm1", X_LDA "d9 f0 " X_OUT),
    X87I("fyl2x", X_LDB X_LDA "d9 f1 " X_OUT), X87I("fyl2xp1", X_LDB X_LDA "d9 f9 " X_OUT),
    X87F("fsubr m64+fchs", X_LDA "dc 6b 40 d9 e0 " X_OUT),

    /* SSE / SSE2 / SSE3 / SSSE3 */
    SSE4("add", "58", 0), SSE4("mul", "59", 0), SSE4("sub", "5c", 0), SSE4("min", "5d", 0),
    SSE4("div", "5e", 0), SSE4("max", "5f", 0), SSE4("sqrt", "51", 0),
    SSE("andps", "0f 54", S_SSE_PS), SSE("andnps", "0f 55", S_SSE_PS), SSE("orps", "0f 56", S_SSE_PS),
    SSE("xorps", "0f 57", S_SSE_PS), SSE("andpd", "66 0f 54", S_SSE_PD), SSE("xorpd", "66 0f 57", S_SSE_PD),
    SSEI("cmpps", "0f c2", S_SSE_PS), SSEI("cmppd", "66 0f c2", S_SSE_PD),
    SSEI("cmpss", "f3 0f c2", S_SSE_PS), SSEI("cmpsd", "f2 0f c2", S_SSE_PD),
    SSE("comiss", "0f 2f", S_SSE_PS), SSE("ucomiss", "0f 2e", S_SSE_PS),
    SSE("comisd", "66 0f 2f", S_SSE_PD), SSE("ucomisd", "66 0f 2e", S_SSE_PD),
    SSE("cvtss2sd", "f3 0f 5a", S_SSE_PS), SSE("cvtsd2ss", "f2 0f 5a", S_SSE_PD),
    SSE("cvtps2pd", "0f 5a", S_SSE_PS), SSE("cvtpd2ps", "66 0f 5a", S_SSE_PD),
    SSE("cvtdq2ps", "0f 5b", S_SSE_INT), SSE("cvtps2dq", "66 0f 5b", S_SSE_PS),
    SSE("cvttps2dq", "f3 0f 5b", S_SSE_PS), SSE("cvtdq2pd", "f3 0f e6", S_SSE_INT),
    SSE("cvtpd2dq", "f2 0f e6", S_SSE_PD), SSE("cvttpd2dq", "66 0f e6", S_SSE_PD),
    SSER("cvtsi2sd xmm1,eax", "f2 0f 2a c8", S_SSE_PD), SSER("cvtsi2sd xmm1,rax", "f2 48 0f 2a c8", S_SSE_PD),
    SSER("cvtsi2ss xmm1,eax", "f3 0f 2a c8", S_SSE_PS), SSER("cvtsi2ss xmm1,rax", "f3 48 0f 2a c8", S_SSE_PS),
    SSER("cvttsd2si eax", "f2 0f 2c c2", S_SSE_PD), SSER("cvttsd2si rax", "f2 48 0f 2c c2", S_SSE_PD),
    SSER("cvtsd2si eax", "f2 0f 2d c2", S_SSE_PD), SSER("cvtsd2si rax", "f2 48 0f 2d c2", S_SSE_PD),
    SSER("cvttss2si eax", "f3 0f 2c c2", S_SSE_PS), SSER("cvtss2si rax", "f3 48 0f 2d c2", S_SSE_PS),
    SSEI("shufps", "0f c6", S_SSE_PS), SSEI("shufpd", "66 0f c6", S_SSE_PD),
    SSE("unpcklps", "0f 14", S_SSE_PS), SSE("unpckhps", "0f 15", S_SSE_PS),
    SSE("unpcklpd", "66 0f 14", S_SSE_PD), SSE("unpckhpd", "66 0f 15", S_SSE_PD),
    SSER("movhlps", "0f 12 ca", S_SSE_PS), SSER("movlhps", "0f 16 ca", S_SSE_PS),
    SSER("movmskps", "0f 50 c2", S_SSE_PS), SSER("movmskpd", "66 0f 50 c2", S_SSE_PD),
    SSE("movaps", "0f 28", S_SSE_PS), SSE("movups", "0f 10", S_SSE_PS), SSE("movss", "f3 0f 10", S_SSE_PS),
    SSE("movsd", "f2 0f 10", S_SSE_PD), SSE("movdqa", "66 0f 6f", S_SSE_INT), SSE("movdqu", "f3 0f 6f", S_SSE_INT),
    SSE("movq", "f3 0f 7e", S_SSE_INT),
    SSER("movd xmm1,eax", "66 0f 6e c8", S_SSE_INT), SSER("movq xmm1,rax", "66 48 0f 6e c8", S_SSE_INT),
    SSER("movd eax,xmm1", "66 0f 7e c8", S_SSE_INT), SSER("movq rax,xmm1", "66 48 0f 7e c8", S_SSE_INT),
    SSEM("movdqa m,xmm1", "66 0f 7f 0b", S_SSE_INT), SSEM("movaps m,xmm1", "0f 29 0b", S_SSE_PS),
    SSEM("movups m,xmm1", "0f 11 0b", S_SSE_PS), SSEM("movsd m,xmm1", "f2 0f 11 0b", S_SSE_PD),
    SSEM("movss m,xmm1", "f3 0f 11 0b", S_SSE_PS), SSEM("movq m,xmm1", "66 0f d6 0b", S_SSE_INT),
    SSEM("movlps m", "0f 12 0b", S_SSE_PS), SSEM("movhps m", "0f 16 0b", S_SSE_PS),
    SSEM("movlps m,xmm1", "0f 13 0b", S_SSE_PS), SSEM("movhps m,xmm1", "0f 17 0b", S_SSE_PS),
    PI("paddb", "fc"), PI("paddw", "fd"), PI("paddd", "fe"), PI("paddq", "d4"),
    PI("psubb", "f8"), PI("psubw", "f9"), PI("psubd", "fa"), PI("psubq", "fb"),
    PI("paddusb", "dc"), PI("paddusw", "dd"), PI("paddsb", "ec"), PI("paddsw", "ed"),
    PI("psubusb", "d8"), PI("psubusw", "d9"), PI("psubsb", "e8"), PI("psubsw", "e9"),
    PI("pmullw", "d5"), PI("pmulhw", "e5"), PI("pmulhuw", "e4"), PI("pmuludq", "f4"), PI("pmaddwd", "f5"),
    PI("pand", "db"), PI("pandn", "df"), PI("por", "eb"), PI("pxor", "ef"),
    PI("pcmpeqb", "74"), PI("pcmpeqw", "75"), PI("pcmpeqd", "76"),
    PI("pcmpgtb", "64"), PI("pcmpgtw", "65"), PI("pcmpgtd", "66"),
    PI("packsswb", "63"), PI("packuswb", "67"), PI("packssdw", "6b"),
    PI("punpcklbw", "60"), PI("punpcklwd", "61"), PI("punpckldq", "62"), PI("punpcklqdq", "6c"),
    PI("punpckhbw", "68"), PI("punpckhwd", "69"), PI("punpckhdq", "6a"), PI("punpckhqdq", "6d"),
    PI("psllw", "f1"), PI("pslld", "f2"), PI("psllq", "f3"), PI("psrlw", "d1"), PI("psrld", "d2"),
    PI("psrlq", "d3"), PI("psraw", "e1"), PI("psrad", "e2"),
    PI("pmaxsw", "ee"), PI("pminsw", "ea"), PI("pmaxub", "de"), PI("pminub", "da"),
    PI("pavgb", "e0"), PI("pavgw", "e3"), PI("psadbw", "f6"),
    SSERI("psllw imm", "66 0f 71 f2", S_SSE_INT), SSERI("psrlw imm", "66 0f 71 d2", S_SSE_INT),
    SSERI("psraw imm", "66 0f 71 e2", S_SSE_INT), SSERI("pslld imm", "66 0f 72 f2", S_SSE_INT),
    SSERI("psrld imm", "66 0f 72 d2", S_SSE_INT), SSERI("psrad imm", "66 0f 72 e2", S_SSE_INT),
    SSERI("psllq imm", "66 0f 73 f2", S_SSE_INT), SSERI("psrlq imm", "66 0f 73 d2", S_SSE_INT),
    SSERI("pslldq", "66 0f 73 fa", S_SSE_INT), SSERI("psrldq", "66 0f 73 da", S_SSE_INT),
    SSEI("pshufd", "66 0f 70", S_SSE_INT), SSEI("pshufhw", "f3 0f 70", S_SSE_INT),
    SSEI("pshuflw", "f2 0f 70", S_SSE_INT),
    SSER("pmovmskb", "66 0f d7 c2", S_SSE_INT), SSERI("pextrw", "66 0f c5 c2", S_SSE_INT),
    SSERI("pinsrw", "66 0f c4 c8", S_SSE_INT),
    SSE("addsubps", "f2 0f d0", S_SSE_PS | FEAT(F_SSE3)), SSE("addsubpd", "66 0f d0", S_SSE_PD | FEAT(F_SSE3)),
    SSE("haddps", "f2 0f 7c", S_SSE_PS | FEAT(F_SSE3)), SSE("haddpd", "66 0f 7c", S_SSE_PD | FEAT(F_SSE3)),
    SSE("hsubps", "f2 0f 7d", S_SSE_PS | FEAT(F_SSE3)), SSE("hsubpd", "66 0f 7d", S_SSE_PD | FEAT(F_SSE3)),
    SSE("movsldup", "f3 0f 12", S_SSE_PS | FEAT(F_SSE3)), SSE("movshdup", "f3 0f 16", S_SSE_PS | FEAT(F_SSE3)),
    SSE("movddup", "f2 0f 12", S_SSE_PD | FEAT(F_SSE3)), SSEM("lddqu", "f2 0f f0 0b", S_SSE_INT | FEAT(F_SSE3)),
    P38("pshufb", "00"), P38("phaddw", "01"), P38("phaddd", "02"), P38("phaddsw", "03"),
    P38("pmaddubsw", "04"), P38("phsubw", "05"), P38("phsubd", "06"), P38("phsubsw", "07"),
    P38("psignb", "08"), P38("psignw", "09"), P38("psignd", "0a"), P38("pmulhrsw", "0b"),
    P38("pabsb", "1c"), P38("pabsw", "1d"), P38("pabsd", "1e"),
    SSEI("palignr", "66 0f 3a 0f", S_SSE_INT | FEAT(F_SSSE3)),
};
const size_t diff_n_forms = sizeof(diff_forms) / sizeof(diff_forms[0]);
