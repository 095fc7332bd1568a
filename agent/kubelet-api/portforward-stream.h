/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "spdy.h"

/* The headers a port-forward client (client-go's portforward) opens each stream with, as
 * kubelet's portforward/httpstream.go checks them: streamType "error" or "data", port
 * 1-65535 and requestID, which pairs a connection's two streams. */
typedef enum PortForwardStreamType { PORTFORWARD_ERROR, PORTFORWARD_DATA } PortForwardStreamType;

#define PORTFORWARD_REQUEST_ID_MAX 64

typedef struct PortForwardStream {
        PortForwardStreamType type;
        uint16_t port;
        char request_id[PORTFORWARD_REQUEST_ID_MAX];
} PortForwardStream;

/* 0, or -EINVAL with *ret_error (kubelet's words, static) for a stream to refuse. Without
 * a requestID (old clients) the pair is guessed from stream_id as kubelet does: the error
 * stream's id, or the data stream's minus 2. */
int portforward_stream_parse(const SpdyHeaders *h, uint32_t stream_id, PortForwardStream *ret, const char **ret_error);

#define PORTFORWARD_NAME_MAX 256

/* The request's target, /portForward/<namespace>/<pod>[/<uid>][?…], as kubelet routes it:
 * 0 with the parts (uid "" when not given), or -EINVAL (also for a part that is not a
 * lower-case name of letters, digits, '-' and '.', or holds "..": they go into paths). */
int portforward_target_parse(const char *target, char namespace[static PORTFORWARD_NAME_MAX],
                             char pod[static PORTFORWARD_NAME_MAX], char uid[static PORTFORWARD_NAME_MAX]);
