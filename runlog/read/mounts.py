"""Which filesystem a path lives on, from the kernel's mount table (Linux).

    /proc/self/mounts, one mount a line:
        <device> <mount point> <fstype> <options> 0 0
        server:/export /mnt/my\\040runs nfs4 rw,relatime,vers=4.2,... 0 0

The kernel writes space, tab, newline and backslash inside a field as a three-digit octal
escape (`\\040`, `\\011`, `\\012`, `\\134`). Writes another host makes on a network filesystem
(NFS, SMB, FUSE mounts such as sshfs or gcsfuse, ...) raise no inotify event here, so the
watcher (runlog.read.watch) polls such a runs root instead. Parsing is pure; only
`network_filesystem` reads a file, and it never raises (no table, as on macOS: None).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MOUNTS_FILE",
    "Mount",
    "is_network_fstype",
    "mount_of",
    "network_filesystem",
    "parse_mounts",
]

MOUNTS_FILE = Path("/proc/self/mounts")
"""This process's mount table (its mount namespace; /proc/mounts links here)."""

# Filesystems whose contents other machines (or a VM's host) can change behind the kernel's
# back: inotify only reports the changes made through this kernel.
_NETWORK_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",  # also WSL2's view of Windows drives
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "gfs2",
        "ocfs2",
        "afs",
        "davfs",
        "virtiofs",
        "vboxsf",
        "fuse",
    }
)
_ESCAPE = re.compile(rb"\\([0-3][0-7]{2})")


@dataclass(frozen=True)
class Mount:
    """One line of the mount table, escapes decoded."""

    device: str
    mount_point: str
    fstype: str


def parse_mounts(text: str) -> list[Mount]:
    """The mounts listed in `text` (the /proc/self/mounts format), in table order.

    Lines with fewer than three fields are skipped. Non-ASCII names round-trip as `os.fsdecode`
    spells them, so they compare equal to the paths `Path.resolve()` returns.
    """
    mounts: list[Mount] = []
    # Only "\n" ends a line and only " " separates fields: other whitespace (NBSP, \x0b, ...)
    # is not escaped by the kernel and belongs to the name.
    for line in text.split("\n"):
        fields = [field for field in line.split(" ") if field]
        if len(fields) < 3:
            continue
        device, mount_point, fstype = (_unescape(field) for field in fields[:3])
        mounts.append(Mount(device, mount_point, fstype))
    return mounts


def _unescape(field: str) -> str:
    # In bytes: an escaped byte may be half of a UTF-8 character.
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), os.fsencode(field))
    return os.fsdecode(raw)


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount `path` (absolute, resolved) lives on: the longest mount point containing it.

    Containment is per path component (`/mnt/a` does not contain `/mnt/ab`). Of mounts stacked
    on one mount point the last listed wins: it hides the others (autofs, then its nfs mount).
    None when no mount contains `path` (an incomplete table).
    """
    best: Mount | None = None
    best_len = -1
    for mount in mounts:
        point = mount.mount_point
        prefix = point if point.endswith("/") else point + "/"
        if (path == point or path.startswith(prefix)) and len(point) >= best_len:
            best, best_len = mount, len(point)
    return best


def is_network_fstype(fstype: str) -> bool:
    """Whether files on an `fstype` mount can change without an inotify event here.

    True for NFS, SMB/CIFS, 9p, cluster filesystems and every FUSE mount but `fuseblk`
    (`fuse.sshfs`, `fuse.gcsfuse`, `fuse.mountpoint-s3`, ...: a FUSE daemon may serve anything);
    `fuseblk` is a local disk (ntfs-3g, exfat), like ext4, xfs, btrfs, tmpfs or overlay.
    """
    return fstype in _NETWORK_FSTYPES or fstype.startswith("fuse.")


def network_filesystem(path: Path, mounts_file: Path = MOUNTS_FILE) -> str | None:
    """The fstype of the network filesystem `path` lives on, or None (local, or unknown).

    A missing `path` is judged by its nearest existing ancestor. Never raises: a mount table
    that is missing or unreadable (macOS, a restricted /proc) gives None.
    """
    try:
        text = os.fsdecode(mounts_file.read_bytes())
    except OSError:
        return None
    mount = mount_of(_existing_ancestor(path), parse_mounts(text))
    if mount is None or not is_network_fstype(mount.fstype):
        return None
    return mount.fstype


def _existing_ancestor(path: Path) -> str:
    """`path` resolved, or its nearest existing ancestor when it does not exist."""
    try:
        current = Path(os.path.expanduser(path)).resolve()
    except (OSError, RuntimeError):  # the working directory is gone; a symlink loop
        return str(path)
    while True:
        try:
            if current.exists():
                return str(current)
        except (OSError, RuntimeError):  # no permission to look: judge by an ancestor
            pass
        if current.parent == current:
            return str(current)
        current = current.parent
