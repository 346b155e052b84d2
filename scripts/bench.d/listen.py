"""TCP listener for the health checks: accepts and closes every connection and logs the
accept time (ns) of each, so the bench knows when the last check before a stop ran.
Prints "ready" once listening. Usage: listen.py IP PORT LOGFILE"""
import socket
import sys
import time

ip, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(128)
print("ready", flush=True)
with open(log, "w") as f:
    while True:
        c, _ = s.accept()
        f.write(f"{time.time_ns()}\n")
        f.flush()
        c.close()
