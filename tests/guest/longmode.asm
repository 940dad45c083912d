; longmode: entering IA-32e mode, 64-bit code (REX registers, RIP-relative
; addressing, 64-bit ALU, MUL/DIV, CMPXCHG16B), compatibility mode and back,
; SYSCALL/SYSRET, SWAPGS, FS/GS base MSRs, 2 MiB and 1 GiB pages,
; non-canonical addresses, IRETQ, a 64-bit IDT with an IST stack.
; Expected values: Intel SDM Vol. 3A 9.8.5 (initializing IA-32e mode),
; 4.5 (4-level paging), 5.8.8 (SYSCALL/SYSRET), 6.14 (64-bit interrupts,
; IST), 3.4.4 / 3.3.7.1 (FS/GS bases, canonical addresses); Vol. 2
; instruction pages.

%include "common.inc"
%include "pm.inc"

PML4            equ 0x90000
PDPT            equ 0x91000
PDIR            equ 0x92000             ; 512 x 2 MiB = the first 1 GiB
IDT64           equ 0x94000             ; 256 x 16 bytes
TSS64           equ 0x7800
IST1_TOP        equ 0x50000
GIB             equ 0x40000000

MSR_EFER        equ 0xC0000080
MSR_STAR        equ 0xC0000081
MSR_LSTAR       equ 0xC0000082
MSR_SFMASK      equ 0xC0000084
MSR_FS_BASE     equ 0xC0000100
MSR_GS_BASE     equ 0xC0000101
MSR_KGS_BASE    equ 0xC0000102
EFER_SCE        equ 1 << 0
EFER_LME        equ 1 << 8
EFER_LMA        equ 1 << 10

SEL_DATA64      equ 0x48                ; = SEL_CODE64 + 8 (SYSCALL SS)
SEL_USER_BASE   equ 0x50                ; SYSRET: SS = +8, CS64 = +16
SEL_UDATA       equ 0x58 | 3
SEL_UCODE64     equ 0x60 | 3
SEL_TSS64       equ 0x68                ; 16-byte descriptor

R0_RSP          equ SCRATCH + 0x00      ; qword
SC_RCX          equ SCRATCH + 0x08
SC_R11          equ SCRATCH + 0x10
SC_CS           equ SCRATCH + 0x18
SC_SS           equ SCRATCH + 0x20
SC_RFL          equ SCRATCH + 0x28
U_CS            equ SCRATCH + 0x30
U_SS            equ SCRATCH + 0x38
IST_RSP         equ SCRATCH + 0x40
GSMEM           equ SCRATCH + 0x80      ; 16 bytes
FSMEM           equ SCRATCH + 0x90
CX16            equ SCRATCH + 0xA0      ; 16-byte aligned
TMP64           equ SCRATCH + 0xB0
COMPAT_CS       equ SCRATCH + 0xB8

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

gdt_extra:
        DESC    0, 0xFFFFF, 0x92, 0xC                   ; 0x48 data (kernel SS)
        DESC    0, 0xFFFFF, 0xFA, 0xC                   ; 0x50 user code32 (unused)
        DESC    0, 0xFFFFF, 0xF2, 0xC                   ; 0x58 user data
        DESC    0, 0xFFFFF, 0xFA, 0xA                   ; 0x60 user code64
        DESC    TSS64, 0x67, 0x89, 0x0                  ; 0x68 64-bit TSS (low)
        dq      0                                       ;      (high: base 63:32)
gdt_extra_end:

        bits    32
main32:
        PRINT   "longmode: start"
        mov     edi, SCRATCH
        xor     eax, eax
        mov     ecx, 0x100 / 4
        rep     stosd
        mov     esi, gdt_extra
        mov     edi, GDT_BASE + SEL_FREE
        mov     ecx, gdt_extra_end - gdt_extra
        rep     movsb
        ; 4-level tables: PML4[0] -> PDPT; PDPT[0] -> PD of 2 MiB pages;
        ; PDPT[1] = 1 GiB page -> physical 0 (if supported)
        mov     edi, PML4
        xor     eax, eax
        mov     ecx, 3 * 1024
        rep     stosd
        mov     dword [PML4], PDPT | 7
        mov     dword [PDPT], PDIR | 7
        mov     edi, PDIR
        mov     eax, 0x87                       ; P RW US PS
        mov     ecx, 512
.pd:    mov     [edi], eax
        add     eax, 0x200000
        add     edi, 8
        loop    .pd
        mov     eax, 0x80000001
        cpuid
        mov     [TMP64], edx
        test    edx, 1 << 26                    ; Page1GB
        jz      .no1g
        mov     dword [PDPT + 8], 0x87          ; 1 GiB page at 1 GiB -> 0
.no1g:
        ; 64-bit TSS: RSP0, IST1
        mov     edi, TSS64
        xor     eax, eax
        mov     ecx, 0x68 / 4
        rep     stosd
        mov     dword [TSS64 + 4], STACK_TSS0   ; RSP0
        mov     dword [TSS64 + 0x24], IST1_TOP  ; IST1
        mov     word [TSS64 + 0x66], 0x68

        mov     eax, cr4
        or      eax, 1 << 5                     ; PAE
        mov     cr4, eax
        mov     eax, PML4
        mov     cr3, eax
        mov     ecx, MSR_EFER
        rdmsr
        or      eax, EFER_LME | EFER_SCE
        wrmsr
        mov     eax, cr0
        or      eax, 1 << 31
        mov     cr0, eax                        ; now IA-32e, compatibility mode
        mov     ecx, MSR_EFER
        rdmsr
        and     eax, EFER_LMA
        CHECK   eax, EFER_LMA, "EFER.LMA set by CR0.PG with LME"
        jmp     SEL_CODE64:long64

        bits    64
; ---------------------------------------------------------------- 64-bit helpers
putc64:
        push    rdx
        push    rax
        mov     dx, UART_LSR
.w:     in      al, dx
        test    al, LSR_THRE
        jz      .w
        pop     rax
        mov     dx, UART_THR
        out     dx, al
        pop     rdx
        ret
puts64:
        push    rsi
        push    rax
.n:     lodsb
        test    al, al
        jz      .d
        call    putc64
        jmp     .n
.d:     pop     rax
        pop     rsi
        ret
puthex64:
        push    rcx
        push    rax
        push    rbx
        mov     rbx, rax
        mov     ecx, 16
.dig:   rol     rbx, 4
        mov     al, bl
        and     al, 0x0F
        add     al, '0'
        cmp     al, '9'
        jbe     .o
        add     al, 'a' - '9' - 1
.o:     call    putc64
        loop    .dig
        pop     rbx
        pop     rax
        pop     rcx
        ret
; check64: stack: got, want, name (pushed in this order)
check64:
        push    rbp
        mov     rbp, rsp
        pushfq
        push    rax
        push    rsi
        cld
        inc     dword [CHECKCOUNT]
        mov     rax, [rbp + 32]
        cmp     rax, [rbp + 24]
        jne     .f
        mov     esi, str_ok
        call    puts64
        mov     rsi, [rbp + 16]
        call    puts64
        jmp     .nl
.f:     inc     dword [FAILCOUNT]
        mov     esi, str_fail
        call    puts64
        mov     rsi, [rbp + 16]
        call    puts64
        mov     esi, str_got
        call    puts64
        mov     rax, [rbp + 32]
        call    puthex64
        mov     esi, str_want
        call    puts64
        mov     rax, [rbp + 24]
        call    puthex64
.nl:    mov     esi, str_nl
        call    puts64
        pop     rsi
        pop     rax
        popfq
        pop     rbp
        ret     24

; CHECK64 got, want, "name": got/want are 64-bit registers, qword memory or
; 32-bit sign-extended immediates.
%macro CHECK64 3
        push    qword %1
        push    qword %2
        push    qword %%name
        call    check64
        jmp     %%skip
%%name: db      %3, 0
%%skip:
%endmacro
%macro EXPECT64 1
        mov     dword [EXC_VEC], 0xFFFFFFFF
        mov     dword [EXC_ERR], 0xFFFFFFFF
        mov     dword [EXC_RESUME], %1
%endmacro

; 64-bit exception stubs (vectors 0-31): uniform size
exc64_stubs:
%assign v 0
%rep 32
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21
        nop
        nop
%else
        push    byte 0
%endif
        push    byte v
        jmp     strict near exc64_common
%assign v v+1
%endrep
; stack: vec, err, rip, cs, rflags, rsp, ss
exc64_common:
        push    rax
        mov     rax, [rsp + 8]
        mov     [EXC_VEC], eax
        mov     rax, [rsp + 16]
        mov     [EXC_ERR], eax
        mov     rax, [rsp + 24]
        mov     [EXC_EIP], eax
        mov     rax, [rsp + 32]
        mov     [EXC_CS], eax
        mov     rax, cr2
        mov     [EXC_CR2], eax
        inc     dword [EXC_COUNT]
        mov     eax, [EXC_RESUME]
        test    eax, eax
        jz      .unexp
        mov     [rsp + 24], rax
        mov     dword [EXC_RESUME], 0
        pop     rax
        add     rsp, 16
        iretq
.unexp: mov     esi, str_unexp
        call    puts64
        mov     eax, [EXC_VEC]
        call    puthex64
        mov     esi, str_eip
        call    puts64
        mov     eax, [EXC_EIP]
        call    puthex64
        mov     esi, str_nl
        call    puts64
        inc     dword [FAILCOUNT]
        jmp     finish64

finish64:
        cmp     dword [FAILCOUNT], 0
        jne     .f
        mov     esi, str_pass
        call    puts64
        mov     al, EXIT_PASS
        jmp     .x
.f:     mov     esi, str_failall
        call    puts64
        mov     al, EXIT_FAIL
.x:     out     EXIT_PORT, al
        cli
.h:     hlt
        jmp     .h

; set_gate64: EAX = vector, RBX = handler, CL = type, DL = IST
set_gate64:
        push    rdi
        push    rax
        shl     eax, 4
        lea     rdi, [IDT64 + rax]
        mov     rax, rbx
        mov     [rdi], ax
        mov     word [rdi + 2], SEL_CODE64
        mov     [rdi + 4], dl
        mov     [rdi + 5], cl
        shr     rax, 16
        mov     [rdi + 6], ax
        shr     rax, 16
        mov     [rdi + 8], eax
        mov     dword [rdi + 12], 0
        pop     rax
        pop     rdi
        ret

ist_handler:
        mov     [IST_RSP], rsp
        iretq

syscall_entry:                                  ; ring 0, user RSP still live
        cmp     rax, 1
        je      .back
        mov     [SC_RCX], rcx
        mov     [SC_R11], r11
        mov     eax, cs
        mov     [SC_CS], rax
        mov     eax, ss
        mov     [SC_SS], rax
        pushfq                                  ; on the user stack: fine here
        pop     qword [SC_RFL]
        o64 sysret
.back:  mov     rsp, [R0_RSP]
        jmp     ring3_done

user64:
        mov     rax, 0x1234
        mov     r11, 0
        syscall
.after: mov     eax, cs
        mov     [U_CS], rax
        mov     eax, ss
        mov     [U_SS], rax
        mov     eax, 1
        syscall                                 ; back to ring 0 for good

long64:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     rsp, STACK_TOP
        ; IDT: vectors 0-31 to the stubs
        mov     edi, IDT64
        xor     eax, eax
        mov     ecx, 256 * 4
        rep     stosd
        xor     eax, eax
        mov     rbx, exc64_stubs
        mov     cl, 0x8E
        xor     edx, edx
.g:     call    set_gate64
        add     rbx, STUB_SIZE
        inc     eax
        cmp     eax, 32
        jb      .g
        lidt    [idt64_ptr]
        mov     ax, SEL_TSS64
        ltr     ax

        mov     eax, cs
        CHECK64 rax, SEL_CODE64, "64-bit CS"

; ---------------------------------------------------------------- 64-bit integer
        mov     r8, 0x123456789ABCDEF0
        mov     r15, r8
        shr     r15, 32
        CHECK64 r15, 0x12345678, "REX.W mov r15 imm64 shr"
        mov     rax, -1
        mov     eax, 5                          ; 32-bit writes zero-extend
        CHECK64 rax, 5, "32-bit op zero-extends to 64"
        mov     rax, -1
        mov     ax, 5                           ; 16-bit writes merge
        mov     rbx, 0xFFFFFFFFFFFF0005
        CHECK64 rax, rbx, "16-bit op keeps upper bits"
        mov     r9, [rel rip_data]
        mov     rbx, 0x0807060504030201
        CHECK64 r9, rbx, "RIP-relative load"
        lea     rax, [rel rip_data]
        mov     rbx, rip_data
        CHECK64 rax, rbx, "RIP-relative lea"
        mov     rax, 0x8000000000000000
        mov     rbx, 3
        mul     rbx
        CHECK64 rdx, 1, "mul64 high"
        mov     rbx, 0x8000000000000000
        CHECK64 rax, rbx, "mul64 low"
        mov     rdx, 1
        xor     eax, eax
        mov     rbx, 3
        div     rbx                             ; 2^64 / 3
        mov     rcx, 0x5555555555555555
        CHECK64 rax, rcx, "div64 quotient"
        CHECK64 rdx, 1, "div64 remainder"
        mov     rax, -7
        cqo
        mov     rbx, 2
        idiv    rbx
        CHECK64 rax, -3, "idiv64 quotient"
        CHECK64 rdx, -1, "idiv64 remainder"
        mov     rax, 0x7FFFFFFFFFFFFFFF
        add     rax, 1
        pushfq
        pop     rbx
        and     ebx, 0x8D5
        CHECK64 rbx, 0x894, "add64 overflow flags"
        mov     r12, 0x00000000FFFFFFFF
        bsr     r13, r12
        CHECK64 r13, 31, "bsr r13"
        mov     rax, 0x0102030405060708
        bswap   rax
        mov     rbx, 0x0807060504030201
        CHECK64 rax, rbx, "bswap64"
        push    r14                             ; push/pop are 8 bytes
        mov     rax, rsp
        pop     r14
        sub     rax, rsp
        CHECK64 rax, -8, "push is 8 bytes"

        ; CMPXCHG16B
        mov     eax, 1
        cpuid
        test    ecx, 1 << 13
        jz      .nocx16
        mov     qword [CX16], 11
        mov     qword [CX16 + 8], 22
        mov     rax, 11
        mov     rdx, 22
        mov     rbx, 33
        mov     rcx, 44
        lock cmpxchg16b [CX16]
        setz    al
        movzx   eax, al
        CHECK64 rax, 1, "cmpxchg16b equal: ZF=1"
        CHECK64 [CX16 + 8], 44, "cmpxchg16b stored rcx:rbx"
        mov     rax, 0
        mov     rdx, 0
        cmpxchg16b [CX16]
        setz    bl
        movzx   ebx, bl
        CHECK64 rbx, 0, "cmpxchg16b differ: ZF=0"
        CHECK64 rax, 33, "cmpxchg16b loads rdx:rax"
        EXPECT64 .cx1
        cmpxchg16b [CX16 + 8]                   ; misaligned -> #GP(0)
.cx1:   CHECK64 [EXC_VEC], 13, "cmpxchg16b misaligned -> #GP"
.nocx16:

; ---------------------------------------------------------------- canonical
        EXPECT64 .nc1
        mov     rax, 0x0000800000000000
        mov     rbx, [rax]
.nc1:   CHECK64 [EXC_VEC], 13, "non-canonical load -> #GP"
        mov     eax, [EXC_ERR]
        CHECK64 rax, 0, "non-canonical #GP error 0"
        EXPECT64 .nc2
        mov     rbp, 0xFFFF7FFFFFFFF000
        mov     rbx, [rbp]                      ; SS-relative
.nc2:   CHECK64 [EXC_VEC], 12, "non-canonical stack reference -> #SS [qemu-differs]"
        EXPECT64 .nc3
        mov     rax, 0x0000800000000000
.nc3_i: jmp     rax                             ; the fault is on the jump
.nc3:   CHECK64 [EXC_VEC], 13, "jmp to non-canonical -> #GP"
        mov     rax, .nc3_i
        mov     ebx, [EXC_EIP]
        CHECK64 rbx, rax, "non-canonical jmp faults at the jmp [qemu-differs]"

; ---------------------------------------------------------------- pages
        mov     dword [SCRATCH + 0xC0], 0x2BADB002
        mov     rax, 0x200000 * 20 + 0x40       ; through the 2 MiB PDEs
        mov     dword [rax], 0x2222
        mov     ebx, [rax]
        CHECK64 rbx, 0x2222, "2 MiB page read back"
        test    dword [TMP64], 1 << 26
        jz      .no1g_chk
        mov     rax, GIB + SCRATCH + 0xC0
        mov     ebx, [rax]
        CHECK64 rbx, 0x2BADB002, "1 GiB page aliases physical 0"
.no1g_chk:

; ---------------------------------------------------------------- FS/GS, SWAPGS
        mov     qword [FSMEM + 8], 0xF5F5
        mov     qword [GSMEM + 8], 0x6565
        mov     ecx, MSR_FS_BASE
        mov     eax, FSMEM
        xor     edx, edx
        wrmsr
        mov     rax, [fs:8]
        CHECK64 rax, 0xF5F5, "FS base MSR"
        mov     ecx, MSR_GS_BASE
        xor     eax, eax
        xor     edx, edx
        wrmsr
        mov     ecx, MSR_KGS_BASE
        mov     eax, GSMEM
        wrmsr
        swapgs
        mov     rax, [gs:8]
        CHECK64 rax, 0x6565, "SWAPGS loads KERNEL_GS_BASE"
        mov     ecx, MSR_KGS_BASE
        rdmsr
        CHECK64 rax, 0, "SWAPGS stores old GS base"
        swapgs

; ---------------------------------------------------------------- IRETQ, IST
        mov     rax, rsp
        push    qword SEL_DATA32
        push    rax
        pushfq
        push    qword SEL_CODE64
        push    qword .iq
        iretq
        jmp     finish64
.iq:    CHECK64 rsp, rax, "iretq same level restores RSP"

        mov     eax, 0x50
        mov     rbx, ist_handler
        mov     cl, 0x8E
        mov     dl, 1
        call    set_gate64
        int     0x50
        CHECK64 [IST_RSP], IST1_TOP - 40, "interrupt through IST1 stack"

; ---------------------------------------------------------------- compatibility mode
        jmp     dword far [rel to_compat]    ; m16:32
        bits    32
compat32:
        mov     eax, cs
        mov     [COMPAT_CS], eax
        mov     eax, 0xFFFFFFFF
        inc     eax                             ; 32-bit wrap in compat mode
        mov     [TMP64], eax
        jmp     SEL_CODE64:back64
        bits    64
back64:
        CHECK64 [COMPAT_CS], SEL_CODE32, "compatibility mode CS"
        mov     eax, [TMP64]
        CHECK64 rax, 0, "compatibility mode 32-bit arithmetic"

; ---------------------------------------------------------------- SYSCALL/SYSRET
        mov     ecx, MSR_STAR
        xor     eax, eax
        mov     edx, (SEL_USER_BASE << 16) | SEL_CODE64
        wrmsr
        mov     ecx, MSR_LSTAR
        mov     rax, syscall_entry
        mov     rdx, rax
        shr     rdx, 32
        wrmsr
        mov     ecx, MSR_SFMASK
        mov     eax, 0x200 | 0x400              ; clear IF and DF
        xor     edx, edx
        wrmsr
        mov     [R0_RSP], rsp
        push    qword SEL_UDATA
        push    qword STACK3_TOP
        push    qword 0x402                     ; DF set, IF clear
        push    qword SEL_UCODE64
        push    qword user64
        iretq
ring3_done:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        CHECK64 [SC_CS], SEL_CODE64, "syscall CS from STAR[47:32]"
        CHECK64 [SC_SS], SEL_DATA64, "syscall SS = STAR[47:32]+8"
        mov     rax, [SC_RFL]
        and     eax, 0x400
        CHECK64 rax, 0, "syscall applies SFMASK (DF cleared)"
        mov     rax, [SC_R11]
        and     eax, 0x400
        CHECK64 rax, 0x400, "syscall saves RFLAGS in R11"
        mov     rax, user64.after
        CHECK64 [SC_RCX], rax, "syscall saves RIP in RCX"
        CHECK64 [U_CS], SEL_UCODE64, "sysret CS = STAR[63:48]+16 | 3"
        CHECK64 [U_SS], SEL_UDATA, "sysret SS = STAR[63:48]+8 | 3"

        jmp     finish64

        align   8
rip_data:
        dq      0x0807060504030201
to_compat:
        dd      compat32
        dw      SEL_CODE32
idt64_ptr:
        dw      256 * 16 - 1
        dq      IDT64

%include "trailer.inc"
