; exceptions: vectors, error codes and saved EIPs of the architectural
; exceptions; double-fault rules; the MOV SS single-step shadow.
; Expected values: Intel SDM Vol. 3A 6.15 (one section per vector: class,
; error code, saved instruction pointer), table 6-4/6-5 (contributory and
; benign classes, double fault), 6.8.3 (MOV SS shadow), 17.3.1.4 (single
; step), 8.7 / D.1 (x87 error reporting: CR0.NE, FERR#, IRQ 13).

%include "common.inc"
%include "pm.inc"

%define LIN(x)  ((x) - $$ + ROMBASE)

%macro CALLGATE 4
        dw      LIN(%1) & 0xFFFF
        dw      %2
        db      %4
        db      %3
        dw      LIN(%1) >> 16
%endmacro

SEL_NP          equ 0x48                ; data, not present
SEL_NPCODE      equ 0x50                ; code, not present
SEL_TSSBAD      equ 0x58                ; TSS with limit 0x50 < 0x67
SEL_CGBACK      equ 0x60                ; call gate DPL3 -> ring 0 "back to kernel"

PD_BASE         equ 0x80000
PT_BASE         equ 0x81000
HOLE            equ 0x300000            ; a not-present page
PTE_PUW         equ 0x007               ; present, writable, user

R0_ESP          equ SCRATCH + 0x00
R0_CONT         equ SCRATCH + 0x04
DB_COUNT        equ SCRATCH + 0x08
DB_EIP          equ SCRATCH + 0x0C
DB_DR6          equ SCRATCH + 0x10
DF_VEC          equ SCRATCH + 0x14
DF_ERR          equ SCRATCH + 0x18
IRQ13_COUNT     equ SCRATCH + 0x1C
BND_PAIR        equ SCRATCH + 0x20      ; two dwords: lower, upper
ALIGN_PROBE     equ SCRATCH + 0x40

EFL_TF          equ 0x100
EFL_AC          equ 0x40000
CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_NE          equ 1 << 5
CR0_AM          equ 1 << 18
CR0_PG          equ 1 << 31
DR6_BS          equ 1 << 14             ; single-step (SDM 3B 17.2.3)
FCW_ZM_UNMASKED equ 0x037B              ; default 0x037F with ZM cleared
PIC_IRQ13_VEC   equ 0x28 + 5            ; slave base 0x28 (set in rm_init)

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

gdt_extra:
        DESC    0, 0xFFFFF, 0x12, 0xC                   ; 0x48 SEL_NP (P=0)
        DESC    0, 0xFFFFF, 0x1A, 0xC                   ; 0x50 SEL_NPCODE (P=0)
        DESC    0x7900, 0x50, 0x89, 0x0                 ; 0x58 SEL_TSSBAD
        CALLGATE cgback_target, SEL_CODE32, 0xEC, 0     ; 0x60 SEL_CGBACK
gdt_extra_end:

        bits    32
; #DB handler: count, record EIP and DR6, stop single-stepping.
db_handler:
        push    eax
        mov     eax, [esp + 4]
        mov     [DB_EIP], eax
        mov     eax, dr6
        mov     [DB_DR6], eax
        inc     dword [DB_COUNT]
        and     dword [esp + 12], ~EFL_TF
        pop     eax
        iretd

; #DF handler: record and abandon the frame (the saved CS:EIP of a double
; fault are undefined, SDM 3A 6.15 interrupt 8).
df_handler:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     dword [DF_VEC], 8
        pop     eax
        mov     [DF_ERR], eax
        mov     esp, [R0_ESP]
        jmp     [R0_CONT]

; IRQ 13 (FERR# through the slave PIC with CR0.NE=0): clear the x87
; exception, release the FPU busy latch (port 0xF0), EOI both PICs.
irq13_handler:
        push    eax
        inc     dword [IRQ13_COUNT]
        fnclex
        xor     al, al
        out     0xF0, al
        mov     al, 0x20
        out     0xA0, al
        out     0x20, al
        pop     eax
        iretd

cgback_target:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     esp, [R0_ESP]
        jmp     [R0_CONT]

; set_vec: EAX = vector, EBX = handler: a ring-0 interrupt gate.
set_vec:
        push    ecx
        push    edx
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        pop     edx
        pop     ecx
        ret

; restore_stub: EAX = vector back to its recording stub.
restore_stub:
        push    ebx
        imul    ebx, eax, STUB_SIZE
        add     ebx, exc_stubs
        call    set_vec
        pop     ebx
        ret

main32:
        PRINT   "exceptions: start"
        call    lapic_extint
        mov     esi, gdt_extra
        mov     edi, GDT_BASE + SEL_FREE
        mov     ecx, gdt_extra_end - gdt_extra
        rep     movsb

; ---------------------------------------------------------------- #DE
        EXPECT  .de
        xor     ecx, ecx
.de_i:  div     ecx
.de:    CHECK   [EXC_VEC], 0, "#DE vector"
        CHECK   [EXC_EIP], .de_i, "#DE is a fault (EIP = div)"
        CHECK   [EXC_ERR], 0, "#DE has no error code"

; ---------------------------------------------------------------- #DB
        mov     eax, 1
        mov     ebx, db_handler
        call    set_vec
        xor     eax, eax
        mov     dr6, eax
        mov     dword [DB_COUNT], 0
        pushfd
        or      dword [esp], EFL_TF
        popfd
        nop                                     ; traps after this one
.db1:   nop
        CHECK   [DB_COUNT], 1, "TF single step: one #DB"
        CHECK   [DB_EIP], .db1, "single step is a trap (EIP = next)"
        mov     eax, [DB_DR6]
        and     eax, DR6_BS
        CHECK   eax, DR6_BS, "single step sets DR6.BS"

        ; MOV SS inhibits the single-step trap for one instruction
        mov     dword [DB_COUNT], 0
        mov     ax, ss
        pushfd
        or      dword [esp], EFL_TF
        popfd
        mov     ss, ax                          ; no trap after this ...
        nop                                     ; ... but after this
.db2:   nop
        CHECK   [DB_COUNT], 1, "MOV SS shadow: one #DB"
        CHECK   [DB_EIP], .db2, "MOV SS shadow delays single step"

        mov     dword [DB_COUNT], 0
        EXPECT  .db3                            ; QEMU raises #UD here
        db      0xF1                            ; INT1 / ICEBP (SDM 2 "INT n/INTO/INT3/INT1")
.db3:   mov     dword [EXC_RESUME], 0
        CHECK   [DB_COUNT], 1, "int1 raises #DB [qemu-differs]"
        CHECK   [DB_EIP], .db3, "int1 is a trap [qemu-differs]"
        mov     eax, 1
        call    restore_stub

; ---------------------------------------------------------------- #BP #OF #BR
        EXPECT  .bp_chk
        int3
.bp:    nop
.bp_chk:
        CHECK   [EXC_VEC], 3, "int3 -> #BP"
        CHECK   [EXC_EIP], .bp, "#BP saved EIP after int3"

        EXPECT  .of
        mov     al, 0x7F
        add     al, 1                           ; OF=1
        into
.of_n:  nop
.of:    CHECK   [EXC_VEC], 4, "into with OF=1 -> #OF"
        CHECK   [EXC_EIP], .of_n, "#OF is a trap"
        EXPECT  .of2
        xor     eax, eax                        ; OF=0
        into
        mov     dword [EXC_VEC], 0
.of2:   CHECK   [EXC_VEC], 0, "into with OF=0 no exception"

        mov     dword [BND_PAIR], 0
        mov     dword [BND_PAIR + 4], 10
        EXPECT  .br
        mov     eax, 11
.br_i:  bound   eax, [BND_PAIR]
.br:    CHECK   [EXC_VEC], 5, "bound out of range -> #BR"
        CHECK   [EXC_EIP], .br_i, "#BR is a fault"
        EXPECT  .br2
        mov     eax, 10                         ; upper bound is inclusive
        bound   eax, [BND_PAIR]
        mov     dword [EXC_VEC], 0
.br2:   CHECK   [EXC_VEC], 0, "bound in range no exception"

; ---------------------------------------------------------------- #UD
        EXPECT  .ud1
.ud1_i: ud2
.ud1:   CHECK   [EXC_VEC], 6, "ud2 -> #UD"
        CHECK   [EXC_EIP], .ud1_i, "#UD is a fault"
        EXPECT  .ud2
        db      0xF0                            ; LOCK
        mov     eax, ebx                        ; not lockable
.ud2:   CHECK   [EXC_VEC], 6, "lock mov -> #UD [qemu-differs]"
        EXPECT  .ud3
        db      0xF0
        add     eax, ebx                        ; lockable op, register destination
.ud3:   CHECK   [EXC_VEC], 6, "lock add reg,reg -> #UD"
        EXPECT  .ud4
        lock    add [SCRATCH + 0x80], eax       ; fine
        mov     dword [EXC_VEC], 0
.ud4:   CHECK   [EXC_VEC], 0, "lock add mem,reg allowed"

; ---------------------------------------------------------------- #NM
        mov     eax, cr0
        and     eax, ~(CR0_EM | CR0_TS)
        or      eax, CR0_MP | CR0_NE
        mov     cr0, eax
        fninit
        mov     eax, cr0
        or      eax, CR0_TS
        mov     cr0, eax
        EXPECT  .nm1
.nm1_i: fld1
.nm1:   CHECK   [EXC_VEC], 7, "x87 with CR0.TS -> #NM"
        CHECK   [EXC_EIP], .nm1_i, "#NM is a fault"
        EXPECT  .nm2
        fwait                                   ; MP=1 TS=1
.nm2:   CHECK   [EXC_VEC], 7, "fwait with MP and TS -> #NM"
        mov     eax, cr0
        and     eax, ~CR0_MP
        mov     cr0, eax
        EXPECT  .nm3
        fwait                                   ; MP=0: no #NM
        mov     dword [EXC_VEC], 0
.nm3:   CHECK   [EXC_VEC], 0, "fwait with MP=0 no #NM"
        clts
        mov     eax, cr0
        or      eax, CR0_MP
        mov     cr0, eax

; ---------------------------------------------------------------- #MF / FERR
        fninit
        fldcw   [fcw_zm]
        fld1
        fldz
        fdivp   st1, st0                        ; unmasked #Z becomes pending
        EXPECT  .mf
.mf_i:  fwait
.mf:    CHECK   [EXC_VEC], 16, "pending unmasked x87 exception, NE=1 -> #MF"
        CHECK   [EXC_EIP], .mf_i, "#MF EIP = waiting instruction"
        fnstsw  ax
        and     eax, 0x0084                     ; ES, ZE
        CHECK   eax, 0x0084, "FSW ES and ZE set"
        fnclex

        ; NE=0: the error goes out as FERR# -> IRQ 13 instead (SDM 3A 8.7).
        ; QEMU 7.2 TCG aborts (iothread lock assertion) when it raises
        ; FERR#, so this part is skipped there.
        call    is_qemu_tcg
        test    eax, eax
        jz      .ferr_go
        PRINT   "skip NE=0 FERR# -> IRQ 13 (aborts QEMU TCG)"
        jmp     .ferr_end
.ferr_go:
        mov     eax, PIC_IRQ13_VEC
        mov     ebx, irq13_handler
        call    set_vec
        mov     dword [IRQ13_COUNT], 0
        in      al, 0xA1
        and     al, ~(1 << 5)                   ; unmask IRQ 13
        out     0xA1, al
        in      al, 0x21
        and     al, ~(1 << 2)                   ; and the cascade
        out     0x21, al
        mov     eax, cr0
        and     eax, ~CR0_NE
        mov     cr0, eax
        sti
        EXPECT  .ferr
        fld1
        fldz
        fdivp   st1, st0
        fwait
        mov     ecx, 1000                       ; let the interrupt arrive
.ferrw: dec     ecx
        jnz     .ferrw
        mov     dword [EXC_VEC], 0
.ferr:  cli
        CHECK   [EXC_VEC], 0, "NE=0: no #MF"
        CHECK   [IRQ13_COUNT], 1, "NE=0: FERR# raises IRQ 13"
        mov     al, 0xFF
        out     0xA1, al
        out     0x21, al
.ferr_end:
        mov     eax, cr0
        or      eax, CR0_NE
        mov     cr0, eax
        fninit

; ---------------------------------------------------------------- #TS #NP #SS #GP
        EXPECT  .ts
        jmp     SEL_TSSBAD:0
.ts:    CHECK   [EXC_VEC], 10, "TSS limit < 67h -> #TS"
        CHECK   [EXC_ERR], SEL_TSSBAD, "#TS error = TSS selector"

        EXPECT  .np
        jmp     SEL_NPCODE:0
.np:    CHECK   [EXC_VEC], 11, "far jmp to not-present code -> #NP"
        CHECK   [EXC_ERR], SEL_NPCODE, "#NP error = selector"

        EXPECT  .ss
        mov     ax, SEL_NP
        mov     ss, ax
.ss:    CHECK   [EXC_VEC], 12, "not-present SS -> #SS"
        CHECK   [EXC_ERR], SEL_NP, "#SS error = selector"

        lidt    [small_idt]                     ; vectors 0-31 only
        EXPECT  .gp1
.gp1_i: int     0x20
.gp1:   lidt    [idt_ptr]
        CHECK   [EXC_VEC], 13, "int beyond IDT limit -> #GP"
        CHECK   [EXC_ERR], 0x20 * 8 + 2, "beyond IDT limit error = vec*8+2"
        CHECK   [EXC_EIP], .gp1_i, "#GP is a fault"

        EXPECT  .gp2
        jmp     SEL_DATA32:0
.gp2:   CHECK   [EXC_VEC], 13, "far jmp to data segment -> #GP"
        CHECK   [EXC_ERR], SEL_DATA32, "far jmp to data error = selector"

; ---------------------------------------------------------------- #PF
        mov     edi, PT_BASE
        mov     eax, PTE_PUW
        mov     ecx, 1024
.pte:   stosd
        add     eax, 0x1000
        loop    .pte
        mov     dword [PT_BASE + (HOLE >> 12) * 4], 0
        mov     edi, PD_BASE
        xor     eax, eax
        mov     ecx, 1024
        rep     stosd
        mov     dword [PD_BASE], PT_BASE | PTE_PUW
        mov     eax, PD_BASE
        mov     cr3, eax
        mov     eax, cr0
        or      eax, CR0_PG
        mov     cr0, eax

        EXPECT  .pf1
.pf1_i: mov     dword [HOLE + 0x10], 1
.pf1:   CHECK   [EXC_VEC], 14, "write to not-present page -> #PF"
        CHECK   [EXC_ERR], 2, "#PF error W=1 P=0"
        CHECK   [EXC_CR2], HOLE + 0x10, "#PF CR2 = linear address"
        CHECK   [EXC_EIP], .pf1_i, "#PF is a fault"
        EXPECT  .pf2
        mov     eax, [HOLE + 0x20]
.pf2:   CHECK   [EXC_ERR], 0, "#PF error read P=0"

; ---------------------------------------------------------------- #AC
        mov     eax, cr0
        or      eax, CR0_AM
        mov     cr0, eax
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], .ac_back
        push    dword SEL_DATA32_R3
        push    dword STACK3_TOP
        push    dword EFL_AC | 2
        push    dword SEL_CODE32_R3
        push    dword .ac_r3
        iretd
.ac_r3: mov     ax, SEL_DATA32_R3
        mov     ds, ax
        mov     es, ax
        EXPECT  .ac1
        mov     eax, [ALIGN_PROBE + 1]
.ac1:   CHECK   [EXC_VEC], 17, "misaligned access, AM AC CPL3 -> #AC [qemu-differs]"
        CHECK   [EXC_ERR], 0, "#AC error 0 [qemu-differs]"
        EXPECT  .ac2
        mov     eax, [ALIGN_PROBE + 4]
        mov     dword [EXC_VEC], 0
.ac2:   CHECK   [EXC_VEC], 0, "aligned access no #AC"
        mov     dword [EXC_RESUME], 0
        call    SEL_CGBACK:0
.ac_back:
        mov     eax, cr0
        and     eax, ~CR0_AM
        mov     cr0, eax
        EXPECT  .ac3
        push    dword EFL_AC | 2
        popfd
        mov     eax, [ALIGN_PROBE + 1]          ; CPL0: never #AC
        mov     dword [EXC_VEC], 0
.ac3:   push    dword 2
        popfd
        CHECK   [EXC_VEC], 0, "misaligned access at CPL0 no #AC"

; ---------------------------------------------------------------- double faults
        mov     eax, 8
        mov     ebx, df_handler
        call    set_vec

        ; benign then contributory: handled serially (table 6-5)
        mov     byte [IDT_BASE + 3 * 8 + 5], 0x0E       ; gate 3: P=0
        EXPECT  .bd1
        int3
.bd1:   mov     byte [IDT_BASE + 3 * 8 + 5], GATE_INT32
        CHECK   [EXC_VEC], 11, "int3 through not-present gate -> #NP, no #DF"
        CHECK   [EXC_ERR], 3 * 8 + 2, "#NP error = IDT vector 3"

        ; contributory during contributory: #GP while delivering #NP
        mov     dword [DF_VEC], 0
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], .df1
        mov     word [IDT_BASE + 11 * 8 + 2], 0x800     ; gate 11: CS beyond GDT
        mov     ax, SEL_NP
        mov     ds, ax
        jmp     finish32                        ; not reached
.df1:   mov     word [IDT_BASE + 11 * 8 + 2], SEL_CODE32
        CHECK   [DF_VEC], 8, "#GP during #NP delivery -> #DF"
        CHECK   [DF_ERR], 0, "#DF error code 0"

        ; page fault then contributory: #NP delivering #PF
        mov     dword [DF_VEC], 0
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], .df2
        mov     byte [IDT_BASE + 14 * 8 + 5], 0x0E      ; gate 14: P=0
        mov     eax, [HOLE]
        jmp     finish32                        ; not reached
.df2:   mov     byte [IDT_BASE + 14 * 8 + 5], GATE_INT32
        CHECK   [DF_VEC], 8, "#NP delivering #PF -> #DF"

        ; a #DE whose handler sits on a not-present page: the delivery
        ; completes, the fetch of the handler faults as an ordinary #PF
        mov     dword [DF_VEC], 0
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], .df3
        mov     eax, 0
        mov     ebx, HOLE                       ; #DE handler on a not-present page
        call    set_vec
        EXPECT  .df3
        xor     ecx, ecx
        div     ecx
.df3:   mov     esp, [R0_ESP]                   ; drop the #DE frame below
        mov     eax, 0
        call    restore_stub
        CHECK   [DF_VEC], 0, "#PF fetching #DE handler: no #DF"
        CHECK   [EXC_VEC], 14, "#PF fetching #DE handler"
        CHECK   [EXC_ERR], 0, "#PF fetch error: I/D reserved 0 without PAE+NXE"
        CHECK   [EXC_CR2], HOLE, "#PF CR2 = handler address"

        mov     eax, cr0
        and     eax, ~CR0_PG
        mov     cr0, eax
        jmp     finish32

fcw_zm: dw      FCW_ZM_UNMASKED
small_idt:
        dw      32 * 8 - 1
        dd      IDT_BASE

%include "trailer.inc"
