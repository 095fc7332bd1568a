/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "portforward-stream.h"

/* strconv.ParseUint(s, 10, 16): digits only, no sign, no overflow. */
static int parse_port(const char *s, uint16_t *ret) {
        unsigned long v = 0;

        if (isempty(s))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (*p - '0');
                if (v > UINT16_MAX)
                        return -ERANGE;
        }
        *ret = (uint16_t) v;
        return 0;
}

int portforward_stream_parse(const SpdyHeaders *h, uint32_t stream_id, PortForwardStream *ret, const char **ret_error) {
        const char *port = spdy_headers_get(h, "port"), *type = spdy_headers_get(h, "streamtype"),
                   *request_id = spdy_headers_get(h, "requestid");
        PortForwardStream s = {};

        if (isempty(port))
                return *ret_error = "\"port\" header is required", -EINVAL;
        if (parse_port(port, &s.port) < 0)
                return *ret_error = "unable to parse the \"port\" header as a port", -EINVAL;
        if (s.port < 1)
                return *ret_error = "port must be > 0", -EINVAL;
        if (isempty(type))
                return *ret_error = "\"streamType\" header is required", -EINVAL;
        if (streq(type, "error"))
                s.type = PORTFORWARD_ERROR;
        else if (streq(type, "data"))
                s.type = PORTFORWARD_DATA;
        else
                return *ret_error = "invalid stream type", -EINVAL;
        if (!isempty(request_id)) {
                if (strlen(request_id) >= sizeof(s.request_id))
                        return *ret_error = "\"requestID\" header is too long", -EINVAL;
                strcpy(s.request_id, request_id);
        } else
                snprintf(s.request_id, sizeof(s.request_id), "%u", s.type == PORTFORWARD_ERROR ? stream_id : stream_id - 2);
        *ret = s;
        return 0;
}

static int take_name(const char **p, const char *end, char name[static PORTFORWARD_NAME_MAX]) {
        size_t n = strcspn(*p, "/?");

        if (*p + n > end)
                n = (size_t) (end - *p);
        if (n == 0 || n >= PORTFORWARD_NAME_MAX ||
            strspn(*p, "abcdefghijklmnopqrstuvwxyz0123456789-.") < n)
                return -EINVAL;
        memcpy(name, *p, n);
        name[n] = '\0';
        *p += n;
        return strstr(name, "..") ? -EINVAL : 0;
}

int portforward_target_parse(const char *target, char namespace[static PORTFORWARD_NAME_MAX],
                             char pod[static PORTFORWARD_NAME_MAX], char uid[static PORTFORWARD_NAME_MAX]) {
        static const char prefix[] = "/portForward/";
        const char *p = target, *end;

        if (strncmp(target, prefix, strlen(prefix)) != 0)
                return -EINVAL;
        p += strlen(prefix);
        end = p + strcspn(p, "?");
        uid[0] = '\0';
        if (take_name(&p, end, namespace) < 0 || *p++ != '/' || take_name(&p, end, pod) < 0)
                return -EINVAL;
        if (p < end && (*p++ != '/' || take_name(&p, end, uid) < 0))
                return -EINVAL;
        return p == end ? 0 : -EINVAL;
}
