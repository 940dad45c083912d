/* Motorola MC146818 real-time clock with 128 bytes of CMOS RAM at 0x70/0x71,
 * IRQ 8. The clock starts at the host's time and advances with the virtual
 * clock; flags are computed lazily on access and a timer runs only while an
 * enabled interrupt could raise the (so far low) IRQ line.
 * References: Motorola MC146818A datasheet, Dallas DS12887 datasheet
 * (registers A-D, update cycle), IBM PC/AT technical reference (CMOS map),
 * SeaBIOS's CMOS usage for the memory-size bytes. */
#include <stdbool.h>
#include <stdint.h>

#include "runtime/util.h"
#include "vmm/device.h"

#define RTC_BASE 0x70
#define RTC_IRQ 8
#define RTC_INDEX_MASK 0x7F
#define RTC_NMI_DISABLE 0x80
#define NS_PER_SEC 1000000000ull
#define RTC_HZ 32768u               /* time base crystal */

/* Clock and control registers (DS12887 "Address map"). */
enum {
    REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03,
    REG_HOUR = 0x04, REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C,
    REG_D = 0x0D,
};
#define A_UIP 0x80
#define A_DV_MASK 0x70
#define A_DV_32K 0x20               /* DV2-0 = 010: 32.768 kHz, running */
#define A_RS_MASK 0x0F
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_SQWE 0x08
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define D_VRT 0x80
#define HOUR_PM 0x80
#define ALARM_DONT_CARE 0xC0        /* 11xxxxxx matches any value */
/* UIP is set this long before the update (DS12887 tBUC). */
#define RTC_UIP_NS 244000u
/* After DV leaves reset the first update comes 500 ms later. */
#define RTC_DV_START_NS 500000000ull

/* CMOS RAM map (IBM PC/AT, SeaBIOS hw/rtc.h). */
#define CMOS_SHUTDOWN 0x0F
#define CMOS_FLOPPY 0x10
#define CMOS_DISK 0x12
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASEMEM_LO 0x15
#define CMOS_EXTMEM_LO 0x17
#define CMOS_CKSUM_FIRST 0x10
#define CMOS_CKSUM_LAST 0x2D
#define CMOS_CKSUM_HI 0x2E
#define CMOS_EXTMEM2_LO 0x30
#define CMOS_CENTURY 0x32
#define CMOS_EXTMEM16_LO 0x34
#define CMOS_BOOT_3RD 0x38          /* high nibble: third boot device */
#define CMOS_BOOT_12 0x3D           /* low nibble first, high nibble second */
#define CMOS_HIGHMEM_LO 0x5B        /* 3 bytes: RAM above 4 GiB / 64 KiB */
#define CMOS_SMP_COUNT 0x5F
#define EQUIP_FPU 0x02
#define BASEMEM_KIB 640u
#define ONE_MIB 0x100000ull
#define SIXTEEN_MIB 0x1000000ull

struct rtc_time {
    int64_t year;                   /* full year, century included */
    int mon, mday, wday, hour, min, sec;
};

struct rtc {
    device *dev;
    struct timer *timer;
    uint8_t cmos[128];
    uint8_t index, reg_a, reg_b, reg_c;
    bool nmi_disabled;
    struct rtc_time t;
    uint64_t anchor;                /* vm ns at which the current second began */
    uint64_t pf_seen;               /* last periodic period index accounted for */
    int irq;
};

/* --- calendar ----------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (March-based years). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    if (m <= 2)
        y -= 1;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t days, struct rtc_time *t)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    t->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    t->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    t->year = yoe + era * 400 + (t->mon <= 2);
    /* 1970-01-01 was a Thursday; the register counts 1 = Sunday. */
    t->wday = (int)(days + 4 - floor_div(days + 4, 7) * 7) + 1;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m < 1 || m > 12)
        return 31;
    return m == 2 && leap(y) ? 29 : dim[m - 1];
}

/* The divider chain's carries (DS12887 "Update cycle"), n seconds at once. */
static void rtc_advance(struct rtc_time *t, uint64_t n)
{
    uint64_t sod = (uint64_t)t->sec + (uint64_t)t->min * 60 + (uint64_t)t->hour * 3600 + n;
    uint64_t days = sod / 86400;
    sod %= 86400;
    t->sec = (int)(sod % 60);
    t->min = (int)(sod / 60 % 60);
    t->hour = (int)(sod / 3600);
    if (!days)
        return;
    t->wday = (int)(((uint64_t)((t->wday + 6) % 7) + days % 7) % 7) + 1;
    if (days <= 62) {
        while (days--) {
            if (++t->mday > days_in_month(t->year, t->mon)) {
                t->mday = 1;
                if (++t->mon > 12) {
                    t->mon = 1;
                    t->year++;
                }
            }
        }
        return;
    }
    if (t->mon < 1 || t->mon > 12)
        t->mon = 1;
    if (t->mday < 1 || t->mday > days_in_month(t->year, t->mon))
        t->mday = 1;
    int wday = t->wday;
    civil_from_days(days_from_civil(t->year, t->mon, t->mday) + (int64_t)days, t);
    t->wday = wday;   /* the weekday counter is independent of the date */
}

/* --- register encoding --------------------------------------------------- */

static uint8_t rtc_enc(const struct rtc *s, int v)
{
    if (s->reg_b & B_DM_BINARY)
        return (uint8_t)v;
    return (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

static int rtc_dec(const struct rtc *s, uint8_t v)
{
    if (s->reg_b & B_DM_BINARY)
        return v;
    return (v >> 4) * 10 + (v & 15);
}

static uint8_t rtc_enc_hour(const struct rtc *s, int h)
{
    if (s->reg_b & B_24H)
        return rtc_enc(s, h);
    int h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(rtc_enc(s, h12) | (h >= 12 ? HOUR_PM : 0));
}

static int rtc_dec_hour(const struct rtc *s, uint8_t v)
{
    if (s->reg_b & B_24H)
        return rtc_dec(s, v);
    int h = rtc_dec(s, v & (uint8_t)~HOUR_PM) % 12;
    return (v & HOUR_PM) ? h + 12 : h;
}

/* --- time keeping -------------------------------------------------------- */

static bool rtc_running(const struct rtc *s)
{
    return (s->reg_a & A_DV_MASK) == A_DV_32K && !(s->reg_b & B_SET);
}

/* Periodic interrupt rate in 32.768 kHz cycles (DS12887 table 3), or 0. */
static uint32_t rtc_period_cycles(const struct rtc *s)
{
    unsigned rs = s->reg_a & A_RS_MASK;
    if (rs == 0 || (s->reg_a & A_DV_MASK) != A_DV_32K)
        return 0;
    return rs <= 2 ? 1u << (rs + 6) : 1u << (rs - 1);
}

static uint64_t rtc_period_index(uint64_t ns, uint32_t cycles)
{
    return (uint64_t)((unsigned __int128)ns * RTC_HZ / NS_PER_SEC / cycles);
}

static bool rtc_alarm_match(const struct rtc *s, int sod)
{
    const uint8_t want[3] = { s->cmos[REG_SEC_ALARM], s->cmos[REG_MIN_ALARM], s->cmos[REG_HOUR_ALARM] };
    const uint8_t have[3] = { rtc_enc(s, sod % 60), rtc_enc(s, sod / 60 % 60), rtc_enc_hour(s, sod / 3600) };
    for (int i = 0; i < 3; i++)
        if ((want[i] & ALARM_DONT_CARE) != ALARM_DONT_CARE && want[i] != have[i])
            return false;
    return true;
}

static void rtc_update_irq(struct rtc *s)
{
    /* IRQF = PF.PIE + AF.AIE + UF.UIE (DS12887 "Register C"); flag and
     * enable bits share positions in registers B and C. */
    uint8_t flags = s->reg_c & (C_PF | C_AF | C_UF);
    s->reg_c = flags | ((flags & s->reg_b) ? C_IRQF : 0);
    int level = (s->reg_c & C_IRQF) != 0;
    if (level != s->irq) {
        s->irq = level;
        vm_set_irq(s->dev->vm, RTC_IRQ, level);
    }
}

/* Brings the clock and the flags up to the virtual time `now`. */
static void rtc_sync(struct rtc *s, uint64_t now)
{
    if (rtc_running(s) && now >= s->anchor + NS_PER_SEC) {
        uint64_t n = (now - s->anchor) / NS_PER_SEC;
        s->reg_c |= C_UF;
        int sod = s->t.hour * 3600 + s->t.min * 60 + s->t.sec;
        uint64_t check = n < 86400 ? n : 86400;
        for (uint64_t k = 1; k <= check; k++) {
            if (rtc_alarm_match(s, (int)(((uint64_t)sod + k) % 86400))) {
                s->reg_c |= C_AF;
                break;
            }
        }
        rtc_advance(&s->t, n);
        s->anchor += n * NS_PER_SEC;
    }
    uint32_t cycles = rtc_period_cycles(s);
    if (cycles) {
        uint64_t idx = rtc_period_index(now, cycles);
        if (idx > s->pf_seen) {
            s->reg_c |= C_PF;
            s->pf_seen = idx;
        }
    }
    rtc_update_irq(s);
}

static void rtc_schedule(struct rtc *s)
{
    uint64_t next = UINT64_MAX;
    if (!s->irq) {
        uint32_t cycles = rtc_period_cycles(s);
        if (cycles && (s->reg_b & B_PIE)) {
            unsigned __int128 t = (unsigned __int128)(s->pf_seen + 1) * cycles * NS_PER_SEC;
            next = (uint64_t)((t + RTC_HZ - 1) / RTC_HZ);
        }
        if (rtc_running(s) && (s->reg_b & (B_UIE | B_AIE))) {
            uint64_t upd = s->anchor + NS_PER_SEC;
            if (upd < next)
                next = upd;
        }
    }
    if (next == UINT64_MAX)
        vm_timer_del(s->timer);
    else
        vm_timer_mod(s->timer, next);
}

static void rtc_timer_cb(void *opaque)
{
    struct rtc *s = opaque;
    rtc_sync(s, vm_clock_ns(s->dev->vm));
    rtc_schedule(s);
}

/* --- registers ----------------------------------------------------------- */

static uint8_t rtc_read_reg(struct rtc *s, uint8_t idx, uint64_t now)
{
    uint8_t v;
    switch (idx) {
    case REG_SEC: return rtc_enc(s, s->t.sec);
    case REG_MIN: return rtc_enc(s, s->t.min);
    case REG_HOUR: return rtc_enc_hour(s, s->t.hour);
    case REG_WDAY: return rtc_enc(s, s->t.wday);
    case REG_MDAY: return rtc_enc(s, s->t.mday);
    case REG_MON: return rtc_enc(s, s->t.mon);
    case REG_YEAR: return rtc_enc(s, (int)(s->t.year % 100));
    case CMOS_CENTURY: return rtc_enc(s, (int)(s->t.year / 100 % 100));
    case REG_A:
        v = s->reg_a;
        if (rtc_running(s) && now + RTC_UIP_NS >= s->anchor + NS_PER_SEC)
            v |= A_UIP;
        return v;
    case REG_B: return s->reg_b;
    case REG_C:
        v = s->reg_c;
        s->reg_c = 0;   /* read clears all flags (DS12887 "Register C") */
        rtc_update_irq(s);
        return v;
    case REG_D: return D_VRT;
    default: return s->cmos[idx];
    }
}

static void rtc_write_reg(struct rtc *s, uint8_t idx, uint8_t val, uint64_t now)
{
    switch (idx) {
    case REG_SEC: s->t.sec = rtc_dec(s, val); break;
    case REG_MIN: s->t.min = rtc_dec(s, val); break;
    case REG_HOUR: s->t.hour = rtc_dec_hour(s, val); break;
    case REG_WDAY: s->t.wday = rtc_dec(s, val); break;
    case REG_MDAY: s->t.mday = rtc_dec(s, val); break;
    case REG_MON: s->t.mon = rtc_dec(s, val); break;
    case REG_YEAR: s->t.year = s->t.year / 100 * 100 + rtc_dec(s, val); break;
    case CMOS_CENTURY: s->t.year = (int64_t)rtc_dec(s, val) * 100 + s->t.year % 100; break;
    case REG_A: {
        bool was = (s->reg_a & A_DV_MASK) == A_DV_32K;
        s->reg_a = val & (uint8_t)~A_UIP;
        bool is = (s->reg_a & A_DV_MASK) == A_DV_32K;
        if (is && !was)
            s->anchor = now + RTC_DV_START_NS - NS_PER_SEC;
        uint32_t cycles = rtc_period_cycles(s);
        s->pf_seen = cycles ? rtc_period_index(now, cycles) : 0;
        break;
    }
    case REG_B:
        if (val & B_SET)
            val &= (uint8_t)~B_UIE;   /* SET clears UIE (MC146818A "Register B") */
        if ((s->reg_b & B_SET) && !(val & B_SET))
            s->anchor = now;          /* counting resumes with a full second */
        s->reg_b = val;
        break;
    case REG_C:
    case REG_D:
        break;                        /* read-only */
    default:
        s->cmos[idx] = val;
        break;
    }
}

static uint32_t rtc_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct rtc *s = opaque;
    (void)size;
    if (off == 0)
        return 0xFF;   /* the index register is write-only */
    uint64_t now = vm_clock_ns(s->dev->vm);
    rtc_sync(s, now);
    uint8_t v = rtc_read_reg(s, s->index, now);
    rtc_schedule(s);
    return v;
}

static void rtc_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct rtc *s = opaque;
    (void)size;
    if (off == 0) {
        s->index = (uint8_t)val & RTC_INDEX_MASK;
        s->nmi_disabled = (val & RTC_NMI_DISABLE) != 0;
        return;
    }
    uint64_t now = vm_clock_ns(s->dev->vm);
    rtc_sync(s, now);
    rtc_write_reg(s, s->index, (uint8_t)val, now);
    rtc_update_irq(s);
    rtc_schedule(s);
}

static const pio_ops rtc_ops = { rtc_io_read, rtc_io_write };

/* --- CMOS contents the BIOS reads ----------------------------------------- */

static uint8_t boot_code(char c)
{
    switch (c) {
    case 'a': return 1;   /* floppy */
    case 'c': return 2;   /* hard disk */
    case 'd': return 3;   /* CD-ROM */
    case 'n': return 4;   /* network */
    default: return 0;
    }
}

static void rtc_init_cmos(struct rtc *s, uint64_t ram, uint64_t cpus, const char *boot)
{
    uint8_t *c = s->cmos;
    uint64_t below = ram < PCI_HOLE_START ? ram : PCI_HOLE_START;
    uint64_t above = ram - below;
    c[CMOS_SHUTDOWN] = 0;
    c[CMOS_FLOPPY] = 0;
    c[CMOS_DISK] = 0;
    c[CMOS_EQUIPMENT] = EQUIP_FPU;
    put_le(&c[CMOS_BASEMEM_LO], BASEMEM_KIB, 2);
    uint64_t ext = below > ONE_MIB ? (below - ONE_MIB) / 1024 : 0;
    if (ext > 0xFFFF)
        ext = 0xFFFF;
    put_le(&c[CMOS_EXTMEM_LO], (uint32_t)ext, 2);
    put_le(&c[CMOS_EXTMEM2_LO], (uint32_t)ext, 2);
    uint64_t ext16 = below > SIXTEEN_MIB ? (below - SIXTEEN_MIB) / 65536 : 0;
    if (ext16 > 0xFFFF)
        ext16 = 0xFFFF;
    put_le(&c[CMOS_EXTMEM16_LO], (uint32_t)ext16, 2);
    uint64_t high = above / 65536;
    if (high > 0xFFFFFF)
        high = 0xFFFFFF;
    c[CMOS_HIGHMEM_LO] = (uint8_t)high;
    c[CMOS_HIGHMEM_LO + 1] = (uint8_t)(high >> 8);
    c[CMOS_HIGHMEM_LO + 2] = (uint8_t)(high >> 16);
    c[CMOS_SMP_COUNT] = (uint8_t)(cpus ? cpus - 1 : 0);
    uint8_t b[3] = { 0, 0, 0 };
    for (int i = 0; i < 3 && boot[i]; i++)
        b[i] = boot_code(boot[i]);
    c[CMOS_BOOT_12] = (uint8_t)(b[0] | b[1] << 4);
    c[CMOS_BOOT_3RD] = (uint8_t)(b[2] << 4);
    unsigned sum = 0;
    for (unsigned i = CMOS_CKSUM_FIRST; i <= CMOS_CKSUM_LAST; i++)
        sum += c[i];
    c[CMOS_CKSUM_HI] = (uint8_t)(sum >> 8);
    c[CMOS_CKSUM_HI + 1] = (uint8_t)sum;
}

/* RESET pin (DS12887): clears PIE, AIE, UIE, SQWE and the flags; the time,
 * the CMOS RAM and registers A/D are battery backed and keep their values. */
static void rtc_reset(device *dev)
{
    struct rtc *s = dev->state;
    uint64_t now = vm_clock_ns(dev->vm);
    rtc_sync(s, now);
    s->reg_b &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
    s->reg_c = 0;
    s->index = 0;
    rtc_update_irq(s);
    rtc_schedule(s);
}

static int rtc_create(device *dev)
{
    struct rtc *s = dev->state;
    s->dev = dev;
    s->timer = vm_timer_new(dev->vm, rtc_timer_cb, s);
    if (!s->timer) {
        vm_error(dev->vm, "cannot create timer");
        return -1;
    }
    uint64_t ram = cfg_get_u64(dev->cfg, "ram_size", vm_ram_size(dev->vm));
    uint64_t cpus = cfg_get_u64(dev->cfg, "cpus", 1);
    const char *boot = cfg_get_str(dev->cfg, "boot", "cad");
    rtc_init_cmos(s, ram, cpus, boot ? boot : "cad");

    int64_t host = vm_host_time(dev->vm);
    int64_t days = floor_div(host, 86400);
    int64_t sod = host - days * 86400;
    civil_from_days(days, &s->t);
    s->t.hour = (int)(sod / 3600);
    s->t.min = (int)(sod / 60 % 60);
    s->t.sec = (int)(sod % 60);
    s->reg_a = A_DV_32K | 0x06;   /* 1024 Hz periodic rate, as PC BIOSes set */
    s->reg_b = B_24H;
    s->anchor = vm_clock_ns(dev->vm);
    if (vm_register_pio(dev->vm, RTC_BASE, 2, &rtc_ops, s) < 0)
        return -1;
    rtc_reset(dev);
    return 0;
}

static void rtc_destroy(device *dev)
{
    struct rtc *s = dev->state;
    if (s->timer)
        vm_timer_free(s->timer);
    s->timer = NULL;
}

static const device_desc rtc_desc = {
    .name = "rtc",
    .state_size = sizeof(struct rtc),
    .create = rtc_create,
    .reset = rtc_reset,
    .destroy = rtc_destroy,
};
DEVICE_REGISTER(rtc_desc);
