"""`stevedore image pull` against Debian's docker-registry on loopback: plain HTTP, with
htpasswd basic auth, with TLS from a CA made here, a manifest list with two platforms,
and through a small proxy made here that asks for Bearer tokens, corrupts a blob or cuts
a transfer in the middle."""

import base64
import hashlib
import http.client
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from cluster import free_port
from conftest import Registry
from hoststate import infrastructure_pids, run
from imagestore import Store
from oci import layout_manifest


@pytest.fixture
def store(stevedore_bin, root_dir):
    return Store(stevedore_bin, root_dir / "images")


@pytest.fixture(scope="module")
def kubia_ref(registry, images):
    return registry.push(images["kubia"], "kubia")


def kubia_config(images):
    return layout_manifest(images["kubia"])[1]["config"]["digest"]


# --- a registry of our own configuration ------------------------------------------------

class CustomRegistry(Registry):
    """docker-registry with extra config (auth, TLS) appended to the fixture's."""

    def __init__(self, workdir, extra, scheme="http"):
        super().__init__(workdir)
        self.extra, self.scheme = extra, scheme

    def start(self):
        config = self.dir / "config.yml"
        config.write_text(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {self.dir / 'data'}
{self.extra}
http:
  addr: {self.host}
""" + ("""  tls:
    certificate: {0}/server.pem
    key: {0}/server.key
""".format(self.dir) if self.scheme == "https" else ""))
        log = open(self.dir / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        infrastructure_pids.add(self.proc.pid)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "registry.log").read_text()
            r = run("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                    f"{self.scheme}://{self.host}/v2/", check=False)
            if r.stdout in ("200", "401"):
                return self
            time.sleep(0.1)
        raise TimeoutError("docker-registry did not answer")


@pytest.fixture(scope="module")
def auth_registry(session_dir, images):
    d = session_dir / "registry-auth"
    d.mkdir()
    (d / "htpasswd").write_text(run("htpasswd", "-Bbn", "alice", "s3cret").stdout)
    r = CustomRegistry(d, f"""auth:
  htpasswd:
    realm: stevedore-test
    path: {d / 'htpasswd'}""").start()
    run("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret",
        f"oci:{images['kubia']}:latest", f"docker://{r.host}/kubia:latest")
    yield r
    r.stop()


@pytest.fixture(scope="module")
def tls_registry(session_dir, images):
    d = session_dir / "registry-tls"
    d.mkdir()
    ossl = lambda *a: run("openssl", *a, cwd=d)  # noqa: E731
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=stevedore test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    r = CustomRegistry(d, "", scheme="https").start()
    run("skopeo", "copy", "--quiet", "--dest-tls-verify=false",
        f"oci:{images['kubia']}:latest", f"docker://{r.host}/kubia:latest")
    yield r
    r.stop()


# --- a proxy that misbehaves on purpose -------------------------------------------------

class Proxy:
    """Forwards to a registry; mode "bearer" demands a token from its own /token,
    "corrupt" flips a byte of every layer blob, "cut" sends half of a blob's first
    response and closes the connection."""

    def __init__(self, upstream, mode):
        self.upstream, self.mode = upstream, mode
        self.token_requests, self.ranges, self.cut = [], [], set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h):
        if self.mode == "bearer":
            if h.path.startswith("/token"):
                self.token_requests.append(h.path)
                return self.reply(h, 200, {"Content-Type": "application/json"},
                                  json.dumps({"token": "tok-123"}).encode())
            if h.headers.get("Authorization") != "Bearer tok-123":
                return self.reply(h, 401, {"WWW-Authenticate":
                                           f'Bearer realm="http://{self.host}/token",'
                                           f'service="test-registry",scope="repository:kubia:pull"'},
                                  b'{"errors":[{"code":"UNAUTHORIZED"}]}')
        upstream = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "range")}
        if "Range" in h.headers:
            self.ranges.append(h.headers["Range"])
        upstream.request("GET", h.path, headers=headers)
        resp = upstream.getresponse()
        body = resp.read()
        out = {k: v for k, v in resp.getheaders()
               if k.lower() in ("content-type", "docker-content-digest", "content-range", "location")}
        is_layer = "/blobs/" in h.path and len(body) > 10000
        if self.mode == "corrupt" and is_layer:
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        if self.mode == "cut" and is_layer and h.path not in self.cut:
            self.cut.add(h.path)
            h.send_response(resp.status)
            for k, v in out.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        self.reply(h, resp.status, out, body)

    @staticmethod
    def reply(h, status, headers, body):
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


@pytest.fixture
def proxy(registry):
    made = []

    def make(mode):
        p = Proxy(registry.host, mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


# --- tests ----------------------------------------------------------------------------

def test_pull_plain(store, kubia_ref, images, tmp_path):
    r = store.pull(kubia_ref)
    assert r.stdout.split() == [kubia_ref]
    assert "3 blobs to fetch" in r.stderr           # config + 2 layers, one line each
    assert store.ids() == {kubia_config(images)}
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    store.run("mount", kubia_ref, "c1", rootfs)
    try:
        assert (rootfs / "app" / "kubia").is_file()
    finally:
        store.run("unmount", "c1", rootfs)
    # again: nothing to download
    r = store.pull(kubia_ref)
    assert "0 blobs to fetch" in r.stderr


def test_pull_by_digest_and_unknown(store, kubia_ref, images):
    digest = layout_manifest(images["kubia"])[0]
    repo = kubia_ref.rsplit(":", 1)[0]
    assert store.pull(f"{repo}@{digest}").stdout.split() == [f"{repo}@{digest}"]
    r = store.pull(repo.replace("kubia", "nope") + ":latest", check=False)
    assert r.returncode != 0 and "manifest unknown" in r.stderr
    r = store.pull(f"{repo}@sha256:{'0' * 64}", check=False)
    assert r.returncode != 0 and "sha256:" + "0" * 64 in r.stderr


def test_pull_manifest_list_picks_amd64(store, registry, images, tmp_path):
    # A two-platform index: amd64 is kubia, "arm64" is busybox.
    layout = tmp_path / "multi"
    shutil.copytree(images["kubia"], layout)
    for blob in (images["busybox"] / "blobs" / "sha256").iterdir():
        shutil.copy(blob, layout / "blobs" / "sha256" / blob.name)
    entries = []
    for name, arch in (("busybox", "arm64"), ("kubia", "amd64")):
        digest, _ = layout_manifest(images[name])
        size = (images[name] / "blobs" / "sha256" / digest[7:]).stat().st_size
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest, "size": size,
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()
    idigest = hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / idigest).write_bytes(index)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{idigest}",
        "size": len(index), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    ref = f"{registry.host}/multi:latest"
    run("skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest",
        f"docker://{ref}")

    store.pull(ref)
    assert store.ids() == {kubia_config(images)}


def test_pull_basic_auth(store, auth_registry, tmp_path, images):
    ref = f"{auth_registry.host}/kubia:latest"
    r = store.pull(ref, check=False)
    assert r.returncode != 0 and "401" in r.stderr and auth_registry.host in r.stderr
    assert store.blobs() == []
    auth = tmp_path / "config.json"
    auth.write_text(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    store.pull(ref, "--auth-file", auth)
    assert store.ids() == {kubia_config(images)}
    # a Kubernetes pull secret's .dockerconfigjson has the same shape; wrong password:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"auths": {auth_registry.host: {"username": "alice", "password": "no"}}}))
    r = store.pull(ref, "--auth-file", bad, check=False)
    assert r.returncode != 0 and "401" in r.stderr


def test_pull_bearer_token(store, registry, kubia_ref, proxy, images):
    p = proxy("bearer")
    store.pull(f"{p.host}/kubia:latest")
    assert store.ids() == {kubia_config(images)}
    assert len(p.token_requests) == 1
    assert "scope=repository%3Akubia%3Apull" in p.token_requests[0]
    assert "service=test-registry" in p.token_requests[0]


def test_pull_tls_with_test_ca(store, tls_registry, images):
    ref = f"{tls_registry.host}/kubia:latest"
    r = store.run("pull", ref, check=False)
    assert r.returncode != 0 and "certificate" in r.stderr.lower()
    store.run("pull", "--ca-file", tls_registry.dir / "ca.pem", ref)
    assert store.ids() == {kubia_config(images)}


def test_pull_corrupted_blob_stores_nothing(store, kubia_ref, proxy):
    p = proxy("corrupt")
    r = store.pull(f"{p.host}/kubia:latest", check=False)
    assert r.returncode != 0
    assert "digest mismatch" in r.stderr and "blob sha256:" in r.stderr
    assert store.ids() == set()
    assert store.blobs() == [] and store.layers() == []
    assert os.listdir(store.root / "tmp") == []


def test_pull_resumes_a_cut_transfer(store, kubia_ref, proxy, images):
    p = proxy("cut")
    r = store.pull(f"{p.host}/kubia:latest")
    assert "(resumed)" in r.stderr
    assert len(p.cut) == 2 and len(p.ranges) == 2 and all(x.startswith("bytes=") for x in p.ranges)
    assert store.ids() == {kubia_config(images)}
