; Guest for tests/e2e/console.sh: an interrupt-driven echo on COM1.
; A 64 KiB BIOS image (CS = F000 after the reset vector's far jump). It
; sets up the PICs and the 16550A with FIFOs at trigger level 8, so single
; typed bytes reach it through the character timeout interrupt, prints
; "READY", then halts; its IRQ 4 handler echoes every received byte with
; a-z in upper case (the test can tell the guest's echo from a terminal's)
; and ends the VM on "!" through the debug-exit port (status 33).

        cpu     386
        bits    16
        org     0

COM1            equ 0x3F8
UART_IER        equ COM1 + 1
UART_FCR        equ COM1 + 2
UART_LCR        equ COM1 + 3
UART_MCR        equ COM1 + 4
UART_LSR        equ COM1 + 5
IRQ4_VECTOR     equ 0x0C            ; master PIC base 8 + IRQ 4
DEBUG_EXIT      equ 0xF4

start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     ss, ax
        mov     sp, 0x7000
        mov     word [IRQ4_VECTOR * 4], isr
        mov     word [IRQ4_VECTOR * 4 + 2], 0xF000
        ; 8259A pair: ICW1 edge + ICW4, bases 0x08 / 0x70, cascade on IRQ 2, 8086 mode
        mov     al, 0x11
        out     0x20, al
        out     0xA0, al
        mov     al, 0x08
        out     0x21, al
        mov     al, 0x70
        out     0xA1, al
        mov     al, 0x04
        out     0x21, al
        mov     al, 0x02
        out     0xA1, al
        mov     al, 0x01
        out     0x21, al
        out     0xA1, al
        mov     al, 0xEF            ; only IRQ 4
        out     0x21, al
        mov     al, 0xFF
        out     0xA1, al
        ; 16550A: 115200 8N1, FIFOs on with trigger 8, receive interrupt, OUT2
        mov     dx, UART_LCR
        mov     al, 0x80
        out     dx, al
        mov     dx, COM1
        mov     al, 1
        out     dx, al
        mov     dx, UART_IER
        xor     al, al
        out     dx, al
        mov     dx, UART_LCR
        mov     al, 0x03
        out     dx, al
        mov     dx, UART_FCR
        mov     al, 0x87
        out     dx, al
        mov     dx, UART_MCR
        mov     al, 0x0B
        out     dx, al
        mov     dx, UART_IER
        mov     al, 0x01
        out     dx, al
        mov     si, banner
.banner:
        cs lodsb
        test    al, al
        jz      .idle
        call    putc
        jmp     .banner
.idle:
        sti
        hlt
        jmp     .idle

putc:                               ; AL to COM1 when the holding register is empty
        push    dx
        push    ax
        mov     dx, UART_LSR
.wait:
        in      al, dx
        test    al, 0x20
        jz      .wait
        pop     ax
        mov     dx, COM1
        out     dx, al
        pop     dx
        ret

isr:
        push    ax
        push    dx
.next:
        mov     dx, UART_LSR
        in      al, dx
        test    al, 0x01
        jz      .done
        mov     dx, COM1
        in      al, dx
        cmp     al, '!'
        je      .exit
        cmp     al, 'a'
        jb      .put
        cmp     al, 'z'
        ja      .put
        sub     al, 0x20
.put:
        call    putc
        jmp     .next
.done:
        mov     al, 0x20            ; non-specific EOI
        out     0x20, al
        pop     dx
        pop     ax
        iret
.exit:
        mov     dx, DEBUG_EXIT
        mov     al, 0x10
        out     dx, al
        jmp     .exit

banner: db "READY", 13, 10, 0

        times   0xFFF0 - ($ - $$) db 0xF4
        jmp     0xF000:start        ; reset vector, F000:FFF0
        times   0x10000 - ($ - $$) db 0
