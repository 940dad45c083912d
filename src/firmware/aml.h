/* An AML encoder (ACPI 6.4 chapter 20, "ACPI Machine Language
 * Specification"): enough of the grammar to write a DSDT as C calls.
 * Objects that carry a PkgLength (scopes, devices, methods, packages) are
 * opened by one call and closed by aml_end(); their length is filled in on
 * close. Resource templates (chapter 6.4) are built apart in struct aml_res
 * and emitted as one Buffer.
 *
 * Errors (a malformed name, too deep nesting, a full resource template) set
 * `failed`; the caller checks aml_ok() once at the end. */
#ifndef CAIXA_FIRMWARE_AML_H
#define CAIXA_FIRMWARE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_NEST 16
#define AML_RES_MAX 512

struct aml {
    uint8_t *buf;
    size_t len, cap;
    size_t open[AML_MAX_NEST];  /* where each open object's PkgLength goes */
    int depth;
    bool failed;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* Everything opened was closed and nothing failed. */
bool aml_ok(const struct aml *a);

/* Named objects. A name is an ASL path: "\\_SB.PCI0", "^CP00", "COM1";
 * a segment shorter than four characters is padded with '_'. */
void aml_scope(struct aml *a, const char *path);                 /* opens */
void aml_device(struct aml *a, const char *name);                /* opens */
void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized); /* opens */
void aml_package(struct aml *a, unsigned nelems);                /* opens */
void aml_end(struct aml *a);
/* Name(name, <the next term>). */
void aml_name(struct aml *a, const char *name);
/* Return(<the next term>). */
void aml_return(struct aml *a);

/* Data terms. */
void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EisaId("PNP0A03"): the compressed 32-bit EISA ID (ACPI 6.4 6.1.5). */
void aml_eisaid(struct aml *a, const char *id);
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);
/* A reference to a named object, as a term. */
void aml_namepath(struct aml *a, const char *path);
/* Name(name, value) in one call, the common case. */
void aml_name_int(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* --- resource templates (ACPI 6.4 6.4) ---------------------------------- */
struct aml_res {
    uint8_t b[AML_RES_MAX];
    size_t len;
    bool failed;
};

/* Address space descriptors' memory attributes (6.4.3.5, memory type-specific flags). */
#define AML_MEM_NONCACHEABLE 0
#define AML_MEM_CACHEABLE 1
#define AML_MEM_WRITE_COMBINING 2
#define AML_MEM_PREFETCHABLE 3

void aml_res_init(struct aml_res *r);
/* IO(Decode16, min, max, align, len): 6.4.2.5. */
void aml_res_io(struct aml_res *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}: 6.4.2.1, ISA edge active-high. */
void aml_res_irq(struct aml_res *r, unsigned irq);
/* Memory32Fixed(rw ? ReadWrite : ReadOnly, base, len): 6.4.3.4. */
void aml_res_mem32_fixed(struct aml_res *r, bool rw, uint32_t base, uint32_t len);
/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...): 6.4.3.5.3. */
void aml_res_word_bus(struct aml_res *r, uint16_t min, uint16_t max);
/* WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...). */
void aml_res_word_io(struct aml_res *r, uint16_t min, uint16_t max);
/* DWordMemory / QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed,
 * attr, ReadWrite, ...): 6.4.3.5.2 / 6.4.3.5.1. */
void aml_res_dword_mem(struct aml_res *r, unsigned attr, uint32_t min, uint32_t max);
void aml_res_qword_mem(struct aml_res *r, unsigned attr, uint64_t min, uint64_t max);
/* Closes the template with an End Tag and emits it as a Buffer term. */
void aml_res_emit(struct aml *a, struct aml_res *r);

#endif
