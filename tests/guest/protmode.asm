; protmode: 16/32-bit protected mode. Segment loads and limit checks, LDT,
; privilege levels (ring 3 by IRET and far RET, call gates with stack switch
; and parameter copy), interrupt and trap gates, task switches (JMP, CALL +
; IRET with NT and the back link, busy bits), IOPL and the I/O permission
; bitmap, virtual-8086 mode.
; Expected values: Intel SDM Vol. 3A chapters 3 (segmentation), 5
; (protection), 6 (interrupts, error codes), 7 (tasks), 20 (V86), and the
; "Protected Mode Exceptions" of each instruction in Vol. 2.

%include "common.inc"
%include "pm.inc"

%define LIN(x)  ((x) - $$ + ROMBASE)    ; a label as a plain number

; Call gate (SDM 3A 5.8.3): offset, selector, type/access byte, param count.
%macro CALLGATE 4
        dw      LIN(%1) & 0xFFFF
        dw      %2
        db      %4
        db      %3
        dw      LIN(%1) >> 16
%endmacro

; Extra GDT entries of this program, copied to GDT_BASE + SEL_FREE.
SEL_LIM         equ 0x48                ; data, base 0x10000, limit 0xFFF
SEL_EXPD        equ 0x50                ; expand-down data, limit 0xFFF, B=0
SEL_STK         equ 0x58                ; 32-bit stack, limit 0x7FFFF
SEL_NP          equ 0x60                ; data, not present
SEL_CG1         equ 0x68                ; call gate DPL3 -> ring 0, 1 parameter
SEL_CG2         equ 0x70                ; call gate DPL3 -> ring 0 "back to kernel"
SEL_LDT         equ 0x78
SEL_TSS2        equ 0x80
SEL_TSS3        equ 0x88
SEL_XO          equ 0x90                ; execute-only code
SEL_RO          equ 0x98                ; read-only data
SEL_CONF        equ 0xA0                ; conforming code, DPL 0

LDT_BASE        equ 0x7800
TSS2_BASE       equ 0x7900
TSS3_BASE       equ 0x7A00
LDT_SEG_BASE    equ 0x20000

; variables (flat)
R0_ESP          equ SCRATCH + 0x00
R0_CONT         equ SCRATCH + 0x04
CG_CS           equ SCRATCH + 0x08
CG_ESP          equ SCRATCH + 0x0C
CG_SS3          equ SCRATCH + 0x10
CG_ESP3         equ SCRATCH + 0x14
CG_PARAM        equ SCRATCH + 0x18
GATE_EFL        equ SCRATCH + 0x1C
T2_TR           equ SCRATCH + 0x20
T2_EFL          equ SCRATCH + 0x24
T2_TYPE_OLD     equ SCRATCH + 0x28
T2_TYPE_NEW     equ SCRATCH + 0x2C
T3_EFL          equ SCRATCH + 0x30
T3_LINK         equ SCRATCH + 0x34
T3_TYPE_OLD     equ SCRATCH + 0x38
T3_TYPE_NEW     equ SCRATCH + 0x3C
V86_CS          equ SCRATCH + 0x40
V86_ERR         equ SCRATCH + 0x44
V86_EIP         equ SCRATCH + 0x48
V86_FCS         equ SCRATCH + 0x4C
V86_EFL         equ SCRATCH + 0x50
V86_DS          equ SCRATCH + 0x54
V86_SEGS        equ SCRATCH + 0x58
V86_ESP0        equ SCRATCH + 0x5C
V86_STORE       equ SCRATCH + 0xA0      ; written by V86 code as 0060:00A0
ESP3_PUSHED     equ SCRATCH + 0x60
P16_PUSH        equ SCRATCH + 0x64
P16_CALL        equ SCRATCH + 0x68
CONF_CS         equ SCRATCH + 0x6C

TSS_TYPE_BYTE   equ 5                   ; descriptor byte holding P DPL S type
TYPE_TSS_AVAIL  equ 0x89                ; P=1, 32-bit TSS available
TYPE_TSS_BUSY   equ 0x8B                ; busy bit = type bit 1 (SDM 3A 7.2.2)
EFL_NT          equ 0x4000
EFL_IF          equ 0x0200
EFL_VM          equ 0x20000
EFL_IOPL3       equ 0x3000

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

gdt_extra:
        DESC    0x10000, 0xFFF, 0x92, 0x4               ; 0x48 SEL_LIM
        DESC    0, 0xFFF, 0x96, 0x0                     ; 0x50 SEL_EXPD
        DESC    0, 0x7FFFF, 0x92, 0x4                   ; 0x58 SEL_STK
        DESC    0, 0xFFFFF, 0x12, 0xC                   ; 0x60 SEL_NP (P=0)
        CALLGATE cg1_target, SEL_CODE32, 0xEC, 1        ; 0x68 SEL_CG1
        CALLGATE cg2_target, SEL_CODE32, 0xEC, 0        ; 0x70 SEL_CG2
        DESC    LDT_BASE, 0x17, 0x82, 0x0               ; 0x78 SEL_LDT
        DESC    TSS2_BASE, 0x67, TYPE_TSS_AVAIL, 0x0    ; 0x80 SEL_TSS2
        DESC    TSS3_BASE, 0x67, TYPE_TSS_AVAIL, 0x0    ; 0x88 SEL_TSS3
        DESC    0, 0xFFFFF, 0x98, 0xC                   ; 0x90 SEL_XO
        DESC    0, 0xFFFFF, 0x90, 0xC                   ; 0x98 SEL_RO
        DESC    0, 0xFFFFF, 0x9E, 0xC                   ; 0xA0 SEL_CONF
gdt_extra_end:
ldt_template:
        DESC    LDT_SEG_BASE, 0xFFFF, 0x92, 0x4         ; 0x04 (TI=1)
        dq      0
        dq      0
ldt_template_end:

        bits    32
; init_tss: EDI = TSS base, EAX = EIP, EBX = ESP. Flat ring-0 task, no LDT,
; no I/O bitmap (map base beyond the limit).
init_tss:
        push    ecx
        push    eax
        push    edi
        xor     eax, eax
        mov     ecx, 0x68 / 4
        rep     stosd
        pop     edi
        pop     eax
        mov     [edi + 0x20], eax               ; EIP
        mov     dword [edi + 0x24], 2           ; EFLAGS
        mov     [edi + 0x38], ebx               ; ESP
        mov     dword [edi + 0x48], SEL_DATA32  ; ES
        mov     dword [edi + 0x4C], SEL_CODE32  ; CS
        mov     dword [edi + 0x50], SEL_DATA32  ; SS
        mov     dword [edi + 0x54], SEL_DATA32  ; DS
        mov     dword [edi + 0x58], SEL_DATA32  ; FS
        mov     dword [edi + 0x5C], SEL_DATA32  ; GS
        mov     word [edi + 0x66], 0x68
        pop     ecx
        ret

; Probe for interrupt vs trap gates: returns the EFLAGS seen inside.
gate_probe:
        push    eax
        pushfd
        pop     eax
        mov     [GATE_EFL], eax
        pop     eax
        iretd

; Call gate 1 target (ring 0, one parameter copied from the ring-3 stack).
cg1_target:
        mov     [CG_ESP], esp
        push    eax
        mov     eax, cs
        mov     [CG_CS], eax
        mov     eax, [esp + 4 + 16]             ; caller SS
        mov     [CG_SS3], eax
        mov     eax, [esp + 4 + 12]             ; caller ESP
        mov     [CG_ESP3], eax
        mov     eax, [esp + 4 + 8]              ; the copied parameter
        mov     [CG_PARAM], eax
        pop     eax
        retf    4

; Reached by a far call from ring 3 through a conforming segment: CPL stays.
conf_proc:
        push    eax
        mov     eax, cs
        mov     [CONF_CS], eax
        pop     eax
        retf

; Call gate 2 target: abandon ring 3, continue in ring 0 at [R0_CONT].
cg2_target:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     esp, [R0_ESP]
        jmp     [R0_CONT]

; Task 2 (entered by JMP): records what the switch did, JMPs back.
task2_entry:
        str     ax
        movzx   eax, ax
        mov     [T2_TR], eax
        pushfd
        pop     eax
        mov     [T2_EFL], eax
        movzx   eax, byte [GDT_BASE + SEL_TSS + TSS_TYPE_BYTE]
        mov     [T2_TYPE_OLD], eax
        movzx   eax, byte [GDT_BASE + SEL_TSS2 + TSS_TYPE_BYTE]
        mov     [T2_TYPE_NEW], eax
        mov     ebx, 0x7777                     ; must not leak into task 1
        jmp     SEL_TSS:0

; Task 3 (entered by CALL): nested, returns by IRET through the back link.
task3_entry:
        pushfd
        pop     eax
        mov     [T3_EFL], eax
        movzx   eax, word [TSS3_BASE]           ; previous task link
        mov     [T3_LINK], eax
        movzx   eax, byte [GDT_BASE + SEL_TSS + TSS_TYPE_BYTE]
        mov     [T3_TYPE_OLD], eax
        movzx   eax, byte [GDT_BASE + SEL_TSS3 + TSS_TYPE_BYTE]
        mov     [T3_TYPE_NEW], eax
        iretd

; #GP handler while testing V86: records the frame and the data segment
; registers (nulled on entry from V86, SDM 3A 20.3.1.1), then abandons
; the V86 task and continues in ring 0.
v86_gp:
        mov     ebx, ds
        mov     ecx, fs
        mov     edx, gs
        or      ecx, edx
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     [V86_DS], ebx
        mov     [V86_SEGS], ecx
        mov     [V86_ESP0], esp
        pop     eax
        mov     [V86_ERR], eax
        mov     eax, [esp]
        mov     [V86_EIP], eax
        mov     eax, [esp + 4]
        mov     [V86_FCS], eax
        mov     eax, [esp + 8]
        mov     [V86_EFL], eax
        mov     esp, [R0_ESP]
        jmp     [R0_CONT]

main32:
        PRINT   "protmode: start"
        mov     esi, gdt_extra
        mov     edi, GDT_BASE + SEL_FREE
        mov     ecx, gdt_extra_end - gdt_extra
        rep     movsb
        mov     esi, ldt_template
        mov     edi, LDT_BASE
        mov     ecx, ldt_template_end - ldt_template
        rep     movsb

        mov     eax, cr0
        and     eax, 1
        CHECK   eax, 1, "CR0.PE set"
        mov     eax, cs
        CHECK   eax, SEL_CODE32, "CS = code32"

; ---------------------------------------------------------------- LAR/LSL/VERR
        lsl     eax, [lsl_sel]
        CHECK   eax, 0xFFF, "lsl byte-granular limit"
        mov     ecx, SEL_DATA32
        lsl     eax, ecx
        CHECK   eax, 0xFFFFFFFF, "lsl page-granular limit"
        mov     ecx, SEL_LIM
        lar     eax, ecx
        CHECK   eax, 0x00409200, "lar before first load"
        mov     ds, cx
        mov     dx, SEL_DATA32
        mov     ds, dx
        lar     eax, ecx
        CHECK   eax, 0x00409300, "segment load sets accessed bit"
        mov     ecx, SEL_NP
        lar     eax, ecx
        setz    al
        movzx   eax, al
        CHECK   eax, 1, "lar on not-present segment succeeds"
        mov     ecx, SEL_XO
        verr    cx
        setz    al
        movzx   eax, al
        CHECK   eax, 0, "verr execute-only code -> ZF=0"
        mov     ecx, SEL_RO
        verw    cx
        setz    al
        movzx   eax, al
        CHECK   eax, 0, "verw read-only data -> ZF=0"
        mov     ecx, SEL_LIM
        verw    cx
        setz    al
        movzx   eax, al
        CHECK   eax, 1, "verw writable data -> ZF=1"
        mov     ecx, 0x800
        lsl     eax, ecx
        setz    al
        movzx   eax, al
        CHECK   eax, 0, "lsl beyond GDT limit -> ZF=0"

; ---------------------------------------------------------------- limits
        mov     dword [0x10FFC], 0x600DF00D
        mov     ax, SEL_LIM
        mov     ds, ax
        mov     ebx, [0xFFC]
        mov     ax, SEL_DATA32
        mov     ds, ax
        CHECK   ebx, 0x600DF00D, "segment base applied"

        EXPECT  .lim1
        mov     ax, SEL_LIM
        mov     ds, ax
        mov     ebx, [0xFFD]                    ; last byte at 0x1000 > limit
.lim1:  mov     ax, SEL_DATA32
        mov     ds, ax
        CHECK   [EXC_VEC], 13, "dword across limit -> #GP [qemu-differs]"
        CHECK   [EXC_ERR], 0, "limit #GP error code 0 [qemu-differs]"

        ; expand-down, B=0: valid offsets are limit+1 .. 0xFFFF (SDM 3A 3.4.5.1)
        mov     ebx, [0x2000]
        mov     ax, SEL_EXPD
        mov     es, ax
        mov     ecx, [es:0x2000]
        CHECK   ecx, ebx, "expand-down access above limit"
        EXPECT  .ed1
        mov     al, [es:0x800]
.ed1:   CHECK   [EXC_VEC], 13, "expand-down access below limit -> #GP [qemu-differs]"
        EXPECT  .ed2
        mov     ax, [es:0xFFFF]
.ed2:   CHECK   [EXC_VEC], 13, "expand-down B=0 word at FFFF -> #GP [qemu-differs]"
        mov     ax, SEL_DATA32
        mov     es, ax

        EXPECT  .cs1
        jmp     dword SEL_CODE16:0x10000        ; beyond the 64 KiB CS limit
.cs1:   CHECK   [EXC_VEC], 13, "far jmp beyond CS limit -> #GP"
        CHECK   [EXC_ERR], 0, "far jmp beyond CS limit error 0"

        ; stack segment limit: the access faults with #SS(0) (SDM 3A 6.15 int 12)
        mov     ax, SEL_STK
        mov     ss, ax
        EXPECT  .ss1
        mov     ebp, 0x80000
        mov     eax, [ebp]
.ss1:   mov     ax, SEL_DATA32
        mov     ss, ax
        CHECK   [EXC_VEC], 12, "stack access beyond SS limit -> #SS [qemu-differs]"
        CHECK   [EXC_ERR], 0, "stack limit #SS error 0 [qemu-differs]"

; ---------------------------------------------------------------- segment loads
        EXPECT  .np1
        mov     ax, SEL_NP
        mov     ds, ax
.np1:   CHECK   [EXC_VEC], 11, "load not-present DS -> #NP"
        CHECK   [EXC_ERR], SEL_NP, "#NP error = selector"

        EXPECT  .np2
        mov     ax, SEL_NP
        mov     ss, ax
.np2:   CHECK   [EXC_VEC], 12, "load not-present SS -> #SS"
        CHECK   [EXC_ERR], SEL_NP, "#SS error = selector"

        EXPECT  .sg1
        mov     ax, SEL_RO
        mov     ss, ax
.sg1:   CHECK   [EXC_VEC], 13, "read-only SS -> #GP"
        CHECK   [EXC_ERR], SEL_RO, "read-only SS error = selector"

        EXPECT  .sg2
        xor     eax, eax
        mov     ss, ax
.sg2:   CHECK   [EXC_VEC], 13, "null SS at CPL0 -> #GP"
        CHECK   [EXC_ERR], 0, "null SS error 0"

        EXPECT  .sg3
        mov     ax, 0x800
        mov     ds, ax
.sg3:   CHECK   [EXC_VEC], 13, "selector beyond GDT limit -> #GP"
        CHECK   [EXC_ERR], 0x800, "beyond GDT limit error = selector"

        EXPECT  .sg4
        mov     ax, SEL_XO
        mov     ds, ax
.sg4:   CHECK   [EXC_VEC], 13, "execute-only code into DS -> #GP"
        CHECK   [EXC_ERR], SEL_XO, "execute-only into DS error"

        EXPECT  .sg5
        mov     ax, SEL_DATA32 | 3              ; RPL 3 > DPL 0
        mov     es, ax
.sg5:   CHECK   [EXC_VEC], 13, "RPL > DPL -> #GP"
        CHECK   [EXC_ERR], SEL_DATA32, "RPL > DPL error = selector without RPL"

        EXPECT  .sg6
        xor     eax, eax
        mov     es, ax                          ; null is fine to load ...
        mov     eax, [es:0]                     ; ... but not to use
.sg6:   mov     ax, SEL_DATA32
        mov     es, ax
        CHECK   [EXC_VEC], 13, "access through null ES -> #GP [qemu-differs]"

        ; LDT
        mov     ax, SEL_LDT
        lldt    ax
        sldt    ax
        movzx   eax, ax
        CHECK   eax, SEL_LDT, "sldt"
        mov     dword [LDT_SEG_BASE + 0x10], 0x1D71D7
        mov     ax, 0x04                        ; LDT index 0, TI=1
        mov     fs, ax
        mov     eax, [fs:0x10]
        CHECK   eax, 0x1D71D7, "LDT data segment"
        EXPECT  .ldt1
        mov     ax, 0x1C                        ; LDT index 3 > LDT limit
        mov     fs, ax
.ldt1:  CHECK   [EXC_VEC], 13, "selector beyond LDT limit -> #GP"
        CHECK   [EXC_ERR], 0x1C, "beyond LDT limit error has TI"
        mov     ax, SEL_DATA32
        mov     fs, ax

; ---------------------------------------------------------------- gates in the IDT
        mov     eax, 0x42
        mov     ebx, gate_probe
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        mov     eax, 0x43
        mov     cl, GATE_TRAP32
        call    set_gate32
        sti                                     ; all PIC lines are masked
        int     0x42
        int     0x42
        cli
        mov     eax, [GATE_EFL]
        and     eax, EFL_IF
        CHECK   eax, 0, "interrupt gate clears IF"
        sti
        int     0x43
        cli
        mov     eax, [GATE_EFL]
        and     eax, EFL_IF
        CHECK   eax, EFL_IF, "trap gate keeps IF"

        ; DPL3 gate for 0x41, not-present DPL3 gate for 0x44
        mov     eax, 0x41
        mov     ebx, exc_stubs + 0x41 * STUB_SIZE
        mov     cl, 0xEE
        call    set_gate32
        mov     eax, 0x44
        mov     ebx, exc_stubs + 0x44 * STUB_SIZE
        mov     cl, 0x6E                        ; P=0
        call    set_gate32

        EXPECT  .np3
        int     0x44
.np3:   CHECK   [EXC_VEC], 11, "int to not-present gate -> #NP"
        CHECK   [EXC_ERR], 0x44 * 8 + 2, "not-present gate error = vec*8+2 (IDT)"

; ---------------------------------------------------------------- ring 3 by IRET
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], ring3_done
        mov     ax, SEL_DATA32
        mov     es, ax                          ; DPL0: nulled on the way out
        push    dword SEL_DATA32_R3             ; SS
        push    dword STACK3_TOP                ; ESP
        push    dword 0x0002                    ; EFLAGS: IOPL 0, IF 0
        push    dword SEL_CODE32_R3             ; CS
        push    dword r3_code                   ; EIP
        iretd

r3_code:
        mov     ebx, es
        mov     ax, SEL_DATA32_R3
        mov     ds, ax
        mov     ecx, cs
        and     ecx, 3
        CHECK   ecx, 3, "iret to ring 3: CPL 3"
        CHECK   ebx, 0, "iret to ring 3 nulls DPL0 ES"
        mov     ax, SEL_DATA32_R3
        mov     es, ax
        mov     eax, ss
        CHECK   eax, SEL_DATA32_R3, "iret to ring 3 loads SS"

        ; call gate with one parameter, stack switch from the TSS
        mov     esi, esp
        push    dword 0xCAFEBABE
        mov     [ESP3_PUSHED], esp
        call    SEL_CG1:0
        CHECK   esp, esi, "retf 4 through call gate pops parameter"
        CHECK   [CG_CS], SEL_CODE32, "call gate CS = ring 0"
        CHECK   [CG_ESP], STACK_TSS0 - 20, "call gate stack from TSS.ESP0"
        CHECK   [CG_SS3], SEL_DATA32_R3, "call gate pushes caller SS"
        CHECK   [CG_ESP3], [ESP3_PUSHED], "call gate pushes caller ESP"
        CHECK   [CG_PARAM], 0xCAFEBABE, "call gate copies parameter"

        EXPECT  .p1
        mov     ax, SEL_DATA32
        mov     ds, ax
.p1:    CHECK   [EXC_VEC], 13, "CPL3 load of DPL0 data -> #GP"
        CHECK   [EXC_ERR], SEL_DATA32, "CPL3 load DPL0 error = selector"
        CHECK   [EXC_CS], SEL_CODE32_R3, "fault from ring 3 pushes CS"

        EXPECT  .p2
        cli
.p2:    CHECK   [EXC_VEC], 13, "cli at CPL3 IOPL0 -> #GP"
        CHECK   [EXC_ERR], 0, "cli #GP error 0"

        EXPECT  .p3
        hlt
.p3:    CHECK   [EXC_VEC], 13, "hlt at CPL3 -> #GP"

        EXPECT  .p4
        int     0x40
.p4:    CHECK   [EXC_VEC], 13, "int n to DPL0 gate from CPL3 -> #GP"
        CHECK   [EXC_ERR], 0x40 * 8 + 2, "int n DPL error = vec*8+2"

        EXPECT  .p5
        int3
.p5:    CHECK   [EXC_VEC], 13, "int3 to DPL0 gate from CPL3 -> #GP"
        CHECK   [EXC_ERR], 3 * 8 + 2, "int3 DPL error = 0x1a"

        EXPECT  .p6
        int     0x41
.p6:    CHECK   [EXC_VEC], 0x41, "int n to DPL3 gate from CPL3"
        CHECK   [EXC_CS], SEL_CODE32_R3, "int n from ring 3 pushes ring-3 CS"

        ; POPF at CPL3 with IOPL 0 changes neither IOPL nor IF (SDM POPF)
        push    dword EFL_IOPL3 | EFL_IF | 2
        popfd
        pushfd
        pop     eax
        and     eax, EFL_IOPL3 | EFL_IF
        CHECK   eax, 0, "popf at CPL3 keeps IOPL and IF"

        ; I/O permission bitmap (SDM 1 19.5.2)
        EXPECT  .io1
        in      al, 0x80
        mov     dword [EXC_VEC], 0
.io1:   CHECK   [EXC_VEC], 0, "in from permitted port at CPL3"
        or      byte [TSS_BASE + TSS_IOMAP_OFF + 0x80 / 8], 1 << (0x80 % 8)
        EXPECT  .io2
        in      al, 0x80
.io2:   CHECK   [EXC_VEC], 13, "in from denied port -> #GP"
        CHECK   [EXC_ERR], 0, "denied port error 0"
        EXPECT  .io3
        in      ax, 0x7F                        ; covers 0x7F and 0x80
.io3:   CHECK   [EXC_VEC], 13, "word access touching denied port -> #GP"
        EXPECT  .io4
        in      al, 0x7F
        mov     dword [EXC_VEC], 0
.io4:   CHECK   [EXC_VEC], 0, "neighbouring port still permitted"
        and     byte [TSS_BASE + TSS_IOMAP_OFF + 0x80 / 8], ~(1 << (0x80 % 8))
        mov     dword [EXC_RESUME], 0

        ; conforming code: callable from CPL3 without a gate, CPL unchanged
        ; (SDM 3A 5.8.1.2); non-conforming DPL0 code is not (#GP(selector))
        call    SEL_CONF:conf_proc
        CHECK   [CONF_CS], SEL_CONF | 3, "far call to conforming code keeps CPL 3"
        EXPECT  .cf1
        call    SEL_CODE32:conf_proc
.cf1:   CHECK   [EXC_VEC], 13, "far call CPL3 -> DPL0 non-conforming -> #GP"
        CHECK   [EXC_ERR], SEL_CODE32, "non-conforming call error = selector"
        mov     dword [EXC_RESUME], 0
        mov     ecx, SEL_DATA32
        lar     eax, ecx
        setz    al
        movzx   eax, al
        CHECK   eax, 0, "lar at CPL3 of DPL0 data -> ZF=0"
        mov     ax, SEL_DATA32
        mov     bx, SEL_DATA32_R3
        arpl    ax, bx
        setz    cl
        movzx   ecx, cl
        movzx   eax, ax
        CHECK   eax, SEL_DATA32 | 3, "arpl raises RPL"
        CHECK   ecx, 1, "arpl ZF=1 when adjusted"

        call    SEL_CG2:0                       ; back to ring 0
ring3_done:
        mov     eax, cs
        CHECK   eax, SEL_CODE32, "call gate back to ring 0"

; ---------------------------------------------------------------- ring 3 by far RET
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], ring3_done2
        push    dword SEL_DATA32_R3             ; SS
        push    dword STACK3_TOP - 0x100        ; ESP
        push    dword SEL_CODE32_R3             ; CS
        push    dword r3_code2                  ; EIP
        retf
r3_code2:
        mov     ebx, cs
        mov     ecx, esp
        mov     ax, SEL_DATA32_R3
        mov     ds, ax
        CHECK   ebx, SEL_CODE32_R3, "far ret to ring 3"
        CHECK   ecx, STACK3_TOP - 0x100, "far ret to ring 3 loads ESP"
        call    SEL_CG2:0
ring3_done2:

; ---------------------------------------------------------------- tasks
        mov     edi, TSS2_BASE
        mov     eax, task2_entry
        mov     ebx, 0x50000
        call    init_tss
        mov     edi, TSS3_BASE
        mov     eax, task3_entry
        mov     ebx, 0x48000
        call    init_tss

        mov     ebx, 0x1234
        jmp     SEL_TSS2:0
        ; task 2 jumps back here
        str     ax
        movzx   eax, ax
        CHECK   eax, SEL_TSS, "jmp back: TR = main TSS"
        CHECK   ebx, 0x1234, "task switch restores EBX"
        CHECK   [T2_TR], SEL_TSS2, "jmp task: TR = TSS2"
        mov     eax, [T2_EFL]
        and     eax, EFL_NT
        CHECK   eax, 0, "jmp task: NT clear"
        CHECK   [T2_TYPE_OLD], TYPE_TSS_AVAIL, "jmp task: old TSS not busy"
        CHECK   [T2_TYPE_NEW], TYPE_TSS_BUSY, "jmp task: new TSS busy"
        movzx   eax, byte [GDT_BASE + SEL_TSS2 + TSS_TYPE_BYTE]
        CHECK   eax, TYPE_TSS_AVAIL, "jmp back: TSS2 available again"
        movzx   eax, byte [GDT_BASE + SEL_TSS + TSS_TYPE_BYTE]
        CHECK   eax, TYPE_TSS_BUSY, "jmp back: main TSS busy"
        CHECK   [TSS2_BASE + 0x28 + 3 * 4], 0x7777, "outgoing task state saved (EBX)"

        call    SEL_TSS3:0
        pushfd
        pop     eax
        and     eax, EFL_NT
        CHECK   eax, 0, "iret task return: caller NT clear"
        mov     eax, [T3_EFL]
        and     eax, EFL_NT
        CHECK   eax, EFL_NT, "call task: NT set"
        CHECK   [T3_LINK], SEL_TSS, "call task: back link = caller"
        CHECK   [T3_TYPE_OLD], TYPE_TSS_BUSY, "call task: caller stays busy"
        CHECK   [T3_TYPE_NEW], TYPE_TSS_BUSY, "call task: callee busy"
        movzx   eax, byte [GDT_BASE + SEL_TSS3 + TSS_TYPE_BYTE]
        CHECK   eax, TYPE_TSS_AVAIL, "iret task return: callee available"

        EXPECT  .busy
        jmp     SEL_TSS:0                       ; our own, busy TSS
.busy:  CHECK   [EXC_VEC], 13, "jmp to busy TSS -> #GP"
        CHECK   [EXC_ERR], SEL_TSS, "busy TSS error = selector"

; ---------------------------------------------------------------- 16-bit protected mode
        jmp     SEL_CODE16:R(pm16_code)
pm16_back:
        CHECK   [P16_PUSH], 2, "16-bit code segment: push is 2 bytes"
        CHECK   [P16_CALL], 2, "16-bit code segment: near call pushes 2"

; ---------------------------------------------------------------- V86
        mov     eax, 13
        mov     ebx, v86_gp
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], v86_done
        push    dword 0                         ; GS
        push    dword 0                         ; FS
        push    dword 0                         ; DS
        push    dword 0                         ; ES
        push    dword 0                         ; SS
        push    dword 0x6F00                    ; ESP
        push    dword EFL_VM | 2                 ; EFLAGS: VM=1, IOPL 0
        push    dword 0xF000                    ; CS
        push    dword R(v86_code)               ; EIP
        iretd
v86_done:
        mov     eax, 13
        mov     ebx, exc_stubs + 13 * STUB_SIZE
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        CHECK   [V86_CS], 0xF000, "v86: CS is a paragraph"
        movzx   eax, word [V86_STORE]
        CHECK   eax, 0x1234, "v86: segment*16+offset addressing"
        CHECK   [V86_ERR], 0, "v86: int n with IOPL<3 -> #GP(0)"
        CHECK   [V86_EIP], R(v86_int), "v86: #GP EIP = int instruction"
        CHECK   [V86_FCS], 0xF000, "v86: #GP frame CS"
        mov     eax, [V86_EFL]
        and     eax, EFL_VM
        CHECK   eax, EFL_VM, "v86: #GP frame EFLAGS.VM"
        CHECK   [V86_DS], 0, "v86: DS nulled on entry to ring 0"
        CHECK   [V86_SEGS], 0, "v86: FS GS nulled"
        CHECK   [V86_ESP0], STACK_TSS0 - 40, "v86: frame of 9 dwords + error on TSS.ESP0"

        jmp     finish32

lsl_sel: dd     SEL_LIM

        bits    16
pm16_code:
        mov     ebx, esp
        push    ax
        sub     ebx, esp
        pop     ax
        mov     [P16_PUSH], ebx
        mov     ebx, esp
        call    .sub
        jmp     dword SEL_CODE32:pm16_back
.sub:   sub     ebx, esp
        mov     [P16_CALL], ebx
        ret

v86_code:
        mov     ax, cs
        mov     [V86_CS], ax
        mov     word [V86_CS + 2], 0
        mov     ax, 0x0060
        mov     ds, ax
        mov     word [V86_STORE - 0x600], 0x1234
        in      al, 0x80                        ; bitmap permits it
v86_int:
        int     0x30
.hang:  jmp     .hang

%include "trailer.inc"
