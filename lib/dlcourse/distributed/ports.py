"""Free TCP ports on the loopback interface, for the processes of one run to meet on."""

import socket


def free_ports(n):
    """``n`` distinct ports the OS says are free now (free again once the sockets close,
    for the processes to bind; all are held open together, so no two are the same)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port():
    return free_ports(1)[0]
