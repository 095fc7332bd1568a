"""Debian's docker-registry on a loopback port of its own, plain HTTP: the registry the
integration tests, the demo and the conformance run push to with skopeo. With
credentials (user, password) it wants them (htpasswd basic auth)."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, workdir, credentials=None, on_spawn=None):
        self.dir = workdir
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc = None
        self.credentials = credentials
        self.on_spawn = on_spawn  # told the registry's pid

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.credentials:
            htpasswd = subprocess.run(["htpasswd", "-Bbn", *self.credentials], check=True, capture_output=True,
                                      text=True).stdout
            (self.dir / "htpasswd").write_text(htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: stevedore-test\n    path: {self.dir / 'htpasswd'}\n"
        config = self.dir / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {self.dir / 'data'}\n  delete:\n    enabled: true\n"
                          f"{auth}http:\n  addr: {self.host}\n")
        with open(self.dir / "registry.log", "wb") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        if self.on_spawn:
            self.on_spawn(self.proc.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + (self.dir / "registry.log").read_text())
            try:
                self.get("/v2/")
                return self
            except urllib.error.HTTPError as e:
                if e.code == 401 and self.credentials:
                    return self
                time.sleep(0.1)
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"docker-registry did not answer on {self.host}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.host}{path}", timeout=5) as r:
            return json.loads(r.read() or b"null")

    def push(self, layout, repo, tag="latest"):
        """Pushes an OCI layout's `latest` with skopeo; returns the reference pushed."""
        ref = f"{self.host}/{repo}:{tag}"
        creds = ["--dest-creds", ":".join(self.credentials)] if self.credentials else []
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *creds, f"oci:{layout}:latest",
                        f"docker://{ref}"], check=True, capture_output=True)
        return ref
