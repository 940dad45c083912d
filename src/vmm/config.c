/* CFGM-like configuration tree. cfg_get_* convert between types where the
 * meaning is plain (a "0x3f8" string read as a number, 0/1 as bool) and
 * fall back to the default otherwise. */
#include "vmm/config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/util.h"
#include "vmm/device.h"

struct cfg_key {
    struct cfg_key *next;
    char *name;
    enum config_type type;
    uint64_t u64;
    char *str;
};

struct config {
    char *name;
    struct config *parent, *children, *next;
    struct cfg_key *keys;
};

struct config *config_new(const char *name)
{
    struct config *n = xcalloc(1, sizeof *n);
    n->name = xstrdup(name ? name : "");
    return n;
}

void config_free(struct config *node)
{
    if (!node)
        return;
    struct config *c = node->children;
    while (c) {
        struct config *next = c->next;
        c->parent = NULL;
        config_free(c);
        c = next;
    }
    struct cfg_key *k = node->keys;
    while (k) {
        struct cfg_key *next = k->next;
        free(k->name);
        free(k->str);
        free(k);
        k = next;
    }
    free(node->name);
    free(node);
}

const char *config_name(const struct config *node)
{
    return node->name;
}

struct config *config_find(struct config *node, const char *name)
{
    for (struct config *c = node ? node->children : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

struct config *config_child(struct config *node, const char *name)
{
    struct config *c = config_find(node, name);
    if (c)
        return c;
    c = config_new(name);
    c->parent = node;
    struct config **tail = &node->children;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    return c;
}

struct config *config_first_child(struct config *node)
{
    return node ? node->children : NULL;
}

struct config *config_next(struct config *node)
{
    return node ? node->next : NULL;
}

static struct cfg_key *find_key(struct config *node, const char *key)
{
    for (struct cfg_key *k = node ? node->keys : NULL; k; k = k->next)
        if (strcmp(k->name, key) == 0)
            return k;
    return NULL;
}

static struct cfg_key *set_key(struct config *node, const char *key, enum config_type type)
{
    struct cfg_key *k = find_key(node, key);
    if (!k) {
        k = xcalloc(1, sizeof *k);
        k->name = xstrdup(key);
        struct cfg_key **tail = &node->keys;
        while (*tail)
            tail = &(*tail)->next;
        *tail = k;
    }
    free(k->str);
    k->str = NULL;
    k->type = type;
    k->u64 = 0;
    return k;
}

void config_set_u64(struct config *node, const char *key, uint64_t v)
{
    set_key(node, key, CFG_U64)->u64 = v;
}

void config_set_bool(struct config *node, const char *key, bool v)
{
    set_key(node, key, CFG_BOOL)->u64 = v;
}

void config_set_str(struct config *node, const char *key, const char *v)
{
    set_key(node, key, CFG_STR)->str = xstrdup(v ? v : "");
}

enum config_type config_type_of(struct config *node, const char *key)
{
    struct cfg_key *k = find_key(node, key);
    return k ? k->type : CFG_NONE;
}

uint64_t cfg_get_u64(struct config *cfg, const char *key, uint64_t def)
{
    struct cfg_key *k = find_key(cfg, key);
    if (!k)
        return def;
    uint64_t v;
    switch (k->type) {
    case CFG_U64:
    case CFG_BOOL:
        return k->u64;
    case CFG_STR:
        return parse_u64(k->str, &v) ? v : def;
    case CFG_NONE:
        break;
    }
    return def;
}

bool cfg_get_bool(struct config *cfg, const char *key, bool def)
{
    struct cfg_key *k = find_key(cfg, key);
    if (!k)
        return def;
    switch (k->type) {
    case CFG_U64:
    case CFG_BOOL:
        return k->u64 != 0;
    case CFG_STR:
        if (!strcasecmp(k->str, "true") || !strcasecmp(k->str, "on") || !strcmp(k->str, "1"))
            return true;
        if (!strcasecmp(k->str, "false") || !strcasecmp(k->str, "off") || !strcmp(k->str, "0"))
            return false;
        break;
    case CFG_NONE:
        break;
    }
    return def;
}

const char *cfg_get_str(struct config *cfg, const char *key, const char *def)
{
    struct cfg_key *k = find_key(cfg, key);
    return k && k->type == CFG_STR ? k->str : def;
}
