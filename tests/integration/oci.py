"""Reading the test images' OCI layouts (tests/images/build-images) from tests."""

import gzip
import io
import json
import tarfile


def layout_manifest(layout):
    """(manifest digest, manifest) of the layout's one image."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    return digest, json.loads(blob_path(layout, digest).read_text())


def blob_path(layout, digest):
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def unpack_layout(layout, dest):
    """Applies the layers in order (no whiteout handling: for running test images only)."""
    _, manifest = layout_manifest(layout)
    for layer in manifest["layers"]:
        with tarfile.open(blob_path(layout, layer["digest"]), "r:gz") as t:
            t.extractall(dest, filter="tar")


def layer_entries(layout, index):
    _, manifest = layout_manifest(layout)
    blob = blob_path(layout, manifest["layers"][index]["digest"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as t:
        return set(t.getnames())
