/* Configuration tree (VirtualBox's CFGM): nodes holding typed keys. The VM
 * builds one node per device; the device reads it with cfg_get_* (device.h). */
#ifndef CAIXA_VMM_CONFIG_H
#define CAIXA_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

struct config;

enum config_type { CFG_NONE, CFG_U64, CFG_BOOL, CFG_STR };

struct config *config_new(const char *name);
/* Frees the node, its keys and its whole subtree. */
void config_free(struct config *node);
const char *config_name(const struct config *node);

/* The child called name, created when missing. */
struct config *config_child(struct config *node, const char *name);
/* The child called name, or NULL. */
struct config *config_find(struct config *node, const char *name);
/* Children in the order they were made: first, then next. */
struct config *config_first_child(struct config *node);
struct config *config_next(struct config *node);

/* Setting a key again replaces its value and type. */
void config_set_u64(struct config *node, const char *key, uint64_t v);
void config_set_bool(struct config *node, const char *key, bool v);
void config_set_str(struct config *node, const char *key, const char *v);
enum config_type config_type_of(struct config *node, const char *key);

#endif
