; fpu_sse: x87 arithmetic, compares, rounding control, stack faults, state
; images (FSAVE/FRSTOR, FSTENV/FLDENV, FXSAVE/FXRSTOR), and SSE, SSE2,
; SSE3, SSSE3 basics, MXCSR exceptions, CR4.OSFXSR.
; Expected values: IEEE 754 results (exactly rounded), Intel SDM Vol. 1
; chapters 8 (x87: FSW condition codes, tag word, 8.1.3.4 stack fault,
; 8.1.9 FSAVE/FSTENV images) and 10-11 (SSE, MXCSR), Vol. 2 instruction
; pages (FPREM C0/C3/C1 = Q2/Q1/Q0, FXSAVE table 3-53 layout, PACK*, PSHUF*,
; HADDPS, PALIGNR), Vol. 3A 13.1.4 (OSFXSR / OSXMMEXCPT).

%include "common.inc"
%include "pm.inc"

CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_NE          equ 1 << 5
CR4_OSFXSR      equ 1 << 9
CR4_OSXMMEXCPT  equ 1 << 10
FSW_IE          equ 0x0001
FSW_SF          equ 0x0040
FSW_ES          equ 0x0080
FSW_C0          equ 0x0100
FSW_C1          equ 0x0200
FSW_C2          equ 0x0400
FSW_C3          equ 0x4000
FSW_CC          equ FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3
FCW_NEAREST     equ 0x037F
FCW_DOWN        equ 0x077F
FCW_UP          equ 0x0B7F
FCW_CHOP        equ 0x0F7F
MXCSR_DEFAULT   equ 0x1F80
MXCSR_ZE        equ 0x0004
MXCSR_ZM        equ 0x0200
ARITH_FLAGS     equ 0x08D5

TMPF            equ SCRATCH + 0x00      ; dword
TMPD            equ SCRATCH + 0x08      ; qword
TMPI            equ SCRATCH + 0x10
MXCSR_TMP       equ SCRATCH + 0x14
XBUF            equ SCRATCH + 0x20      ; 16 bytes, 16-aligned
FSAVE_BUF       equ 0x8000              ; 108 bytes
FENV_BUF        equ 0x8100              ; 28 bytes
FX_BUF          equ 0x8200              ; 512 bytes, 16-aligned
MISALIGNED      equ 0x8408

; XCHECK n, want, "name": checks dword n of XBUF (after movdqu [XBUF], xmm)
%macro XCHECK 3
        CHECK   [XBUF + 4 * (%1)], %2, %3
%endmacro
; FSTSW_CHECK mask, want, "name"
%macro FSTSW_CHECK 3
        fnstsw  ax
        and     eax, %1
        CHECK   eax, %2, %3
%endmacro

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

        bits    32
main32:
        PRINT   "fpu_sse: start"
        mov     eax, cr0
        and     eax, ~(CR0_EM | CR0_TS)
        or      eax, CR0_MP | CR0_NE
        mov     cr0, eax
        mov     eax, cr4
        or      eax, CR4_OSFXSR | CR4_OSXMMEXCPT
        mov     cr4, eax
        fninit

; ---------------------------------------------------------------- x87 arithmetic
        fld1
        fld1
        faddp   st1, st0
        fstp    dword [TMPF]
        CHECK   [TMPF], 0x40000000, "fld1 fadd -> 2.0"

        fldpi
        fstp    qword [TMPD]
        CHECK   [TMPD + 4], 0x400921FB, "fldpi as double (high)"
        CHECK   [TMPD], 0x54442D18, "fldpi as double (low)"

        fild    dword [c_i10]
        fild    dword [c_i4]
        fdivp   st1, st0
        fstp    dword [TMPF]
        CHECK   [TMPF], 0x40200000, "fild fdiv 10/4 = 2.5"

        fld     qword [c_d2]
        fsqrt
        fstp    qword [TMPD]
        CHECK   [TMPD + 4], 0x3FF6A09E, "fsqrt 2 (high)"
        CHECK   [TMPD], 0x667F3BCD, "fsqrt 2 (low)"

        ; FCOM: C3 C2 C0 = 000 greater, 001 less, 100 equal, 111 unordered
        fld     dword [c_f2]
        fld1
        fcom    st1
        FSTSW_CHECK FSW_C0 | FSW_C2 | FSW_C3, FSW_C0, "fcom 1 < 2: C0"
        fcom    st0
        FSTSW_CHECK FSW_C0 | FSW_C2 | FSW_C3, FSW_C3, "fcom equal: C3"
        fstp    st0
        fstp    st0
        fld     dword [c_qnan]
        fld1
        fucom   st1
        FSTSW_CHECK FSW_C0 | FSW_C2 | FSW_C3, FSW_C0 | FSW_C2 | FSW_C3, "fucom NaN: unordered"
        fucomi  st0, st1
        pushfd
        pop     eax
        and     eax, ARITH_FLAGS
        CHECK   eax, 0x45, "fucomi NaN: ZF PF CF"
        fstp    st0
        fstp    st0
        fld     dword [c_f2]
        fld1
        fucomi  st0, st1
        pushfd
        pop     eax
        and     eax, ARITH_FLAGS
        CHECK   eax, 0x01, "fucomi 1 < 2: CF"
        fstp    st0
        fstp    st0

        ; FPREM: 11.5 rem 2 = 1.5, quotient 5 = 101b -> C0=Q2=1 C3=Q1=0 C1=Q0=1
        fld     dword [c_f2]
        fld     dword [c_f11_5]
        fprem
        FSTSW_CHECK FSW_CC, FSW_C0 | FSW_C1, "fprem C0 C3 C1 = quotient bits, C2=0"
        fstp    dword [TMPF]
        fstp    st0
        CHECK   [TMPF], 0x3FC00000, "fprem 11.5 rem 2 = 1.5"

        fld     dword [c_f10]
        fxtract
        fstp    dword [TMPF]
        CHECK   [TMPF], 0x3FA00000, "fxtract 10: significand 1.25"
        fstp    dword [TMPF]
        CHECK   [TMPF], 0x40400000, "fxtract 10: exponent 3"

        fld     dword [c_f3]
        fld     dword [c_f1_5]
        fscale
        fstp    dword [TMPF]
        fstp    st0
        CHECK   [TMPF], 0x41400000, "fscale 1.5 * 2^3 = 12"

        ; rounding control (FCW.RC) with FRNDINT and FISTP
%macro RND 4                                    ; fcw, source float, want int, name
        fldcw   [%1]
        fld     dword [%2]
        frndint
        fistp   dword [TMPI]
        CHECK   [TMPI], %3, %4
%endmacro
        RND     c_fcw_near, c_f2_5, 2, "frndint 2.5 nearest-even -> 2"
        RND     c_fcw_near, c_f3_5, 4, "frndint 3.5 nearest-even -> 4"
        RND     c_fcw_down, c_fm2_5, -3, "frndint -2.5 down -> -3"
        RND     c_fcw_up, c_f2_5, 3, "frndint 2.5 up -> 3"
        RND     c_fcw_chop, c_fm2_5, -2, "frndint -2.5 chop -> -2"
        fldcw   [c_fcw_near]

        ; stack fault: overflow sets IE SF C1, underflow IE SF with C1=0
        fninit
%rep 9
        fld1
%endrep
        FSTSW_CHECK FSW_IE | FSW_SF | FSW_C1 | FSW_ES, FSW_IE | FSW_SF | FSW_C1, "x87 stack overflow: IE SF C1 (masked, no ES) [qemu-differs]"
        fstp    dword [TMPF]
        CHECK   [TMPF], 0xFFC00000, "masked overflow leaves the real indefinite [qemu-differs]"
        fninit
        fadd    st0, st1
        FSTSW_CHECK FSW_IE | FSW_SF | FSW_C1, FSW_IE | FSW_SF, "x87 stack underflow: IE SF, C1=0 [qemu-differs]"

; ---------------------------------------------------------------- FSAVE / FRSTOR
        fninit
        fld1
        fldpi
        fldz
        fnsave  [FSAVE_BUF]
        movzx   eax, word [FSAVE_BUF]
        CHECK   eax, FCW_NEAREST, "fsave FCW"
        movzx   eax, word [FSAVE_BUF + 4]
        CHECK   eax, 0x2800, "fsave FSW TOP=5"
        movzx   eax, word [FSAVE_BUF + 8]
        CHECK   eax, 0x07FF, "fsave tag word: valid valid zero empty..."
        CHECK   [FSAVE_BUF + 28 + 10 + 0], 0x2168C235, "fsave ST1 = pi significand low"
        CHECK   [FSAVE_BUF + 28 + 10 + 4], 0xC90FDAA2, "fsave ST1 = pi significand high"
        movzx   eax, word [FSAVE_BUF + 28 + 10 + 8]
        CHECK   eax, 0x4000, "fsave ST1 = pi exponent"
        movzx   eax, word [FSAVE_BUF + 28 + 20 + 8]
        CHECK   eax, 0x3FFF, "fsave ST2 = 1.0 exponent"
        fnstsw  ax
        and     eax, 0xFFFF
        CHECK   eax, 0, "fsave reinitialises the FPU"
        frstor  [FSAVE_BUF]
        fstp    st0
        fstp    qword [TMPD]
        CHECK   [TMPD], 0x54442D18, "frstor brings pi back"
        fninit

; ---------------------------------------------------------------- FSTENV / FLDENV
        fld1
.fip:   fld     dword [c_f2]
        fnstenv [FENV_BUF]
        fldcw   [c_fcw_near]                    ; fnstenv masks all exceptions
        movzx   eax, word [FENV_BUF + 4]
        CHECK   eax, 0x3000, "fstenv FSW TOP=6"
        movzx   eax, word [FENV_BUF + 8]
        CHECK   eax, 0x0FFF, "fstenv tag word"
        CHECK   [FENV_BUF + 12], .fip, "fstenv FIP = last x87 instruction"
        CHECK   [FENV_BUF + 20], c_f2, "fstenv FDP = last operand"
        mov     word [FENV_BUF], FCW_CHOP
        fldenv  [FENV_BUF]
        fld     dword [c_f2_7]
        frndint
        fistp   dword [TMPI]
        CHECK   [TMPI], 2, "fldenv loads FCW (chop 2.7 -> 2)"
        fninit

; ---------------------------------------------------------------- FXSAVE / FXRSTOR
        fld1
        fldpi
        fldz
        movdqa  xmm0, [c_x_seq]
        fxsave  [FX_BUF]
        movzx   eax, word [FX_BUF]
        CHECK   eax, FCW_NEAREST, "fxsave FCW"
        movzx   eax, word [FX_BUF + 2]
        CHECK   eax, 0x2800, "fxsave FSW"
        movzx   eax, byte [FX_BUF + 4]
        CHECK   eax, 0xE0, "fxsave abridged tag: regs 5-7 valid"
        CHECK   [FX_BUF + 24], MXCSR_DEFAULT, "fxsave MXCSR"
        CHECK   [FX_BUF + 48], 0x2168C235, "fxsave ST1 at 48"
        movzx   eax, word [FX_BUF + 56]
        CHECK   eax, 0x4000, "fxsave ST1 exponent at 56"
        CHECK   [FX_BUF + 160 + 12], 0x0F0E0D0C, "fxsave XMM0 at 160"
        mov     dword [FX_BUF + 160 + 16], 0xFEEDFACE           ; XMM1 slot
        mov     byte [FX_BUF + 4], 0x80                         ; only reg 7 valid
        fninit
        fxrstor [FX_BUF]
        movd    eax, xmm1
        CHECK   eax, 0xFEEDFACE, "fxrstor loads XMM1"
        fnstenv [FENV_BUF]
        movzx   eax, word [FENV_BUF + 8]
        CHECK   eax, 0x3FFF, "fxrstor abridged tag -> full tag (reg 7 valid)"
        fninit

; ---------------------------------------------------------------- SSE / SSE2
        EXPECT  .al1
        movaps  xmm0, [MISALIGNED]
.al1:   CHECK   [EXC_VEC], 13, "movaps misaligned -> #GP"
        CHECK   [EXC_ERR], 0, "movaps misaligned error 0"
        EXPECT  .al2
        movups  xmm0, [MISALIGNED]
        mov     dword [EXC_VEC], 0
.al2:   CHECK   [EXC_VEC], 0, "movups misaligned allowed"
        mov     dword [EXC_RESUME], 0

        movaps  xmm0, [c_ps_1234]
        addps   xmm0, [c_ps_10_40]
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x41300000, "addps lane 0 = 11"
        XCHECK  3, 0x42300000, "addps lane 3 = 44"

        movapd  xmm0, [c_pd_a]
        mulpd   xmm0, [c_pd_b]
        movdqu  [XBUF], xmm0
        XCHECK  1, 0x40080000, "mulpd lane 0 = 3"
        XCHECK  3, 0xC0200000, "mulpd lane 1 = -8"

        mov     eax, 7
        cvtsi2ss xmm0, eax
        movd    eax, xmm0
        CHECK   eax, 0x40E00000, "cvtsi2ss 7"
        cvttss2si eax, [c_f2_9]
        CHECK   eax, 2, "cvttss2si 2.9 truncates"
        cvtss2si eax, [c_f2_5]
        CHECK   eax, 2, "cvtss2si 2.5 nearest-even"
        cvtss2si eax, [c_f3_5]
        CHECK   eax, 4, "cvtss2si 3.5 nearest-even"
        cvttsd2si eax, [c_d1e10]
        CHECK   eax, 0x80000000, "cvttsd2si overflow -> integer indefinite"
        cvtdq2ps xmm0, [c_dq]
        movdqu  [XBUF], xmm0
        XCHECK  1, 0xC0000000, "cvtdq2ps -2"
        XCHECK  3, 0x42C80000, "cvtdq2ps 100"
        cvtps2pd xmm0, [c_ps_cvt]
        movdqu  [XBUF], xmm0
        XCHECK  1, 0x3FF80000, "cvtps2pd 1.5"
        XCHECK  3, 0xBFD00000, "cvtps2pd -0.25"

        movdqa  xmm0, [c_x_seq]
        movdqa  xmm1, xmm0
        pcmpeqb xmm0, [c_x_seq3]
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x00FFFFFF, "pcmpeqb byte masks"
        pshufd  xmm0, [c_x_dw], 0x1B
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x44444444, "pshufd 1b reverses (0)"
        XCHECK  3, 0x11111111, "pshufd 1b reverses (3)"
        movdqa  xmm0, [c_w_ss]
        pxor    xmm1, xmm1
        packsswb xmm0, xmm1
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x807FFF01, "packsswb saturates"
        XCHECK  2, 0, "packsswb high half from source"
        movdqa  xmm0, [c_w_us]
        packuswb xmm0, xmm1
        movdqu  [XBUF], xmm0
        XCHECK  0, 0xFF8000FF, "packuswb saturates unsigned"
        movdqa  xmm0, [c_x_seq]
        movdqa  xmm1, [c_x_hi]
        punpcklbw xmm0, xmm1
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x81018000, "punpcklbw interleaves"

        ; UCOMISS: ZF PF CF = 000 greater, 001 less, 100 equal, 111 unordered
        movss   xmm0, [c_f1]
        ucomiss xmm0, [c_f2]
        pushfd
        pop     eax
        and     eax, ARITH_FLAGS
        CHECK   eax, 0x01, "ucomiss less: CF"
        ucomiss xmm0, [c_f1]
        pushfd
        pop     eax
        and     eax, ARITH_FLAGS
        CHECK   eax, 0x40, "ucomiss equal: ZF"
        ucomiss xmm0, [c_qnan]
        pushfd
        pop     eax
        and     eax, ARITH_FLAGS
        CHECK   eax, 0x45, "ucomiss unordered: ZF PF CF"

        ; MXCSR: masked #Z sets ZE, unmasked raises #XM (CR4.OSXMMEXCPT=1).
        ; The flags are sticky (the conversions above set IE and PE).
        mov     dword [MXCSR_TMP], MXCSR_DEFAULT
        ldmxcsr [MXCSR_TMP]
        movaps  xmm0, [c_ps_1234]
        xorps   xmm1, xmm1
        divps   xmm0, xmm1
        stmxcsr [MXCSR_TMP]
        CHECK   [MXCSR_TMP], MXCSR_DEFAULT | MXCSR_ZE, "masked divide by zero sets MXCSR.ZE"
        movd    eax, xmm0
        CHECK   eax, 0x7F800000, "masked divide by zero gives +inf"
        mov     dword [MXCSR_TMP], MXCSR_DEFAULT & ~MXCSR_ZM
        ldmxcsr [MXCSR_TMP]
        movss   xmm0, [c_f1]                    ; inf / 0 would raise nothing
        EXPECT  .xm
.xm_i:  divss   xmm0, xmm1
.xm:    CHECK   [EXC_VEC], 19, "unmasked divide by zero -> #XM [qemu-differs]"
        CHECK   [EXC_EIP], .xm_i, "#XM is a fault [qemu-differs]"
        mov     dword [MXCSR_TMP], MXCSR_DEFAULT
        ldmxcsr [MXCSR_TMP]

; ---------------------------------------------------------------- SSE3 / SSSE3
        mov     eax, 1
        cpuid
        mov     [TMPI], ecx
        test    dword [TMPI], 1 << 0            ; SSE3
        jnz     .sse3
        PRINT   "skip SSE3: not in CPUID"
        jmp     .ssse3_chk
.sse3:  movaps  xmm0, [c_ps_1234]
        haddps  xmm0, [c_ps_10_40]
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x40400000, "haddps lane 0 = 1+2"
        XCHECK  1, 0x40E00000, "haddps lane 1 = 3+4"
        XCHECK  3, 0x428C0000, "haddps lane 3 = 30+40"
.ssse3_chk:
        test    dword [TMPI], 1 << 9            ; SSSE3
        jnz     .ssse3
        PRINT   "skip SSSE3: not in CPUID"
        jmp     .osfxsr
.ssse3: movdqa  xmm0, [c_x_seq]
        pshufb  xmm0, [c_x_shuf]
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x0C0D0E00, "pshufb selects, bit 7 zeroes"
        movdqa  xmm0, [c_x_hi16]
        movdqa  xmm1, [c_x_seq]
        palignr xmm0, xmm1, 4
        movdqu  [XBUF], xmm0
        XCHECK  0, 0x07060504, "palignr 4 low"
        XCHECK  3, 0x13121110, "palignr 4 high"

; ---------------------------------------------------------------- CR4.OSFXSR = 0
.osfxsr:
        mov     eax, cr4
        and     eax, ~CR4_OSFXSR
        mov     cr4, eax
        EXPECT  .ud
        addps   xmm0, xmm1
.ud:    CHECK   [EXC_VEC], 6, "SSE with CR4.OSFXSR=0 -> #UD"
        mov     eax, cr4
        or      eax, CR4_OSFXSR
        mov     cr4, eax

        jmp     finish32

        align   16
c_x_seq:        db      0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
                db      0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
c_x_seq3:       db      0x00, 0x01, 0x02, 0x33, 0x04, 0x05, 0x06, 0x07
                db      0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
c_x_hi:         db      0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87
                db      0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F
c_x_hi16:       db      0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17
                db      0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F
c_x_shuf:       db      0x80, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08
                db      0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00
c_x_dw:         dd      0x11111111, 0x22222222, 0x33333333, 0x44444444
c_w_ss:         dw      1, -1, 300, -300, 0, 0, 0, 0
c_w_us:         dw      300, -5, 128, 255, 0, 0, 0, 0
c_ps_1234:      dd      1.0, 2.0, 3.0, 4.0
c_ps_10_40:     dd      10.0, 20.0, 30.0, 40.0
c_pd_a:         dq      1.5, -2.0
c_pd_b:         dq      2.0, 4.0
c_dq:           dd      1, -2, 3, 100
c_ps_cvt:       dd      1.5, -0.25, 0.0, 0.0
c_d2:           dq      2.0
c_d1e10:        dq      1.0e10
c_i10:          dd      10
c_i4:           dd      4
c_f1:           dd      1.0
c_f2:           dd      2.0
c_f3:           dd      3.0
c_f10:          dd      10.0
c_f1_5:         dd      1.5
c_f2_5:         dd      2.5
c_fm2_5:        dd      -2.5
c_f2_7:         dd      2.7
c_f2_9:         dd      2.9
c_f3_5:         dd      3.5
c_f11_5:        dd      11.5
c_qnan:         dd      0x7FC00000
c_fcw_near:     dw      FCW_NEAREST
c_fcw_down:     dw      FCW_DOWN
c_fcw_up:       dw      FCW_UP
c_fcw_chop:     dw      FCW_CHOP

%include "trailer.inc"
