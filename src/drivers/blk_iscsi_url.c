/* The check of an iSCSI URL before libiscsi parses it (blk_iscsi.c):
 * libiscsi's parser copies the URL into a fixed buffer without a
 * terminator when it is too long, dereferences a missing option value and
 * takes any number as the LUN, so what it would misread is refused here
 * with a reason. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "drivers/blk_backend.h"

#define ISCSI_URL_PREFIX "iscsi://"
#define ISCSI_URL_MAX 255           /* libiscsi copies at most MAX_STRING_SIZE bytes of a URL */
#define ISCSI_LUN_MAX 255           /* libiscsi sends the number as is in the LUN field's first two
                                       bytes: SAM-5's peripheral device addressing, bus 0 */
#define ISCSI_PORT_MAX 65535

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool iqn_char(char c)
{
    return c == '.' || c == '-' || c == ':' || c == '_' || (c >= '0' && c <= '9') ||
           ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* A decimal of n digits that is at most max (no sign, no overflow). */
static bool small_number(const char *s, size_t n, unsigned max)
{
    if (!all_digits(s, n) || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v <= max;
}

/* What libiscsi's parser would misread or overrun, checked first:
 * iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET/LUN with HOST a name, an
 * IPv4 address or [IPv6], printable ASCII only, no options (?...). */
const char *blk_iscsi_url_error(const char *url)
{
    size_t len = strlen(url);
    if (strncmp(url, ISCSI_URL_PREFIX, strlen(ISCSI_URL_PREFIX)) != 0)
        return "not an iscsi:// URL";
    if (len > ISCSI_URL_MAX)
        return "the URL is longer than 255 characters";
    for (size_t i = 0; i < len; i++)
        if (url[i] <= ' ' || url[i] >= 0x7f)
            return "the URL has a space or a character that is not printable ASCII";
    if (strchr(url, '?'))
        return "URL options (?...) are not supported";
    const char *auth = url + strlen(ISCSI_URL_PREFIX);
    const char *slash = strchr(auth, '/');
    if (!slash)
        return "no /TARGET-IQN/LUN after the host";
    const char *at = strchr(auth, '@');
    if (at && at > slash)
        return "'@' is only allowed before the host (USER[%PASSWORD]@HOST)";
    const char *host = at ? at + 1 : auth;
    if (at && (at == auth || *auth == '%' || *auth == ':'))
        return "an empty user name before '@'";
    if (host == slash)
        return "no host";
    const char *port = NULL;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(slash - host));
        if (!close || close == host + 1)
            return "an IPv6 host must be written [ADDRESS]";
        for (const char *p = host + 1; p < close; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p))
                return "an IPv6 host must be written [ADDRESS]";
        if (close + 1 != slash) {
            if (close[1] != ':')
                return "expected :PORT after ]";
            port = close + 2;
        }
    } else {
        for (const char *p = host; p < slash; p++)
            if (!(p[0] == ':' || p[0] == '.' || p[0] == '-' || (p[0] >= '0' && p[0] <= '9') ||
                  ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z')))
                return "the host has a character that is not a letter, digit, '.', '-'";
        const char *colon = memchr(host, ':', (size_t)(slash - host));
        if (colon == host)
            return "no host";
        if (colon)
            port = colon + 1;
    }
    if (port && (!small_number(port, (size_t)(slash - port), ISCSI_PORT_MAX) ||
                 small_number(port, (size_t)(slash - port), 0)))
        return "the port must be a number from 1 to 65535";
    const char *target = slash + 1;
    const char *slash2 = strchr(target, '/');
    if (slash2 == target || target[0] == 0)
        return "no TARGET-IQN after the host";
    if (!slash2)
        return "no /LUN after the target name";
    /* iSCSI names (RFC 3720 3.2.6.2): letters, digits, '.', '-', ':' (and
     * '_', which targets accept). libiscsi decodes '%xx' here (%3A for ':'),
     * so what an escape stands for must be one of those too. */
    for (const char *p = target; p < slash2; p++) {
        char c = *p;
        if (c == '%') {
            if (p + 2 >= slash2 || !isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
                return "a '%' in the target name must be followed by two hex digits";
            c = (char)(hexval(p[1]) << 4 | hexval(p[2]));
            p += 2;
        }
        if (!iqn_char(c))
            return "the target name has a character that is not a letter, digit, '.', '-', ':' or '_'";
    }
    const char *lun = slash2 + 1;
    if (!small_number(lun, strlen(lun), ISCSI_LUN_MAX))
        return "the LUN must be a number from 0 to 255";
    return NULL;
}
