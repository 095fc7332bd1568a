"""A TCP relay that makes a host loopback port (the API server's) reachable on the same
address and port inside a network namespace the test made: a node running in that
namespace talks to the control plane exactly as at 127.0.0.1, and nothing listens
beyond loopback."""

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def _pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class LoopbackRelay:
    """Inward (default): the host's 127.0.0.1:port answers inside the namespace. With
    outward=False it is the other way: a listener inside the namespace (a node's kubelet
    API) answers on the host's 127.0.0.1:port, where the API server looks for it."""

    def __init__(self, netns_path, port, inward=True):
        self.port = port
        self.netns_path = None if inward else netns_path
        host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(netns_path, os.O_RDONLY)
        try:
            # setns() moves only this thread: the listener is made inside, then back.
            if inward:
                _setns(target)
            try:
                self.listener = socket.create_server(("127.0.0.1", port))
            finally:
                _setns(host)
        finally:
            os.close(host)
            os.close(target)
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        if self.netns_path:  # connections are made from inside: this thread moves in
            fd = os.open(self.netns_path, os.O_RDONLY)
            _setns(fd)
            os.close(fd)
        while True:
            try:
                inside, _ = self.listener.accept()
            except OSError:
                return
            try:
                outside = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                inside.close()
                continue
            self.conns += [inside, outside]
            threading.Thread(target=_pump, args=(inside, outside), daemon=True).start()
            threading.Thread(target=_pump, args=(outside, inside), daemon=True).start()

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(timeout=5)
