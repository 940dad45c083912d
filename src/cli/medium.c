/* The media commands, as VBoxManage names them: createmedium,
 * clonemedium, showmediuminfo, modifymedium, checkmedium. They work on
 * image files directly (there is no media registry). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "runtime/errors.h"
#include "runtime/log.h"
#include "runtime/util.h"
#include "storage/image.h"

#define MiB (1ull << 20)
/* Sizes beyond this many MiB (16 PiB) are refused before any arithmetic. */
#define MAX_SIZE_MB (1ull << 34)

static const char medium_usage[] =
    "usage: caixa createmedium [disk] --filename FILE (--size MB | --sizebyte BYTES | --diffparent FILE)\n"
    "                          [--format VDI|VMDK|VHD|qcow2|RAW] [--variant Standard|Fixed]\n"
    "       caixa clonemedium [disk] SOURCE DESTINATION [--format FMT] [--variant Standard|Fixed]\n"
    "       caixa showmediuminfo [disk|dvd] FILE\n"
    "       caixa modifymedium [disk] FILE [--resize MB | --resizebyte BYTES] [--compact]\n"
    "       caixa checkmedium [disk|dvd] FILE\n"
    "\n"
    "Disk image files of any format caixa reads (VDI, VMDK, VHD, qcow2, raw, ISO),\n"
    "detected from their content. New images are never written over an existing file.\n"
    "--format defaults to VDI for createmedium and to the source's format for\n"
    "clonemedium. checkmedium exits with 0 when the image is consistent, 1 when not.\n";

/* "--flag VALUE" or "--flag=VALUE": does argv[*i] name flag? */
static bool is_flag(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static const char *flag_value(const char *cmd, int argc, char **argv, int *i, const char *flag)
{
    const char *arg = argv[*i];
    size_t n = strlen(flag);
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc) {
        log_error("%s needs a value (try 'caixa %s --help')", flag, cmd);
        return NULL;
    }
    return argv[++*i];
}

/* A size flag: MB (mul = MiB) or bytes (mul = 1), a positive multiple of 512. */
static bool parse_size(const char *flag, const char *v, uint64_t mul, uint64_t *out)
{
    uint64_t n;
    if (!parse_u64(v, &n) || n == 0 || n > MAX_SIZE_MB * MiB / mul || (n * mul) % IMAGE_SECTOR) {
        log_error("%s %s: expected a positive size in %s%s", flag, v, mul == 1 ? "bytes" : "MB",
                  mul == 1 ? ", a multiple of 512" : "");
        return false;
    }
    *out = n * mul;
    return true;
}

static bool parse_format(const char *v, const char **out)
{
    if (!image_format_creatable(v)) {
        log_error("--format %s: expected VDI, VMDK, VHD, qcow2 or RAW", v);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_variant(const char *v, enum image_variant *out)
{
    if (strcasecmp(v, "Standard") == 0) {
        *out = IMAGE_VARIANT_STANDARD;
    } else if (strcasecmp(v, "Fixed") == 0) {
        *out = IMAGE_VARIANT_FIXED;
    } else {
        log_error("--variant %s: expected Standard or Fixed", v);
        return false;
    }
    return true;
}

static void uuid_str(char out[37], const uint8_t u[16])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* The name VBoxManage prints for a format. */
static const char *format_label(const char *name)
{
    static const struct { const char *name, *label; } labels[] = {
        {"vdi", "VDI"}, {"vmdk", "VMDK"}, {"vhd", "VHD"}, {"qcow2", "QCOW2"}, {"raw", "RAW"}, {"iso", "ISO"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(labels); i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].label;
    return name;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* VBoxManage's optional medium type word first: disk (dvd where allowed). */
static int skip_type(int argc, char **argv, bool dvd_ok)
{
    if (argc > 1 && (strcmp(argv[1], "disk") == 0 || (dvd_ok && strcmp(argv[1], "dvd") == 0)))
        return 2;
    if (argc > 1 && (strcmp(argv[1], "dvd") == 0 || strcmp(argv[1], "floppy") == 0)) {
        log_error("%s: only disk media can be %s", argv[1], dvd_ok ? "used here" : "created or changed");
        return -1;
    }
    return 1;
}

static int unknown(const char *cmd, const char *arg)
{
    if (arg[0] == '-')
        log_error("%s: unknown option '%s' (try 'caixa %s --help')", cmd, arg, cmd);
    else
        log_error("%s: unexpected argument '%s' (try 'caixa %s --help')", cmd, arg, cmd);
    return CAIXA_EXIT_USAGE;
}

/* Prints what VBoxManage prints after making an image. */
static void print_created(const char *what, const char *path)
{
    struct image *img = image_open(path, IMAGE_OPEN_RDONLY);
    if (!img) {
        printf("%s.\n", what);
        return;
    }
    struct image_info info;
    image_get_info(img, &info);
    if (info.has_uuid) {
        char u[37];
        uuid_str(u, info.uuid);
        printf("%s in format '%s'. UUID: %s\n", what, format_label(info.format), u);
    } else {
        printf("%s in format '%s'.\n", what, format_label(info.format));
    }
    image_close(img);
}

int cmd_createmedium(int argc, char **argv)
{
    const char *cmd = "createmedium";
    if (wants_help(argc, argv)) {
        fputs(medium_usage, stdout);
        return CAIXA_EXIT_OK;
    }
    int i = skip_type(argc, argv, false);
    if (i < 0)
        return CAIXA_EXIT_USAGE;
    const char *filename = NULL;
    struct image_create_opts o = {.format = "vdi", .variant = IMAGE_VARIANT_STANDARD};
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        if (is_flag(a, "--filename")) {
            if (!(filename = flag_value(cmd, argc, argv, &i, "--filename")))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--size") || is_flag(a, "--sizebyte")) {
            bool mb = is_flag(a, "--size");
            const char *f = mb ? "--size" : "--sizebyte";
            if (!(v = flag_value(cmd, argc, argv, &i, f)) || !parse_size(f, v, mb ? MiB : 1, &o.size))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--format")) {
            if (!(v = flag_value(cmd, argc, argv, &i, "--format")) || !parse_format(v, &o.format))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--variant")) {
            if (!(v = flag_value(cmd, argc, argv, &i, "--variant")) || !parse_variant(v, &o.variant))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--diffparent")) {
            if (!(o.parent = flag_value(cmd, argc, argv, &i, "--diffparent")))
                return CAIXA_EXIT_USAGE;
        } else {
            return unknown(cmd, a);
        }
    }
    if (!filename) {
        log_error("%s: --filename is required", cmd);
        return CAIXA_EXIT_USAGE;
    }
    if (!o.parent && !o.size) {
        log_error("%s: --size (or --sizebyte, or --diffparent) is required", cmd);
        return CAIXA_EXIT_USAGE;
    }
    if (o.parent && o.size) {
        log_error("%s: a differencing image takes its parent's size: no --size with --diffparent", cmd);
        return CAIXA_EXIT_USAGE;
    }
    if (image_create(filename, &o) < 0) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    print_created("Medium created", filename);
    return CAIXA_EXIT_OK;
}

int cmd_clonemedium(int argc, char **argv)
{
    const char *cmd = "clonemedium";
    if (wants_help(argc, argv)) {
        fputs(medium_usage, stdout);
        return CAIXA_EXIT_OK;
    }
    int i = skip_type(argc, argv, false);
    if (i < 0)
        return CAIXA_EXIT_USAGE;
    const char *files[2] = {NULL, NULL};
    int nfiles = 0;
    struct image_create_opts o = {.variant = IMAGE_VARIANT_STANDARD};
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        if (is_flag(a, "--format")) {
            if (!(v = flag_value(cmd, argc, argv, &i, "--format")) || !parse_format(v, &o.format))
                return CAIXA_EXIT_USAGE;
        } else if (is_flag(a, "--variant")) {
            if (!(v = flag_value(cmd, argc, argv, &i, "--variant")) || !parse_variant(v, &o.variant))
                return CAIXA_EXIT_USAGE;
        } else if (a[0] == '-' || nfiles == 2) {
            return unknown(cmd, a);
        } else {
            files[nfiles++] = a;
        }
    }
    if (nfiles < 2) {
        log_error("%s: expected SOURCE and DESTINATION files", cmd);
        return CAIXA_EXIT_USAGE;
    }
    struct image *src = image_open(files[0], IMAGE_OPEN_RDONLY);
    if (!src) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    if (!o.format)
        o.format = image_format_creatable(image_format_name(src)) ? image_format_name(src) : "raw";
    int rc = image_clone(src, files[1], &o);
    image_close(src);
    if (rc < 0) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    print_created("Clone medium created", files[1]);
    return CAIXA_EXIT_OK;
}

/* The one FILE argument of showmediuminfo and checkmedium. */
static const char *one_file(const char *cmd, int argc, char **argv)
{
    int i = skip_type(argc, argv, true);
    if (i < 0)
        return NULL;
    if (i >= argc) {
        log_error("%s: expected a FILE", cmd);
        return NULL;
    }
    if (argv[i][0] == '-' || i + 1 < argc) {
        unknown(cmd, argv[argv[i][0] == '-' ? i : i + 1]);
        return NULL;
    }
    return argv[i];
}

static void print_mb(const char *label, uint64_t bytes)
{
    if (bytes % MiB)
        printf("%-16s%llu MBytes (%llu bytes)\n", label, (unsigned long long)(bytes / MiB),
               (unsigned long long)bytes);
    else
        printf("%-16s%llu MBytes\n", label, (unsigned long long)(bytes / MiB));
}

int cmd_showmediuminfo(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(medium_usage, stdout);
        return CAIXA_EXIT_OK;
    }
    const char *file = one_file("showmediuminfo", argc, argv);
    if (!file)
        return CAIXA_EXIT_USAGE;
    struct image *img = image_open(file, IMAGE_OPEN_RDONLY);
    if (!img) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    struct image_info info;
    image_get_info(img, &info);
    char u[37];
    if (info.has_uuid) {
        uuid_str(u, info.uuid);
        printf("%-16s%s\n", "UUID:", u);
    }
    if (info.has_parent_uuid) {
        uuid_str(u, info.parent_uuid);
        printf("%-16s%s\n", "Parent UUID:", u);
    } else if (!info.parent_path) {
        printf("%-16s%s\n", "Parent UUID:", "base");
    }
    printf("%-16s%s\n", "Type:", info.parent_path ? "normal (differencing)" : "normal (base)");
    char real[PATH_MAX];
    printf("%-16s%s\n", "Location:", realpath(file, real) ? real : file);
    if (info.parent_path)
        printf("%-16s%s\n", "Parent:", realpath(info.parent_path, real) ? real : info.parent_path);
    printf("%-16s%s\n", "Storage format:", format_label(info.format));
    printf("%-16s%s%s\n", "Format variant:", info.variant && info.variant[0] ? info.variant : "default",
           info.variant && info.variant[0] ? " default" : "");
    print_mb("Capacity:", info.virtual_size);
    print_mb("Size on disk:", info.file_size);
    image_close(img);
    return CAIXA_EXIT_OK;
}

int cmd_modifymedium(int argc, char **argv)
{
    const char *cmd = "modifymedium";
    if (wants_help(argc, argv)) {
        fputs(medium_usage, stdout);
        return CAIXA_EXIT_OK;
    }
    int i = skip_type(argc, argv, false);
    if (i < 0)
        return CAIXA_EXIT_USAGE;
    const char *file = NULL;
    uint64_t new_size = 0;
    bool compact = false;
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        if (is_flag(a, "--resize") || is_flag(a, "--resizebyte")) {
            bool mb = is_flag(a, "--resize");
            const char *f = mb ? "--resize" : "--resizebyte";
            if (!(v = flag_value(cmd, argc, argv, &i, f)) || !parse_size(f, v, mb ? MiB : 1, &new_size))
                return CAIXA_EXIT_USAGE;
        } else if (strcmp(a, "--compact") == 0) {
            compact = true;
        } else if (a[0] == '-' || file) {
            return unknown(cmd, a);
        } else {
            file = a;
        }
    }
    if (!file) {
        log_error("%s: expected a FILE", cmd);
        return CAIXA_EXIT_USAGE;
    }
    if (!new_size && !compact) {
        log_error("%s: nothing to do (--resize MB, --resizebyte BYTES or --compact)", cmd);
        return CAIXA_EXIT_USAGE;
    }
    struct image *img = image_open(file, 0);
    if (!img) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    int rc = 0;
    if (new_size && new_size != image_size(img))
        rc = image_resize(img, new_size);
    if (rc == 0 && compact)
        rc = image_compact(img);
    if (rc == 0)
        rc = image_flush(img);
    if (rc < 0)
        log_error("%s", image_last_error());
    image_close(img);
    return rc < 0 ? CAIXA_EXIT_USAGE : CAIXA_EXIT_OK;
}

static void print_note(void *opaque, const char *line)
{
    const char *file = opaque;
    printf("%s: %s\n", file, line);
}

int cmd_checkmedium(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(medium_usage, stdout);
        return CAIXA_EXIT_OK;
    }
    const char *file = one_file("checkmedium", argc, argv);
    if (!file)
        return CAIXA_EXIT_USAGE;
    struct image *img = image_open(file, IMAGE_OPEN_RDONLY);
    if (!img) {
        log_error("%s", image_last_error());
        return CAIXA_EXIT_USAGE;
    }
    int status = CAIXA_EXIT_OK;
    for (struct image *p = img; p; p = image_parent(p)) {
        int n = image_check(p, print_note, (void *)image_path(p));
        if (n < 0) {
            log_error("%s", image_last_error());
            status = CAIXA_EXIT_USAGE;
        } else if (n > 0) {
            printf("%s: %d problem%s found (format %s)\n", image_path(p), n, n == 1 ? "" : "s",
                   format_label(image_format_name(p)));
            if (status == CAIXA_EXIT_OK)
                status = CAIXA_EXIT_FAILURE;
        } else {
            printf("%s: consistent (format %s)\n", image_path(p), format_label(image_format_name(p)));
        }
    }
    image_close(img);
    return status;
}
