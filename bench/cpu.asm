; caixa CPU benchmark guest: a 64 KiB raw BIOS image.
;
; Boots from the reset vector, enters long mode itself (identity map of the
; first 64 MiB in 2 MiB pages), runs a fixed, deterministic integer workload,
; prints its checksums on COM1 and leaves through the debug-exit port 0xF4.
; bench/cpu_ref.py recomputes every checksum on the host; bench/cpu.sh holds
; the expected lines. Workload sizes are the %defines below; cpu_ref.py reads
; them from this file, so change them here only (and refresh cpu.sh).
;
; No REP string instructions in the timed part: emulators disagree on how
; many "instructions" a REP is, and the instruction count must be exact.

%define BENCH_VERSION   1

; ---- workload sizes (cpu_ref.py parses these lines) ----
%define BUF_SIZE        0x400000        ; CRC input: 4 MiB of xorshift64 output
%define CRC_ROUNDS      32              ; table CRC-32 over BUF, chained
%define CRC_BLOCK       4096            ; bytes per crc_block call
%define CRCC_LEN        0x400000        ; bitwise CRC-32C over the first 4 MiB
%define NKEYS           0x100000        ; 1 Mi 32-bit keys per sort round
%define SORT_ROUNDS     12
%define TEXT_SIZE       0x400000        ; search text: 4 MiB over 'a'..'d'
%define MAT_N           256             ; integer matrix multiply N x N

; ---- seeds (cpu_ref.py parses these lines) ----
%define SEED_BUF        0x9E3779B97F4A7C15
%define SEED_LCG        0x0123456789ABCDEF
%define SEED_TEXT       2463534242
%define SEED_MAT        0x12345678

; ---- constants of the algorithms ----
%define CRC32_POLY      0xEDB88320      ; reflected IEEE 802.3 polynomial
%define CRC32C_POLY     0x82F63B78      ; reflected Castagnoli polynomial
%define LCG_MUL         6364136223846793005   ; Knuth's MMIX LCG
%define LCG_ADD         1442695040888963407
%define FNV_OFFSET      0xCBF29CE484222325    ; FNV-1a 64-bit
%define FNV_PRIME       0x100000001B3

; ---- guest physical (= virtual) layout ----
%define PML4            0x1000
%define PDPT            0x2000
%define PD              0x3000
%define VARS            0x8000
%define CRC_TABLE       0x10000         ; 256 dwords
%define STACK_TOP       0x90000
%define BUF             0x400000
%define KEYS            0x800000
%define TEXT            0xC00000
%define MAT_A           0x1000000
%define MAT_B           0x1100000
%define MAT_C           0x1200000
%define MAPPED_2M_PAGES 32              ; 64 MiB identity map

; ---- hardware ----
%define COM1            0x3F8           ; 16550: THR/DLL +0, IER/DLM +1, FCR +2,
%define UART_LSR_THRE   0x20            ; LCR +3, MCR +4, LSR +5 (bit 5: THR empty)
%define DEBUG_EXIT_PORT 0xF4            ; isa-debug-exit: status = (v << 1) | 1
%define DEBUG_EXIT_VAL  0x10            ; => exit status 33
%define PORT_A20        0x92            ; PS/2 system control port A, bit 1 = A20
%define MSR_EFER        0xC0000080
%define EFER_LME        (1 << 8)
%define CR0_PE          1
%define CR0_PG          (1 << 31)
%define CR4_PAE         (1 << 5)
%define PTE_P_RW        0x03
%define PDE_PS          0x80            ; 2 MiB page

%define NPHASES         6

; TSC at a phase boundary (under QEMU -icount shift=0 it counts instructions)
%macro mark 1
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     [v_marks + %1 * 8], rax
%endmacro

%define SEL_CODE32      0x08
%define SEL_DATA        0x10
%define SEL_CODE64      0x18

absolute VARS
v_crc:          resq 1
v_crcc:         resq 1
v_sort_hash:    resq 1
v_sort_bad:     resq 1
v_lcg:          resq 1
v_srch_cnt:     resq 1
v_srch_pos:     resq 1
v_mat:          resq 1
v_marks:        resq NPHASES + 1      ; TSC at each phase boundary

section .text
org 0xF0000                     ; the image sits at 0xF0000..0xFFFFF

; ===================================================================== 16-bit
bits 16
align 8
gdt:
        dq      0
        dq      0x00CF9B000000FFFF      ; 0x08: 32-bit code, flat, accessed
        dq      0x00CF93000000FFFF      ; 0x10: data, flat, accessed
        dq      0x00AF9B000000FFFF      ; 0x18: 64-bit code (L=1), accessed
gdt_end:
gdtr:
        dw      gdt_end - gdt - 1
        dd      gdt

start16:
        cli
        cld
        in      al, PORT_A20
        or      al, 2                   ; A20 on (buffers above 1 MiB)
        and     al, 0xFE                ; bit 0 would reset the machine
        out     PORT_A20, al
        o32 lgdt [cs:gdtr - $$]        ; CS base is 0xF0000 = $$
        mov     eax, cr0
        or      eax, CR0_PE
        mov     cr0, eax
        jmp     dword SEL_CODE32:pm32


; ===================================================================== 32-bit
bits 32
pm32:
        mov     ax, SEL_DATA
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     fs, ax
        mov     gs, ax
        mov     esp, STACK_TOP

        ; page tables: zero three 4 KiB tables, then link them
        mov     edi, PML4
        xor     eax, eax
        mov     ecx, 3 * 1024
.zero:  mov     [edi], eax
        add     edi, 4
        dec     ecx
        jnz     .zero
        mov     dword [PML4], PDPT | PTE_P_RW
        mov     dword [PDPT], PD | PTE_P_RW
        mov     edi, PD
        mov     eax, PDE_PS | PTE_P_RW
        mov     ecx, MAPPED_2M_PAGES
.pde:   mov     [edi], eax
        add     eax, 0x200000
        add     edi, 8
        dec     ecx
        jnz     .pde

        mov     eax, cr4
        or      eax, CR4_PAE
        mov     cr4, eax
        mov     eax, PML4
        mov     cr3, eax
        mov     ecx, MSR_EFER
        rdmsr
        or      eax, EFER_LME
        wrmsr
        mov     eax, cr0
        or      eax, CR0_PG
        mov     cr0, eax
        jmp     SEL_CODE64:lm64

; ===================================================================== 64-bit
bits 64
lm64:
        mov     rsp, STACK_TOP
        call    serial_init
        mov     rsi, msg_banner
        call    puts

        mark    0
        call    fill_buf
        call    crc_table_init
        mark    1
        call    crc32_table_all
        mov     [v_crc], rax
        mark    2
        call    crc32c_bitwise
        mov     [v_crcc], rax
        mark    3
        call    sort_all
        mark    4
        call    search_all
        mark    5
        call    matmul_all
        mark    6

        mov     rsi, msg_crc
        mov     rax, [v_crc]
        mov     ecx, 8
        call    put_field
        mov     rsi, msg_crcc
        mov     rax, [v_crcc]
        mov     ecx, 8
        call    put_field
        mov     rsi, msg_sort
        mov     rax, [v_sort_hash]
        mov     ecx, 16
        call    put_field
        mov     rsi, msg_unsorted
        mov     rax, [v_sort_bad]
        mov     ecx, 8
        call    put_field
        mov     rsi, msg_srch_cnt
        mov     rax, [v_srch_cnt]
        mov     ecx, 8
        call    put_field
        mov     rsi, msg_srch_pos
        mov     rax, [v_srch_pos]
        mov     ecx, 16
        call    put_field
        mov     rsi, msg_mat
        mov     rax, [v_mat]
        mov     ecx, 16
        call    put_field
        xor     ebx, ebx                ; TSC delta of each phase, then all
.phase: mov     rsi, [phase_names + rbx*8]
        mov     rax, [v_marks + rbx*8 + 8]
        sub     rax, [v_marks + rbx*8]
        mov     ecx, 16
        call    put_field
        inc     ebx
        cmp     ebx, NPHASES
        jb      .phase
        mov     rsi, msg_tsc
        mov     rax, [v_marks + NPHASES*8]
        sub     rax, [v_marks]
        mov     ecx, 16
        call    put_field
        mov     rsi, msg_done
        call    puts

        mov     al, DEBUG_EXIT_VAL
        out     DEBUG_EXIT_PORT, al
.halt:  cli                             ; no debug-exit device: stop here
        hlt
        jmp     .halt

; ------------------------------------------------------------------ serial
serial_init:
        mov     dx, COM1 + 1
        xor     al, al
        out     dx, al                  ; IER: no interrupts
        mov     dx, COM1 + 3
        mov     al, 0x80
        out     dx, al                  ; LCR: DLAB
        mov     dx, COM1
        mov     al, 1
        out     dx, al                  ; DLL: 115200 baud
        mov     dx, COM1 + 1
        xor     al, al
        out     dx, al                  ; DLM
        mov     dx, COM1 + 3
        mov     al, 0x03
        out     dx, al                  ; LCR: 8N1
        mov     dx, COM1 + 2
        mov     al, 0xC7
        out     dx, al                  ; FCR: FIFO on, cleared
        mov     dx, COM1 + 4
        mov     al, 0x03
        out     dx, al                  ; MCR: DTR, RTS
        ret

; al = byte. Bounded wait so a UART that never drains cannot hang us.
putc:
        push    rcx
        push    rdx
        push    rax
        mov     ecx, 1000000
        mov     dx, COM1 + 5
.wait:  in      al, dx
        test    al, UART_LSR_THRE
        jnz     .ready
        dec     ecx
        jnz     .wait
.ready: pop     rax
        mov     dx, COM1
        out     dx, al
        pop     rdx
        pop     rcx
        ret

; rsi = NUL-terminated string
puts:
        lodsb
        test    al, al
        jz      .done
        call    putc
        jmp     puts
.done:  ret

; rax = value, ecx = hex digits (from the low end)
put_hex:
        push    rbx
        mov     rbx, rax
        lea     edx, [rcx*4]
.digit: sub     edx, 4
        mov     rax, rbx
        mov     ecx, edx
        shr     rax, cl
        and     eax, 0x0F
        mov     al, [hex_digits + rax]
        call    putc
        test    edx, edx
        jnz     .digit
        pop     rbx
        ret

; rsi = label, rax = value, ecx = digits; prints "label value\n"
put_field:
        push    rax
        push    rcx
        call    puts
        pop     rcx
        pop     rax
        call    put_hex
        mov     al, 10
        jmp     putc

; ------------------------------------------------------------------ CRC
; BUF <- xorshift64 (13, 7, 17) stream, little-endian qwords
fill_buf:
        mov     rax, SEED_BUF
        mov     rdi, BUF
        mov     ecx, BUF_SIZE / 8
.next:  mov     rdx, rax
        shl     rdx, 13
        xor     rax, rdx
        mov     rdx, rax
        shr     rdx, 7
        xor     rax, rdx
        mov     rdx, rax
        shl     rdx, 17
        xor     rax, rdx
        mov     [rdi], rax
        add     rdi, 8
        dec     ecx
        jnz     .next
        ret

crc_table_init:
        xor     ecx, ecx
.entry: mov     eax, ecx
        mov     edx, 8
.bit:   shr     eax, 1
        jnc     .nopoly
        xor     eax, CRC32_POLY
.nopoly:
        dec     edx
        jnz     .bit
        mov     [CRC_TABLE + rcx*4], eax
        inc     ecx
        cmp     ecx, 256
        jb      .entry
        ret

; eax = running CRC, rsi = data, rcx = length (> 0) -> eax; rsi advanced
crc_block:
.byte:  movzx   edx, byte [rsi]
        xor     dl, al
        shr     eax, 8
        xor     eax, [CRC_TABLE + rdx*4]
        inc     rsi
        dec     rcx
        jnz     .byte
        ret

; CRC-32 of BUF repeated CRC_ROUNDS times -> rax
crc32_table_all:
        push    rbx
        push    r12
        mov     eax, 0xFFFFFFFF
        mov     r12d, CRC_ROUNDS
.round: mov     rsi, BUF
        mov     ebx, BUF_SIZE / CRC_BLOCK
.block: mov     ecx, CRC_BLOCK
        call    crc_block
        dec     ebx
        jnz     .block
        dec     r12d
        jnz     .round
        not     eax
        pop     r12
        pop     rbx
        ret

; CRC-32C of the first CRCC_LEN bytes of BUF, one bit at a time -> rax
crc32c_bitwise:
        mov     eax, 0xFFFFFFFF
        mov     rsi, BUF
        mov     ecx, CRCC_LEN
.byte:  movzx   edx, byte [rsi]
        xor     eax, edx
        mov     edx, 8
.bit:   shr     eax, 1
        jnc     .nopoly
        xor     eax, CRC32C_POLY
.nopoly:
        dec     edx
        jnz     .bit
        inc     rsi
        dec     ecx
        jnz     .byte
        not     eax
        ret

; ------------------------------------------------------------------ sort
; SORT_ROUNDS times: NKEYS keys from the LCG (high 32 bits of the state),
; quicksort, then fold the sorted keys into one FNV-1a hash over all rounds
; and count adjacent pairs out of order.
sort_all:
        push    rbx
        mov     rax, SEED_LCG
        mov     [v_lcg], rax
        mov     rax, FNV_OFFSET
        mov     [v_sort_hash], rax
        mov     qword [v_sort_bad], 0
        mov     ebx, SORT_ROUNDS
.round: call    gen_keys
        mov     rdi, KEYS
        mov     rsi, KEYS + (NKEYS - 1) * 4
        call    qsort_rec
        call    hash_keys
        dec     ebx
        jnz     .round
        pop     rbx
        ret

gen_keys:
        mov     rax, [v_lcg]
        mov     r8, LCG_MUL
        mov     r9, LCG_ADD
        mov     rdi, KEYS
        mov     ecx, NKEYS
.next:  imul    rax, r8
        add     rax, r9
        mov     rdx, rax
        shr     rdx, 32
        mov     [rdi], edx
        add     rdi, 4
        dec     ecx
        jnz     .next
        mov     [v_lcg], rax
        ret

hash_keys:
        mov     rax, [v_sort_hash]
        mov     r8, FNV_PRIME
        mov     r9, [v_sort_bad]
        mov     rsi, KEYS
        mov     ecx, NKEYS
        xor     r10d, r10d              ; previous key
.next:  mov     edx, [rsi]
        cmp     edx, r10d
        jae     .inorder
        inc     r9
.inorder:
        mov     r10d, edx
        xor     rax, rdx
        imul    rax, r8
        add     rsi, 4
        dec     ecx
        jnz     .next
        mov     [v_sort_hash], rax
        mov     [v_sort_bad], r9
        ret

; Quicksort of unsigned dwords [rdi .. rsi] (rsi = last element).
; Median of three, Hoare partition, recursion on the smaller part (depth
; <= log2 n), insertion sort below 17 elements.
qsort_rec:
        push    rbx
        push    r12
        push    r13
.top:   mov     rax, rsi
        sub     rax, rdi
        cmp     rax, 16 * 4
        jb      .small
        shr     rax, 3
        lea     rbx, [rdi + rax*4]      ; middle element
        mov     eax, [rdi]
        mov     ecx, [rbx]
        cmp     eax, ecx
        jbe     .lo_mid_ok
        mov     [rdi], ecx
        mov     [rbx], eax
        mov     ecx, eax
        mov     eax, [rdi]
.lo_mid_ok:                             ; eax = a[lo] <= ecx = a[mid]
        mov     edx, [rsi]
        cmp     ecx, edx
        jbe     .pivot
        mov     [rbx], edx
        mov     [rsi], ecx
        mov     ecx, edx
        cmp     eax, ecx
        jbe     .pivot
        mov     [rdi], ecx
        mov     [rbx], eax
        mov     ecx, eax
.pivot:                                 ; ecx = a[mid], a[lo] <= it <= a[hi]
        mov     r8, rdi
        mov     r9, rsi
.scan_i:
        add     r8, 4
        cmp     [r8], ecx
        jb      .scan_i
.scan_j:
        sub     r9, 4
        cmp     [r9], ecx
        ja      .scan_j
        cmp     r8, r9
        jae     .split
        mov     eax, [r8]
        mov     edx, [r9]
        mov     [r8], edx
        mov     [r9], eax
        jmp     .scan_i
.split:                                 ; [lo .. r9] <= pivot <= [r9+4 .. hi]
        mov     rax, r9
        sub     rax, rdi
        mov     rdx, rsi
        sub     rdx, r9
        cmp     rax, rdx
        jae     .left_bigger
        mov     r12, r9
        mov     r13, rsi
        mov     rsi, r9
        call    qsort_rec
        lea     rdi, [r12 + 4]
        mov     rsi, r13
        jmp     .top
.left_bigger:
        mov     r12, rdi
        mov     r13, r9
        lea     rdi, [r9 + 4]
        call    qsort_rec
        mov     rdi, r12
        mov     rsi, r13
        jmp     .top
.small:
        lea     r8, [rdi + 4]
.ins_next:
        cmp     r8, rsi
        ja      .done
        mov     eax, [r8]
        mov     r9, r8
.ins_shift:
        cmp     r9, rdi
        jbe     .ins_put
        mov     edx, [r9 - 4]
        cmp     edx, eax
        jbe     .ins_put
        mov     [r9], edx
        sub     r9, 4
        jmp     .ins_shift
.ins_put:
        mov     [r9], eax
        add     r8, 4
        jmp     .ins_next
.done:  pop     r13
        pop     r12
        pop     rbx
        ret

; ------------------------------------------------------------------ search
; TEXT <- TEXT_SIZE letters 'a' + (top 2 bits of xorshift32 (13, 17, 5)).
; Naive search for each pattern (overlapping matches): total count and
; the sum of the match positions.
search_all:
        push    rbx
        push    r12
        push    r13
        push    r14
        push    r15
        mov     eax, SEED_TEXT
        mov     rdi, TEXT
        mov     ecx, TEXT_SIZE
.gen:   mov     edx, eax
        shl     edx, 13
        xor     eax, edx
        mov     edx, eax
        shr     edx, 17
        xor     eax, edx
        mov     edx, eax
        shl     edx, 5
        xor     eax, edx
        mov     edx, eax
        shr     edx, 30
        add     dl, 'a'
        mov     [rdi], dl
        inc     rdi
        dec     ecx
        jnz     .gen

        xor     r14d, r14d              ; count
        xor     r15d, r15d              ; position sum
        mov     r12, patterns
.pattern:
        movzx   r13d, byte [r12]        ; length, 0 ends the list
        test    r13d, r13d
        jz      .finish
        inc     r12                     ; r12 = pattern bytes
        mov     rbx, TEXT
.pos:   mov     rax, TEXT + TEXT_SIZE
        sub     rax, r13
        cmp     rbx, rax
        ja      .pattern_done
        mov     al, [rbx]
        cmp     al, [r12]
        jne     .advance
        mov     rdi, rbx
        mov     rsi, r12
        mov     rcx, r13
        call    bytes_equal
        test    eax, eax
        jz      .advance
        inc     r14
        mov     rax, rbx
        sub     rax, TEXT
        add     r15, rax
.advance:
        inc     rbx
        jmp     .pos
.pattern_done:
        add     r12, r13
        jmp     .pattern
.finish:
        mov     [v_srch_cnt], r14
        mov     [v_srch_pos], r15
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbx
        ret

; rdi, rsi = byte strings, rcx = length (> 0) -> eax = 1 if equal
bytes_equal:
.next:  mov     al, [rdi]
        cmp     al, [rsi]
        jne     .differ
        inc     rdi
        inc     rsi
        dec     rcx
        jnz     .next
        mov     eax, 1
        ret
.differ:
        xor     eax, eax
        ret

; ------------------------------------------------------------------ matmul
; A, B: MAT_N x MAT_N signed dwords (low 16 bits of xorshift32 - 32768),
; A then B row-major from one stream. C = A * B with 32-bit wrap-around;
; result: FNV-1a over C's dwords.
matmul_all:
        push    rbx
        mov     eax, SEED_MAT
        mov     rdi, MAT_A
        mov     ecx, MAT_N * MAT_N
        call    fill_matrix
        mov     rdi, MAT_B
        mov     ecx, MAT_N * MAT_N
        call    fill_matrix

        mov     r10, MAT_A              ; row i of A
        mov     rdi, MAT_C
        mov     r11d, MAT_N             ; rows left
.row:   mov     rbx, MAT_B              ; column j of B
        mov     r9d, MAT_N              ; columns left
.col:   mov     rsi, r10
        mov     rdx, rbx
        xor     r8d, r8d
        mov     ecx, MAT_N
.dot:   mov     eax, [rsi]
        imul    eax, [rdx]
        add     r8d, eax
        add     rsi, 4
        add     rdx, MAT_N * 4
        dec     ecx
        jnz     .dot
        mov     [rdi], r8d
        add     rdi, 4
        add     rbx, 4
        dec     r9d
        jnz     .col
        add     r10, MAT_N * 4
        dec     r11d
        jnz     .row

        mov     rax, FNV_OFFSET
        mov     r8, FNV_PRIME
        mov     rsi, MAT_C
        mov     ecx, MAT_N * MAT_N
.hash:  mov     edx, [rsi]
        xor     rax, rdx
        imul    rax, r8
        add     rsi, 4
        dec     ecx
        jnz     .hash
        mov     [v_mat], rax
        pop     rbx
        ret

; eax = xorshift32 state (in/out), rdi = dest, ecx = count
fill_matrix:
.next:  mov     edx, eax
        shl     edx, 13
        xor     eax, edx
        mov     edx, eax
        shr     edx, 17
        xor     eax, edx
        mov     edx, eax
        shl     edx, 5
        xor     eax, edx
        movzx   edx, ax
        sub     edx, 32768
        mov     [rdi], edx
        add     rdi, 4
        dec     ecx
        jnz     .next
        ret

; ------------------------------------------------------------------ data
; length-prefixed patterns, 0 ends the list (cpu_ref.py parses these lines)
patterns:
        db      8, "abcabcad"
        db      8, "dcbaabcd"
        db      7, "aaaaaaa"
        db      10, "bcdbcdbcdb"
        db      5, "cabad"
        db      0

hex_digits:     db "0123456789abcdef"
msg_banner:     db "caixa-bench cpu v", '0' + BENCH_VERSION, 10, 0
msg_crc:        db "crc32 ", 0
msg_crcc:       db "crc32c ", 0
msg_sort:       db "sort ", 0
msg_unsorted:   db "unsorted ", 0
msg_srch_cnt:   db "search-count ", 0
msg_srch_pos:   db "search-pos ", 0
msg_mat:        db "matmul ", 0
msg_tsc:        db "tsc ", 0
align 8
phase_names:    dq ph_fill, ph_crc, ph_crcc, ph_sort, ph_search, ph_mat
ph_fill:        db "tsc-fill ", 0
ph_crc:         db "tsc-crc32 ", 0
ph_crcc:        db "tsc-crc32c ", 0
ph_sort:        db "tsc-sort ", 0
ph_search:      db "tsc-search ", 0
ph_mat:         db "tsc-matmul ", 0
msg_done:       db "done", 10, 0

; ===================================================================== reset
        times 0xFFF0 - ($ - $$) db 0xFF
bits 16
reset_vector:                           ; 0xFFFFFFF0, CS base 0xFFFF0000
        jmp     0xF000:(start16 - $$)
        times 0x10000 - ($ - $$) db 0xFF
