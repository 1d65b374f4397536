"""Recorded /proc contents (shortened) and a statvfs result for the host_check tests."""

from __future__ import annotations

from collections import namedtuple

# /proc/mounts of a Docker host (recorded, shortened), with a mount point that has a space in it.
MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=4011396k,nr_inodes=1002849,mode=755 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=807412k,mode=755 0 0
/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/sdb1 /var/lib/postgresql xfs rw,relatime,attr2,inode64 0 0
/dev/sda1 /var/lib/docker ext4 rw,relatime,errors=remount-ro 0 0
overlay /var/lib/docker/overlay2/abc123/merged overlay rw,relatime,lowerdir=/x,upperdir=/y,workdir=/z 0 0
nsfs /run/docker/netns/default nsfs rw 0 0
/dev/loop0 /snap/core20/1828 squashfs ro,nodev,relatime 0 0
/dev/sdc1 /mnt/backup\\040disk ext4 rw,relatime 0 0
"""

# Inside a container: the root is overlay.
CONTAINER_MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
/dev/vda /etc/hosts ext4 rw,relatime 0 0
/dev/vda /etc/resolv.conf ext4 rw,relatime 0 0
/dev/vda /data ext4 rw,relatime 0 0
"""

MEMINFO = """\
MemTotal:        8060256 kB
MemFree:          312348 kB
MemAvailable:    1209052 kB
Buffers:          102400 kB
Cached:           901120 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        1048574 kB
HugePages_Total:       0
"""

OLD_MEMINFO = """\
MemTotal:        1000000 kB
MemFree:          100000 kB
Buffers:           50000 kB
Cached:           150000 kB
"""

StatVFS = namedtuple("StatVFS", "f_bsize f_frsize f_blocks f_bfree f_bavail f_files f_ffree")
