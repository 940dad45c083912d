; Guest for tests/e2e/gdb.sh: a 64 KiB BIOS image whose instructions sit at
; fixed addresses, so the test can break and step on them from gdb.
; Linked at 0xF0000 (the BIOS alias below 1 MiB); CS = F000 after the reset
; vector's far jump, so IP = linear - 0xF0000.
;
;   F0080  start: "S" on COM1
;   F0100  BP_HARD: mov eax, 0x12345678 ; mov [0x600], eax
;   F0200  BP_SOFT: mov dx, COM1 ; out dx, al ; mov [0x604], eax
;                   (the test sets $eax = 0x41 first: "A" on COM1)
;   F0300  BUSY: inc ecx ; jmp BUSY, forever (gdb attaches again here)
;   F0380  HALT: "H" on COM1, then cli ; hlt forever (only a debugger kick
;                gets the vCPU out of that sleep)

        cpu     x64
        org     0xF0000
        bits    16

COM1            equ 0x3F8               ; 16550A transmit holding register (DLAB=0)

        times   0x80 - ($ - $$) db 0x90
start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     ss, ax
        mov     sp, 0x7000
        mov     dx, COM1
        mov     al, 'S'
        out     dx, al
        jmp     bp_hard

        times   0x100 - ($ - $$) db 0x90
bp_hard:
        mov     eax, 0x12345678
        mov     [0x600], eax
        jmp     bp_soft

        times   0x200 - ($ - $$) db 0x90
bp_soft:
        mov     dx, COM1
        out     dx, al
        mov     [0x604], eax
        jmp     busy

        times   0x300 - ($ - $$) db 0x90
busy:
        inc     ecx
        jmp     busy

        times   0x380 - ($ - $$) db 0x90
halt:
        mov     dx, COM1
        mov     al, 'H'
        out     dx, al
.sleep: cli
        hlt
        jmp     .sleep

        times   0xFFF0 - ($ - $$) db 0xFF
reset_vector:                           ; linear 0xFFFF0 (and 0xFFFFFFF0)
        jmp     0xF000:start - 0xF0000
        times   0x10000 - ($ - $$) db 0
