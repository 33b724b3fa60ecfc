"""SSH test hosts: a network namespace per host, its own address, sshd and a sudo deploy user.

Each host is a network namespace joined to this machine by a veth pair on a /30 of
100.64.0.0/10 (shared address space: no real host of this machine's networks lives
there). sshd runs inside it (``nsenter --net``) with a host key and an authorized client
key generated per host; the deploy user is non-root and reaches root through ``sudo -n``,
as on a rented VPS. ``close`` removes all of it and ``leftovers`` proves nothing remains.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def host_network_snapshot() -> dict[str, str]:
    """The machine's own namespace as far as test hosts could touch it.

    Links, addresses and routes of 100.64.0.0/10 or named ``mgv*`` (other sessions add
    loopback addresses meanwhile), network namespaces, and every iptables rule.
    """
    ours = ("100.64.", "mgv")
    snapshot = {
        name: "\n".join(sorted(line for line in _run(*argv).splitlines() if any(o in line for o in ours)))
        for name, argv in {
            "links": ("ip", "-o", "link", "show"),
            "addresses": ("ip", "-o", "address", "show"),
            "routes": ("ip", "route", "show"),
            "netns": ("ip", "netns", "list"),
        }.items()
    }
    if shutil.which("iptables"):
        for table in ("filter", "nat"):
            snapshot[f"iptables-{table}"] = _run("iptables", "-t", table, "-S")
    return snapshot


@dataclass
class SshTestHost:
    # Its own directory the deploy user can traverse (a pytest tmp_path is root-only).
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="migrate-vps-")))
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    user: str = ""
    address: str = ""
    host_side: str = ""
    host_key: str = ""
    private_key: str = ""
    private_key_path: Path = Path()
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def docker_socket(self) -> Path:
        """Where this host's dockerd (``HostDocker``) listens; sessions get it as DOCKER_HOST."""
        return self.directory / "docker" / "docker.sock"

    @property
    def netns(self) -> str:
        return f"mgv{self.tag}"

    def start(self) -> SshTestHost:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o755)
        self.user = f"mgdeploy{self.tag}"
        a, b = secrets.randbelow(200) + 20, secrets.randbelow(60)
        self.host_side, self.address = f"100.64.{a}.{4 * b + 1}", f"100.64.{a}.{4 * b + 2}"
        outer, inner = f"mgv{self.tag}h", f"mgv{self.tag}n"
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _run("ip", "link", "set", inner, "netns", self.netns)
        _run("ip", "address", "add", f"{self.host_side}/30", "dev", outer)
        _run("ip", "link", "set", outer, "up")
        ns = ("ip", "-n", self.netns)
        _run(*ns, "address", "add", f"{self.address}/30", "dev", inner)
        _run(*ns, "link", "set", inner, "up")
        _run(*ns, "link", "set", "lo", "up")
        self._user()
        self._sshd()
        return self

    def _user(self) -> None:
        home = self.directory / "home"
        _run("useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", self.user)
        _run("usermod", "-p", "*", self.user)  # no password, but not a locked account
        home.mkdir()
        shutil.chown(home, self.user)
        sudoers = Path(f"/etc/sudoers.d/{self.user}")
        # As on a VPS whose Docker listens elsewhere than /run/docker.sock: sshd sets
        # DOCKER_HOST (below) and sudo keeps it, so the stack's plain `docker` reaches this
        # host's own dockerd, not the machine's or another test host's.
        sudoers.write_text(f'{self.user} ALL=(root) NOPASSWD: ALL\nDefaults:{self.user} env_keep += "DOCKER_HOST"\n')
        sudoers.chmod(0o440)

    def _sshd(self) -> None:
        d = self.directory
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key"))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key"))
        self.host_key = (
            (d / "host_key.pub").read_text().split(" ")[0] + " " + (d / "host_key.pub").read_text().split()[1]
        )
        self.private_key_path = d / "client_key"
        self.private_key = self.private_key_path.read_text()
        keys = d / "authorized_keys"
        shutil.copy(d / "client_key.pub", keys)
        keys.chmod(0o644)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        (d / "sshd_config").write_text(
            f"ListenAddress {self.address}:22\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys}\nAllowUsers {self.user}\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n"
            f"SetEnv DOCKER_HOST=unix://{self.docker_socket}\n"
        )
        self._start_sshd()

    def _start_sshd(self) -> None:
        d = self.directory
        config = d / "sshd_config"
        self.sshd = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(d / "sshd.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.address, 22), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd in {self.netns} did not start: {(d / 'sshd.log').read_text()[-500:]}")

    def close_sshd_and_restart(self) -> None:
        """Restart sshd (after its host key file changed: a rebuilt host)."""
        if self.sshd is not None:
            os.killpg(self.sshd.pid, signal.SIGTERM)
            self.sshd.wait(10)
        self._start_sshd()

    def set_link(self, up: bool) -> None:
        """Cut (or restore) the host's only link: a provider gone dark."""
        _run("ip", "link", "set", f"mgv{self.tag}h", "up" if up else "down")

    def close(self) -> None:
        if self.sshd is not None and self.sshd.poll() is None:
            os.killpg(self.sshd.pid, signal.SIGTERM)
            self.sshd.wait(10)
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        subprocess.run(["ip", "link", "del", f"mgv{self.tag}h"], capture_output=True)
        if self.user:
            subprocess.run(["userdel", self.user], capture_output=True)
            Path(f"/etc/sudoers.d/{self.user}").unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Anything of this host still on the machine (empty after ``close``)."""
        found = []
        if self.netns in _run("ip", "netns", "list"):
            found.append(f"netns {self.netns}")
        if f"mgv{self.tag}" in _run("ip", "-o", "link", "show"):
            found.append(f"link mgv{self.tag}h")
        if self.user and subprocess.run(["id", self.user], capture_output=True).returncode == 0:
            found.append(f"user {self.user}")
        if self.user and Path(f"/etc/sudoers.d/{self.user}").exists():
            found.append(f"/etc/sudoers.d/{self.user}")
        if self.directory.exists():
            found.append(str(self.directory))
        found += [f"mount {m}" for m in _mounts() if m.startswith(str(self.directory))]
        return found


def _mounts() -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]


BUSYBOX = "/usr/bin/busybox"  # Debian busybox-static: one static binary, no libraries


def busybox_rootfs(cache: Path) -> Path:
    """A tiny root filesystem tarball (busybox-static and its applet links), cached."""
    import tarfile

    tarball = cache / "busybox-rootfs.tar"
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    applets = _run(BUSYBOX, "--list").split()
    partial = tarball.with_suffix(".tmp")
    with tarfile.open(partial, "w") as tar:
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for directory in ("tmp", "www", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
    partial.rename(tarball)
    return tarball


class HostDocker:
    """dockerd inside a test host's network namespace: its bridge and iptables rules stay in
    there. It also runs in a private mount namespace of its own (``unshare --mount``), so the
    overlay and netns mounts it makes never reach the machine's mount table and vanish with
    it; it listens on the host's own socket, which SSH sessions get as DOCKER_HOST."""

    def __init__(self, host: SshTestHost) -> None:
        self.host = host
        self.root = host.directory / "docker"
        self.socket = host.docker_socket
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HostDocker:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.host.netns}",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "dockerd",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "dockerd.pid"),
                "-H",
                f"unix://{self.socket}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.docker("info", check=False).returncode == 0:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not start: {(self.root / 'dockerd.log').read_text()[-800:]}")

    def docker(self, *argv: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", f"unix://{self.socket}", *argv],
            check=check,
            capture_output=True,
            text=stdin is None,
            input=stdin,
        )

    def import_busybox(self, cache: Path, tag: str = "migrate-test/busybox:1") -> str:
        tarball = busybox_rootfs(cache)
        subprocess.run(
            ["docker", "-H", f"unix://{self.socket}", "import", str(tarball), tag],
            check=True,
            capture_output=True,
        )
        return tag

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.docker("rm", "-f", *self.docker("ps", "-aq", check=False).stdout.split(), check=False)
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        # Its mounts were in its own mount namespace; none may be left in the machine's.
        for mount in sorted((m for m in _mounts() if m.startswith(str(self.root))), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
