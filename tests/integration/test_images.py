"""The image store (`stevedore image`): imports of the test images as an OCI layout
(directory and tar) and as a docker archive made by skopeo, the overlay rootfs of a
container, whiteouts, rm and prune, and a corpus of hostile layers built here, each of
which must be refused naming the layer and the entry, with nothing written outside the
store and nothing partial left in it."""

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from hoststate import run
from imagestore import Store
from oci import layout_manifest

KUBIA = "docker.io/library/kubia:latest"


@pytest.fixture
def store(stevedore_bin, root_dir):
    return Store(stevedore_bin, root_dir / "images")


@pytest.fixture
def mountpoint(tmp_path):
    made = []

    def make(name="rootfs"):
        d = tmp_path / name
        d.mkdir()
        made.append(d)
        return d

    return make


def docker_archive(layout, dest, name):
    run("skopeo", "copy", "--quiet", f"oci:{layout}:latest", f"docker-archive:{dest}:{name}")
    return dest


def tar_of(directory, dest):
    with tarfile.open(dest, "w") as t:
        for entry in sorted(os.listdir(directory)):
            t.add(directory / entry, arcname=entry)
    return dest


# --- imports ---------------------------------------------------------------------------

def test_import_oci_layout(store, images):
    r = store.run("import", "--name", "kubia", images["kubia"])
    assert r.stdout.split() == [KUBIA]
    assert store.ls() == {KUBIA}
    info = store.inspect("kubia")
    manifest_digest, manifest = layout_manifest(images["kubia"])
    assert info["manifest"] == manifest_digest
    assert info["id"] == manifest["config"]["digest"]
    assert [l["digest"] for l in info["layers"]] == [l["digest"] for l in manifest["layers"]]
    assert info["config"]["Entrypoint"] == ["/app/kubia"]
    assert info["os"] == "linux" and info["architecture"] == "amd64"
    # found by ID prefix and by digest too
    assert store.inspect(info["id"][7:19])["manifest"] == manifest_digest
    assert store.inspect(manifest_digest)["id"] == info["id"]
    listing = store.run("ls").stdout
    assert KUBIA in listing and info["id"][7:19] in listing
    store.assert_clean()


def test_import_tar_and_docker_archive_share_layers(store, images, tmp_path):
    docker = docker_archive(images["kubia"], tmp_path / "kubia-docker.tar", "kubia:v2")
    oci_tar = tar_of(images["kubia"], tmp_path / "kubia-oci.tar")

    assert store.run("import", docker).stdout.split() == ["docker.io/library/kubia:v2"]
    assert store.run("import", "--name", "localhost:5000/kubia:oci", oci_tar).stdout.split() == \
        ["localhost:5000/kubia:oci"]
    assert store.run("import", "--name", "kubia", images["kubia"]).stdout.split() == [KUBIA]
    assert store.ls() == {KUBIA, "docker.io/library/kubia:v2", "localhost:5000/kubia:oci"}

    # docker's uncompressed layers and the layout's gzipped ones have the same diffIDs:
    # one unpacked copy of each.
    a, b = store.inspect("kubia:v2"), store.inspect("localhost:5000/kubia:oci")
    assert a["id"] == b["id"]
    assert [l["chainID"] for l in a["layers"]] == [l["chainID"] for l in b["layers"]]
    assert len(store.layers()) == 2
    store.assert_clean()


def test_import_without_a_name_is_refused(store, images):
    r = store.run("import", images["kubia"], check=False)
    assert r.returncode != 0
    assert "no name" in r.stderr and "latest" in r.stderr
    assert store.ls() == set()
    assert store.blobs() == [] and store.layers() == []


def test_bad_references(store, images):
    r = store.run("import", "--name", "Kubia:latest", images["kubia"], check=False)
    assert r.returncode != 0 and "'Kubia:latest'" in r.stderr and "lower-case" in r.stderr
    r = store.run("inspect", "nothing-here", check=False)
    assert r.returncode != 0 and "nothing-here" in r.stderr


# --- the rootfs ------------------------------------------------------------------------

def test_rootfs_has_the_app(store, images, mountpoint, root_dir):
    store.run("import", "--name", "kubia", images["kubia"])
    rootfs = mountpoint()
    store.run("mount", "kubia", "web-1", rootfs)
    try:
        app = rootfs / "app" / "kubia"
        assert app.is_file() and os.access(app, os.X_OK)
        assert (rootfs / "bin" / "sh").is_symlink()
        out = run("chroot", rootfs, "/bin/sh", "-c", "echo hello > /tmp/x && cat /tmp/x").stdout
        assert out == "hello\n"
        # written to the container's upper dir, not to the shared layer
        upper = store.root / "containers" / "web-1" / "upper"
        assert (upper / "tmp" / "x").read_text() == "hello\n"
        for layer in store.layers():
            assert not (store.root / "layers" / layer / "tmp" / "x").exists()
        # a second rootfs for the same id is refused
        r = store.run("mount", "kubia", "web-1", mountpoint("other"), check=False)
        assert r.returncode != 0 and "web-1" in r.stderr
    finally:
        store.run("unmount", "web-1", rootfs)
    assert not (store.root / "containers" / "web-1").exists()
    assert os.listdir(rootfs) == []


def test_whiteouts_hide_lower_files(store, images, mountpoint):
    store.run("import", "--name", "layered", images["layered"])
    rootfs = mountpoint()
    store.run("mount", "layered", "c", rootfs)
    try:
        names = set(os.listdir(rootfs))
        assert "a.txt" not in names                      # .wh.a.txt in the second layer
        assert {"keep.txt", "hard.txt", "link", "run.sh", "new.txt", "dir"} <= names
        assert os.listdir(rootfs / "dir") == ["z.txt"]   # opaque: x.txt and sub/ hidden
        assert os.stat(rootfs / "hard.txt").st_ino == os.stat(rootfs / "keep.txt").st_ino
        assert os.readlink(rootfs / "link") == "a.txt"
        assert os.stat(rootfs / "run.sh").st_mode & 0o777 == 0o755
        # the layers themselves are in overlay form
        second = store.inspect("layered")["layers"][1]["chainID"][7:]
        st = os.lstat(store.root / "layers" / second / "a.txt")
        assert (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0
        assert os.getxattr(store.root / "layers" / second / "dir", "trusted.overlay.opaque") == b"y"
    finally:
        store.run("unmount", "c", rootfs)


# --- rm and prune ----------------------------------------------------------------------

def test_rm_and_prune_keep_what_is_used(store, images, mountpoint):
    store.run("import", "--name", "busybox", images["busybox"])
    store.run("import", "--name", "kubia", images["kubia"])
    busybox_chain = store.inspect("busybox")["layers"][0]["chainID"][7:]
    assert len(store.layers()) == 2                      # busybox's layer is kubia's first

    store.run("rm", "busybox")
    assert store.ls() == {KUBIA}
    assert busybox_chain in store.layers()               # kubia still uses it

    rootfs = mountpoint()
    store.run("mount", "kubia", "held", rootfs)
    try:
        store.run("rm", "kubia")
        assert store.ls() == set()
        store.run("prune")
        assert len(store.layers()) == 2                  # the container holds them
        assert (rootfs / "app" / "kubia").is_file()
    finally:
        store.run("unmount", "held", rootfs)
    out = store.run("prune").stdout
    assert "2 layers" in out
    assert store.layers() == [] and store.blobs() == []
    store.assert_clean()


# --- hostile layers --------------------------------------------------------------------

class Layout:
    """An OCI layout made here: a good base layer and whatever layers a test adds."""

    def __init__(self, path):
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.layers, self.diff_ids = [], []

    def blob(self, data, name=None):
        digest = hashlib.sha256(data).hexdigest()
        (self.path / "blobs" / "sha256" / (name or digest)).write_bytes(data)
        return f"sha256:{name or digest}", len(data)

    def add_layer(self, tar_bytes, blob=None, blob_name=None):
        self.diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        data = blob if blob is not None else gzip.compress(tar_bytes, mtime=0)
        digest, size = self.blob(data, blob_name)
        self.layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": digest, "size": size})
        return digest

    def finish(self):
        config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": self.diff_ids}}
        cdigest, csize = self.blob(json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cdigest, "size": csize},
                    "layers": self.layers}
        mdigest, msize = self.blob(json.dumps(manifest).encode())
        (self.path / "index.json").write_text(json.dumps({
            "schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
                "size": msize, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
        return self.path


def make_tar(entries):
    """entries: (name, kind, data or link target, extra TarInfo attributes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload, extra in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, 0o644, 0
            data = None
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
            elif kind == tarfile.REGTYPE:
                info.size = len(payload)
                data = io.BytesIO(payload)
            for k, v in (extra or {}).items():
                setattr(info, k, v)
            t.addfile(info, data)
    return buf.getvalue()


def reg(name, data=b"x"):
    return (name, tarfile.REGTYPE, data, None)


BASE = make_tar([("etc", tarfile.DIRTYPE, None, {"mode": 0o755}), reg("etc/hostname", b"base\n")])


def corrupt(gz):
    """Flips bytes in the middle of the deflate stream: the blob's digest (taken after)
    is right, its content is not."""
    b = bytearray(gz)
    for i in range(len(b) // 2, len(b) // 2 + 8):
        b[i] ^= 0xA5
    return bytes(b)


# (id, entries of the hostile layer, import args, entry named in the error, reason)
HOSTILE = [
    ("dot-dot", [reg("ok"), reg("../evil")], [], "../evil", "'..'"),
    ("dot-dot-deep", [reg("a/b/../../../evil")], [], "a/b/../../../evil", "'..'"),
    ("absolute", [reg("/evil")], [], "/evil", "absolute"),
    ("symlink-then-write", [("ln", tarfile.SYMTYPE, "{outside}", None), reg("ln/evil")], [],
     "ln/evil", "symlink"),
    ("relative-symlink-then-write", [("d/ln", tarfile.SYMTYPE, "../../../../../../../{outside}", None),
                                     reg("d/ln/evil")], [], "d/ln/evil", "symlink"),
    ("hardlink-to-etc-passwd", [("pw", tarfile.LNKTYPE, "/etc/passwd", None)], [], "pw",
     "hardlink to '/etc/passwd'"),
    ("hardlink-out", [("pw", tarfile.LNKTYPE, "../../../../etc/passwd", None)], [], "pw", "'..'"),
    ("device-node", [("dev/mem", tarfile.CHRTYPE, None, {"devmajor": 1, "devminor": 1})], [],
     "dev/mem", "character device 1:1"),
    ("block-device", [("sda", tarfile.BLKTYPE, None, {"devmajor": 8, "devminor": 0})], [],
     "sda", "block device 8:0"),
    ("oversize", [reg("small", b"s" * 100), reg("big", b"B" * 4096)], ["--max-entry-size", "1k"],
     "big", "larger than the limit of 1024 bytes"),
    ("corrupted-gzip", None, [], None, None),
    ("digest-mismatch", None, [], None, "digest mismatch"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
@pytest.mark.parametrize("form", ["layout", "tar"])
def test_hostile_layer_refused(store, tmp_path, case, form):
    name, entries, args, entry, reason = case
    outside = tmp_path / "outside"
    outside.mkdir()
    passwd = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()

    layout = Layout(tmp_path / "layout")
    layout.add_layer(BASE)
    if name == "corrupted-gzip":
        tar = make_tar([reg(f"f{i}", os.urandom(2048).hex().encode()) for i in range(16)])
        bad = layout.add_layer(tar, blob=corrupt(gzip.compress(tar, mtime=0)))
    elif name == "digest-mismatch":
        tar = make_tar([reg("fine")])
        claimed = "0" * 64
        bad = layout.add_layer(tar, blob_name=claimed)
    else:
        fixed = [(n, k, p.format(outside=outside) if isinstance(p, str) else p, x)
                 for n, k, p, x in entries]
        bad = layout.add_layer(make_tar(fixed))
    source = layout.finish()
    if form == "tar":
        source = tar_of(source, tmp_path / "layout.tar")

    r = store.run("import", "--name", f"hostile/{name}", *args, source, check=False)
    assert r.returncode != 0, r.stdout
    assert bad in r.stderr, r.stderr                           # names the layer
    if entry:
        assert f"entry '{entry}'" in r.stderr, r.stderr         # and the entry
    if reason:
        assert reason in r.stderr, r.stderr

    # nothing outside the store …
    assert os.listdir(outside) == []
    assert not (tmp_path / "evil").exists() and not (store.root.parent / "evil").exists()
    assert hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest() == passwd
    # … and nothing partial inside it: no image, no layers (the good base goes with the
    # failed import's blobs), no temporaries
    assert store.ls() == set()
    assert store.layers() == [] and store.blobs() == []
    store.assert_clean()


def test_diff_id_mismatch_refused(store, tmp_path):
    layout = Layout(tmp_path / "layout")
    layout.add_layer(BASE)
    bad = layout.add_layer(make_tar([reg("fine")]))
    layout.diff_ids[1] = "sha256:" + "1" * 64
    r = store.run("import", "--name", "x", layout.finish(), check=False)
    assert r.returncode != 0 and bad in r.stderr and "diffID mismatch" in r.stderr
    assert store.layers() == [] and store.blobs() == []
    store.assert_clean()
