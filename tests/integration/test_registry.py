"""`stevedore image pull` against real registries: Debian's docker-registry on loopback
(plain, and with htpasswd basic auth behind TLS from a test CA), and a small proxy in
front of it that demands Bearer tokens, corrupts, cuts or holds back blobs, fails
requests, and logs every request it sees. Pulls go into the image store (fetched,
unpacked, recorded: the rootfs runs) or, with --layout, into an OCI layout that skopeo
reads."""

import base64
import hashlib
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster import free_port
from hoststate import infrastructure_pids, run
from imagestore import Store
from oci import blob_path, layout_manifest

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


# --- helpers ---------------------------------------------------------------------------

def pull(stevedore_bin, ref, *args, check=True):
    """Runs `stevedore image pull`; returns the CompletedProcess. args may hold more
    references before the options."""
    r = run(stevedore_bin, "image", "pull", *args, ref, check=False)
    if check and r.returncode != 0:
        pytest.fail(f"pull {ref} failed ({r.returncode}): {r.stderr}{r.stdout}")
    return r


def push(layout, ref, *extra, tag="latest"):
    run("skopeo", "copy", "--quiet", "--dest-tls-verify=false", *extra, f"oci:{layout}:{tag}",
        f"docker://{ref}")
    return ref


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def check_layout(layout, ref):
    """Every blob verifies, index.json names ref, skopeo reads the layout; returns the
    manifest digest."""
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert not blob.name.startswith("."), f"temporary file left: {blob}"
        assert sha256_file(blob) == "sha256:" + blob.name
    index = json.loads((layout / "index.json").read_text())
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    [entry] = [m for m in index["manifests"]
               if m["annotations"]["org.opencontainers.image.ref.name"] == ref]
    manifest = json.loads(blob_path(layout, entry["digest"]).read_text())
    for d in [manifest["config"], *manifest["layers"]]:
        assert blob_path(layout, d["digest"]).stat().st_size == d["size"]
    image = f"oci:{layout}" if len(index["manifests"]) == 1 else f"oci:{layout}:{ref}"
    inspect = json.loads(run("skopeo", "inspect", image).stdout)
    assert inspect["Digest"] == entry["digest"]
    return entry["digest"]


def blobs_of(layout):
    return sorted(p.name for p in (layout / "blobs" / "sha256").iterdir())


# --- a proxy that misbehaves on purpose ------------------------------------------------

@dataclass
class Seen:
    method: str
    path: str
    range: str
    authorization: str


class RegistryProxy:
    """Plain HTTP in front of a registry. bearer: /v2/ wants a token from our /token
    (which wants token_user:token_password as basic credentials when set); corrupt: blob
    digests whose bytes are changed; cut: blob digests whose first answer stops halfway
    and drops the connection; fail_manifests: that many 503s first; ignore_range: Range
    headers are not passed on (whole blobs come back, with 200); hold: blob digests
    answered only once release is set."""

    def __init__(self, upstream, bearer=False, token_user=None, token_password=None, corrupt=(), cut=(),
                 fail_manifests=0, ignore_range=False, hold=()):
        self.upstream = upstream
        self.bearer, self.token_user, self.token_password = bearer, token_user, token_password
        self.corrupt, self.cut, self.fail_manifests = set(corrupt), set(cut), fail_manifests
        self.ignore_range = ignore_range
        self.hold, self.release = set(hold), threading.Event()
        self.token = "tok-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:16]
        self.log, self.lock, self.cut_done = [], threading.Lock(), set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def requests(self, kind=None):
        with self.lock:
            return [s for s in self.log if kind is None or f"/{kind}/" in s.path or s.path.startswith(f"/{kind}")]


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.handle_request("GET")

    def do_HEAD(self):
        self.handle_request("HEAD")

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_request(self, method):
        proxy = self.server.proxy
        with proxy.lock:
            proxy.log.append(Seen(method, self.path, self.headers.get("Range"),
                                  self.headers.get("Authorization")))
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            return self.token(urllib.parse.parse_qs(url.query))
        parts = url.path.split("/")
        if proxy.bearer and self.headers.get("Authorization") != f"Bearer {proxy.token}":
            name = "/".join(parts[2:-2]) if len(parts) > 4 else ""
            challenge = (f'Bearer realm="http://{proxy.host}/token",service="stevedore-test"'
                         + (f',scope="repository:{name}:pull"' if name else ""))
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "token wanted"}]})
            return self.reply(401, body.encode(), [("WWW-Authenticate", challenge),
                                                   ("Content-Type", "application/json")])
        if "manifests" in parts:
            with proxy.lock:
                fail = proxy.fail_manifests > 0
                proxy.fail_manifests -= fail
            if fail:
                return self.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
        passed = ("Accept",) if proxy.ignore_range else ("Accept", "Range")
        headers = {k: v for k, v in self.headers.items() if k in passed}
        conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
        conn.request(method, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        digest = parts[-1] if "blobs" in parts else None
        if digest in proxy.hold:
            proxy.release.wait(timeout=60)
        if digest in proxy.corrupt and resp.status in (200, 206) and body:
            body = bytes([body[0] ^ 0xff]) + body[1:]
        keep = [(k, v) for k, v in resp.getheaders()
                if k.lower() in ("content-type", "docker-content-digest", "content-range",
                                 "docker-distribution-api-version", "www-authenticate")]
        with proxy.lock:
            cut = digest in proxy.cut and digest not in proxy.cut_done and resp.status == 200
            if cut:
                proxy.cut_done.add(digest)
        if cut:
            # the whole length announced, half of it sent, the connection dropped
            self.send_response(resp.status)
            for k, v in keep:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.reply(resp.status, body, keep)

    def token(self, query):
        proxy = self.server.proxy
        if proxy.token_user:
            want = "Basic " + base64.b64encode(
                f"{proxy.token_user}:{proxy.token_password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.reply(401, b'{"details":"bad credentials"}',
                                  [("WWW-Authenticate", 'Basic realm="token"')])
        assert query.get("service") == ["stevedore-test"], query
        body = json.dumps({"token": proxy.token, "expires_in": 300}).encode()
        self.reply(200, body, [("Content-Type", "application/json")])


@pytest.fixture
def proxy(registry):
    made = []

    def make(**kw):
        p = RegistryProxy(registry.host, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --- a registry with basic auth behind TLS ---------------------------------------------

def make_ca_and_cert(d):
    """A test CA and a server certificate for 127.0.0.1 signed by it."""
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=stevedore test CA", "-keyout", d / "ca.key", "-out", d / "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", d / "server.key", "-out", d / "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", d / "ext.cnf", "-out", d / "server.pem")


class SecureRegistry:
    user, password = "puller", "s3cret-pass"

    def __init__(self, workdir):
        self.dir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        make_ca_and_cert(workdir)
        htpasswd = run("htpasswd", "-Bbn", self.user, self.password).stdout
        (workdir / "htpasswd").write_text(htpasswd)
        config = workdir / "config.yml"
        config.write_text(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {workdir / 'data'}
auth:
  htpasswd:
    realm: stevedore-test
    path: {workdir / 'htpasswd'}
http:
  addr: {self.host}
  tls:
    certificate: {workdir / 'server.pem'}
    key: {workdir / 'server.key'}
""")
        log = open(workdir / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        infrastructure_pids.add(self.proc.pid)
        ctx = ssl.create_default_context(cafile=str(workdir / "ca.pem"))
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, (workdir / "registry.log").read_text()
            try:
                conn = http.client.HTTPSConnection(self.host, context=ctx, timeout=2)
                conn.request("GET", "/v2/")
                if conn.getresponse().status == 401:
                    break
            except OSError:
                assert time.monotonic() < deadline, "secure registry did not start"
                time.sleep(0.1)

    def push(self, layout, repo):
        ref = f"{self.host}/{repo}:latest"
        run("skopeo", "copy", "--quiet", "--dest-cert-dir", self.dir / "certs",
            "--dest-creds", f"{self.user}:{self.password}", "--dest-tls-verify=false",
            f"oci:{layout}:latest", f"docker://{ref}")
        return ref

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def secure_registry(tmp_path_factory):
    r = SecureRegistry(tmp_path_factory.mktemp("secure-registry"))
    yield r
    r.stop()


def docker_config(path, host, user, password, kind="config.json"):
    """Writes credentials in one of the forms pull accepts."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    auths = {"auths": {host: {"auth": auth}}}
    if kind == "config.json":
        doc = auths
    elif kind == "userpass":
        doc = {"auths": {f"https://{host}/v2/": {"username": user, "password": password}}}
    elif kind == "secret":
        doc = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
               "metadata": {"name": "pull"},
               "data": {".dockerconfigjson": base64.b64encode(json.dumps(auths).encode()).decode()}}
    path.write_text(json.dumps(doc))
    return path


# --- plain registry ----------------------------------------------------------------------

def test_pull_kubia_into_a_layout_skopeo_reads(stevedore_bin, registry, images, tmp_path):
    ref = push(images["kubia"], f"{registry.host}/pull-kubia:v1")
    layout = tmp_path / "layout"
    r = pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", registry.host)
    digest = check_layout(layout, ref)
    assert digest == layout_manifest(images["kubia"])[0]
    _, manifest = layout_manifest(images["kubia"])
    want = {d["digest"].split(":")[1] for d in [manifest["config"], *manifest["layers"]]}
    assert want | {digest.split(":")[1]} == set(blobs_of(layout))
    # not a terminal: one line per blob, then the summary
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and lines[-1].startswith(f"pulled {ref} (manifest {digest}): 3 blobs fetched")
    run("skopeo", "copy", "--quiet", f"oci:{layout}", f"dir:{tmp_path / 'copy'}")
    assert (tmp_path / "copy" / "manifest.json").exists()


@pytest.fixture
def store(stevedore_bin, root_dir):
    return Store(stevedore_bin, root_dir / "images")


def test_pull_into_the_store(store, registry, images, tmp_path, proxy):
    """Fetched into the store's blobs, unpacked, recorded: the rootfs has kubia; again,
    one request and nothing fetched."""
    push(images["kubia"], f"{registry.host}/pull-store:latest")
    p = proxy()
    ref = f"{p.host}/pull-store:latest"
    digest, manifest = layout_manifest(images["kubia"])
    r = store.pull(ref)
    assert r.stdout.splitlines()[-1].startswith(f"pulled {ref} (manifest {digest}): 3 blobs fetched")
    for d in [manifest["config"], *manifest["layers"]]:
        assert sha256_file(store.root / "blobs" / "sha256" / d["digest"].split(":")[1]) == d["digest"]
    [image] = json.loads(store.run("ls", "--json").stdout)
    assert image["references"] == [ref] and image["manifest"] == digest
    assert image["id"] == manifest["config"]["digest"]
    assert len(store.layers()) == 2
    store.assert_clean()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    store.run("mount", ref, "c1", rootfs)
    try:
        assert (rootfs / "app" / "kubia").is_file()
    finally:
        store.run("unmount", "c1", rootfs)
    r = store.pull(ref)
    assert "0 blobs fetched (0 B), 3 present, 1 request" in r.stdout
    assert len(p.requests("blobs")) == 3


def test_pull_into_the_store_by_digest(store, registry, images):
    ref = push(images["busybox"], f"{registry.host}/pull-store-digest:latest")
    digest, _ = layout_manifest(images["busybox"])
    repo = ref.rsplit(":", 1)[0]
    r = store.pull(f"{repo}@{digest}", "--quiet")
    assert r.stdout.split() == [digest]
    assert store.ls() == {f"{repo}@{digest}"}
    r = store.pull(f"{repo}@sha256:{'0' * 64}", check=False)
    assert r.returncode == 1 and f"manifest sha256:{'0' * 64}: HTTP 404" in r.stderr


def test_pull_policies(store, registry, images, proxy):
    """IfNotPresent pulls only what is missing, Never nothing (missing is an error), as
    a container's imagePullPolicy."""
    push(images["busybox"], f"{registry.host}/pull-policy:latest")
    p = proxy()
    ref = f"{p.host}/pull-policy:latest"
    r = store.pull(ref, "--policy", "Never", check=False)
    assert r.returncode == 1
    assert f"image {ref}: not present, and the pull policy is Never" in r.stderr
    assert p.requests() == []
    store.pull(ref, "--policy", "IfNotPresent")
    assert len(p.requests("manifests")) == 1
    for policy in ("IfNotPresent", "Never"):
        r = store.pull(ref, "--policy", policy)
        assert f"{ref}: present (manifest {layout_manifest(images['busybox'])[0]}), not pulled" in r.stdout
    assert len(p.requests()) == 3  # the manifest, the config, the one layer
    r = store.pull(ref, "--policy", "Sometimes", check=False)
    assert r.returncode == 2 and "--policy 'Sometimes'" in r.stderr


def test_prune_during_a_pull_keeps_its_blobs(store, registry, images, proxy):
    """A pull fetches without the store's lock: a prune while it waits for a blob takes
    nothing it fetched (the pull's lease), and the pull still records its image."""
    push(images["kubia"], f"{registry.host}/pull-prune:latest")
    _, manifest = layout_manifest(images["kubia"])
    held = manifest["layers"][0]["digest"]
    p = proxy(hold=[held])
    ref = f"{p.host}/pull-prune:latest"
    pulling = subprocess.Popen([str(store.bin), "image", "--root", str(store.root), "pull", "--insecure-registry",
                                p.host, ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any(s.path.endswith(held) for s in p.requests("blobs")):
            assert time.monotonic() < deadline and pulling.poll() is None, pulling.communicate()
            time.sleep(0.05)
        time.sleep(0.3)  # the other blobs land meanwhile
        fetched = set(store.blobs())
        assert manifest["config"]["digest"].split(":")[1] in fetched
        assert "removed 0 images, 0 blobs" in store.run("prune").stdout
        assert fetched <= set(store.blobs())
    finally:
        p.release.set()
        out, err = pulling.communicate(timeout=60)
    assert pulling.returncode == 0, err
    assert store.ids() == {manifest["config"]["digest"]}
    # with no pull in flight, a prune takes what nothing holds
    store.run("rm", ref)
    assert "removed 0 images" in store.run("prune").stdout
    assert store.blobs() == [] and store.layers() == []


def test_pull_docker_schema2(stevedore_bin, registry, images, tmp_path):
    ref = push(images["busybox"], f"{registry.host}/pull-v2s2:latest", "--format", "v2s2")
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", registry.host)
    check_layout(layout, ref)
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["mediaType"] == MT_DOCKER_MANIFEST


def test_pull_by_digest_and_warm_pull_cost_nothing(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-warm:latest")
    p = proxy()
    ref = f"{p.host}/pull-warm:latest"
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    assert len(p.requests("blobs")) == 3 and len(p.requests("manifests")) == 1
    # again: the tag's manifest, nothing else
    r = pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    assert len(p.requests("blobs")) == 3 and len(p.requests("manifests")) == 2
    assert "0 blobs fetched (0 B), 3 present, 1 request" in r.stdout
    # by digest, already here: not even that
    digest = layout_manifest(images["kubia"])[0]
    r = pull(stevedore_bin, f"{p.host}/pull-warm@{digest}", "--layout", layout, "--insecure-registry", p.host)
    assert len(p.requests()) == 5 and "0 requests" in r.stdout


def test_pulls_at_once_fetch_a_shared_blob_once(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-both-kubia:latest")
    push(images["busybox"], f"{registry.host}/pull-both-busybox:latest")
    p = proxy()
    refs = [f"{p.host}/pull-both-kubia:latest", f"{p.host}/pull-both-busybox:latest"]
    layout = tmp_path / "layout"
    r = pull(stevedore_bin, *refs, "--layout", layout, "--insecure-registry", p.host)
    for ref in refs:
        check_layout(layout, ref)
        assert f"pulled {ref}" in r.stdout
    # kubia's first layer is busybox's only one: fetched once for both
    _, busybox = layout_manifest(images["busybox"])
    shared = busybox["layers"][0]["digest"]
    assert len([s for s in p.requests("blobs") if s.path.endswith(shared)]) == 1
    assert len(p.requests("blobs")) == 4


def make_multi_platform_layout(images, dest):
    """An OCI layout whose `latest` is an index: kubia for linux/amd64 and busybox
    relabelled linux/arm64/v8."""
    shutil.copytree(images["kubia"], dest)
    for blob in (images["busybox"] / "blobs" / "sha256").iterdir():
        shutil.copy(blob, dest / "blobs" / "sha256" / blob.name)

    def put(obj, media_type):
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(data).hexdigest()
        (dest / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    amd64_digest, _ = layout_manifest(images["kubia"])
    _, busybox = layout_manifest(images["busybox"])
    config = json.loads(blob_path(images["busybox"], busybox["config"]["digest"]).read_text())
    config.update(architecture="arm64", variant="v8")
    arm64 = put({**busybox, "config": put(config, MT_CONFIG)}, MT_MANIFEST)
    amd64 = {"mediaType": MT_MANIFEST, "digest": amd64_digest,
             "size": blob_path(images["kubia"], amd64_digest).stat().st_size}
    index = put({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {**arm64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {**amd64, "platform": {"os": "linux", "architecture": "amd64"}},
    ]}, MT_INDEX)
    index["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (dest / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [index]}))
    return index["digest"], amd64["digest"], arm64["digest"]


def test_pull_manifest_list_picks_this_platform(stevedore_bin, registry, images, tmp_path):
    index, amd64, arm64 = make_multi_platform_layout(images, tmp_path / "multi")
    ref = push(tmp_path / "multi", f"{registry.host}/pull-multi:latest", "--all")
    layout = tmp_path / "layout"
    r = pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", registry.host)
    assert check_layout(layout, ref) == amd64
    assert f"(manifest {amd64})" in r.stdout
    # the index itself is kept too (the repo digest), the other platform's manifest not
    assert index.split(":")[1] in blobs_of(layout)
    assert arm64.split(":")[1] not in blobs_of(layout)
    # asked for, the other platform
    arm = tmp_path / "arm"
    pull(stevedore_bin, ref, "--layout", arm, "--insecure-registry", registry.host,
         "--platform", "linux/arm64")
    assert check_layout(arm, ref) == arm64
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "none", "--insecure-registry", registry.host,
             "--platform", "linux/s390x", check=False)
    assert r.returncode == 1
    assert f"index {index}: no manifest for linux/s390x (it has: linux/arm64/v8, linux/amd64)" in r.stderr


def test_errors_name_the_reference(stevedore_bin, registry, tmp_path):
    ref = f"{registry.host}/no-such-image:latest"
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "l", "--insecure-registry", registry.host,
             check=False)
    assert r.returncode == 1
    assert f"pull {ref}: manifest latest: HTTP 404 (MANIFEST_UNKNOWN" in r.stderr
    # https to a plain HTTP registry: TLS fails, nothing is retried in plain text
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "l", check=False)
    assert r.returncode == 1 and f"pull {ref}: manifest latest:" in r.stderr
    r = pull(stevedore_bin, "Not A Reference", "--layout", tmp_path / "l", check=False)
    assert r.returncode == 1 and "pull Not A Reference:" in r.stderr


def test_mirror_is_tried_first(stevedore_bin, registry, images, tmp_path, proxy):
    ref = push(images["busybox"], f"{registry.host}/pull-mirror:latest")
    mirror = proxy()
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", registry.host,
         "--insecure-registry", mirror.host, "--mirror", f"{registry.host}={mirror.host}")
    check_layout(layout, ref)
    assert len(mirror.requests("manifests")) == 1 and len(mirror.requests("blobs")) == 2
    # a mirror that is down: the registry itself
    dead = f"127.0.0.1:{free_port()}"
    layout2 = tmp_path / "layout2"
    pull(stevedore_bin, ref, "--layout", layout2, "--insecure-registry", registry.host,
         "--insecure-registry", dead, "--mirror", f"{registry.host}={dead}")
    check_layout(layout2, ref)


# --- through the proxy: Bearer tokens, broken blobs, broken connections -----------------

def test_bearer_token_flow(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-bearer:latest")
    p = proxy(bearer=True)
    ref = f"{p.host}/pull-bearer:latest"
    layout = tmp_path / "layout"
    r = pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    check_layout(layout, ref)
    log = p.requests()
    assert log[0].path == "/v2/pull-bearer/manifests/latest" and log[0].authorization is None
    tokens = p.requests("token")
    assert len(tokens) == 1
    assert "scope=repository%3Apull-bearer%3Apull" in tokens[0].path
    # every registry request after the token carries it: one 401 in all
    assert all(s.authorization == f"Bearer {p.token}" for s in log[2:])
    assert "6 requests" in r.stdout  # the 401, the token, the manifest, 3 blobs


def test_bearer_token_endpoint_wants_credentials(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["busybox"], f"{registry.host}/pull-bearer-creds:latest")
    p = proxy(bearer=True, token_user="alice", token_password="wonderland")
    ref = f"{p.host}/pull-bearer-creds:latest"
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "no", "--insecure-registry", p.host,
             "--auth-file", tmp_path / "missing.json", check=False)
    assert r.returncode == 1 and "missing.json" in r.stderr
    (tmp_path / "empty.json").write_text("{}")
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "no", "--insecure-registry", p.host,
             "--auth-file", tmp_path / "empty.json", check=False)
    assert r.returncode == 1
    assert f"pull {ref}: token from http://{p.host}/token: HTTP 401" in r.stderr
    auth = docker_config(tmp_path / "auth.json", p.host, "alice", "wonderland")
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host, "--auth-file", auth)
    check_layout(layout, ref)


def test_corrupted_blob_is_refused_and_not_kept(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-corrupt:latest")
    _, manifest = layout_manifest(images["kubia"])
    bad = manifest["layers"][1]["digest"]
    p = proxy(corrupt=[bad])
    ref = f"{p.host}/pull-corrupt:latest"
    layout = tmp_path / "layout"
    r = pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host, check=False)
    assert r.returncode == 1
    assert f"pull {ref}: blob {bad}: digest mismatch (got sha256:" in r.stderr
    assert bad.split(":")[1] not in blobs_of(layout)
    assert not any(n.startswith(".") for n in blobs_of(layout))
    assert not (layout / "index.json").exists()
    # what did verify stays (content-addressed), and is all verified
    for name in blobs_of(layout):
        assert sha256_file(layout / "blobs" / "sha256" / name) == "sha256:" + name


def test_corrupted_blob_into_the_store_records_nothing(store, registry, images, proxy):
    push(images["kubia"], f"{registry.host}/pull-corrupt-store:latest")
    _, manifest = layout_manifest(images["kubia"])
    bad = manifest["layers"][1]["digest"]
    p = proxy(corrupt=[bad])
    ref = f"{p.host}/pull-corrupt-store:latest"
    r = store.pull(ref, check=False)
    assert r.returncode == 1
    assert f"pull {ref}: blob {bad}: digest mismatch (got sha256:" in r.stderr
    assert store.ids() == set() and store.layers() == []
    assert bad.split(":")[1] not in store.blobs()
    store.assert_clean()
    # the blobs that verified stay for the next try (until rm or prune)
    assert all(sha256_file(store.root / "blobs" / "sha256" / n) == "sha256:" + n for n in store.blobs())


def test_connection_cut_mid_blob_resumes_with_range(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-cut:latest")
    _, manifest = layout_manifest(images["kubia"])
    big = manifest["layers"][0]
    p = proxy(cut=[big["digest"]])
    ref = f"{p.host}/pull-cut:latest"
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    check_layout(layout, ref)
    tries = [s for s in p.requests("blobs") if s.path.endswith(big["digest"])]
    assert len(tries) == 2
    assert tries[0].range is None
    assert tries[1].range == f"bytes={big['size'] // 2}-"


def test_resume_refused_starts_the_blob_again(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["kubia"], f"{registry.host}/pull-cut-norange:latest")
    _, manifest = layout_manifest(images["kubia"])
    big = manifest["layers"][0]
    p = proxy(cut=[big["digest"]], ignore_range=True)
    ref = f"{p.host}/pull-cut-norange:latest"
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    check_layout(layout, ref)
    tries = [s for s in p.requests("blobs") if s.path.endswith(big["digest"])]
    assert [t.range for t in tries] == [None, f"bytes={big['size'] // 2}-"]


def test_server_errors_are_retried(stevedore_bin, registry, images, tmp_path, proxy):
    push(images["busybox"], f"{registry.host}/pull-503:latest")
    p = proxy(fail_manifests=2)
    ref = f"{p.host}/pull-503:latest"
    layout = tmp_path / "layout"
    pull(stevedore_bin, ref, "--layout", layout, "--insecure-registry", p.host)
    check_layout(layout, ref)
    assert len(p.requests("manifests")) == 3


# --- basic auth behind TLS from a test CA -------------------------------------------------

def test_basic_auth_over_tls(stevedore_bin, secure_registry, images, tmp_path):
    reg = secure_registry
    ref = reg.push(images["kubia"], "pull-secure")
    ca = reg.dir / "ca.pem"
    # the system's CAs do not know the test CA
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "x", check=False)
    assert r.returncode == 1 and f"pull {ref}: manifest latest:" in r.stderr
    assert "certificate" in r.stderr
    # no credentials
    (tmp_path / "none.json").write_text('{"auths": {}}')
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "x", "--ca-file", ca,
             "--auth-file", tmp_path / "none.json", check=False)
    assert r.returncode == 1
    assert f"authentication required, and no credentials for {reg.host}" in r.stderr
    # wrong ones
    wrong = docker_config(tmp_path / "wrong.json", reg.host, reg.user, "nope")
    r = pull(stevedore_bin, ref, "--layout", tmp_path / "x", "--ca-file", ca, "--auth-file", wrong,
             check=False)
    assert r.returncode == 1 and "credentials refused" in r.stderr
    # each form of credentials
    for kind in ("config.json", "userpass", "secret"):
        auth = docker_config(tmp_path / f"{kind}.auth", reg.host, reg.user, reg.password, kind)
        layout = tmp_path / kind
        pull(stevedore_bin, ref, "--layout", layout, "--ca-file", ca, "--auth-file", auth)
        assert check_layout(layout, ref) == layout_manifest(images["kubia"])[0]
