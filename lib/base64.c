/* SPDX-License-Identifier: Apache-2.0 */
#include "base64.h"
#include "macro.h"

static int sextet(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *in, size_t len, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = malloc(len / 4 * 3 + 4);
        unsigned group[4];
        size_t n = 0, o = 0, pad = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                int v;

                if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
                        continue;
                if (c == '=') {
                        /* Padding only completes a group of 2 or 3, and ends the input. */
                        if (n < 2 || pad >= 4 - n)
                                return -EINVAL;
                        pad++;
                        continue;
                }
                if (pad > 0 || (v = sextet(c)) < 0)
                        return -EINVAL;
                group[n++] = (unsigned) v;
                if (n == 4) {
                        out[o++] = (char) (group[0] << 2 | group[1] >> 4);
                        out[o++] = (char) ((group[1] & 0xf) << 4 | group[2] >> 2);
                        out[o++] = (char) ((group[2] & 0x3) << 6 | group[3]);
                        n = 0;
                }
        }
        if (n == 1 || (n > 0 && pad != 4 - n) || (n == 0 && pad > 0))
                return -EINVAL;
        if (n >= 2)
                out[o++] = (char) (group[0] << 2 | group[1] >> 4);
        if (n == 3)
                out[o++] = (char) ((group[1] & 0xf) << 4 | group[2] >> 2);
        out[o] = 0;
        *ret = TAKE_PTR(out);
        if (ret_size)
                *ret_size = o;
        return 0;
}

char *base64_encode(const void *in, size_t len) {
        static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *p = in;
        char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned) p[i] << 16 | (i + 1 < len ? (unsigned) p[i + 1] << 8 : 0) |
                             (i + 2 < len ? p[i + 2] : 0);

                *o++ = table[v >> 18 & 63];
                *o++ = table[v >> 12 & 63];
                *o++ = i + 1 < len ? table[v >> 6 & 63] : '=';
                *o++ = i + 2 < len ? table[v & 63] : '=';
        }
        *o = 0;
        return out;
}
