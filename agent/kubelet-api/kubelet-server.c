/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cri-log.h"
#include "fileio.h"
#include "kubelet-exec.h"
#include "kubelet-portforward.h"
#include "kubelet-server.h"
#include "log.h"
#include "macro.h"
#include "pod-paths.h"

#define REQUEST_MAX 8192
#define LOG_READ_MAX (64u << 20)

struct KubeletServer {
        sd_event *event;
        SSL_CTX *tls;
        int fd;
        sd_event_source *listener;
        PodSet *pods;
        char *run_dir, *runtime_path;
};

typedef enum ConnectionState { HANDSHAKE, READING, WRITING } ConnectionState;

typedef struct Connection {
        KubeletServer *server;
        SSL *ssl;
        int fd;
        sd_event_source *source;
        ConnectionState state;
        char request[REQUEST_MAX + 1];
        size_t n_request;
        char *response;
        size_t n_response, written;
        /* follow=true: the log file, how far it was read, whether timestamps are shown,
         * the file whose existence says the container has exited, and the poll timer. */
        char *follow_path, *exit_path;
        off_t follow_offset;
        bool follow_timestamps;
        sd_event_source *follow_timer;
} Connection;

static void connection_free(Connection *c) {
        sd_event_source_disable_unref(c->source);
        sd_event_source_disable_unref(c->follow_timer);
        free(c->follow_path);
        free(c->exit_path);
        if (c->ssl)
                SSL_free(c->ssl);
        safe_close(c->fd);
        free(c->response);
        free(c);
}

/* --- the certificate ---------------------------------------------------------------- */

/* A self-signed serving certificate for the node's name and address, a year long. */
static int make_certificate(SSL_CTX *tls, const char *node_name, const char *node_ip) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        X509_NAME *name;
        X509V3_CTX v3;
        X509_EXTENSION *ext;
        char cn[300], san[400];
        int r = -EIO;

        if (!key || !x)
                goto done;
        snprintf(cn, sizeof(cn), "%s@%ld", node_name, (long) time(NULL));
        snprintf(san, sizeof(san), "DNS:%s%s%s", node_name, node_ip ? ",IP:" : "", node_ip ?: "");
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long) time(NULL));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
        X509_set_pubkey(x, key);
        name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        if (!ext)
                goto done;
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (X509_sign(x, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(tls, x) == 1 &&
            SSL_CTX_use_PrivateKey(tls, key) == 1)
                r = 0;
done:
        X509_free(x);
        EVP_PKEY_free(key);
        return r;
}

/* The certificate (and its chain) and key of the files given, which must match. */
static int load_certificate(SSL_CTX *tls, const char *cert_file, const char *key_file) {
        if (SSL_CTX_use_certificate_chain_file(tls, cert_file) != 1) {
                log_error("kubelet API: the serving certificate %s: %s", cert_file,
                          ERR_reason_error_string(ERR_get_error()) ?: "unreadable");
                return -EINVAL;
        }
        if (SSL_CTX_use_PrivateKey_file(tls, key_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(tls) != 1) {
                log_error("kubelet API: the serving key %s: %s", key_file,
                          ERR_reason_error_string(ERR_get_error()) ?: "unreadable, or not the certificate's");
                return -EINVAL;
        }
        return 0;
}

static int trust_client_ca(SSL_CTX *tls, const char *pem, size_t size) {
        BIO *bio = BIO_new_mem_buf(pem, (int) size);
        X509_STORE *store = SSL_CTX_get_cert_store(tls);
        X509 *cert;
        int n = 0;

        if (!bio)
                return -ENOMEM;
        while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
                if (X509_STORE_add_cert(store, cert) == 1)
                        n++;
                X509_free(cert);
        }
        BIO_free(bio);
        ERR_clear_error();
        SSL_CTX_set_verify(tls, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        return n > 0 ? 0 : -EINVAL;
}

/* The API server (its kubelet client certificate) and cluster admins may read. */
static bool client_allowed(SSL *ssl, char user[static 256]) {
        X509 *peer = SSL_get1_peer_certificate(ssl);
        X509_NAME *name = peer ? X509_get_subject_name(peer) : NULL;
        char org[256] = "";
        bool allowed;

        snprintf(user, 256, "unknown");
        if (!name)
                return false;
        X509_NAME_get_text_by_NID(name, NID_commonName, user, 256);
        X509_NAME_get_text_by_NID(name, NID_organizationName, org, sizeof(org));
        allowed = streq(org, "system:masters") || streq(user, "kube-apiserver-kubelet-client");
        X509_free(peer);
        return allowed;
}

/* --- containerLogs ------------------------------------------------------------------ */

static int respond(Connection *c, int status, const char *reason, const char *body, size_t size) {
        FILE *f = open_memstream(&c->response, &c->n_response);

        if (!f)
                return -ENOMEM;
        fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n", status, reason, size);
        fwrite(body, 1, size, f);
        fclose(f);
        c->state = WRITING;
        return 0;
}

static int respond_text(Connection *c, int status, const char *reason, const char *text) {
        return respond(c, status, reason, text, strlen(text));
}

/* The value of name in a query string, or NULL. */
static char *query_value(const char *query, const char *name) {
        size_t len = strlen(name);

        for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
                if (strncmp(p, name, len) == 0 && p[len] == '=')
                        return strndup(p + len + 1, strcspn(p + len + 1, "&"));
        return NULL;
}

/* sinceSeconds or sinceTime (RFC3339, %-escaped) as a CRI log time, or NULL. */
static char *since_cutoff(const char *query) {
        _cleanup_free_ char *seconds = query_value(query, "sinceSeconds"), *t = query_value(query, "sinceTime");
        char *cutoff = NULL;
        struct tm tm = {};
        time_t at;

        if (seconds)
                at = time(NULL) - strtol(seconds, NULL, 10);
        else if (t) {
                for (char *p; (p = strcasestr(t, "%3A"));) {
                        *p = ':';
                        memmove(p + 1, p + 3, strlen(p + 3) + 1);
                }
                if (!strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
                        return NULL;
                at = timegm(&tm);
        } else
                return NULL;
        gmtime_r(&at, &tm);
        cutoff = malloc(40);
        if (cutoff)
                strftime(cutoff, 40, "%Y-%m-%dT%H:%M:%S.000000000Z", &tm);
        return cutoff;
}

static bool query_true(const char *query, const char *name) {
        _cleanup_free_ char *v = query_value(query, name);
        return v && (streq(v, "true") || streq(v, "1"));
}

static bool has_container(const PodInfo *pod, const char *container) {
        for (char *const *name = pod->containers; *name; name++)
                if (streq(*name, container))
                        return true;
        return false;
}

/* The container's log files, one per run (<restart>.log). */
static int log_files(const PodInfo *pod, const char *container, glob_t *ret) {
        _cleanup_free_ char *pattern = NULL;

        if (!has_container(pod, container))
                return -ENOENT;
        pattern = pod_container_logs_pattern(pod->log_dir, container);
        if (!pattern)
                return -ENOMEM;
        return glob(pattern, 0, NULL, ret) == 0 ? 0 : -ENOENT;
}

static int restart_of(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? atoi(slash + 1) : 0;
}

static int append_chunk(Connection *c, const char *data, size_t size) {
        char head[32], *grown;
        int n = snprintf(head, sizeof(head), "%zx\r\n", size);

        /* What was sent goes; what was not stays in front. */
        if (c->written < c->n_response)
                memmove(c->response, c->response + c->written, c->n_response - c->written);
        c->n_response -= c->written;
        c->written = 0;
        grown = realloc(c->response, c->n_response + (size_t) n + size + 2);
        if (!grown)
                return -ENOMEM;
        c->response = grown;
        memcpy(c->response + c->n_response, head, (size_t) n);
        if (size > 0) /* data may be NULL then */
                memcpy(c->response + c->n_response + n, data, size);
        memcpy(c->response + c->n_response + n + size, "\r\n", 2);
        c->n_response += (size_t) n + size + 2;
        return 0;
}

static int respond_chunked(Connection *c, const char *body, size_t size) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n";

        c->response = strdup(head);
        if (!c->response)
                return -ENOMEM;
        c->n_response = strlen(head);
        c->state = WRITING;
        return size > 0 ? append_chunk(c, body, size) : 0;
}

static int on_follow(sd_event_source *s, uint64_t usec, void *userdata);

/* logs -f: what the file holds now goes first; the rest as the container writes it,
 * until its exit file appears (kubelet ends the stream when the container exits).
 * Only whole lines are sent: *size is cut to the last newline. */
static int follow_setup(Connection *c, const PodInfo *pod, const char *path, const char *container, const char *content,
                        size_t *size, bool timestamps) {
        char *last = memrchr(content, '\n', *size);

        *size = last ? (size_t) (last - content) + 1 : 0;
        c->exit_path = pod_container_exit_file(c->server->run_dir, pod->uid, container, (unsigned) restart_of(path));
        if (!c->exit_path)
                return -ENOMEM;
        c->follow_path = strdup(path);
        c->follow_offset = (off_t) *size;
        c->follow_timestamps = timestamps;
        if (!c->follow_path)
                return -ENOMEM;
        return sd_event_add_time_relative(c->server->event, &c->follow_timer, CLOCK_MONOTONIC, 200 * 1000, 0,
                                          on_follow, c);
}

static int on_follow(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        _cleanup_free_ char *data = NULL, *text = NULL;
        _cleanup_close_ int fd = open(c->follow_path, O_RDONLY | O_CLOEXEC);
        bool exited = access(c->exit_path, F_OK) >= 0; /* before reading: no line is missed */
        size_t size = 0, n = 0;
        ssize_t got;
        char *last;
        FILE *f;

        c->follow_timer = sd_event_source_disable_unref(c->follow_timer);
        if (fd >= 0 && (data = malloc(1 << 20)))
                while ((got = pread(fd, data + n, (1 << 20) - 1 - n, c->follow_offset + (off_t) n)) > 0 &&
                       n + (size_t) got < (1 << 20) - 1)
                        n += (size_t) got;
        last = data && n ? memrchr(data, '\n', n) : NULL;
        if (last) {
                *++last = '\0';
                c->follow_offset += last - data;
                f = open_memstream(&text, &size);
                if (f) {
                        cri_log_to_text(data, c->follow_timestamps, f);
                        fclose(f);
                }
                if (size > 0 && append_chunk(c, text, size) < 0)
                        return 0;
        }
        if (exited && !last) {
                /* The end: the last chunk, and no more following. */
                if (append_chunk(c, "", 0) < 0)
                        return 0;
                free(c->follow_path);
                c->follow_path = NULL;
        } else
                (void) sd_event_add_time_relative(c->server->event, &c->follow_timer, CLOCK_MONOTONIC, 200 * 1000, 0,
                                                  on_follow, c);
        if (c->written < c->n_response || !c->follow_path)
                (void) sd_event_source_set_io_events(c->source, EPOLLOUT | EPOLLIN);
        return 0;
}

static int container_logs(Connection *c, const char *path, const char *query) {
        char namespace[256], pod[256], container[256];
        _cleanup_free_ char *content = NULL, *text = NULL, *tail = query_value(query, "tailLines"),
                            *limit = query_value(query, "limitBytes"), *since = since_cutoff(query);
        glob_t files = {};
        PodInfo info;
        size_t size = 0, start = 0, pick, content_size = 0;
        long lines;
        FILE *f;
        int r;

        if (sscanf(path, "/containerLogs/%255[^/]/%255[^/]/%255[^/?]", namespace, pod, container) != 3)
                return respond_text(c, 400, "Bad Request", "expected /containerLogs/<namespace>/<pod>/<container>\n");
        if (pod_set_find(c->server->pods, namespace, pod, NULL, &info) < 0 || log_files(&info, container, &files) < 0) {
                char message[900];
                snprintf(message, sizeof(message), "container \"%s\" in pod \"%s\" (namespace %s) has no logs on this node\n",
                         container, pod, namespace);
                return respond_text(c, 404, "Not Found", message);
        }
        /* glob sorts by name: 10.log before 2.log, so pick by number. */
        pick = 0;
        for (size_t i = 1; i < files.gl_pathc; i++)
                if (restart_of(files.gl_pathv[i]) > restart_of(files.gl_pathv[pick]))
                        pick = i;
        if (query_true(query, "previous")) {
                int want = restart_of(files.gl_pathv[pick]) - 1;
                bool found = false;
                for (size_t i = 0; i < files.gl_pathc; i++)
                        if (restart_of(files.gl_pathv[i]) == want) {
                                pick = i;
                                found = true;
                        }
                if (!found) {
                        globfree(&files);
                        return respond_text(c, 400, "Bad Request", "previous terminated container not found\n");
                }
        }
        r = read_full_file(files.gl_pathv[pick], LOG_READ_MAX, &content, &content_size);
        if (r >= 0 && query_true(query, "follow") && !query_true(query, "previous"))
                r = follow_setup(c, &info, files.gl_pathv[pick], container, content, &content_size,
                                 query_true(query, "timestamps"));
        globfree(&files);
        if (r < 0)
                return respond_text(c, 500, "Internal Server Error", "cannot read the log\n");
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        if (c->follow_path)
                content[content_size] = '\0';
        cri_log_to_text(since ? cri_log_since(content, since) : content, query_true(query, "timestamps"), f);
        fclose(f);
        if (tail && (lines = strtol(tail, NULL, 10)) >= 0) {
                start = size;
                for (long n = 0; start > 0; start--)
                        if (text[start - 1] == '\n' && start != size && ++n == lines)
                                break;
        }
        if (limit && strtoull(limit, NULL, 10) < size - start)
                size = start + strtoull(limit, NULL, 10);
        if (c->follow_path)
                return respond_chunked(c, text + start, size - start);
        return respond(c, 200, "OK", text + start, size - start);
}

/* exec, port-forward: a request their prepare refused (r > 0: that status and message;
 * r < 0: failed) is answered here. */
static int upgrade_refused(Connection *c, int r, const char *message, const char *what) {
        if (r < 0) {
                log_warning_errno(r, "kubelet API: cannot start %s: %m", what);
                return respond_text(c, 500, "Internal Server Error", "cannot start the session\n");
        }
        return respond_text(c, r, r == 404 ? "Not Found" : r == 403 ? "Forbidden" : "Bad Request", message);
}

/* The connection passes to a session: its TLS and socket, and what was read after the
 * request's head (valid until c is freed, after the session copied it). */
static void hand_over(Connection *c, SSL **ret_ssl, int *ret_fd, const char **ret_leftover, size_t *ret_n) {
        const char *head_end = strstr(c->request, "\r\n\r\n") + 4;

        c->source = sd_event_source_disable_unref(c->source);
        *ret_ssl = TAKE_PTR(c->ssl);
        *ret_fd = TAKE_FD(c->fd);
        *ret_leftover = head_end;
        *ret_n = c->n_request - (size_t) (head_end - c->request);
}

/* exec: the connection becomes the session's (1), or is answered with an error. */
static int exec_upgrade(Connection *c) {
        KubeletServer *s = c->server;
        KubeletExecConfig config = {
                .event = s->event, .pods = s->pods, .run_dir = s->run_dir, .runtime_path = s->runtime_path,
        };
        _cleanup_free_ char *message = NULL;
        ExecSession *session;
        const char *leftover;
        SSL *ssl;
        size_t n;
        int fd, r = kubelet_exec_prepare(&config, c->request, &session, &message);

        if (r != 0)
                return upgrade_refused(c, r, message, "exec");
        hand_over(c, &ssl, &fd, &leftover, &n);
        (void) kubelet_exec_start(session, ssl, fd, c->request, leftover, n);
        return 1;
}

/* port-forward: likewise. */
static int portforward_upgrade(Connection *c) {
        KubeletServer *s = c->server;
        KubeletPortForwardConfig config = { .event = s->event, .pods = s->pods };
        _cleanup_free_ char *message = NULL;
        PortForwardSession *session;
        const char *leftover;
        SSL *ssl;
        size_t n;
        int fd, r = kubelet_portforward_prepare(&config, c->request, &session, &message);

        if (r != 0)
                return upgrade_refused(c, r, message, "port-forward");
        hand_over(c, &ssl, &fd, &leftover, &n);
        (void) kubelet_portforward_start(session, ssl, fd, leftover, n);
        return 1;
}

static int handle(Connection *c) {
        char method[16], target[4096], user[256];
        const char *query;

        if (sscanf(c->request, "%15s %4095s", method, target) != 2)
                return respond_text(c, 400, "Bad Request", "malformed request\n");
        if (!client_allowed(c->ssl, user)) {
                char message[512];
                snprintf(message, sizeof(message), "Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy)\n", user);
                return respond_text(c, 403, "Forbidden", message);
        }
        query = strchr(target, '?');
        query = query ? query + 1 : "";
        /* exec: POST for SPDY, GET (or POST) for a WebSocket. */
        if ((streq(method, "POST") || streq(method, "GET")) && strncmp(target, "/exec/", 6) == 0)
                return exec_upgrade(c);
        if ((streq(method, "POST") || streq(method, "GET")) && strncmp(target, "/portForward/", 13) == 0)
                return portforward_upgrade(c);
        if (!streq(method, "GET"))
                return respond_text(c, 405, "Method Not Allowed", "only GET\n");
        if (strncmp(target, "/healthz", 8) == 0)
                return respond_text(c, 200, "OK", "ok");
        if (strncmp(target, "/containerLogs/", 15) == 0)
                return container_logs(c, target, query);
        return respond_text(c, 404, "Not Found", "404 page not found\n");
}

/* --- connections -------------------------------------------------------------------- */

static int wait_for(Connection *c, int ssl_result) {
        int error = SSL_get_error(c->ssl, ssl_result);

        ERR_clear_error();
        if (error == SSL_ERROR_WANT_READ)
                return sd_event_source_set_io_events(c->source, EPOLLIN) < 0 ? -EIO : 0;
        if (error == SSL_ERROR_WANT_WRITE)
                return sd_event_source_set_io_events(c->source, EPOLLOUT) < 0 ? -EIO : 0;
        return -ECONNRESET;
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        int r = 0;

        for (;;) {
                if (c->state == HANDSHAKE) {
                        r = SSL_accept(c->ssl);
                        if (r != 1) {
                                r = wait_for(c, r);
                                break;
                        }
                        c->state = READING;
                } else if (c->state == READING) {
                        r = SSL_read(c->ssl, c->request + c->n_request, (int) (REQUEST_MAX - c->n_request));
                        if (r <= 0) {
                                r = wait_for(c, r);
                                break;
                        }
                        c->n_request += (size_t) r;
                        c->request[c->n_request] = '\0';
                        if (strstr(c->request, "\r\n\r\n"))
                                r = handle(c);
                        if (r == 1) { /* handed on: exec, port-forward */
                                connection_free(c);
                                return 0;
                        }
                        else if (c->n_request == REQUEST_MAX)
                                r = respond_text(c, 431, "Request Header Fields Too Large", "");
                        if (r < 0)
                                break;
                } else {
                        if (c->written == c->n_response && c->follow_path) {
                                /* Following: wait for more, and notice the client leaving. */
                                char ignored[256];
                                r = SSL_read(c->ssl, ignored, sizeof(ignored));
                                if (r > 0)
                                        continue;
                                r = wait_for(c, r);
                                break;
                        }
                        if (c->written == c->n_response) {
                                r = -ECONNRESET; /* done: close */
                                break;
                        }
                        r = SSL_write(c->ssl, c->response + c->written, (int) (c->n_response - c->written));
                        if (r <= 0) {
                                r = wait_for(c, r);
                                break;
                        }
                        c->written += (size_t) r;
                }
        }
        if (r < 0) {
                if (c->state == WRITING && c->written == c->n_response)
                        (void) SSL_shutdown(c->ssl);
                connection_free(c);
        }
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KubeletServer *server = userdata;
        Connection *c;
        int client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (client < 0)
                return 0;
        c = calloc(1, sizeof(Connection));
        if (!c) {
                close(client);
                return 0;
        }
        c->server = server;
        c->fd = client;
        c->ssl = SSL_new(server->tls);
        if (!c->ssl || SSL_set_fd(c->ssl, client) != 1 ||
            sd_event_add_io(server->event, &c->source, client, EPOLLIN, on_connection, c) < 0) {
                connection_free(c);
                return 0;
        }
        return 0;
}

int kubelet_server_new(sd_event *event, const KubeletServerConfig *config, KubeletServer **ret) {
        _cleanup_(kubelet_server_freep) KubeletServer *s = calloc(1, sizeof(KubeletServer));
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) config->port) };
        int one = 1, r;

        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        s->event = sd_event_ref(event);
        s->pods = config->pods;
        s->run_dir = strdup(config->run_dir);
        s->runtime_path = strdup(config->runtime_path ?: "stevedore-runc");
        s->tls = SSL_CTX_new(TLS_server_method());
        if (!s->run_dir || !s->runtime_path || !s->tls)
                return -ENOMEM;
        SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION);
        if (!!config->tls_cert_file != !!config->tls_private_key_file) {
                log_error("kubelet API: a serving certificate needs both its file and its key's");
                return -EINVAL;
        }
        if (config->tls_cert_file) {
                r = load_certificate(s->tls, config->tls_cert_file, config->tls_private_key_file);
                if (r < 0)
                        return r;
        } else {
                r = make_certificate(s->tls, config->node_name, config->node_ip);
                if (r < 0) {
                        log_error("kubelet API: cannot make a serving certificate");
                        return r;
                }
        }
        r = config->client_ca ? trust_client_ca(s->tls, config->client_ca, config->client_ca_size) : -EINVAL;
        if (r == -EINVAL) {
                log_error("kubelet API: no client CA to verify the API server with");
                return r;
        }
        if (r < 0)
                return log_error_errno(r, "kubelet API: the client CA: %m");
        if (config->address && inet_pton(AF_INET, config->address, &addr.sin_addr) != 1)
                return -EINVAL;
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(s->fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(s->fd, 64) < 0)
                return log_error_errno(-errno, "kubelet API: listen on port %u: %m", config->port);
        r = sd_event_add_io(event, &s->listener, s->fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

void kubelet_server_free(KubeletServer *s) {
        sd_event_source_disable_unref(s->listener);
        safe_close(s->fd);
        if (s->tls)
                SSL_CTX_free(s->tls);
        sd_event_unref(s->event);
        free(s->run_dir);
        free(s->runtime_path);
        free(s);
}
