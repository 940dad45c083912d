; interrupts: 8259A PICs, 8254 PIT, MC146818 RTC and the CPU's interrupt
; acceptance (HLT wake-up, STI shadow).
; Expected values: Intel 8259A datasheet (ICW1-4, OCW1-3, IRR/ISR reads),
; Intel 8254 datasheet (modes 0 and 2, counter latch, read-back status),
; Motorola MC146818 datasheet (registers A-C, periodic and update-ended
; interrupts), IBM PC/AT technical reference (port 0x61: gate 2, OUT2,
; refresh toggle), Intel SDM Vol. 2 (HLT, STI) and Vol. 3A 6.8.3.
;
; Timing is measured against PIT channel 2 in mode 0 (one-shot, OUT2 read
; through port 0x61 bit 5): 65535 counts at 1.193182 MHz = 54.9 ms.
; Interrupt counts are checked loosely: at most 135% of the due count (a
; wrong divisor or rate shows up), but only "several" from below, because an
; emulator on a loaded host loses ticks while its vCPU thread is descheduled
; (QEMU TCG delivered 16 of 220 in one busy run). Each count is printed as an
; "info value=" line.

%include "common.inc"
%include "pm.inc"

PIC1_CMD        equ 0x20
PIC1_DATA       equ 0x21
PIC2_CMD        equ 0xA0
PIC2_DATA       equ 0xA1
PIC_EOI         equ 0x20                ; OCW2 non-specific EOI
OCW3_READ_IRR   equ 0x0A
OCW3_READ_ISR   equ 0x0B
PIT_CH0         equ 0x40
PIT_CH2         equ 0x42
PIT_CMD         equ 0x43
PIT_CH0_MODE2   equ 0x34                ; ch 0, lo/hi byte, mode 2, binary
PIT_CH2_MODE0   equ 0xB0                ; ch 2, lo/hi byte, mode 0, binary
PIT_LATCH_CH0   equ 0x00                ; counter latch command, ch 0
PIT_RB_STATUS0  equ 0xE2                ; read-back: status only, ch 0
PIT_DIV_1KHZ    equ 1193                ; 1193182 / 1193 = 1000.15 Hz
PORT_61         equ 0x61
P61_GATE2       equ 0x01
P61_SPKR        equ 0x02
P61_REFRESH     equ 0x10
P61_OUT2        equ 0x20
CMOS_INDEX      equ 0x70
CMOS_DATA       equ 0x71
RTC_REG_A       equ 0x0A
RTC_REG_B       equ 0x0B
RTC_REG_C       equ 0x0C
RTC_A_1024HZ    equ 0x26                ; DV=010 (32.768 kHz), RS=0110 (1024 Hz)
RTC_B_PIE       equ 0x40
RTC_B_UIE       equ 0x10
RTC_B_SET       equ 0x80
RTC_C_IRQF      equ 0x80
RTC_C_PF        equ 0x40
RTC_C_UF        equ 0x10
VEC_IRQ0        equ 0x20
VEC_IRQ8        equ 0x28

TICKS           equ SCRATCH + 0x00
LAST_EIP        equ SCRATCH + 0x04
SHADOW          equ SCRATCH + 0x08
SHADOW_SEEN     equ SCRATCH + 0x0C
NO_EOI          equ SCRATCH + 0x10
RTC_TICKS       equ SCRATCH + 0x14
RTC_C           equ SCRATCH + 0x18
TMP             equ SCRATCH + 0x1C

; PRINT_VALUE x: an "info value=..." line (run.sh ignores info lines)
%macro PRINT_VALUE 1
        push    esi
        push    eax
        mov     eax, %1
        mov     esi, %%s
        call    puts32
        call    puthex32
        mov     esi, str_nl
        call    puts32
        pop     eax
        pop     esi
        jmp     %%skip
%%s:    db      "info value=", 0
%%skip:
%endmacro

; RANGE reg, lo, hi, "name": checks lo <= reg <= hi, prints the value
%macro RANGE 4
        push    eax
        mov     eax, %1
        mov     [TMP], eax
        pop     eax
        cmp     dword [TMP], %2
        jb      %%bad
        cmp     dword [TMP], %3
        ja      %%bad
        CHECK   1, 1, %4
        PRINT_VALUE [TMP]
        jmp     %%done
%%bad:  CHECK   [TMP], %2, {%4, " (out of range)"}
%%done:
%endmacro

        bits    16
start:
        mov     bx, R(.r)
        jmp     rm_init
.r:     mov     ebx, main32
        jmp     pm_enter

        bits    32
irq0_handler:
        push    eax
        inc     dword [TICKS]
        mov     eax, [esp + 4]
        mov     [LAST_EIP], eax
        mov     eax, [SHADOW]
        mov     [SHADOW_SEEN], eax
        cmp     dword [NO_EOI], 0
        jne     .out
        mov     al, PIC_EOI
        out     PIC1_CMD, al
.out:   pop     eax
        iretd

irq8_handler:
        push    eax
        inc     dword [RTC_TICKS]
        mov     al, RTC_REG_C                   ; reading C acknowledges the RTC
        out     CMOS_INDEX, al
        in      al, CMOS_DATA
        or      [RTC_C], al
        mov     al, PIC_EOI
        out     PIC2_CMD, al
        out     PIC1_CMD, al
        pop     eax
        iretd

; pit2_period: runs PIT channel 2 once through 65535 counts (54.9 ms) and
; waits for OUT2; interrupts stay as they are. Fails the test on timeout.
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

; irr_wait: waits (bounded) until the master IRR shows IRQ 0 pending.
irr0_wait:
        push    eax
        push    ecx
        mov     ecx, 10000000
.poll:  mov     al, OCW3_READ_IRR
        out     PIC1_CMD, al
        in      al, PIC1_CMD
        test    al, 1
        jnz     .done
        dec     ecx
        jnz     .poll
.done:  pop     ecx
        pop     eax
        ret

; cmos_read: AL = register -> AL = value
cmos_read:
        out     CMOS_INDEX, al
        in      al, CMOS_DATA
        ret

; cmos_write: AH = register, AL = value
cmos_write:
        xchg    al, ah
        out     CMOS_INDEX, al
        xchg    al, ah
        out     CMOS_DATA, al
        ret

main32:
        PRINT   "interrupts: start"
        call    lapic_extint
        mov     eax, VEC_IRQ0
        mov     ebx, irq0_handler
        mov     cl, GATE_INT32
        mov     dx, SEL_CODE32
        call    set_gate32
        mov     eax, VEC_IRQ8
        mov     ebx, irq8_handler
        call    set_gate32
        xor     eax, eax
        mov     [TICKS], eax
        mov     [NO_EOI], eax
        mov     [RTC_TICKS], eax
        mov     [RTC_C], eax

; ---------------------------------------------------------------- PIC
        mov     al, 0x11                        ; ICW1: edge, cascade, ICW4
        out     PIC1_CMD, al
        out     PIC2_CMD, al
        mov     al, VEC_IRQ0                    ; ICW2
        out     PIC1_DATA, al
        mov     al, VEC_IRQ8
        out     PIC2_DATA, al
        mov     al, 0x04                        ; ICW3: slave on IR2
        out     PIC1_DATA, al
        mov     al, 0x02                        ; ICW3: slave id 2
        out     PIC2_DATA, al
        mov     al, 0x01                        ; ICW4: 8086 mode, normal EOI
        out     PIC1_DATA, al
        out     PIC2_DATA, al
        mov     al, 0xA5
        out     PIC1_DATA, al
        in      al, PIC1_DATA
        movzx   eax, al
        CHECK   eax, 0xA5, "PIC OCW1 IMR reads back"
        mov     al, 0xFF
        out     PIC1_DATA, al
        out     PIC2_DATA, al
        mov     al, OCW3_READ_ISR
        out     PIC1_CMD, al
        in      al, PIC1_CMD
        movzx   eax, al
        CHECK   eax, 0, "PIC ISR empty after init"

; ---------------------------------------------------------------- PIT
        mov     al, PIT_CH0_MODE2
        out     PIT_CMD, al
        mov     ax, PIT_DIV_1KHZ
        out     PIT_CH0, al
        mov     al, ah
        out     PIT_CH0, al
        mov     al, PIT_RB_STATUS0
        out     PIT_CMD, al
        in      al, PIT_CH0
        and     eax, 0x3F                       ; RW=11 mode=010 BCD=0
        CHECK   eax, 0x34, "PIT read-back status: lo/hi, mode 2"
        mov     al, PIT_LATCH_CH0
        out     PIT_CMD, al
        in      al, PIT_CH0
        mov     ah, al
        in      al, PIT_CH0
        xchg    al, ah
        movzx   eax, ax
        RANGE   eax, 1, PIT_DIV_1KHZ, "PIT counter latch within divisor"

        ; periodic interrupts over one measured period
        in      al, PIC1_DATA
        and     al, 0xFE
        out     PIC1_DATA, al
        mov     dword [TICKS], 0
        sti
        call    pit2_period
        call    pit2_period
        call    pit2_period
        call    pit2_period
        cli
        mov     eax, [TICKS]
        RANGE   eax, 5, 300, "PIT 1 kHz: ~220 IRQ0 in 4 x 54.9 ms"

        ; HLT resumes after an interrupt, at the next instruction
        mov     ebx, [TICKS]
        sti
        hlt
.after_hlt:
        cli
        sub     ebx, [TICKS]
        neg     ebx
        RANGE   ebx, 1, 2, "HLT woken by IRQ0"
        CHECK   [LAST_EIP], .after_hlt, "IRQ during HLT returns after HLT"

; ---------------------------------------------------------------- masking, EOI
        in      al, PIC1_DATA
        or      al, 1
        out     PIC1_DATA, al                   ; IRQ0 masked
        mov     dword [TICKS], 0
        sti
        call    pit2_period
        cli
        CHECK   [TICKS], 0, "masked IRQ0 not delivered"
        mov     al, OCW3_READ_IRR
        out     PIC1_CMD, al
        in      al, PIC1_CMD
        and     eax, 1
        CHECK   eax, 1, "masked IRQ0 still latched in IRR"
        mov     dword [TICKS], 0
        in      al, PIC1_DATA
        and     al, 0xFE
        out     PIC1_DATA, al
        sti                                     ; (exact timing: STI shadow test)
        mov     ecx, 20
.unm:   dec     ecx
        jnz     .unm
        cli
        RANGE   dword [TICKS], 1, 2, "unmasking delivers the pending IRQ0"

        ; no EOI: the in-service IRQ0 blocks further IRQ0s
        mov     dword [NO_EOI], 1
        mov     dword [TICKS], 0
        sti
        call    pit2_period
        cli
        CHECK   [TICKS], 1, "without EOI only one IRQ0"
        mov     al, OCW3_READ_ISR
        out     PIC1_CMD, al
        in      al, PIC1_CMD
        and     eax, 0xFF
        CHECK   eax, 1, "ISR bit 0 set until EOI"
        mov     al, PIC_EOI
        out     PIC1_CMD, al
        mov     al, OCW3_READ_ISR
        out     PIC1_CMD, al
        in      al, PIC1_CMD
        and     eax, 0xFF
        CHECK   eax, 0, "EOI clears ISR"
        mov     dword [NO_EOI], 0
        mov     dword [TICKS], 0
        sti
        call    pit2_period
        cli
        RANGE   dword [TICKS], 2, 100, "IRQ0 resumes after EOI"

; ---------------------------------------------------------------- STI shadow
        call    irr0_wait                       ; IRQ0 pending, IF=0
        mov     dword [SHADOW], 0
        mov     dword [SHADOW_SEEN], 0xFFFF
        sti
        mov     dword [SHADOW], 1               ; runs inside the STI shadow
.sh_after:
        nop
        cli
        CHECK   [SHADOW_SEEN], 1, "STI shadow: next instruction runs first"
        CHECK   [LAST_EIP], .sh_after, "STI shadow: IRQ taken right after it"
        in      al, PIC1_DATA
        or      al, 1
        out     PIC1_DATA, al

; ---------------------------------------------------------------- port 0x61
        xor     ebx, ebx                        ; transitions of the refresh bit
        in      al, PORT_61
        mov     dl, al
        mov     ecx, 20000
.r61:   in      al, PORT_61
        xor     dl, al
        test    dl, P61_REFRESH
        jz      .r61n
        inc     ebx
.r61n:  mov     dl, al
        dec     ecx
        jnz     .r61
        RANGE   ebx, 2, 0xFFFFFFFF, "port 0x61 refresh bit toggles"

; ---------------------------------------------------------------- RTC periodic
        mov     ax, (RTC_REG_A << 8) | RTC_A_1024HZ
        call    cmos_write
        mov     al, RTC_REG_B
        call    cmos_read
        and     al, ~(RTC_B_SET | RTC_B_UIE)
        or      al, RTC_B_PIE
        mov     ah, RTC_REG_B
        call    cmos_write
        mov     al, RTC_REG_C
        call    cmos_read
        in      al, PIC2_DATA
        and     al, 0xFE                        ; IRQ 8
        out     PIC2_DATA, al
        in      al, PIC1_DATA
        and     al, 0xFB                        ; cascade IRQ 2
        out     PIC1_DATA, al
        mov     dword [RTC_TICKS], 0
        mov     dword [RTC_C], 0
        sti
        call    pit2_period
        call    pit2_period
        call    pit2_period
        call    pit2_period
        cli
        RANGE   dword [RTC_TICKS], 5, 320, "RTC 1024 Hz: ~225 IRQ8 in 4 x 54.9 ms"
        mov     eax, [RTC_C]
        and     eax, RTC_C_IRQF | RTC_C_PF
        CHECK   eax, RTC_C_IRQF | RTC_C_PF, "RTC reg C: IRQF PF"

; ---------------------------------------------------------------- RTC update-ended
        mov     ax, (RTC_REG_A << 8) | (RTC_A_1024HZ & 0xF0)   ; RS=0: no periodic flag
        call    cmos_write
        mov     al, RTC_REG_B
        call    cmos_read
        and     al, ~RTC_B_PIE
        or      al, RTC_B_UIE
        mov     ah, RTC_REG_B
        call    cmos_write
        mov     al, RTC_REG_C
        call    cmos_read
        mov     dword [RTC_TICKS], 0
        mov     dword [RTC_C], 0
        mov     esi, 30                         ; up to 30 x 54.9 ms = 1.6 s
        sti
.uwait: call    pit2_period
        test    dword [RTC_C], RTC_C_UF         ; a stale IRQ 8 may come first
        jnz     .ugot
        dec     esi
        jnz     .uwait
.ugot:  cli
        mov     eax, [RTC_C]
        and     eax, RTC_C_IRQF | RTC_C_UF
        CHECK   eax, RTC_C_IRQF | RTC_C_UF, "RTC update-ended interrupt within 1.6 s: reg C IRQF UF"
        mov     al, RTC_REG_B
        call    cmos_read
        and     al, ~RTC_B_UIE
        mov     ah, RTC_REG_B
        call    cmos_write
        mov     al, 0xFF
        out     PIC1_DATA, al
        out     PIC2_DATA, al

        jmp     finish32

%include "trailer.inc"
