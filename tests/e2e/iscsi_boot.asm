; Boot sector for tests/e2e/iscsi.sh: SeaBIOS loads it from the first
; sector of the disk. Through the BIOS disk services (INT 13h) it reads
; sector 1 and prints the line stored there on COM1, writes a marker to
; sector 2, prints "iscsi-boot: done" and ends the VM through the
; debug-exit port (status 1; 3 after a failed disk call).

        bits    16
        org     0x7C00

COM1            equ 0x3F8
UART_LSR        equ COM1 + 5
LSR_THRE        equ 0x20            ; transmit holding register empty
DEBUG_EXIT      equ 0xF4
READ_BUF        equ 0x8000
WRITE_BUF       equ 0x9000

start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, 0x7C00
        sti
        mov     [drive], dl         ; the BIOS passes the boot drive in DL
        mov     si, msg_boot
        call    print

        mov     ax, 0x0201          ; read 1 sector
        mov     cx, 0x0002          ; cylinder 0, sector 2 (CHS numbers from 1): LBA 1
        xor     dh, dh
        mov     dl, [drive]
        mov     bx, READ_BUF
        int     0x13
        jc      fail
        mov     byte [READ_BUF + 511], 0
        mov     si, READ_BUF
        call    print

        mov     di, WRITE_BUF       ; sector 2: the marker, then zeros
        mov     cx, 256
        xor     ax, ax
        rep stosw
        mov     si, marker
        mov     di, WRITE_BUF
        mov     cx, marker_len
        rep movsb
        mov     ax, 0x0301          ; write 1 sector
        mov     cx, 0x0003          ; LBA 2
        xor     dh, dh
        mov     dl, [drive]
        mov     bx, WRITE_BUF
        int     0x13
        jc      fail

        mov     si, msg_done
        call    print
        xor     al, al
        out     DEBUG_EXIT, al
        hlt

fail:
        mov     si, msg_fail
        call    print
        mov     al, 1
        out     DEBUG_EXIT, al
        hlt

print:                              ; DS:SI, NUL-terminated
        lodsb
        test    al, al
        jz      .done
        mov     ah, al
        mov     dx, UART_LSR
.wait:  in      al, dx
        test    al, LSR_THRE
        jz      .wait
        mov     al, ah
        mov     dx, COM1
        out     dx, al
        jmp     print
.done:  ret

drive:          db 0
msg_boot:       db "iscsi-boot: booted", 13, 10, 0
msg_done:       db "iscsi-boot: done", 13, 10, 0
msg_fail:       db "iscsi-boot: disk call failed", 13, 10, 0
marker:         db "written by the guest through INT 13h"
marker_len      equ $ - marker

        times 510 - ($ - $$) db 0
        dw      0xAA55
