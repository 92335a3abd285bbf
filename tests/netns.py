"""Hosts on a private network made of Linux network namespaces, for multi-host tests.

``Network`` makes a hub namespace holding a bridge, and each ``Host`` a namespace of its
own joined to the bridge by a veth pair, with one address in ``198.18.0.0/24`` (the range
RFC 2544 sets aside for network tests) on its ``eth0`` and nothing else but loopback: a
process started on a host can reach the other hosts and nothing outside. The addresses
exist inside the namespaces only. ``cut`` takes a host's cable out (the hub side of its
veth goes down: packets vanish, no connection is told), ``restore`` puts it back.

Names carry the test process's id, so parallel runs never collide; ``close`` kills every
process started on the hosts (their whole process groups) and deletes the namespaces,
which takes their interfaces with them. Needs root (``CAP_NET_ADMIN``) and ``ip``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: The first three octets of the hosts' addresses (RFC 2544 benchmarking range).
SUBNET = "198.18.0"


def available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"adrprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                          check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Host:
    """One namespace with one address; runs processes there."""

    def __init__(self, network: Network, name: str, number: int) -> None:
        self.network = network
        self.name = name
        self.namespace = f"{network.prefix}-{name}"
        self.address = f"{SUBNET}.{number}"
        self.hub_link = f"{network.prefix}h{number}"  # at most 15 characters

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run inside this host."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log: Path | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host in a process group of its own (killed by ``close``)."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(self.command(argv), env=dict(env) if env else None,
                                    cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        self.network.processes.append(proc)
        return proc

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on this host to its end; its output captured."""
        return subprocess.run(self.command(argv), env=dict(env) if env else None, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, check=False)


class Network:
    """A bridge in a hub namespace and the hosts plugged into it."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"adr{os.getpid()}"
        self.hub = f"{self.prefix}-hub"
        self.hosts: list[Host] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.namespaces: list[str] = []
        try:
            self._add_namespace(self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
        except subprocess.CalledProcessError:
            self.close()
            raise

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str, number: int) -> Host:
        """A new host ``name`` with the address ``198.18.0.<number>``."""
        host = Host(self, name, number)
        self._add_namespace(host.namespace)
        _ip("link", "add", host.hub_link, "netns", self.hub, "type", "veth",
            "peer", "name", "eth0", "netns", host.namespace)
        _ip("-n", self.hub, "link", "set", host.hub_link, "master", "br0")
        _ip("-n", self.hub, "link", "set", host.hub_link, "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")
        self.hosts.append(host)
        return host

    def cut(self, host: Host) -> None:
        """Take ``host``'s cable out: its packets are dropped, no connection is reset."""
        _ip("-n", self.hub, "link", "set", host.hub_link, "down")

    def restore(self, host: Host) -> None:
        """Plug ``host`` back in."""
        _ip("-n", self.hub, "link", "set", host.hub_link, "up")

    def close(self) -> None:
        """Kill every process started on the hosts, then delete the namespaces."""
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for name in reversed(self.namespaces):
            # Processes that left their group (none should) still hold the namespace.
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.namespaces.clear()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SUBNET", "Host", "Network", "available"]
