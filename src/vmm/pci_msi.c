/* Message signalled interrupts of PCI functions (PCI Local Bus Spec 3.0,
 * 6.8): the MSI capability (6.8.1) with one message and a 64-bit address,
 * the MSI-X capability (6.8.2) with its table and Pending Bit Array in a
 * memory BAR, and the messages themselves: a DWORD memory write that the
 * local APICs take when it falls in 0xFEExxxxx (SDM Vol. 3A 10.11). */
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"

/* Message address (SDM Vol. 3A 10.11.1, figure 10-24). */
#define MSI_ADDR_BASE_SHIFT 20
#define MSI_ADDR_BASE 0xFEEu            /* bits 31:20: interrupt messages */
#define MSI_ADDR_DEST_SHIFT 12          /* bits 19:12: destination ID */
#define MSI_ADDR_RH 0x8u                /* bit 3: redirection hint */
#define MSI_ADDR_DM 0x4u                /* bit 2: destination mode, 1 = logical */
/* RH only allows the chipset to redirect among the destinations; the
 * lowest-priority delivery mode of the data already does that here, so the
 * destination is read as DM says, whatever RH. */

/* Message data (SDM Vol. 3A 10.11.2, figure 10-25). */
#define MSI_DATA_VECTOR 0xFFu           /* bits 7:0 */
#define MSI_DATA_DM_SHIFT 8             /* bits 10:8: delivery mode */
#define MSI_DATA_LEVEL_ASSERT 0x4000u   /* bit 14: level (for level trigger) */
#define MSI_DATA_TRIGGER_LEVEL 0x8000u  /* bit 15: trigger mode, 1 = level */
#define MSI_DM_RESERVED_3 3             /* 011b and 110b are reserved */
#define MSI_DM_RESERVED_6 6

/* MSI capability (PCI 3.0 6.8.1, figure 6-9: 64-bit address, no masking). */
#define MSI_CTRL 2
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8
#define MSI_DATA 12
#define MSI_CAP_LEN 14
#define MSI_CTRL_ENABLE 0x0001          /* 6.8.1.3 bit 0 */
#define MSI_CTRL_MME 0x0070             /* bits 6:4: Multiple Message Enable */
#define MSI_CTRL_64BIT 0x0080           /* bit 7: 64-bit address capable */
#define MSI_ADDR_LO_WMASK 0xFFFFFFFCu   /* 6.8.1.4: bits 1:0 are zero */

/* MSI-X capability (PCI 3.0 6.8.2, figure 6-10). */
#define MSIX_CTRL 2
#define MSIX_TABLE 4                    /* offset (31:3) | BIR (2:0) */
#define MSIX_PBA 8
#define MSIX_CAP_LEN 12
#define MSIX_CTRL_SIZE 0x07FF           /* 6.8.2.3 bits 10:0: table size - 1 */
#define MSIX_CTRL_FMASK 0x4000          /* bit 14: function mask */
#define MSIX_CTRL_ENABLE 0x8000         /* bit 15: MSI-X enable */
/* Our BAR: the table at 0, the PBA half-way (both QWORD aligned, 6.8.2.4-5). */
#define MSIX_BAR_SIZE 0x1000
#define MSIX_TABLE_OFF 0x000
#define MSIX_PBA_OFF 0x800
/* Table entries (6.8.2.6-9): 16 bytes, four DWORDs. */
#define MSIX_ENTRY_SIZE 16
#define MSIX_E_ADDR_LO 0
#define MSIX_E_ADDR_HI 1
#define MSIX_E_DATA 2
#define MSIX_E_CTRL 3
#define MSIX_VEC_MASKED 0x1u            /* 6.8.2.9 bit 0: mask bit */

/* --- messages ------------------------------------------------------------- */

bool pci_msi_decode(uint64_t addr, uint32_t data, struct apic_msg *m)
{
    if (addr >> 32 || (addr >> MSI_ADDR_BASE_SHIFT) != MSI_ADDR_BASE)
        return false;
    unsigned dm = (data >> MSI_DATA_DM_SHIFT) & 7u;
    if (dm == MSI_DM_RESERVED_3 || dm == MSI_DM_RESERVED_6)
        return false;
    *m = (struct apic_msg){
        .vector = (uint8_t)(data & MSI_DATA_VECTOR),
        .delivery = (uint8_t)dm,
        .logical = (addr & MSI_ADDR_DM) != 0,
        .level = (data & MSI_DATA_TRIGGER_LEVEL) != 0,
        .dest = (uint8_t)(addr >> MSI_ADDR_DEST_SHIFT),
    };
    return true;
}

/* A message is the function's own memory write: it needs bus mastering
 * (PCI 3.0 6.2.2, command bit 2). A level-triggered deassert message has
 * nothing for a local APIC to do. */
void pci_msi_send(pci_function *f, uint64_t addr, uint32_t data)
{
    if (!(get_le(&f->config[PCI_COMMAND], 2) & PCI_CMD_MASTER))
        return;
    struct apic_msg m;
    if (pci_msi_decode(addr, data, &m)) {
        if (!m.level || (data & MSI_DATA_LEVEL_ASSERT))
            vm_apic_send(f->vm, &m);
        return;
    }
    if (addr >> MSI_ADDR_BASE_SHIFT == MSI_ADDR_BASE)
        return;                         /* reserved delivery mode: dropped */
    uint8_t b[4];
    put_le(b, data, 4);
    (void)pci_dma_write(f, addr, b, sizeof b);
}

/* --- MSI ------------------------------------------------------------------- */

uint8_t pci_msi_init(pci_function *f)
{
    uint8_t c = pci_add_capability(f, PCI_CAP_ID_MSI, MSI_CAP_LEN);
    if (!c)
        return 0;
    /* Multiple Message Capable 0: one message. */
    put_le(&f->config[c + MSI_CTRL], MSI_CTRL_64BIT, 2);
    put_le(&f->wmask[c + MSI_CTRL], MSI_CTRL_ENABLE | MSI_CTRL_MME, 2);
    put_le(&f->wmask[c + MSI_ADDR_LO], MSI_ADDR_LO_WMASK, 4);
    put_le(&f->wmask[c + MSI_ADDR_HI], 0xFFFFFFFFu, 4);
    put_le(&f->wmask[c + MSI_DATA], 0xFFFF, 2);
    return c;
}

bool pci_msi_enabled(const pci_function *f, uint8_t cap)
{
    return cap && (get_le(&f->config[cap + MSI_CTRL], 2) & MSI_CTRL_ENABLE);
}

void pci_msi_notify(pci_function *f, uint8_t cap)
{
    if (!pci_msi_enabled(f, cap))
        return;
    const uint8_t *c = &f->config[cap];
    uint64_t addr = get_le(&c[MSI_ADDR_LO], 4) | get_le(&c[MSI_ADDR_HI], 4) << 32;
    pci_msi_send(f, addr, (uint32_t)get_le(&c[MSI_DATA], 2));
}

void pci_msi_reset(pci_function *f, uint8_t cap)
{
    if (!cap)
        return;
    put_le(&f->config[cap + MSI_CTRL], MSI_CTRL_64BIT, 2);
    memset(&f->config[cap + MSI_ADDR_LO], 0, MSI_CAP_LEN - MSI_ADDR_LO);
}

/* --- MSI-X ----------------------------------------------------------------- */

static uint16_t msix_ctrl(const struct pci_msix *m)
{
    return (uint16_t)get_le(&m->f->config[m->cap + MSIX_CTRL], 2);
}

bool pci_msix_enabled(const struct pci_msix *m)
{
    return m->cap && (msix_ctrl(m) & MSIX_CTRL_ENABLE);
}

static bool vec_masked(const struct pci_msix *m, unsigned vec)
{
    return (msix_ctrl(m) & MSIX_CTRL_FMASK) || (m->table[vec][MSIX_E_CTRL] & MSIX_VEC_MASKED);
}

static void vec_send(struct pci_msix *m, unsigned vec)
{
    const uint32_t *e = m->table[vec];
    pci_msi_send(m->f, (uint64_t)e[MSIX_E_ADDR_HI] << 32 | e[MSIX_E_ADDR_LO], e[MSIX_E_DATA]);
}

void pci_msix_notify(struct pci_msix *m, unsigned vec)
{
    if (!pci_msix_enabled(m) || vec >= m->nvec)
        return;
    if (vec_masked(m, vec))
        m->pending |= 1u << vec;
    else
        vec_send(m, vec);
}

/* Pending messages of vectors no longer masked go out (6.8.2.9). */
static void msix_flush(struct pci_msix *m)
{
    if (!pci_msix_enabled(m))
        return;
    for (unsigned v = 0; v < m->nvec; v++) {
        if ((m->pending & (1u << v)) && !vec_masked(m, v)) {
            m->pending &= ~(1u << v);
            vec_send(m, v);
        }
    }
}

void pci_msix_config_written(struct pci_msix *m, uint8_t reg, unsigned size)
{
    if (m->cap && reg < m->cap + MSIX_CTRL + 2 && reg + size > (unsigned)m->cap + MSIX_CTRL)
        msix_flush(m);
}

/* Table and PBA accesses are DWORD or QWORD, aligned (6.8.2); others read
 * 0 and are dropped. */
static uint32_t msix_dword(const struct pci_msix *m, uint64_t off)
{
    if (off < MSIX_TABLE_OFF + (uint64_t)m->nvec * MSIX_ENTRY_SIZE)
        return m->table[off / MSIX_ENTRY_SIZE][off % MSIX_ENTRY_SIZE / 4];
    if (off == MSIX_PBA_OFF)
        return m->pending;
    return 0;
}

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size)
{
    const struct pci_msix *m = opaque;
    if (off % size || (size != 4 && size != 8))
        return 0;
    uint64_t v = msix_dword(m, off);
    if (size == 8)
        v |= (uint64_t)msix_dword(m, off + 4) << 32;
    return v;
}

static void msix_write_dword(struct pci_msix *m, uint64_t off, uint32_t val)
{
    if (off >= MSIX_TABLE_OFF + (uint64_t)m->nvec * MSIX_ENTRY_SIZE)
        return;                         /* the PBA is read-only (6.8.2.10) */
    unsigned vec = (unsigned)(off / MSIX_ENTRY_SIZE), dw = (unsigned)(off % MSIX_ENTRY_SIZE / 4);
    if (dw == MSIX_E_ADDR_LO)
        val &= MSI_ADDR_LO_WMASK;       /* DWORD aligned (6.8.2.6) */
    else if (dw == MSIX_E_CTRL)
        val &= MSIX_VEC_MASKED;         /* the other bits are reserved */
    m->table[vec][dw] = val;
    if (dw == MSIX_E_CTRL)
        msix_flush(m);
}

static void msix_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_msix *m = opaque;
    if (off % size || (size != 4 && size != 8))
        return;
    msix_write_dword(m, off, (uint32_t)val);
    if (size == 8)
        msix_write_dword(m, off + 4, (uint32_t)(val >> 32));
}

static const mmio_ops msix_ops = {msix_read, msix_write};

int pci_msix_init(struct pci_msix *m, pci_function *f, unsigned bar, unsigned nvec)
{
    memset(m, 0, sizeof *m);
    if (nvec < 1 || nvec > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS)
        return -1;
    uint8_t c = pci_add_capability(f, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (!c)
        return -1;
    m->f = f;
    m->cap = c;
    m->nvec = nvec;
    put_le(&f->config[c + MSIX_CTRL], nvec - 1, 2);
    put_le(&f->wmask[c + MSIX_CTRL], MSIX_CTRL_FMASK | MSIX_CTRL_ENABLE, 2);
    put_le(&f->config[c + MSIX_TABLE], MSIX_TABLE_OFF | bar, 4);
    put_le(&f->config[c + MSIX_PBA], MSIX_PBA_OFF | bar, 4);
    pci_function_bar(f, bar, PCI_BAR_MEM32, MSIX_BAR_SIZE, &msix_ops, m);
    pci_msix_reset(m);
    return 0;
}

void pci_msix_reset(struct pci_msix *m)
{
    if (!m->cap)
        return;
    put_le(&m->f->config[m->cap + MSIX_CTRL], m->nvec - 1, 2);
    memset(m->table, 0, sizeof m->table);
    for (unsigned v = 0; v < m->nvec; v++)
        m->table[v][MSIX_E_CTRL] = MSIX_VEC_MASKED;
    m->pending = 0;
}
