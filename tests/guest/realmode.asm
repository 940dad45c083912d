; realmode: real-mode integer instructions and flags, exceptions through the
; IVT, string ops, control transfer, 32-bit prefixes, CPUID, unreal mode.
; Expected values: Intel SDM Vol. 2 (instruction pages, "Flags Affected"),
; Vol. 3A chapter 20 (real-address mode).

%include "common.inc"
%include "pm.inc"

ARITH_FLAGS     equ 0x08D5              ; OF SF ZF AF PF CF
LOGIC_FLAGS     equ 0x08C5              ; AF is undefined after logic ops and shifts
CF_OF           equ 0x0801
RM_SCRATCH      equ SCRATCH             ; 0x600.. (DS = 0)
BUF_A           equ 0x800
BUF_B           equ 0x900
RESULT          equ 0x6F0
BIG_ADDR        equ 0x200000            ; above 1 MiB, bit 20 clear (A20-proof)

%macro GETFLAGS 1
        pushf
        pop     %1
%endmacro

; RM_EXPECT label: record the next exception and resume at label.
%macro RM_EXPECT 1
        mov     word [EXC_VEC], 0xFFFF
        mov     word [EXC_RESUME], R(%1)
%endmacro

        bits    16
start:
        mov     bx, R(main16)
        jmp     rm_init

; IVT stubs for vectors 0-31: push the vector, then a common recorder.
rm_stubs:
%assign v 0
%rep 32
        push    byte v
        jmp     strict near rm_exc_common
%assign v v+1
%endrep
RM_STUB_SIZE    equ 5

; Stack: vec, ip, cs, flags. Real mode pushes no error code (SDM 3A 20.1.4).
rm_exc_common:
        push    bp
        mov     bp, sp
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        mov     ax, [bp+2]
        mov     [EXC_VEC], ax
        mov     ax, [bp+4]
        mov     [EXC_EIP], ax
        mov     ax, [bp+6]
        mov     [EXC_CS], ax
        inc     word [EXC_COUNT]
        mov     ax, [EXC_RESUME]
        test    ax, ax
        jz      .unexpected
        mov     [bp+4], ax
        mov     word [bp+6], 0xF000
        mov     word [EXC_RESUME], 0
        pop     ds
        pop     ax
        pop     bp
        add     sp, 2
        iret
.unexpected:
        mov     si, R(str_unexp)
        call    puts16
        mov     ax, [EXC_VEC]
        call    puthex16
        mov     si, R(str_eip)
        call    puts16
        mov     ax, [EXC_CS]
        call    puthex16
        mov     al, ':'
        call    putc16
        mov     ax, [EXC_EIP]
        call    puthex16
        mov     si, R(str_nl)
        call    puts16
        inc     dword [FAILCOUNT]
        jmp     finish16

; INT 0x80 handler: returns the FLAGS it saw in DX, sets BX.
int80_handler:
        pushf
        pop     dx
        mov     bx, 0x8080
        iret

; INT 0x81 handler: sets CF in the saved FLAGS image (how BIOS services
; return status) and returns.
int81_handler:
        push    bp
        mov     bp, sp
        or      word [bp+6], 1
        pop     bp
        iret

; A far procedure, entered through segment 0xEF00 (same linear address).
far_proc:
        mov     [RM_SCRATCH], cs
        retf    4

main16:
        PRINT16 "realmode: start"
        ; install stubs 0-31 and two INT handlers
        xor     di, di
        mov     ax, R(rm_stubs)
        mov     cx, 32
.ivt:   mov     [di], ax
        mov     word [di+2], 0xF000
        add     ax, RM_STUB_SIZE
        add     di, 4
        loop    .ivt
        mov     word [0x80*4], R(int80_handler)
        mov     word [0x80*4+2], 0xF000
        mov     word [0x81*4], R(int81_handler)
        mov     word [0x81*4+2], 0xF000

; ---------------------------------------------------------------- ALU flags
        mov     ax, 0x7FFF
        add     ax, 1
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0x8000, "add16 result"
        CHECK16 bx, 0x0894, "add16 flags OF SF AF PF"

        mov     al, 0xFF
        add     al, 1
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 bx, 0x0055, "add8 carry flags ZF AF PF CF"

        xor     ax, ax
        sub     ax, 1
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0xFFFF, "sub16 result"
        CHECK16 bx, 0x0095, "sub16 borrow flags SF AF PF CF"

        stc
        mov     ax, 0xFFFF
        adc     ax, 0
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0, "adc16 result"
        CHECK16 bx, 0x0055, "adc16 flags"

        stc
        mov     ax, 5
        sbb     ax, 5
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0xFFFF, "sbb16 result"
        CHECK16 bx, 0x0095, "sbb16 flags"

        mov     ax, 0x8000
        cmp     ax, 1
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0x8000, "cmp keeps operand"
        CHECK16 bx, 0x0814, "cmp16 overflow flags OF AF PF"

        stc
        mov     ax, 0xFFFF
        inc     ax
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 bx, 0x0055, "inc keeps CF"

        clc
        mov     ax, 0x8000
        dec     ax
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 bx, 0x0814, "dec16 overflow flags"

        xor     ax, ax
        neg     ax
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 bx, 0x0044, "neg 0 clears CF"

        mov     ax, 0x8000
        neg     ax
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0x8000, "neg 8000 result"
        CHECK16 bx, 0x0885, "neg 8000 flags OF SF PF CF"

        stc
        mov     ax, 0x8001
        or      ax, 0
        GETFLAGS bx
        and     bx, LOGIC_FLAGS
        CHECK16 bx, 0x0080, "or clears CF OF, PF of low byte"

        mov     ax, 0xF0F0
        and     ax, 0x0F0F
        GETFLAGS bx
        and     bx, LOGIC_FLAGS
        CHECK16 bx, 0x0044, "and zero"

        mov     ax, 0x1234
        not     ax
        CHECK16 ax, 0xEDCB, "not"

        mov     al, 0x80
        test    al, 0x80
        GETFLAGS bx
        and     bx, LOGIC_FLAGS
        CHECK16 bx, 0x0080, "test sign"

; ---------------------------------------------------------------- shifts
        mov     al, 0x80
        shl     al, 1
        GETFLAGS bx
        and     bx, LOGIC_FLAGS
        CHECK16 bx, 0x0845, "shl1 8 flags OF ZF PF CF"

        mov     ax, 0x8001
        shr     ax, 1
        GETFLAGS bx
        and     bx, CF_OF
        CHECK16 ax, 0x4000, "shr1 result"
        CHECK16 bx, 0x0801, "shr1 OF=old msb CF"

        mov     ax, 0x8000
        mov     cl, 15
        sar     ax, cl
        GETFLAGS bx
        and     bx, 1
        CHECK16 ax, 0xFFFF, "sar 15"
        CHECK16 bx, 0, "sar 15 CF"

        ; count 0: result and every flag unchanged (SDM SAL/SAR/SHL/SHR)
        mov     ax, 0x08D5
        push    ax
        popf
        mov     ax, 0x1234
        mov     cl, 0
        shl     ax, cl
        GETFLAGS bx
        and     bx, ARITH_FLAGS
        CHECK16 ax, 0x1234, "shl count 0 result"
        CHECK16 bx, 0x08D5, "shl count 0 keeps flags"

        ; count masked to 5 bits: 33 -> 1
        mov     ax, 0x0001
        mov     cl, 33
        shl     ax, cl
        CHECK16 ax, 0x0002, "shl count masked to 5 bits"

        mov     ax, 0xFFFF
        mov     cl, 16
        shl     ax, cl
        CHECK16 ax, 0, "shl16 by 16"

        mov     ax, 0x8000
        mov     cl, 31
        shr     ax, cl
        CHECK16 ax, 0, "shr16 by 31"

        ; ROL/ROR: masked count then MOD size: 17 -> 1 for 16 bits
        mov     ax, 0x8001
        mov     cl, 17
        rol     ax, cl
        GETFLAGS bx
        and     bx, 1
        CHECK16 ax, 0x0003, "rol16 by 17"
        CHECK16 bx, 1, "rol16 CF = lsb"

        mov     ax, 0x0001
        ror     al, 1
        GETFLAGS bx
        and     bx, CF_OF
        CHECK16 ax, 0x0080, "ror8 by 1"
        CHECK16 bx, 0x0801, "ror8 CF OF"

        ; RCL 8-bit: count MOD 9, so 9 leaves value and CF alone
        mov     ax, 0x005A
        stc
        mov     cl, 9
        rcl     al, cl
        GETFLAGS bx
        and     bx, 1
        CHECK16 ax, 0x005A, "rcl8 by 9 unchanged"
        CHECK16 bx, 1, "rcl8 by 9 keeps CF"

        mov     ax, 0x0001
        stc
        rcr     al, 1
        GETFLAGS bx
        and     bx, CF_OF
        CHECK16 ax, 0x0080, "rcr8 result"
        CHECK16 bx, 0x0801, "rcr8 CF OF"

        stc
        mov     ax, 0x0000
        mov     cl, 17
        rcl     ax, cl                  ; 17 MOD 17 = 0
        CHECK16 ax, 0, "rcl16 by 17 unchanged"

        mov     ax, 0x1234
        mov     bx, 0xABCD
        shld    ax, bx, 4
        GETFLAGS dx
        and     dx, 1
        CHECK16 ax, 0x234A, "shld16 by 4"
        CHECK16 dx, 1, "shld16 CF = last bit out"

        mov     ax, 0x1234
        mov     bx, 0xABCD
        mov     cl, 8
        shrd    ax, bx, cl
        CHECK16 ax, 0xCD12, "shrd16 by 8"

; ---------------------------------------------------------------- mul/div
        mov     ax, 0x1234
        mov     bx, 0x5678
        mul     bx
        GETFLAGS cx
        and     cx, CF_OF
        CHECK16 dx, 0x0626, "mul16 high"
        CHECK16 ax, 0x0060, "mul16 low"
        CHECK16 cx, 0x0801, "mul16 CF OF set"

        mov     ax, 0xFFFE
        mov     bx, 3
        imul    bx
        GETFLAGS cx
        and     cx, CF_OF
        CHECK16 dx, 0xFFFF, "imul16 high"
        CHECK16 ax, 0xFFFA, "imul16 low"
        CHECK16 cx, 0, "imul16 CF OF clear"

        mov     bx, 0x0100
        imul    ax, bx, 0x100
        GETFLAGS cx
        and     cx, CF_OF
        CHECK16 ax, 0, "imul3 truncated"
        CHECK16 cx, 0x0801, "imul3 CF OF set"

        mov     al, 0x80
        mov     bl, 2
        mul     bl
        CHECK16 ax, 0x0100, "mul8"

        mov     dx, 1
        xor     ax, ax
        mov     bx, 3
        div     bx
        CHECK16 ax, 0x5555, "div16 quotient"
        CHECK16 dx, 0x0001, "div16 remainder"

        mov     ax, -7
        mov     bl, 2
        idiv    bl
        CHECK16 ax, 0xFFFD, "idiv8 truncates toward zero"

        mov     ax, 100
        mov     bl, 7
        div     bl
        CHECK16 ax, 0x020E, "div8 ah=rem al=quot"

        ; #DE: the saved IP points at the faulting instruction (SDM 3A 6.15)
        RM_EXPECT .de1
        xor     bx, bx
.div0:  div     bx
.de1:   CHECK16 [EXC_VEC], 0, "div by zero -> #DE"
        CHECK16 [EXC_EIP], R(.div0), "#DE saved IP = div"

        RM_EXPECT .de2
        mov     dx, 2
        xor     ax, ax
        mov     bx, 1
        div     bx
.de2:   CHECK16 [EXC_VEC], 0, "div quotient overflow -> #DE"

        RM_EXPECT .de3
        mov     dx, 0xFFFF
        mov     ax, 0x8000
        mov     bx, -1
        idiv    bx
.de3:   CHECK16 [EXC_VEC], 0, "idiv -32768/-1 -> #DE"

; ---------------------------------------------------------------- BCD
        mov     ax, 0x0079
        add     al, 0x35
        daa
        GETFLAGS bx
        and     bx, 1
        CHECK16 ax, 0x0014, "daa 79+35"
        CHECK16 bx, 1, "daa CF"

        mov     al, 0x35
        sub     al, 0x47
        das
        GETFLAGS bx
        and     bx, 1
        and     ax, 0xFF
        CHECK16 ax, 0x88, "das 35-47"
        CHECK16 bx, 1, "das CF"

        mov     ax, 0x0009
        add     al, 8
        aaa
        GETFLAGS bx
        and     bx, 0x11
        CHECK16 ax, 0x0107, "aaa 9+8"
        CHECK16 bx, 0x11, "aaa AF CF"

        mov     ax, 0x0102
        sub     al, 5
        aas
        GETFLAGS bx
        and     bx, 0x11
        CHECK16 ax, 0x0007, "aas 12-5"
        CHECK16 bx, 0x11, "aas AF CF"

        mov     ax, 0x003F
        aam
        CHECK16 ax, 0x0603, "aam 63"
        mov     ax, 0x003F
        aam     16
        CHECK16 ax, 0x030F, "aam base 16"

        RM_EXPECT .de4
        aam     0
.de4:   CHECK16 [EXC_VEC], 0, "aam 0 -> #DE"

        mov     ax, 0x0607
        aad
        CHECK16 ax, 0x0043, "aad 67"
        mov     ax, 0x0203
        aad     16
        CHECK16 ax, 0x0023, "aad base 16"

; ---------------------------------------------------------------- misc integer
        mov     ax, 0x0080
        cbw
        CHECK16 ax, 0xFF80, "cbw"
        cwd
        CHECK16 dx, 0xFFFF, "cwd"
        mov     ax, 0xD500                      ; AH: SF ZF AF PF CF
        sahf
        mov     ax, 0
        lahf
        and     ax, 0xD500
        CHECK16 ax, 0xD500, "sahf/lahf round trip"

        mov     bx, R(text1)
        mov     ax, 4
        cs      xlatb
        CHECK16 ax, 'q', "xlat through CS"

        mov     ax, 0x1234
        mov     bx, 0x00FF
        xadd    ax, bx
        CHECK16 ax, 0x1333, "xadd sum"
        CHECK16 bx, 0x1234, "xadd old value"

        mov     word [RESULT], 5
        mov     ax, 5
        mov     bx, 9
        cmpxchg [RESULT], bx
        GETFLAGS cx
        and     cx, 0x40
        CHECK16 [RESULT], 9, "cmpxchg equal stores"
        CHECK16 cx, 0x40, "cmpxchg equal ZF"
        mov     ax, 1
        cmpxchg [RESULT], bx
        CHECK16 ax, 9, "cmpxchg differ loads accumulator"

        mov     ax, 0x0010
        bts     ax, 0
        GETFLAGS cx
        and     cx, 1
        CHECK16 ax, 0x0011, "bts sets bit"
        CHECK16 cx, 0, "bts CF = old bit"
        mov     dword [RESULT], 0
        mov     bx, 17                          ; bit offset beyond the word
        bts     [RESULT], bx
        CHECK16 [RESULT + 2], 2, "bts memory with bit offset 17"
        mov     ax, 0x8000
        bsf     cx, ax
        CHECK16 cx, 15, "bsf"

        mov     ax, 0xFFFE
        movzx   bx, al
        CHECK16 bx, 0x00FE, "movzx"
        movsx   bx, al
        CHECK16 bx, 0xFFFE, "movsx"

        stc
        setc    al
        clc
        setc    ah
        CHECK16 ax, 0x0001, "setc"

        mov     bp, 0x1111
        mov     [RESULT], sp
        enter   4, 0
        mov     ax, [RESULT]
        sub     ax, sp
        mov     cx, [bp]
        leave
        CHECK16 ax, 6, "enter 4,0 frame size"
        CHECK16 cx, 0x1111, "enter pushes bp"
        CHECK16 bp, 0x1111, "leave restores bp"
        CHECK16 sp, [RESULT], "leave restores sp"

        mov     ax, 0x1234
        mov     bx, 0x5678
        xchg    ax, bx
        CHECK16 ax, 0x5678, "xchg"
        lea     di, [bx + si + 0x10]
        mov     ax, bx
        add     ax, si
        add     ax, 0x10
        CHECK16 di, ax, "lea bx+si+disp"

; ---------------------------------------------------------------- strings
        ; DS = ES = 0 here; source text comes from ROM through CS:
        mov     si, R(text1)
        mov     di, BUF_A
        mov     cx, text1_len
        cld
        rep     cs movsb
        CHECK16 cx, 0, "rep movsb cx"
        CHECK16 si, R(text1) + text1_len, "rep movsb si"
        CHECK16 di, BUF_A + text1_len, "rep movsb di"
        CHECK16 [BUF_A + 4], 'qu', "rep movsb data"

        ; backwards word copy with DF=1
        std
        mov     si, BUF_A + 14
        mov     di, BUF_B + 14
        mov     cx, 8
        rep     movsw
        cld
        CHECK16 si, BUF_A - 2, "std movsw si"
        CHECK16 [BUF_B], 'Th', "std movsw first word"
        CHECK16 [BUF_B + 14], [BUF_A + 14], "std movsw last word"

        ; repe cmpsb stops after the first mismatch
        mov     byte [BUF_B + 5], 'X'
        mov     si, BUF_A
        mov     di, BUF_B
        mov     cx, 16
        repe    cmpsb
        GETFLAGS bx
        and     bx, 0x40
        CHECK16 cx, 10, "repe cmpsb cx"
        CHECK16 si, BUF_A + 6, "repe cmpsb si"
        CHECK16 bx, 0, "repe cmpsb ZF=0"

        ; repne scasb stops on the match
        mov     al, 'q'
        mov     di, BUF_A
        mov     cx, 16
        repne   scasb
        GETFLAGS bx
        and     bx, 0x40
        CHECK16 di, BUF_A + 5, "repne scasb di"
        CHECK16 cx, 11, "repne scasb cx"
        CHECK16 bx, 0x40, "repne scasb ZF=1"

        mov     ax, 0xA55A
        mov     di, BUF_B
        mov     cx, 4
        rep     stosw
        CHECK16 [BUF_B + 6], 0xA55A, "rep stosw"
        CHECK16 di, BUF_B + 8, "rep stosw di"

        ; CX = 0: no iteration at all
        mov     di, BUF_B
        xor     cx, cx
        mov     al, 0
        rep     stosb
        CHECK16 di, BUF_B, "rep cx=0 no-op"

        std
        mov     si, BUF_A + 1
        lodsb
        cld
        CHECK16 si, BUF_A, "std lodsb decrements"

        ; segment override on the source of MOVS (destination stays ES)
        mov     ax, BUF_A >> 4
        mov     fs, ax
        xor     si, si
        mov     di, BUF_B
        fs      movsw
        CHECK16 [BUF_B], 'Th', "fs: movsw"

        ; segment override on a plain load
        mov     ax, 0x0010
        mov     es, ax
        mov     word [0x100 + 0x20], 0x7777     ; linear 0x120
        mov     bx, 0x20
        mov     ax, [es:bx]
        CHECK16 ax, 0x7777, "es: override"
        xor     ax, ax
        mov     es, ax

; ---------------------------------------------------------------- loops
        xor     bx, bx
        mov     cx, 5
.lp:    inc     bx
        loop    .lp
        CHECK16 bx, 5, "loop count"
        CHECK16 cx, 0, "loop cx"

        mov     cx, 0
        mov     bx, 1
        jcxz    .jz
        mov     bx, 0
.jz:    CHECK16 bx, 1, "jcxz taken"

        ; loope leaves on ZF=0
        mov     cx, 10
        xor     bx, bx
.le:    inc     bx
        cmp     bx, 3
        loopne  .le
        CHECK16 bx, 3, "loopne stops on ZF=1"
        CHECK16 cx, 7, "loopne cx"

; ---------------------------------------------------------------- far call, INT
        push    word 0x1111
        push    word 0x2222
        mov     bp, sp
        call    0xEF00:R(far_proc) + 0x1000
        CHECK16 [RM_SCRATCH], 0xEF00, "far call CS"
        mov     ax, sp
        sub     ax, bp
        CHECK16 ax, 4, "retf 4 pops arguments"

        mov     bx, 0
        sti                             ; all PIC lines are masked
        int     0x80
        GETFLAGS ax
        cli
        and     dx, 0x0200
        and     ax, 0x0200
        CHECK16 bx, 0x8080, "int 80 handler ran"
        CHECK16 dx, 0, "int clears IF"
        CHECK16 ax, 0x0200, "iret restores IF"

        clc
        int     0x81
        GETFLAGS ax
        and     ax, 1
        CHECK16 ax, 1, "iret pops modified FLAGS"

; ---------------------------------------------------------------- PUSHA/POPA
        mov     ax, 1
        mov     cx, 2
        mov     dx, 3
        mov     bx, 4
        mov     bp, 6
        mov     si, 7
        mov     di, 8
        mov     [RESULT], sp
        pusha
        mov     bp, sp
        CHECK16 [bp+14], 1, "pusha ax slot"
        CHECK16 [bp+6], [RESULT], "pusha sp slot = original sp"
        CHECK16 [bp+0], 8, "pusha di slot"
        mov     word [bp+6], 0x1234     ; POPA ignores the SP slot
        mov     word [bp+2], 0x5555     ; new SI
        popa
        CHECK16 sp, [RESULT], "popa skips sp"
        CHECK16 si, 0x5555, "popa si"
        CHECK16 bp, 6, "popa bp"

; ---------------------------------------------------------------- 32-bit prefixes
        mov     eax, 0x12345678
        mov     ebx, 0x11111111
        add     eax, ebx
        CHECK16 ax, 0x6789, "o32 add low"
        shr     eax, 16
        CHECK16 ax, 0x2345, "o32 add high"

        mov     eax, 0x10000
        mul     eax
        CHECK16 dx, 1, "o32 mul edx"

        mov     ebx, SCRATCH
        mov     ecx, 2
        mov     word [ebx + ecx*4 + 8], 0xBEEF
        CHECK16 [SCRATCH + 16], 0xBEEF, "a32 sib addressing"

        mov     [RESULT], sp
        push    dword 0x12345678
        mov     bx, [RESULT]
        sub     bx, sp
        pop     ax
        pop     dx
        CHECK16 bx, 4, "o32 push size"
        CHECK16 dx, 0x1234, "o32 push high word"

        mov     ecx, 0x80000001
        bsr     eax, ecx
        CHECK16 ax, 31, "o32 bsr"
        mov     bx, R(minus2)                   ; (a forward R() in [] warns in pass 1)
        movsx   eax, byte [cs:bx]
        shr     eax, 16
        CHECK16 ax, 0xFFFF, "o32 movsx sign"

        ; an offset past the 64 KiB limit raises #GP in real mode (SDM 3A 20.1.3)
        RM_EXPECT .gp1
        mov     esi, 0x10000
        mov     al, [esi]
.gp1:   CHECK16 [EXC_VEC], 13, "real-mode offset > limit -> #GP [qemu-differs]"

; ---------------------------------------------------------------- CPUID
        pushfd
        pop     eax
        mov     ebx, eax
        xor     eax, 0x200000           ; EFLAGS.ID (SDM 3A 2.3)
        push    eax
        popfd
        pushfd
        pop     eax
        xor     eax, ebx
        shr     eax, 16
        CHECK16 ax, 0x0020, "EFLAGS.ID toggles (CPUID present)"
        xor     eax, eax
        cpuid
        cmp     eax, 1
        setae   al
        mov     ah, 0
        CHECK16 ax, 1, "cpuid max leaf >= 1"
        mov     eax, 1
        cpuid
        and     dx, 0x0011              ; FPU, TSC
        CHECK16 dx, 0x0011, "cpuid.1 edx fpu tsc"

; ---------------------------------------------------------------- unreal mode
        mov     di, GDT_BASE
        mov     si, R(gdt_template)
        mov     cx, gdt_template_end - gdt_template
        rep     cs movsb
        mov     si, R(gdt_ptr)
        lgdt    [cs:si]
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        jmp     SEL_CODE16:R(.pm16)
.pm16:  mov     ax, SEL_DATA32          ; 4 GiB limit into the DS cache
        mov     ds, ax
        mov     eax, cr0
        and     al, 0xFE
        mov     cr0, eax
        jmp     0xF000:R(.rm)
.rm:    xor     ax, ax
        mov     ds, ax                  ; base 0, the limit stays 4 GiB
        mov     esi, BIG_ADDR
        mov     dword [esi], 0x5AA5C33C
        mov     eax, [esi]
        CHECK16 ax, 0xC33C, "unreal mode store/load low"
        shr     eax, 16
        CHECK16 ax, 0x5AA5, "unreal mode store/load high"
        CHECK16 [0], R(rm_stubs), "unreal mode no wrap to offset 0"
        mov     ax, cs
        CHECK16 ax, 0xF000, "back in real mode CS"

        jmp     finish16

text1:  db      "The quick brown fox jumps"
text1_len equ $ - text1
minus2: db      -2

%include "trailer.inc"
