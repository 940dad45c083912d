; paging: 32-bit 2-level paging with 4 KiB and PSE 4 MiB pages, #PF error
; codes and CR2, accessed/dirty bits, CR0.WP, INVLPG and CR3 reloads, global
; pages, then PAE paging with 2 MiB pages and NX.
; Expected values: Intel SDM Vol. 3A chapter 4 (4.3 32-bit paging, 4.4 PAE,
; 4.6 access rights, 4.7 page-fault exceptions, 4.8 accessed and dirty
; flags, 4.10 TLBs).

%include "common.inc"
%include "pm.inc"

PD              equ 0x80000
PT0             equ 0x81000             ; identity 0-4 MiB, user, writable
PT2             equ 0x82000             ; test pages at 0x800000
PAE_PDPT        equ 0x84000
PAE_PD0         equ 0x85000
PAE_PT          equ 0x86000

PG_P            equ 0x001
PG_RW           equ 0x002
PG_US           equ 0x004
PG_A            equ 0x020
PG_D            equ 0x040
PG_PS           equ 0x080
PG_G            equ 0x100
PF_P            equ 0x01                ; #PF error code bits (SDM 3A 4.7)
PF_W            equ 0x02
PF_U            equ 0x04
PF_I            equ 0x10
CR0_WP          equ 1 << 16
CR0_PG          equ 1 << 31
CR4_PSE         equ 1 << 4
CR4_PAE         equ 1 << 5
CR4_PGE         equ 1 << 7
MSR_EFER        equ 0xC0000080
EFER_NXE        equ 1 << 11

V_BASE          equ 0x800000            ; PD index 2 -> PT2
V_SUPER         equ V_BASE + 0x1000     ; supervisor-only, writable -> 0x90000
V_RO            equ V_BASE + 0x2000     ; read-only, user -> 0x91000
V_AD            equ V_BASE + 0x3000     ; A/D probe -> 0x92000
V_REMAP         equ V_BASE + 0x4000     ; remapped between 0x93000 / 0x94000
V_GLOBAL        equ V_BASE + 0x5000     ; global, 0x95000 / 0x96000
V_NP            equ V_BASE + 0x6000     ; not present
V_BIG           equ 0xC00000            ; PD index 3: 4 MiB page -> phys 0
V_NX            equ 0x400000            ; PAE: 4 KiB page with XD -> 0x97000

R0_ESP          equ SCRATCH + 0x00
R0_CONT         equ SCRATCH + 0x04

%define LIN(x)  ((x) - $$ + ROMBASE)
%macro CALLGATE 4
        dw      LIN(%1) & 0xFFFF
        dw      %2
        db      %4
        db      %3
        dw      LIN(%1) >> 16
%endmacro
SEL_CGBACK      equ 0x48

; PTE slot of a test address in PT2
%define PTE2(v) (PT2 + (((v) >> 12) & 0x3FF) * 4)

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

gdt_extra:
        CALLGATE cgback_target, SEL_CODE32, 0xEC, 0
gdt_extra_end:

        bits    32
cgback_target:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     esp, [R0_ESP]
        jmp     [R0_CONT]

main32:
        PRINT   "paging: start"
        mov     esi, gdt_extra
        mov     edi, GDT_BASE + SEL_FREE
        mov     ecx, gdt_extra_end - gdt_extra
        rep     movsb

        ; tables
        mov     edi, PD
        xor     eax, eax
        mov     ecx, 3 * 1024
        rep     stosd                           ; PD, PT0, PT2
        mov     edi, PT0
        mov     eax, PG_P | PG_RW | PG_US
        mov     ecx, 1024
.pt0:   stosd
        add     eax, 0x1000
        loop    .pt0
        mov     dword [PD + 0 * 4], PT0 | PG_P | PG_RW | PG_US
        mov     dword [PD + 2 * 4], PT2 | PG_P | PG_RW | PG_US
        mov     dword [PD + 3 * 4], 0 | PG_PS | PG_P | PG_RW    ; 4 MiB page
        mov     dword [PTE2(V_SUPER)], 0x90000 | PG_P | PG_RW
        mov     dword [PTE2(V_RO)], 0x91000 | PG_P | PG_US
        mov     dword [PTE2(V_AD)], 0x92000 | PG_P | PG_RW
        mov     dword [PTE2(V_REMAP)], 0x93000 | PG_P | PG_RW
        mov     dword [PTE2(V_GLOBAL)], 0x95000 | PG_P | PG_RW | PG_G
        mov     dword [0x90000], 0x5005
        mov     dword [0x91000], 0x0A0A
        mov     dword [0x93000], 0x93
        mov     dword [0x94000], 0x94
        mov     dword [0x95000], 0x95
        mov     dword [0x96000], 0x96

        mov     eax, cr4
        or      eax, CR4_PSE | CR4_PGE
        mov     cr4, eax
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, CR0_PG
        mov     cr0, eax

        CHECK   [V_SUPER], 0x5005, "4 KiB page translation"
        mov     dword [SCRATCH + 0x40], 0xB16B16
        CHECK   [V_BIG + SCRATCH + 0x40], 0xB16B16, "PSE 4 MiB page translation"
        mov     dword [V_BIG + SCRATCH + 0x44], 0x4444
        CHECK   [SCRATCH + 0x44], 0x4444, "write through 4 MiB page"
        mov     eax, [PD + 3 * 4]
        and     eax, PG_A | PG_D
        CHECK   eax, PG_A | PG_D, "4 MiB PDE accessed and dirty"

; ---------------------------------------------------------------- A/D bits
        mov     eax, [PTE2(V_AD)]
        and     eax, PG_A | PG_D
        CHECK   eax, 0, "fresh PTE: A=0 D=0"
        mov     eax, [V_AD]
        mov     eax, [PTE2(V_AD)]
        and     eax, PG_A | PG_D
        CHECK   eax, PG_A, "read sets A only"
        mov     dword [V_AD], 1
        mov     eax, [PTE2(V_AD)]
        and     eax, PG_A | PG_D
        CHECK   eax, PG_A | PG_D, "write sets D"
        mov     eax, [PD + 2 * 4]
        and     eax, PG_A
        CHECK   eax, PG_A, "PDE accessed bit"

; ---------------------------------------------------------------- #PF at CPL0
        EXPECT  .f1
.f1_i:  mov     eax, [V_NP + 0x123]
.f1:    CHECK   [EXC_VEC], 14, "not-present read -> #PF"
        CHECK   [EXC_ERR], 0, "not-present read error 0"
        CHECK   [EXC_CR2], V_NP + 0x123, "CR2 = faulting address"
        CHECK   [EXC_EIP], .f1_i, "#PF EIP = faulting instruction"
        EXPECT  .f2
        mov     dword [V_NP], 1
.f2:    CHECK   [EXC_ERR], PF_W, "not-present write error W"

        ; CR0.WP=0: supervisor writes ignore R/W; WP=1: #PF P|W
        EXPECT  .wp0
        mov     dword [V_RO], 0x0B0B
        mov     dword [EXC_VEC], 0
.wp0:   CHECK   [EXC_VEC], 0, "WP=0: supervisor write to read-only page"
        CHECK   [0x91000], 0x0B0B, "WP=0 write landed"
        mov     eax, cr0
        or      eax, CR0_WP
        mov     cr0, eax
        EXPECT  .wp1
        mov     dword [V_RO], 0x0C0C
.wp1:   CHECK   [EXC_VEC], 14, "WP=1: supervisor write to read-only -> #PF"
        CHECK   [EXC_ERR], PF_P | PF_W, "WP=1 error P|W"
        CHECK   [0x91000], 0x0B0B, "WP=1 write did not land"

; ---------------------------------------------------------------- #PF at CPL3
        mov     [R0_ESP], esp
        mov     dword [R0_CONT], .r3_done
        push    dword SEL_DATA32_R3
        push    dword STACK3_TOP
        push    dword 2
        push    dword SEL_CODE32_R3
        push    dword .r3
        iretd
.r3:    mov     ax, SEL_DATA32_R3
        mov     ds, ax
        mov     es, ax
        EXPECT  .u1
        mov     eax, [V_SUPER]
.u1:    CHECK   [EXC_ERR], PF_P | PF_U, "user read of supervisor page: P|U"
        EXPECT  .u2
        mov     dword [V_SUPER], 1
.u2:    CHECK   [EXC_ERR], PF_P | PF_W | PF_U, "user write of supervisor page: P|W|U"
        EXPECT  .u3
        mov     dword [V_RO], 1
.u3:    CHECK   [EXC_ERR], PF_P | PF_W | PF_U, "user write of read-only page: P|W|U"
        EXPECT  .u4
        mov     eax, [V_NP]
.u4:    CHECK   [EXC_ERR], PF_U, "user read not present: U"
        CHECK   [V_RO], 0x0B0B, "user read of user read-only page"
        mov     dword [EXC_RESUME], 0
        call    SEL_CGBACK:0
.r3_done:

; ---------------------------------------------------------------- INVLPG, CR3
        CHECK   [V_REMAP], 0x93, "remap page before"
        mov     dword [PTE2(V_REMAP)], 0x94000 | PG_P | PG_RW
        invlpg  [V_REMAP]
        CHECK   [V_REMAP], 0x94, "INVLPG makes new PTE visible"
        mov     dword [PTE2(V_REMAP)], 0x93000 | PG_P | PG_RW
        mov     eax, cr3
        mov     cr3, eax
        CHECK   [V_REMAP], 0x93, "CR3 reload makes new PTE visible"

        ; a global translation is not flushed by a CR3 load (SDM 3A 4.10.4.1);
        ; the SDM allows any TLB entry to be evicted at any time, so this
        ; checks caixa's TLB policy more than the architecture
        CHECK   [V_GLOBAL], 0x95, "global page before"
        mov     dword [PTE2(V_GLOBAL)], 0x96000 | PG_P | PG_RW | PG_G
        mov     eax, cr3
        mov     cr3, eax
        CHECK   [V_GLOBAL], 0x95, "global page survives CR3 reload [qemu-differs]"
        mov     eax, cr4
        and     eax, ~CR4_PGE
        mov     cr4, eax                        ; clearing PGE flushes globals
        CHECK   [V_GLOBAL], 0x96, "CR4.PGE toggle flushes global page"

; ---------------------------------------------------------------- PAE + NX
        mov     eax, 0x80000001
        cpuid
        test    edx, 1 << 20                    ; NX available
        jnz     .has_nx
        PRINT   "skip PAE NX: CPUID.80000001h:EDX.NX=0"
        jmp     .done
.has_nx:
        mov     eax, cr0
        and     eax, ~CR0_PG
        mov     cr0, eax
        mov     edi, PAE_PDPT
        xor     eax, eax
        mov     ecx, 3 * 1024
        rep     stosd                           ; PDPT page, PD0, PT
        mov     dword [PAE_PDPT], PAE_PD0 | PG_P
        mov     dword [PAE_PD0 + 0 * 8], 0 | PG_PS | PG_P | PG_RW        ; 0-2 MiB
        mov     dword [PAE_PD0 + 2 * 8], PAE_PT | PG_P | PG_RW           ; 4 MiB..
        mov     dword [PAE_PT], 0x97000 | PG_P | PG_RW
        mov     dword [PAE_PT + 4], 0x80000000                          ; XD
        mov     byte [0x97000], 0xC3                                    ; ret
        mov     ecx, MSR_EFER
        rdmsr
        or      eax, EFER_NXE
        wrmsr
        mov     eax, cr4
        or      eax, CR4_PAE
        mov     cr4, eax
        mov     eax, PAE_PDPT
        mov     cr3, eax
        mov     eax, cr0
        or      eax, CR0_PG
        mov     cr0, eax
        mov     eax, [V_NX]
        and     eax, 0xFF
        CHECK   eax, 0xC3, "PAE: read from NX page allowed"
        EXPECT  .nx1
        call    V_NX
        mov     dword [EXC_VEC], 0
.nx1:   CHECK   [EXC_VEC], 14, "PAE: fetch from NX page -> #PF"
        CHECK   [EXC_ERR], PF_P | PF_I, "NX fetch error P|I/D"
        CHECK   [EXC_CR2], V_NX, "NX fetch CR2"
        mov     dword [PAE_PT + 4], 0
        invlpg  [V_NX]
        EXPECT  .nx2
        call    V_NX
        mov     dword [EXC_VEC], 0
.nx2:   CHECK   [EXC_VEC], 0, "PAE: fetch after clearing XD"
        mov     eax, [PAE_PD0]
        and     eax, PG_A
        CHECK   eax, PG_A, "PAE 2 MiB PDE accessed"
        mov     eax, cr0
        and     eax, ~CR0_PG
        mov     cr0, eax
.done:
        jmp     finish32

%include "trailer.inc"
