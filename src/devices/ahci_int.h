/* Private to the AHCI controller's files (ahci.c, ahci_ata.c,
 * ahci_atapi.c): the register and structure layouts, the HBA and port
 * state, and the helpers they share. */
#ifndef CAIXA_DEVICES_AHCI_INT_H
#define CAIXA_DEVICES_AHCI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/ide.h"
#include "drivers/blockdev.h"
#include "vmm/device.h"

/* --- HBA registers (AHCI 3.1) -------------------------------------------- */
#define HBA_CAP 0x00
#define HBA_GHC 0x04
#define HBA_IS 0x08
#define HBA_PI 0x0C
#define HBA_VS 0x10
#define HBA_CAP2 0x24
#define HBA_BOHC 0x28
#define PORT_BASE 0x100               /* AHCI 3.3: port p at 0x100 + p * 0x80 */
#define PORT_STRIDE 0x80

#define CAP_S64A (1u << 31)           /* 64-bit addressing */
#define CAP_SNCQ (1u << 30)           /* native command queuing */
#define CAP_SCLO (1u << 24)           /* command list override */
#define CAP_ISS_GEN2 (2u << 20)       /* interface speed: 3 Gb/s */
#define CAP_SAM (1u << 18)            /* AHCI mode only */
#define CAP_NCS_SHIFT 8               /* number of command slots - 1 */
#define GHC_AE (1u << 31)             /* AHCI enable (RO 1 with CAP.SAM) */
#define GHC_IE (1u << 1)              /* interrupt enable */
#define GHC_HR (1u << 0)              /* HBA reset */
#define AHCI_VERSION 0x00010300       /* AHCI 1.3 */

/* Port registers (AHCI 3.3), offsets in the port's block. */
#define PX_CLB 0x00
#define PX_CLBU 0x04
#define PX_FB 0x08
#define PX_FBU 0x0C
#define PX_IS 0x10
#define PX_IE 0x14
#define PX_CMD 0x18
#define PX_TFD 0x20
#define PX_SIG 0x24
#define PX_SSTS 0x28
#define PX_SCTL 0x2C
#define PX_SERR 0x30
#define PX_SACT 0x34
#define PX_CI 0x38
#define PX_SNTF 0x3C

/* PxIS / PxIE bits (AHCI 3.3.5). */
#define PXIS_DHRS (1u << 0)           /* D2H register FIS received */
#define PXIS_PSS (1u << 1)            /* PIO setup FIS received */
#define PXIS_SDBS (1u << 3)           /* set device bits FIS received */
#define PXIS_PCS (1u << 6)            /* port connect change (mirrors SERR.DIAG.X) */
#define PXIS_OFS (1u << 24)           /* overflow */
#define PXIS_IFS (1u << 27)           /* interface fatal error */
#define PXIS_HBFS (1u << 29)          /* host bus fatal error */
#define PXIS_TFES (1u << 30)          /* task file error */
#define PXIS_MASK 0xFDC000FFu         /* implemented bits */
#define PXIS_RWC (PXIS_MASK & ~PXIS_PCS) /* PCS clears through SERR.DIAG.X */

/* PxCMD bits (AHCI 3.3.7). */
#define PXCMD_ST (1u << 0)
#define PXCMD_SUD (1u << 1)           /* spin-up: RO 1 without CAP.SSS */
#define PXCMD_POD (1u << 2)           /* power on: RO 1 without CAP.CPD */
#define PXCMD_CLO (1u << 3)
#define PXCMD_FRE (1u << 4)
#define PXCMD_CCS_SHIFT 8
#define PXCMD_FR (1u << 14)
#define PXCMD_CR (1u << 15)
#define PXCMD_ATAPI (1u << 24)        /* device is ATAPI (for activity LEDs) */
#define PXCMD_ICC_MASK (0xFu << 28)
#define PXCMD_WMASK (PXCMD_ST | PXCMD_FRE | PXCMD_ATAPI | PXCMD_ICC_MASK)

#define SSTS_DEV_GEN2_ACTIVE 0x123    /* DET 3 (up), SPD 2 (3 Gb/s), IPM 1 (active) */
#define SCTL_DET_MASK 0xF
#define SCTL_DET_COMRESET 0x1
#define SERR_DIAG_X (1u << 26)        /* exchanged: COMINIT seen */
#define SERR_DIAG_N (1u << 16)        /* PhyRdy change */
#define SIG_ATA 0x00000101            /* AHCI 3.3.9: count 1, LBA 1 */
#define SIG_ATAPI 0xEB140101          /* LBA high EBh, mid 14h */
#define SIG_NONE 0xFFFFFFFFu

/* Command list, command table, received FIS (AHCI 4.2). */
#define CMD_HDR_SIZE 32
#define CLB_ALIGN_MASK 0x3FFull       /* 1 KiB */
#define FB_ALIGN_MASK 0xFFull         /* 256 bytes */
#define CTBA_ALIGN_MASK 0x7Full       /* 128 bytes */
#define HDR_CFL_MASK 0x1F             /* DW0: command FIS length in dwords */
#define HDR_ATAPI (1u << 5)
#define HDR_WRITE (1u << 6)
#define HDR_CLEAR_BUSY (1u << 10)     /* C: clear busy upon R_OK */
#define HDR_PRDTL_SHIFT 16
#define CT_CFIS 0x00
#define CT_ACMD 0x40                  /* ATAPI command, 12 or 16 bytes */
#define CT_PRDT 0x80
#define PRD_SIZE 16
#define PRD_DBC_MASK 0x3FFFFFu        /* byte count - 1, bit 0 set: even */
#define RFIS_PSFIS 0x20
#define RFIS_RFIS 0x40
#define RFIS_SDBFIS 0x58
#define AHCI_SLOTS 32
#define AHCI_MAX_PORTS 6
/* Host memory the controller may hold in bounce buffers at once: beyond
 * it a command that needs one is aborted (a guest's PRDTs of whole
 * sectors, as Linux's, never need one). */
#define BOUNCE_BUDGET (64ull << 20)

/* FIS types and layouts (SATA 10.3). */
#define FIS_H2D 0x27
#define FIS_D2H 0x34
#define FIS_PIO_SETUP 0x5F
#define FIS_SDB 0xA1
#define FIS_H2D_C 0x80                /* byte 1: command register update */
#define FIS_I 0x40                    /* byte 1: interrupt */
#define FIS_PIO_D2H 0x20              /* PIO setup byte 1: data to host */
#define FIS_CTL_SRST 0x04             /* device control: software reset */
#define D2H_FIS_LEN 20
#define PIO_FIS_LEN 20
#define SDB_FIS_LEN 8

/* ATA status and error bits, commands (ATA8-ACS). */
#define ATA_BSY 0x80
#define ATA_DRDY 0x40
#define ATA_DSC 0x10
#define ATA_DRQ 0x08
#define ATA_ERR 0x01
#define ATA_ABRT 0x04
#define ATA_IDNF 0x10
#define ATA_UNC 0x40
#define ATA_STS_OK (ATA_DRDY | ATA_DSC)

enum ata_cmd {
    ATA_NOP = 0x00,
    ATA_READ_SECTORS = 0x20,
    ATA_READ_SECTORS_EXT = 0x24,
    ATA_READ_DMA_EXT = 0x25,
    ATA_READ_NATIVE_MAX_EXT = 0x27,
    ATA_READ_MULTIPLE_EXT = 0x29,
    ATA_READ_LOG_EXT = 0x2F,
    ATA_WRITE_SECTORS = 0x30,
    ATA_WRITE_SECTORS_EXT = 0x34,
    ATA_WRITE_DMA_EXT = 0x35,
    ATA_WRITE_MULTIPLE_EXT = 0x39,
    ATA_READ_VERIFY = 0x40,
    ATA_READ_VERIFY_EXT = 0x42,
    ATA_READ_FPDMA = 0x60,
    ATA_WRITE_FPDMA = 0x61,
    ATA_EXEC_DIAG = 0x90,
    ATA_INIT_PARAMS = 0x91,
    ATA_READ_MULTIPLE = 0xC4,
    ATA_WRITE_MULTIPLE = 0xC5,
    ATA_SET_MULTIPLE = 0xC6,
    ATA_READ_DMA = 0xC8,
    ATA_WRITE_DMA = 0xCA,
    ATA_STANDBY_IMM = 0xE0,
    ATA_IDLE_IMM = 0xE1,
    ATA_STANDBY = 0xE2,
    ATA_IDLE = 0xE3,
    ATA_CHECK_POWER = 0xE5,
    ATA_SLEEP = 0xE6,
    ATA_FLUSH = 0xE7,
    ATA_FLUSH_EXT = 0xEA,
    ATA_IDENTIFY = 0xEC,
    ATA_SET_FEATURES = 0xEF,
    ATA_READ_NATIVE_MAX = 0xF8,
};

/* SET FEATURES subcommands (ATA8-ACS 7.48). */
#define SF_WCACHE_ON 0x02
#define SF_XFER_MODE 0x03
#define SF_LOOKAHEAD_OFF 0x55
#define SF_WCACHE_OFF 0x82
#define SF_LOOKAHEAD_ON 0xAA
#define XFER_UDMA 0x40                /* transfer mode value: UDMA mode in bits 2:0 */
#define XFER_MWDMA 0x20

/* General purpose logs (ATA8-ACS A.1, A.8): the directory and the NCQ
 * command error log, which the guest reads after a queued command fails. */
#define LOG_DIRECTORY 0x00
#define LOG_NCQ_ERROR 0x10
#define LOG_NCQ_NQ 0x80               /* byte 0: the error was not a queued command */

#define MAX_MULTIPLE 16               /* IDENTIFY word 47: sectors per DRQ block */
#define LBA28_MAX 0x0FFFFFFFull
#define LBA48_MAX 0xFFFFFFFFFFFFull

/* A command's kind, from the opcode. */
enum cmd_kind { K_OTHER, K_READ, K_WRITE, K_FLUSH };

struct ahci;
struct ahci_port;

/* A region of the PRDT. */
struct seg {
    uint64_t gpa;
    uint32_t len;
};

/* One command slot's request in flight. */
struct ahci_cmd {
    struct blk_req req;
    struct ahci_port *port;
    unsigned slot;
    uint32_t gen;               /* the port's generation at issue */
    bool ncq, pio;
    enum cmd_kind kind;
    uint64_t bytes;
    struct seg *segs;           /* PRDT regions, trimmed to `bytes` */
    unsigned nsegs;
    struct iovec *iov;
    uint8_t *bounce;            /* NULL: iov points into guest RAM */
};

struct ahci_port {
    struct ahci *hba;
    unsigned index;
    struct blockdev *bd;        /* NULL: no device */
    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
    uint32_t inflight;          /* slots whose request the block device holds */
    uint32_t gen;               /* bumped by resets and ST 1->0: late completions are dropped */
    bool halted;                /* stopped by a fatal or task file error until ST 0->1 */
    bool wcache;                /* write cache enabled (SET FEATURES) */
    uint8_t multiple;           /* SET MULTIPLE MODE */
    uint8_t xfer_mode;          /* SET FEATURES transfer mode */
    /* An ATAPI port: the device model, and the command it runs (one at a
     * time) with its PRDT regions and how far the data has got. */
    bool atapi;
    struct ide_dev ide;
    struct ide_transport tp;
    int atapi_slot;             /* -1: none */
    struct seg *asegs;
    unsigned nasegs;
    uint64_t apos, atotal;
    bool apio_in, aoverflow, apumping;
    struct {                    /* the NCQ command error log's contents */
        bool valid;
        uint8_t tag, status, error;
        uint64_t lba;
    } ncq_err;
    struct ahci_cmd *cmds[AHCI_SLOTS];
};

struct ahci {
    pci_function pci;
    device *dev;
    struct physmem *mem;
    unsigned nports;
    uint32_t ghc, is;
    /* MSI (ahci.c): the capability, whether the interrupt condition (IE
     * and IS) held with MSI on, and each port's PxIS & PxIE at the last
     * update. */
    uint8_t msi_cap;
    bool msi_cond;
    uint32_t msi_seen[AHCI_MAX_PORTS];
    uint64_t bounce_bytes;      /* in bounce buffers now */
    struct ahci_port port[AHCI_MAX_PORTS];
};

/* The H2D register FIS's fields (SATA 10.3.4). */
struct h2d {
    uint8_t command, device, control;
    uint16_t features;
    uint64_t lba;
    uint32_t count;             /* 16 bits of the FIS */
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ahci.c: interrupts, answers, the command list. */
void ahci_port_raise(struct ahci_port *pt, uint32_t is_bits);
bool ahci_post_fis(struct ahci_port *pt, unsigned off, const uint8_t *fis, size_t len);
void ahci_set_tfd(struct ahci_port *pt, uint8_t status, uint8_t error);
void ahci_post_d2h(struct ahci_port *pt, uint8_t status, uint8_t error, bool irq);
void ahci_post_pio_setup(struct ahci_port *pt, uint16_t count, uint8_t status);
void ahci_set_prdbc(struct ahci_port *pt, unsigned slot, uint32_t bytes);
void ahci_port_update_cr(struct ahci_port *pt);
void ahci_port_fatal(struct ahci_port *pt, uint32_t is_bits);
/* lba: a failed command's first sector in error (unused on success). */
void ahci_cmd_finish(struct ahci_port *pt, unsigned slot, bool ncq, uint8_t status, uint8_t error,
                     uint64_t lba);
void ahci_port_issue(struct ahci_port *pt);

/* ahci_ata.c */
void ahci_ata_start(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl, uint32_t dw0,
                    const struct h2d *d);
int64_t ahci_load_prdt(struct ahci_port *pt, uint64_t ctba, unsigned prdtl, uint64_t bytes,
                       struct seg **out, unsigned *nout);
void ahci_cmd_free(struct ahci_cmd *c);

/* ahci_atapi.c */
int ahci_atapi_init(struct ahci_port *pt, char *why, size_t why_len);
void ahci_atapi_free(struct ahci_port *pt);
void ahci_atapi_start(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl, const uint8_t *fis);
void ahci_atapi_forget(struct ahci_port *pt);
void ahci_atapi_signature_fis(struct ahci_port *pt);

#endif
