"""``python -m group_layers.registry.guard GRACE CMD [ARGS...]``: run a
build command so that it dies with the server, however the server dies.

The server starts each build through this guard.  The guard makes a session
(so a process group) of its own, asks the kernel for SIGTERM when its
parent dies (``prctl(PR_SET_PDEATHSIG)``: it comes even when the server is
killed with SIGKILL), and runs CMD as its child in that group.  On SIGTERM
(the server stopping a build, or the server gone) it sends SIGTERM to the
group, so that nix-build stops the builders it started (they run in
sessions of their own), waits up to GRACE seconds for CMD to exit, then
kills what is left of the group.  Otherwise it exits with CMD's status.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def _stop_group(child, grace):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)  # the guard too


def command(grace, build_command):
    """The command that runs `build_command` under the guard, with this
    interpreter; it imports the guard from where this file is (a Nix
    wrapper puts the package on sys.path, not on PYTHONPATH)."""
    where = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = f"import sys; sys.path.insert(0, {where!r}); from group_layers.registry.guard import main; " \
           "sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, str(grace), *build_command]


def main(argv):
    grace, command = float(argv[0]), argv[1:]
    parent = os.getppid()
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    child = None
    # Before the child is known, a SIGTERM kills the group (the guard too).
    signal.signal(signal.SIGTERM, lambda *_: _stop_group(child, grace) if child else os.killpg(0, signal.SIGKILL))
    if os.getppid() != parent:  # the server died before the prctl
        return 143
    child = subprocess.Popen(command)
    status = child.wait()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
