"""TCP relays between network namespaces: a listener in one namespace (or the host's)
whose connections are carried to an address in another. The tests use them so that a
server on the host's loopback (the API server, the registry) answers inside a namespace
the test made, or one inside (the API server of a test cluster) on the host's loopback,
and nothing listens beyond the namespaces the test made."""

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


class _InNetns:
    """Moves this thread into a network namespace (None: stays) and back on exit."""

    def __init__(self, netns_path):
        self.netns_path = netns_path

    def __enter__(self):
        if self.netns_path:
            self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(self.netns_path, os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)

    def __exit__(self, *exc):
        if self.netns_path:
            try:
                _setns(self.home)
            finally:
                os.close(self.home)


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


class Relay:
    """Listens at listen=(host, port) inside listen_netns and carries each connection to
    connect=(host, port) made from inside connect_netns (a path; None: the host's)."""

    def __init__(self, listen, connect, listen_netns=None, connect_netns=None):
        self.connect = connect
        self.connect_netns = connect_netns
        # setns() moves only this thread: the listener is made inside, then back.
        with _InNetns(listen_netns):
            self.listener = socket.create_server(listen)
        self.port = self.listener.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        # The connections are made from the connecting side: this thread moves there
        # for good.
        if self.connect_netns:
            fd = os.open(self.connect_netns, os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        while True:
            try:
                inside, _ = self.listener.accept()
            except OSError:
                return
            try:
                outside = socket.create_connection(self.connect)
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


class LoopbackRelay(Relay):
    """Inward (default): the host's 127.0.0.1:port answers inside the namespace. With
    inward=False it is the other way: a listener inside the namespace (a node's kubelet
    API) answers on the host's 127.0.0.1:port."""

    def __init__(self, netns_path, port, inward=True):
        loopback = ("127.0.0.1", port)
        if inward:
            super().__init__(loopback, loopback, listen_netns=netns_path)
        else:
            super().__init__(loopback, loopback, connect_netns=netns_path)
