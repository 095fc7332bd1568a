/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* A container's log in the CRI format kubelet reads (`kubectl logs`):
 *
 *   2026-11-23T12:00:00.123456789Z stdout F a whole line
 *   2026-11-23T12:00:00.123456789Z stderr P the first 16 KiB of a longer line
 *
 * one line per line the container wrote, "P" for the parts of a line longer than the
 * buffer and "F" for its end. When the file would grow past max_size it is renamed to
 * PATH.<YYYYMMDD-HHMMSS> (kubelet's rotated name) and a new one opened; of the rotated
 * files the newest max_files - 1 are kept. */

#define CRI_LOG_LINE_MAX (16u * 1024)
#define CRI_LOG_MAX_SIZE_DEFAULT (UINT64_C(10) << 20)
#define CRI_LOG_MAX_FILES_DEFAULT 5u

typedef enum CriStream { CRI_STDOUT, CRI_STDERR, _CRI_STREAM_MAX } CriStream;

typedef struct CriLog CriLog;

int cri_log_open(const char *path, uint64_t max_size, unsigned max_files, CriLog **ret);
/* What a stream delivered: complete lines are written at once, the rest waits for its
 * newline (or is written as "P" once CRI_LOG_LINE_MAX bytes are pending). */
int cri_log_write(CriLog *log, CriStream stream, const char *data, size_t size);
/* The stream ended: a pending unterminated line is written as a "P" part, as containerd
 * does (it ends without a newline). */
int cri_log_flush(CriLog *log, CriStream stream);
void cri_log_close(CriLog *log);

/* CRI lines to what kubectl shows: the messages, P parts joined, with their time when
 * asked. */
void cri_log_to_text(const char *content, bool timestamps, FILE *out);
/* The first line of content written at or after cutoff (an RFC3339Nano time as the log
 * writes them: the lines are in time order), the end of content when none is. */
const char *cri_log_since(const char *content, const char *cutoff);

static inline void cri_log_closep(CriLog **log) {
        if (*log)
                cri_log_close(*log);
}
