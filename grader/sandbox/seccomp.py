"""The sandbox's seccomp filter: a classic-BPF program, assembled here, that bubblewrap loads (`--seccomp FD`) into
the kernel and the job's driver just before it runs them.

It denies, with EPERM, the system calls that open the host kernel's largest attack surface to an unprivileged
process and that no notebook needs: new user namespaces (`unshare`/`clone` with any CLONE_NEW* flag; `clone3`, whose
flags sit in memory a filter cannot read, answers ENOSYS so that the C library falls back to `clone`), `setns`,
every mount call (old and new API), io_uring, the kernel keyrings, bpf, perf events, userfaultfd, ptrace and
process_vm_*, module and kexec loading, and a few calls only an administrator makes. System calls of another ABI
(32-bit `int 0x80`, x32) are refused altogether: the filter checks the architecture first. `socket` and `socketpair`
open only the address families a notebook uses (Unix, IPv4, IPv6, netlink for the C library's interface queries);
any other family (AF_VSOCK to the hypervisor, AF_ALG, AF_PACKET, Bluetooth...) answers EAFNOSUPPORT, as on a kernel
built without it.

The clean evaluator (`grader.evaluation`, which reads the kernel's untrusted export) runs under the same filter with
`socket` and `socketpair` denied as well: it opens no socket at all.

Only x86_64 and aarch64 are known; elsewhere `filter_program` returns None and the isolation line says there is no
seccomp filter.
"""

from __future__ import annotations

import dataclasses
import errno
import platform
import struct
from dataclasses import dataclass

# linux/filter.h, linux/seccomp.h, linux/audit.h
BPF_LD_W_ABS = 0x20
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JSET_K = 0x45
BPF_JMP_JGE_K = 0x35
BPF_RET_K = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16  # struct seccomp_data (little-endian: low word of args[0])

CLONE_NEW_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
                   | 0x00000080)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME

DENIED_GROUPS = ("user namespaces", "mounts", "io_uring", "keyrings", "bpf", "perf events", "userfaultfd", "ptrace",
                 "socket families other than unix, inet, inet6 and netlink")
# AF_UNIX, AF_INET, AF_INET6, AF_NETLINK: the only families `socket`/`socketpair` may open
ALLOWED_SOCKET_FAMILIES = (1, 2, 10, 16)


@dataclass(frozen=True)
class Arch:
    audit: int
    denied: dict[str, int]  # name -> number: EPERM whatever the arguments
    namespace_flags: dict[str, int]  # clone/unshare: EPERM with any CLONE_NEW* flag in the first argument
    enosys: dict[str, int]  # clone3
    foreign_from: int | None = None  # numbers at or above this belong to another ABI (x32)
    sockets: dict[str, int] = dataclasses.field(default_factory=dict)  # denied too with `deny_sockets`


_COMMON_X86_64 = {
    "ptrace": 101, "syslog": 103, "vhangup": 153, "modify_ldt": 154, "pivot_root": 155, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "lookup_dcookie": 212, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "perf_event_open": 298, "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}
# asm-generic numbering (aarch64): no modify_ldt, iopl, ioperm
_COMMON_AARCH64 = {
    "ptrace": 117, "syslog": 116, "vhangup": 58, "pivot_root": 41, "chroot": 51, "acct": 89, "mount": 40,
    "umount2": 39, "swapon": 224, "swapoff": 225, "reboot": 142, "sethostname": 161, "setdomainname": 162,
    "init_module": 105, "delete_module": 106, "quotactl": 60, "lookup_dcookie": 18, "kexec_load": 104,
    "add_key": 217, "request_key": 218, "keyctl": 219, "perf_event_open": 241, "fanotify_init": 262,
    "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "finit_module": 273, "kexec_file_load": 294, "bpf": 280, "userfaultfd": 282,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}

ARCHES: dict[str, Arch] = {
    "x86_64": Arch(audit=0xC000003E, denied=_COMMON_X86_64, namespace_flags={"clone": 56, "unshare": 272},
                   enosys={"clone3": 435}, foreign_from=0x40000000, sockets={"socket": 41, "socketpair": 53}),
    "aarch64": Arch(audit=0xC00000B7, denied=_COMMON_AARCH64, namespace_flags={"clone": 220, "unshare": 97},
                    enosys={"clone3": 435}, sockets={"socket": 198, "socketpair": 199}),
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None, deny_sockets: bool = False) -> bytes | None:
    """The BPF program (an array of `struct sock_filter`) for this machine's architecture, or None; `deny_sockets`:
    `socket` and `socketpair` answer EPERM too (the evaluator's filter)."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    enosys = SECCOMP_RET_ERRNO | errno.ENOSYS
    body: list[tuple[int, int, int, int]] = []  # (code, jt, jf, k); jumps to the shared returns are patched below
    ALLOW, DENY, NOSYS = -1, -2, -3  # symbolic jump targets
    body.append((BPF_LD_W_ABS, 0, 0, OFFSET_ARCH))
    body.append((BPF_JMP_JEQ_K, 0, DENY, arch.audit))  # another ABI: refused
    body.append((BPF_LD_W_ABS, 0, 0, OFFSET_NR))
    if arch.foreign_from is not None:
        body.append((BPF_JMP_JGE_K, DENY, 0, arch.foreign_from))
    denied = {**arch.denied, **(arch.sockets if deny_sockets else {})}
    for number in sorted(denied.values()):
        body.append((BPF_JMP_JEQ_K, DENY, 0, number))
    for number in arch.enosys.values():
        body.append((BPF_JMP_JEQ_K, NOSYS, 0, number))
    for number in arch.namespace_flags.values():
        # nr == number ? check its flags : the next test (the accumulator still holds nr); any CLONE_NEW* -> deny
        body.append((BPF_JMP_JEQ_K, 0, 2, number))
        body.append((BPF_LD_W_ABS, 0, 0, OFFSET_ARG0_LOW))
        body.append((BPF_JMP_JSET_K, DENY, ALLOW, CLONE_NEW_FLAGS))
    for number in arch.sockets.values():
        # nr == socket/socketpair ? its family must be allowed : the next test (the accumulator still holds nr)
        body.append((BPF_JMP_JEQ_K, 0, len(ALLOWED_SOCKET_FAMILIES) + 2, number))
        body.append((BPF_LD_W_ABS, 0, 0, OFFSET_ARG0_LOW))
        body.extend((BPF_JMP_JEQ_K, ALLOW, 0, family) for family in ALLOWED_SOCKET_FAMILIES)
        body.append((BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT))
    body.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    returns = {ALLOW: len(body) - 1, DENY: len(body), NOSYS: len(body) + 1}
    tail = [(BPF_RET_K, 0, 0, deny), (BPF_RET_K, 0, 0, enosys)]
    program = b""
    for pc, (code, jt, jf, k) in enumerate(body):
        jt = returns[jt] - pc - 1 if jt < 0 else jt
        jf = returns[jf] - pc - 1 if jf < 0 else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp filter too long for 8-bit jumps")
        program += _insn(code, jt, jf, k)
    for code, jt, jf, k in tail:
        program += _insn(code, jt, jf, k)
    return program


def describe() -> str:
    """The clause of the isolation line about seccomp."""
    if filter_program() is None:
        return f"no seccomp filter (no syscall table for {platform.machine()})"
    return "seccomp filter denying " + ", ".join(DENIED_GROUPS)
