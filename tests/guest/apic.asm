; apic: the local APIC (identification, self-IPIs, priority classes, TPR,
; PPR, EOI, error status, the timer in one-shot, periodic and TSC-deadline
; modes) and the I/O APIC (identification, the PIT's ISA IRQ 0 on pin 2,
; masking). One CPU; the 8259s stay masked throughout.
; Expected values: Intel SDM Vol. 3A chapter 10, 82093AA datasheet.
; Timing is measured against PIT channel 2 (54.9 ms, as in interrupts.asm);
; interrupt counts are checked loosely (see README.md).

%include "common.inc"
%include "pm.inc"

APIC            equ 0xFEE00000
A_ID            equ APIC + 0x020
A_VER           equ APIC + 0x030
A_TPR           equ APIC + 0x080
A_PPR           equ APIC + 0x0A0
A_EOI           equ APIC + 0x0B0
A_SVR           equ APIC + 0x0F0
A_ISR           equ APIC + 0x100
A_IRR           equ APIC + 0x200
A_ESR           equ APIC + 0x280
A_ICR_LO        equ APIC + 0x300
A_LVT_TIMER     equ APIC + 0x320
A_TICR          equ APIC + 0x380
A_TCCR          equ APIC + 0x390
A_TDCR          equ APIC + 0x3E0
ICR_SELF        equ 0x40000                     ; destination shorthand: self
LVT_PERIODIC    equ 0x20000
LVT_TSC_DEADLINE equ 0x40000
LVT_MASKED      equ 0x10000
MSR_APIC_BASE   equ 0x1B
MSR_TSC_DEADLINE equ 0x6E0
IOAPIC          equ 0xFEC00000
IOREGSEL        equ IOAPIC
IOWIN           equ IOAPIC + 0x10
IO_VER          equ 0x01
IO_RTE2_LO      equ 0x14
IO_RTE2_HI      equ 0x15

PIC1_DATA       equ 0x21
PIC2_DATA       equ 0xA1
PIT_CH0         equ 0x40
PIT_CH2         equ 0x42
PIT_CMD         equ 0x43
PIT_CH0_MODE2   equ 0x34
PIT_CH2_MODE0   equ 0xB0
PIT_DIV_1KHZ    equ 1193
PORT_61         equ 0x61
P61_GATE2       equ 0x01
P61_SPKR        equ 0x02
P61_OUT2        equ 0x20

VEC_LOW         equ 0x41
VEC_HIGH        equ 0x82
VEC_TIMER       equ 0x30
VEC_PIT         equ 0x50
VEC_SPURIOUS    equ 0xFF

ORDER           equ SCRATCH + 0x00              ; vectors taken, one byte each, oldest highest
TIMER_TICKS     equ SCRATCH + 0x04
PIT_TICKS       equ SCRATCH + 0x08
TMP             equ SCRATCH + 0x0C

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

        bits    32
low_handler:
        push    eax
        mov     eax, [ORDER]
        shl     eax, 8
        mov     al, VEC_LOW
        mov     [ORDER], eax
        mov     dword [A_EOI], 0
        pop     eax
        iretd

high_handler:
        push    eax
        mov     eax, [ORDER]
        shl     eax, 8
        mov     al, VEC_HIGH
        mov     [ORDER], eax
        mov     dword [A_EOI], 0
        pop     eax
        iretd

timer_handler:
        inc     dword [TIMER_TICKS]
        mov     dword [A_EOI], 0
        iretd

pit_handler:
        inc     dword [PIT_TICKS]
        mov     dword [A_EOI], 0
        iretd

spurious_handler:                               ; no EOI for the spurious vector
        iretd

; QEMU delivers an illegal vector (below 16) as an interrupt; catch it there.
illegal_handler:
        mov     dword [A_EOI], 0
        iretd

; pit2_period: PIT channel 2 once through 65535 counts (54.9 ms).
pit2_period:
        push    eax
        push    ecx
        in      al, PORT_61
        and     al, ~(P61_GATE2 | P61_SPKR)
        out     PORT_61, al
        mov     al, PIT_CH2_MODE0
        out     PIT_CMD, al
        mov     al, 0xFF
        out     PIT_CH2, al
        out     PIT_CH2, al
        in      al, PORT_61
        or      al, P61_GATE2
        out     PORT_61, al
        mov     ecx, 200000000
.poll:  in      al, PORT_61
        test    al, P61_OUT2
        jnz     .done
        dec     ecx
        jnz     .poll
        PRINT   "FAIL PIT channel 2 OUT2 never went high"
        inc     dword [FAILCOUNT]
.done:  pop     ecx
        pop     eax
        ret

; gate: EAX = vector, EBX = handler
gate:
        push    ecx
        push    edx
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        pop     edx
        pop     ecx
        ret

io_write:                                       ; AL = register, EDX = value
        movzx   eax, al
        mov     [IOREGSEL], eax
        mov     [IOWIN], edx
        ret

main32:
        PRINT   "apic: start"
        mov     al, 0xFF
        out     PIC1_DATA, al
        out     PIC2_DATA, al
        mov     eax, VEC_LOW
        mov     ebx, low_handler
        call    gate
        mov     eax, VEC_HIGH
        mov     ebx, high_handler
        call    gate
        mov     eax, VEC_TIMER
        mov     ebx, timer_handler
        call    gate
        mov     eax, VEC_PIT
        mov     ebx, pit_handler
        call    gate
        mov     eax, VEC_SPURIOUS
        mov     ebx, spurious_handler
        call    gate

; ---------------------------------------------------------------- identification
        mov     eax, 1
        cpuid
        shr     edx, 9
        and     edx, 1
        CHECK   edx, 1, "CPUID.1:EDX.APIC"
        mov     ecx, MSR_APIC_BASE
        rdmsr
        and     eax, 0xFFFFF900
        CHECK   eax, 0xFEE00900, "IA32_APIC_BASE: FEE00000, EN, BSP"
        mov     eax, [A_VER]
        and     eax, 0x00FF00FF
        CHECK   eax, 0x00050014, "version 14h, 6 LVT entries"
        mov     eax, [A_ID]
        shr     eax, 24
        CHECK   eax, 0, "APIC ID of the BSP"
        mov     eax, [A_SVR]
        and     eax, 0x1FF
        CHECK   eax, 0xFF, "SVR after reset: FFh, software-disabled"

; ---------------------------------------------------------------- self-IPIs
        mov     dword [A_SVR], 0x100 | VEC_SPURIOUS
        cli
        mov     dword [ORDER], 0
        mov     dword [A_ICR_LO], ICR_SELF | VEC_LOW
        mov     dword [A_ICR_LO], ICR_SELF | VEC_HIGH
        mov     eax, [A_IRR + 0x20]             ; vectors 40h-5Fh
        shr     eax, VEC_LOW - 0x40
        and     eax, 1
        CHECK   eax, 1, "self-IPI 41h waits in the IRR while IF=0"
        mov     eax, [A_ICR_LO]
        and     eax, 0x1000
        CHECK   eax, 0, "ICR delivery status idle"
        sti
        nop
        cli
        CHECK   [ORDER], (VEC_HIGH << 8) | VEC_LOW, "higher priority class first: 82h, then 41h"
        mov     dword [ORDER], 0
        mov     dword [A_TPR], 0x50
        mov     dword [A_ICR_LO], ICR_SELF | VEC_LOW
        sti
        nop
        nop
        cli
        CHECK   [ORDER], 0, "TPR 50h holds back vector 41h"
        mov     eax, [A_PPR]
        and     eax, 0xFF
        CHECK   eax, 0x50, "PPR follows TPR"
        mov     dword [A_TPR], 0
        sti
        nop
        cli
        CHECK   [ORDER], VEC_LOW, "TPR 0 lets vector 41h in"
        mov     eax, [A_ISR + 0x20]
        CHECK   eax, 0, "ISR empty after the EOIs"
        mov     eax, 0x05
        mov     ebx, illegal_handler
        call    gate
        mov     dword [A_ESR], 0
        mov     dword [A_ICR_LO], ICR_SELF | 0x05
        mov     dword [A_ESR], 0
        mov     eax, [A_ESR]
        and     eax, 0xEF
        CHECK   eax, 0x20, "self-IPI with vector 5: ESR send illegal vector [qemu-differs]"
        mov     dword [A_ESR], 0

; ---------------------------------------------------------------- timer
        mov     dword [TIMER_TICKS], 0
        mov     dword [A_TDCR], 0x0B            ; divide by 1
        mov     dword [A_LVT_TIMER], VEC_TIMER
        mov     dword [A_TICR], 10000000        ; 10 ms at a 1 GHz timer clock
        mov     eax, [A_TCCR]
        mov     [TMP], eax
        cmp     dword [TMP], 10000000
        ja      .ccr_bad
        cmp     dword [TMP], 0
        je      .ccr_bad
        CHECK   1, 1, "one-shot: current count counts down from the initial count"
        jmp     .ccr_done
.ccr_bad:
        CHECK   [TMP], 10000000, "one-shot: current count counts down from the initial count"
.ccr_done:
        sti
        call    pit2_period
        cli
        CHECK   [TIMER_TICKS], 1, "one-shot 10 ms: one interrupt within 55 ms"
        mov     eax, [A_TCCR]
        CHECK   eax, 0, "one-shot: current count 0 after expiry"

        mov     dword [TIMER_TICKS], 0
        mov     dword [A_LVT_TIMER], LVT_PERIODIC | VEC_TIMER
        mov     dword [A_TICR], 1000000         ; 1 ms
        sti
        call    pit2_period
        cli
        mov     dword [A_TICR], 0
        mov     eax, [TIMER_TICKS]
        mov     [TMP], eax
        sti                                     ; drain a tick that waits in the IRR
        nop
        cli
        cmp     dword [TMP], 5
        jb      .per_bad
        cmp     dword [TMP], 74
        ja      .per_bad
        CHECK   1, 1, "periodic 1 ms: 5 to 74 interrupts in 55 ms"
        jmp     .per_done
.per_bad:
        CHECK   [TMP], 55, "periodic 1 ms: 5 to 74 interrupts in 55 ms"
.per_done:

        mov     eax, 1
        cpuid
        bt      ecx, 24
        jc      .tscd
        PRINT   "skip TSC-deadline: not in CPUID"
        jmp     .tscd_done
.tscd:  mov     dword [TIMER_TICKS], 0
        mov     dword [A_LVT_TIMER], LVT_TSC_DEADLINE | VEC_TIMER
        rdtsc
        add     eax, 20000000                   ; 10 ms at 2 GHz, 20 ms at 1 GHz
        adc     edx, 0
        mov     ecx, MSR_TSC_DEADLINE
        wrmsr
        rdmsr
        or      eax, edx
        setnz   al
        movzx   eax, al
        CHECK   eax, 1, "TSC-deadline: the MSR holds the deadline"
        sti
        call    pit2_period
        cli
        CHECK   [TIMER_TICKS], 1, "TSC-deadline: one interrupt"
        mov     ecx, MSR_TSC_DEADLINE
        rdmsr
        or      eax, edx
        CHECK   eax, 0, "TSC-deadline: the MSR reads 0 once it fired"
        mov     dword [A_LVT_TIMER], LVT_MASKED | VEC_TIMER
.tscd_done:

; ---------------------------------------------------------------- I/O APIC
        mov     dword [IOREGSEL], IO_VER
        mov     eax, [IOWIN]
        and     eax, 0x00FF0000
        CHECK   eax, 0x00170000, "I/O APIC: 24 redirection entries"
        mov     al, IO_RTE2_HI
        xor     edx, edx
        call    io_write
        mov     al, IO_RTE2_LO
        mov     edx, VEC_PIT                    ; fixed, physical, edge, high
        call    io_write
        mov     dword [PIT_TICKS], 0
        mov     al, PIT_CH0_MODE2
        out     PIT_CMD, al
        mov     al, PIT_DIV_1KHZ & 0xFF
        out     PIT_CH0, al
        mov     al, PIT_DIV_1KHZ >> 8
        out     PIT_CH0, al
        sti
        call    pit2_period
        cli
        mov     eax, [PIT_TICKS]
        mov     [TMP], eax
        cmp     dword [TMP], 5
        jb      .pit_bad
        cmp     dword [TMP], 74
        ja      .pit_bad
        CHECK   1, 1, "PIT IRQ 0 through I/O APIC pin 2: 5 to 74 in 55 ms"
        jmp     .pit_done
.pit_bad:
        CHECK   [TMP], 55, "PIT IRQ 0 through I/O APIC pin 2: 5 to 74 in 55 ms"
.pit_done:
        mov     al, IO_RTE2_LO
        mov     edx, LVT_MASKED | VEC_PIT
        call    io_write
        sti                                     ; drain a tick that waits in the IRR
        nop
        cli
        mov     dword [PIT_TICKS], 0
        sti
        call    pit2_period
        cli
        CHECK   [PIT_TICKS], 0, "masked pin 2: no interrupt"

        jmp     finish32

%include "trailer.inc"
