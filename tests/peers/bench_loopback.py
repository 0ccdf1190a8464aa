"""Loopback download benchmark: Piecewise against libtorrent, same seeder.

  /usr/bin/python3 tests/peers/bench_loopback.py PIECEWISE_BINARY [SIZE_MIB]

Creates a SIZE_MIB file (default 1024) in a temporary folder, a torrent of
it with `piecewise create`, and one libtorrent seeder on 127.0.0.1; then
downloads it once with `piecewise download --peer` and once with a
libtorrent leecher (tests/peers/lt_peer.py), each into an empty folder.
Prints wall seconds, MB/s and CPU seconds (user + sys) of each downloader
and the ratios. It only measures; it never fails on speed.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LT_PEER = os.path.join(HERE, "lt_peer.py")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def listen_port(process):
    for line in process.stdout:
        if line.startswith("listening on "):
            return line.strip().rsplit(":", 1)[1]
    raise RuntimeError("peer exited before listening")




def main():
    piecewise = os.path.abspath(sys.argv[1])
    size_mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        seed_dir = os.path.join(tmp, "seed")
        os.makedirs(seed_dir)
        data = os.path.join(seed_dir, "big.bin")
        with open(data, "wb") as f:
            chunk = os.urandom(1 << 20)
            for i in range(size_mib):
                # Vary each MiB so no two pieces hash alike.
                f.write(i.to_bytes(8, "little") + chunk[8:])
        torrent = os.path.join(tmp, "big.torrent")
        subprocess.run([piecewise, "create", data, "-o", torrent],
                       check=True, stdout=subprocess.DEVNULL)
        seeder = subprocess.Popen(
            ["/usr/bin/python3", LT_PEER, "seed", torrent, seed_dir],
            stdout=subprocess.PIPE, text=True)
        try:
            port = listen_port(seeder)
            # Let the seeder finish checking its data before timing.
            time.sleep(max(2.0, size_mib / 400))
            results = {}

            dl = os.path.join(tmp, "piecewise")
            cpu0 = children_cpu()
            t0 = time.time()
            subprocess.run(
                [piecewise, "download", "--listen-ip", "127.0.0.1", "--no-dht",
                 "--download-dir", dl, "--peer", f"127.0.0.1:{port}", torrent],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results["piecewise"] = (time.time() - t0, children_cpu() - cpu0)

            lt_dir = os.path.join(tmp, "libtorrent")
            cpu0 = children_cpu()
            t0 = time.time()
            out = subprocess.run(
                ["/usr/bin/python3", LT_PEER, "leech", torrent, lt_dir,
                 "--peer", f"127.0.0.1:{port}"],
                check=True, capture_output=True, text=True).stdout
            results["libtorrent"] = (time.time() - t0, children_cpu() - cpu0)
            summary = json.loads(out.strip().splitlines()[-1])
        finally:
            seeder.kill()
            seeder.wait()

    size = size_mib * 1024 * 1024
    print(f"{size_mib} MiB over loopback from one libtorrent seeder")
    for name, (seconds, cpu) in results.items():
        print(f"  {name:10} {seconds:7.2f} s  {size / seconds / 1e6:8.1f} MB/s"
              f"  CPU {cpu:6.2f} s ({cpu / (size / 1e9):5.2f} s/GB)")
    print(f"  libtorrent's own timer: {summary['seconds']:.2f} s from add to finish")
    pw, lt = results["piecewise"], results["libtorrent"]
    print(f"  throughput ratio piecewise/libtorrent: {lt[0] / pw[0]:.2f}")
    print(f"  CPU ratio piecewise/libtorrent:        {pw[1] / lt[1]:.2f}")


if __name__ == "__main__":
    main()
