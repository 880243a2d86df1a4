"""Mount table parsing: which filesystem a runs root lives on, and whether it is a network one."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog.read.mounts import (
    MOUNTS_FILE,
    Mount,
    is_network_fstype,
    mount_of,
    network_filesystem,
    parse_mounts,
)

TABLE = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
server:/export/runs /mnt/runs nfs4 rw,relatime,vers=4.2,rsize=1048576 0 0
//nas/share /mnt/my\\040share cifs rw,vers=3.1.1 0 0
sshfs#me@gpu1:/data /mnt/gpu1 fuse.sshfs rw,nosuid,nodev 0 0
/dev/sdb1 /media/usb fuseblk rw,nosuid,nodev,allow_other 0 0
"""


def kernel_escape(field: str) -> str:
    """How the kernel writes a field of /proc/self/mounts (fs/proc_namespace.c, `mangle`)."""
    return "".join(f"\\{ord(ch):03o}" if ch in " \t\n\\" else ch for ch in field)


def table_line(mount: Mount) -> str:
    return f"{kernel_escape(mount.device)} {kernel_escape(mount.mount_point)} {mount.fstype} rw 0 0"


# -- parse_mounts -----------------------------------------------------------------------------


def test_parse_reads_device_mount_point_and_fstype() -> None:
    mounts = parse_mounts(TABLE)
    assert mounts[0] == Mount("/dev/vda", "/", "ext4")
    assert mounts[3] == Mount("server:/export/runs", "/mnt/runs", "nfs4")
    assert [m.fstype for m in mounts] == [
        "ext4", "proc", "tmpfs", "nfs4", "cifs", "fuse.sshfs", "fuseblk"
    ]  # fmt: skip


def test_parse_decodes_octal_escapes() -> None:
    text = "a\\134b /mnt/tab\\011new\\012line\\040x\\134040 nfs rw 0 0\n"
    assert parse_mounts(text) == [Mount("a\\b", "/mnt/tab\tnew\nline x\\040", "nfs")]


def test_parse_skips_blank_and_short_lines() -> None:
    assert parse_mounts("\n   \nonly two\n/dev/x /y xfs rw 0 0") == [Mount("/dev/x", "/y", "xfs")]


# The kernel escapes only space, tab, newline and backslash; everything else (other Unicode
# whitespace, "\x0b", "\r", digits after a backslash, non-ASCII) is written as it is.
name_chars = st.sampled_from([*"ab0347 \t\n\\\r\x0b\x1c\x85\xa0\u2028é日", "\\040"])
segment = st.lists(name_chars, min_size=1, max_size=6).map("".join)
mount_points = st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts))
devices = st.lists(name_chars, min_size=1, max_size=8).map("".join)
fstypes = st.sampled_from(["ext4", "nfs4", "fuse.sshfs", "tmpfs"])
mounts_st = st.builds(Mount, devices, mount_points, fstypes)


@settings(max_examples=examples(200), deadline=None)
@given(mounts=st.lists(mounts_st, max_size=5))
def test_escaped_table_parses_back_to_the_same_mounts(mounts: list[Mount]) -> None:
    text = "".join(table_line(m) + "\n" for m in mounts)
    assert parse_mounts(text) == mounts


# -- mount_of ---------------------------------------------------------------------------------


def test_mount_of_picks_the_longest_containing_mount_point() -> None:
    mounts = parse_mounts(TABLE)
    assert mount_of("/mnt/runs/cartpole/v1", mounts) == mounts[3]
    assert mount_of("/mnt/runs", mounts) == mounts[3]
    assert mount_of("/mnt/my share/x", mounts) == mounts[4]
    assert mount_of("/home/me/runs", mounts) == mounts[0]
    assert mount_of("/", mounts) == mounts[0]


def test_mount_of_compares_whole_components() -> None:
    mounts = [Mount("d", "/", "ext4"), Mount("s:/e", "/mnt/a", "nfs")]
    assert mount_of("/mnt/ab", mounts) == mounts[0]
    assert mount_of("/mnt/a/b", mounts) == mounts[1]


def test_mount_stacked_last_hides_the_earlier() -> None:
    # An automounted share: the autofs trigger, then the nfs mount over it.
    mounts = [Mount("/dev/vda", "/", "ext4"), Mount("auto", "/net", "autofs")]
    mounts.append(Mount("srv:/x", "/net", "nfs"))
    assert mount_of("/net/runs", mounts) == mounts[2]


def test_mount_of_without_a_containing_mount_is_none() -> None:
    assert mount_of("/home/me", [Mount("s:/e", "/mnt/a", "nfs")]) is None
    assert mount_of("/home/me", []) is None


path_parts = st.lists(st.sampled_from(["a", "ab", "b", "a b"]), max_size=4)


@settings(max_examples=examples(300), deadline=None)
@given(points=st.lists(path_parts, max_size=6), target=path_parts)
def test_mount_of_is_the_deepest_component_prefix(
    points: list[list[str]], target: list[str]
) -> None:
    mounts = [Mount(f"dev{i}", "/" + "/".join(p), "ext4") for i, p in enumerate(points)]
    path = "/" + "/".join(target)
    containing = [
        m for m in mounts if PurePosixPath(path).is_relative_to(PurePosixPath(m.mount_point))
    ]
    deepest = max((len(PurePosixPath(m.mount_point).parts) for m in containing), default=None)
    expected = [m for m in containing if len(PurePosixPath(m.mount_point).parts) == deepest]
    assert mount_of(path, mounts) == (expected[-1] if expected else None)


# -- is_network_fstype ------------------------------------------------------------------------


NETWORK = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs"]
FUSE = ["fuse", "fuse.sshfs", "fuse.gcsfuse", "fuse.mountpoint-s3", "fuse.s3fs", "fuse.rclone"]


@pytest.mark.parametrize("fstype", [*NETWORK, "davfs", *FUSE])
def test_network_fstypes(fstype: str) -> None:
    assert is_network_fstype(fstype)


@pytest.mark.parametrize(
    "fstype",
    ["fuseblk", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "vfat", "proc", "autofs"],
)
def test_local_fstypes(fstype: str) -> None:
    assert not is_network_fstype(fstype)


# -- network_filesystem -----------------------------------------------------------------------


def write_table(tmp_path: Path, *mounts: Mount) -> Path:
    table = tmp_path / "mounts"
    table.write_text("".join(table_line(m) + "\n" for m in mounts))
    return table


@pytest.fixture
def share(tmp_path: Path) -> Path:
    share = tmp_path.resolve() / "my share"
    share.mkdir()
    return share


def test_a_path_on_a_network_mount_names_its_fstype(tmp_path: Path, share: Path) -> None:
    table = write_table(tmp_path, Mount("/dev/vda", "/", "ext4"), Mount("s:/e", str(share), "nfs4"))
    (share / "runs").mkdir()
    assert network_filesystem(share / "runs", table) == "nfs4"
    assert network_filesystem(share, table) == "nfs4"
    assert network_filesystem(tmp_path, table) is None  # the parent is on ext4


def test_a_missing_path_is_judged_by_its_nearest_existing_ancestor(
    tmp_path: Path, share: Path
) -> None:
    table = write_table(tmp_path, Mount("/dev/vda", "/", "ext4"), Mount("s:/e", str(share), "cifs"))
    assert network_filesystem(share / "not" / "yet" / "made", table) == "cifs"


def test_a_symlink_is_judged_where_it_points(tmp_path: Path, share: Path) -> None:
    table = write_table(
        tmp_path, Mount("/dev/vda", "/", "ext4"), Mount("me@h:/d", str(share), "fuse.sshfs")
    )
    link = tmp_path / "runs"
    link.symlink_to(share)
    assert network_filesystem(link, table) == "fuse.sshfs"


def test_a_local_fuse_disk_is_not_network(tmp_path: Path, share: Path) -> None:
    table = write_table(tmp_path, Mount("/dev/sdb1", str(share), "fuseblk"))
    assert network_filesystem(share, table) is None


def test_a_missing_or_unreadable_table_gives_none(tmp_path: Path) -> None:
    assert network_filesystem(tmp_path, tmp_path / "no-such-mounts") is None
    assert network_filesystem(tmp_path, tmp_path) is None  # a directory: read fails


@pytest.mark.skipif(not MOUNTS_FILE.exists(), reason="no /proc mount table on this system")
def test_the_real_table_has_a_mount_for_every_path(tmp_path: Path) -> None:
    mount = mount_of(str(tmp_path.resolve()), parse_mounts(MOUNTS_FILE.read_text()))
    assert mount is not None
    expected = mount.fstype if is_network_fstype(mount.fstype) else None
    assert network_filesystem(tmp_path) == expected
