/* Inside of the gdb stub: shared by the files of src/debug only.
 *
 * Threads: the vCPU thread enters gdb_on_debug() (vm_set_debug_handler)
 * whenever cpu_run() returns CPU_EXIT_DEBUG and stays there while gdb has
 * the VM stopped; the stub thread reads the socket and runs gdb's commands.
 * It touches struct cpu only while the vCPU is parked in that handler
 * (gdbstub.lock held, parked true), which orders every access. */
#ifndef CAIXA_DEBUG_GDB_INT_H
#define CAIXA_DEBUG_GDB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpu;
struct vm;

/* Largest packet body accepted and sent (advertised as PacketSize). */
#define GDB_PACKET_SIZE 0x4000
/* Breakpoint slots: struct cpu's breakpoints[]. */
#define GDB_MAX_BREAKPOINTS 16

/* --- gdb_packet.c: framing, acks, hex and binary encodings ---------------- */

/* A reply being built; `full` once something did not fit. */
struct gdb_buf {
    char data[GDB_PACKET_SIZE];
    size_t len;
    bool full;
};

struct gdb_conn {
    int fd;
    bool noack;                      /* after QStartNoAckMode */
    int rx_state;                    /* receive state machine (gdb_packet.c) */
    uint8_t rx_sum, rx_cs;
    bool rx_overflow;
    /* The packet received: body NUL-terminated (X carries binary data). */
    char body[GDB_PACKET_SIZE + 1];
    size_t body_len;
    bool body_overflow;              /* it did not fit: answered with an error */
    struct gdb_buf reply;
    char tx[GDB_PACKET_SIZE + 4];    /* last framed packet, resent on '-' */
    size_t tx_len;
};

enum gdb_event { GDB_EV_NONE, GDB_EV_PACKET, GDB_EV_INTERRUPT };

void gdb_conn_init(struct gdb_conn *c, int fd);
/* One received byte; acks packets unless in no-ack mode. */
enum gdb_event gdb_conn_feed(struct gdb_conn *c, uint8_t byte);
/* Frames c->reply as $data#cs and sends it. Returns 0 or -1. */
int gdb_send_reply(struct gdb_conn *c);
/* Writes raw bytes (acks); -1 on a dead connection. */
int gdb_write_all(int fd, const void *p, size_t len);

void gdb_buf_reset(struct gdb_buf *b);
void gdb_buf_str(struct gdb_buf *b, const char *s);
void gdb_buf_fmt(struct gdb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gdb_buf_hex(struct gdb_buf *b, const void *p, size_t len);
/* Binary data with '#', '$', '}' and '*' escaped as '}' x^0x20. */
void gdb_buf_bin(struct gdb_buf *b, const void *p, size_t len);

/* A hex number at *p (at least one digit); advances *p. */
bool gdb_parse_hex(const char **p, uint64_t *val);
/* 2*len hex digits at s into out; false if any is not a hex digit. */
bool gdb_unhex(const char *s, uint8_t *out, size_t len);
/* Undoes gdb_buf_bin in place; returns the decoded length. */
size_t gdb_unescape(uint8_t *p, size_t len);

/* --- gdb_regs.c: the amd64 register file and its target description ----- */

int gdb_reg_count(void);
/* Size in bytes of register n, 0 if there is none. */
size_t gdb_reg_size(int n);
/* Total size of the 'g' packet's registers. */
size_t gdb_regs_total(void);
/* Reads register n into buf (gdb's byte order: little-endian). */
void gdb_reg_read(struct cpu *cpu, int n, uint8_t *buf);
void gdb_reg_write(struct cpu *cpu, int n, const uint8_t *buf);
/* The target description (qXfer:features:read:target.xml). */
const char *gdb_target_xml(size_t *len);

/* --- gdbstub.c: run control ---------------------------------------------- */

enum gdb_run {
    GDB_STOPPED,   /* gdb sees the VM stopped; vCPU 0 parks in the handler */
    GDB_RUNNING,   /* gdb waits for a stop reply */
    GDB_DETACHED,  /* nobody attached: the handler returns at once */
};

/* What the connection does after a packet. */
enum gdb_after { GDB_SERVE, GDB_END_DETACH, GDB_END_KILL };

struct gdbstub {
    struct vm *vm;
    struct cpu *cpu;                 /* vCPU 0: the one thread gdb sees */
    int listen_fd;
    int wake[2];                     /* pipe: a stop to report, or quit */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;            /* everything below */
    pthread_cond_t cond;             /* run, parked, quit changed */
    enum gdb_run run;
    bool parked;                     /* vCPU 0 waits in the handler */
    bool stop_pending;               /* stop_reply not yet sent to gdb */
    bool interrupt;                  /* this stop was asked for (Ctrl-C) */
    bool quit;                       /* gdbstub_stop: the VM is off */
    bool blocks_single;              /* the CPU's cached blocks end after each insn */
    int exit_status;
    char stop_reply[64];
    uint8_t bp_type[GDB_MAX_BREAKPOINTS]; /* Z type (0 soft, 1 hard) of each slot */

    struct gdb_conn conn;            /* owned by the stub thread */
};

/* Lock held: waits until vCPU 0 is parked with gdb's view stopped. False
 * if that cannot happen (VM off, or gdb thinks it runs). */
bool gdb_cpu_ready(struct gdbstub *g);
/* Lock held, CPU ready: lets vCPU 0 go (optionally from addr) for one
 * instruction (step) or until the next stop. */
void gdb_resume(struct gdbstub *g, bool step, bool has_addr, uint64_t addr);
/* Lock held, CPU ready: clears breakpoints and single step, lets the VM go. */
void gdb_detach(struct gdbstub *g);

/* --- gdb_commands.c: one packet in, one reply out --------------------------- */

/* Lock not held. Handles the packet in g->conn.body, sends its reply. */
enum gdb_after gdb_handle_packet(struct gdbstub *g);

#endif
