"""Records the wall-clock time (ns, CLOCK_REALTIME like pcap timestamps) into a file, then
execs the command: the bench's "exec" moment for start-up times.
Usage: stamp.py FILE -- COMMAND [ARGS...]"""
import os
import sys
import time

out, sep, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if sep != "--" or not argv:
    sys.exit("usage: stamp.py FILE -- COMMAND [ARGS...]")
t = time.time_ns()
with open(out, "w") as f:
    f.write(f"{t}\n")
os.execvp(argv[0], argv)
