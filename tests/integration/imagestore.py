"""`stevedore image` as the tests drive it: one store root per test."""

import json
import os
import subprocess


class Store:
    def __init__(self, stevedore_bin, root):
        self.bin = stevedore_bin
        self.root = root

    def run(self, *args, check=True):
        r = subprocess.run([str(self.bin), "image", "--root", str(self.root), *map(str, args)],
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"stevedore image {' '.join(map(str, args))} failed "
                                 f"({r.returncode}): {r.stderr}")
        return r

    def ls(self):
        return {ref for image in json.loads(self.run("ls", "--json").stdout)
                for ref in image["references"]}

    def inspect(self, image):
        return json.loads(self.run("inspect", image).stdout)

    def layers(self):
        return sorted(os.listdir(self.root / "layers"))

    def blobs(self):
        return sorted(os.listdir(self.root / "blobs" / "sha256"))

    def assert_clean(self):
        """No temporaries: no half-unpacked layer, no half-written blob."""
        assert not [n for n in self.layers() if n.startswith(".tmp-")]
        assert os.listdir(self.root / "tmp") == []

    def pull(self, ref, *args, check=True):
        """Plain HTTP to the ref's registry unless a CA is given."""
        if "--ca-file" not in map(str, args):
            args = ("--insecure-registry", ref.split("/")[0], *args)
        return self.run("pull", *args, ref, check=check)

    def ids(self):
        return {img["id"] for img in json.loads(self.run("ls", "--json").stdout)}
