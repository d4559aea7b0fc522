#!/usr/bin/env python3
"""Soak benchmark for `synctap proxy` (a benchmark, not a test: it runs for minutes).

What it does, all on 127.0.0.1:

  1. starts the shared bench harness's upstream (nginx + its Lua SOAP handler, ../shared/bench)
     and `synctap proxy --reverse` in front of it with the capture on;
  2. opens IDLE keep-alive TLS connections through the proxy (default 1,000), each sends one
     W1 request and then stays open, idle;
  3. runs steady W1-like load (the 3,072-byte MTOM POST of the harness's W1, oha at a fixed
     rate) for MINUTES minutes (default 10), sampling the proxy's RSS and open descriptors;
  4. sends one more request on every idle connection (they must still work), closes them,
     stops the load, and waits for the proxy's descriptors to return to where they were
     before the load.

It passes (exit 0) when
  * RSS at the end of the load is within 10 % of RSS after the first minute,
  * the proxy's open file descriptors are back to the baseline after the load,
  * there were 0 errors (oha errors, non-200 answers, idle connections that failed).

Figures go to stdout (a short table) and to --json-out. Usage:

  cargo build --release
  python3 benches/soak.py                       # 10 minutes, 1,000 idle connections
  python3 benches/soak.py --minutes 2 --idle 200  # a shorter run
"""

import argparse
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synctap", default=os.path.join(ROOT, "target", "release", "synctap"))
    p.add_argument("--bench-dir", default=os.path.join(ROOT, "..", "shared", "bench"),
                   help="the shared bench harness (nginx upstream, oha)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=int, default=200, help="W1 requests per second (oha -q)")
    p.add_argument("--concurrency", type=int, default=8, help="oha connections for the load")
    p.add_argument("--idle", type=int, default=1000, help="idle keep-alive connections")
    p.add_argument("--sample-seconds", type=float, default=5.0)
    p.add_argument("--json-out", default=None)
    p.add_argument("--keep-workdir", action="store_true")
    return p.parse_args()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class IdleConnections:
    """Keep-alive TLS connections that did one request and then wait."""

    def __init__(self, port, count, body, headers):
        self.port, self.count, self.body, self.headers = port, count, body, headers
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.conns = []
        self.errors = []

    def _one(self, conn):
        conn.request("POST", "/soap", body=self.body, headers=self.headers)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}")

    def open(self):
        for i in range(self.count):
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
            try:
                self._one(conn)
                self.conns.append(conn)
            except Exception as e:  # noqa: BLE001 - every failure is an error figure
                self.errors.append(f"open #{i}: {e}")
                conn.close()

    def use_again(self):
        """One more request on each: the proxy must have kept them."""
        for i, conn in enumerate(self.conns):
            try:
                # http.client reconnects silently when the server closed the connection;
                # a closed socket here means the proxy dropped an idle connection.
                if conn.sock is None:
                    raise RuntimeError("connection was closed")
                self._one(conn)
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"reuse #{i}: {e}")

    def close(self):
        for conn in self.conns:
            conn.close()
        self.conns = []


def main():
    a = parse_args()
    bench_dir = os.path.abspath(a.bench_dir)
    sys.path.insert(0, bench_dir)
    import bench  # the shared harness: nginx upstream, MTOM body, helpers

    if not os.access(a.synctap, os.X_OK):
        raise SystemExit(f"{a.synctap} not found: run `cargo build --release` first")
    oha = bench.which_or([os.path.join(bench_dir, ".cargo-bin/bin/oha"),
                          os.path.expanduser("~/.cargo/bin/oha")], "oha")
    nginx_bin = bench.which_or(["/usr/sbin/nginx"], "nginx")
    if not oha or not nginx_bin:
        raise SystemExit(f"missing oha or nginx: run {bench_dir}/setup.sh")
    bench.raise_nofile()

    work = tempfile.mkdtemp(prefix="synctap-soak-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "www", "files"), exist_ok=True)
    cert, key = bench.make_cert(work)
    body_path = os.path.join(work, "w1.bin")
    bench.write_mtom(body_path, 3072)
    with open(body_path, "rb") as f:
        body = f.read()
    headers = {"Content-Type": bench.MTOM_CONTENT_TYPE, "SOAPAction": bench.SOAP_ACTION}

    nginx = bench.Nginx(nginx_bin, work, cert, key, 1)
    nginx.start()
    port = bench.free_port()
    capture = os.path.join(work, "soak.jsonl")
    seconds = int(a.minutes * 60)
    proxy_argv = [a.synctap, "proxy", "--listen", f"127.0.0.1:{port}", "--reverse", nginx.url,
                  "--upstream-ca", cert, "--capture", capture, "--certs", os.path.join(work, "certs"),
                  "--max-client-connections", str(a.idle + a.concurrency + 64),
                  # the idle connections must outlive the load
                  "--client-idle-timeout", f"{seconds + 300}s"]
    log = open(os.path.join(work, "proxy.log"), "wb")
    proxy = subprocess.Popen(proxy_argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    result = {"proxy_argv": proxy_argv, "minutes": a.minutes, "rate": a.rate,
              "concurrency": a.concurrency, "idle_connections": a.idle, "samples": []}
    idle = None
    try:
        if not bench.wait_port(port, 30, proxy):
            raise SystemExit("synctap did not start; see " + log.name)
        time.sleep(1.0)
        pid = proxy.pid
        result["fds_baseline"] = fd_count(pid)
        result["rss_kib_start"] = rss_kib(pid)

        t_idle = time.monotonic()
        idle = IdleConnections(port, a.idle, body, headers)
        idle.open()
        result["idle_open_seconds"] = round(time.monotonic() - t_idle, 2)
        result["idle_opened"] = len(idle.conns)
        result["fds_with_idle"] = fd_count(pid)
        print(f"{len(idle.conns)} idle connections open, proxy fds {result['fds_with_idle']}",
              file=sys.stderr)

        oha_argv = [oha, "--no-tui", "--output-format", "json", "--insecure",
                    "--http-version", "1.1", "-z", f"{seconds}s", "-q", str(a.rate),
                    "-c", str(a.concurrency), "-t", "30s", "-m", "POST",
                    "-T", bench.MTOM_CONTENT_TYPE, "-H", f"SOAPAction: {bench.SOAP_ACTION}",
                    "-D", body_path, f"https://127.0.0.1:{port}/soap"]
        t0 = time.monotonic()
        load = subprocess.Popen(oha_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        rss_first_minute = None
        while load.poll() is None:
            time.sleep(a.sample_seconds)
            t = time.monotonic() - t0
            if proxy.poll() is not None:
                raise SystemExit(f"synctap exited during the load (rc {proxy.returncode})")
            s = {"t": round(t, 1), "rss_kib": rss_kib(pid), "fds": fd_count(pid)}
            result["samples"].append(s)
            if rss_first_minute is None and t >= 60:
                rss_first_minute = s["rss_kib"]
        out, err = load.communicate()
        result["rss_kib_after_first_minute"] = rss_first_minute
        result["rss_kib_end_of_load"] = rss_kib(pid)
        result["rss_kib_peak"] = max(s["rss_kib"] for s in result["samples"])
        try:
            o = json.loads(out)
        except ValueError:
            raise SystemExit(f"oha failed: {err.decode(errors='replace')[-2000:]}")
        codes = {str(k): v for k, v in (o.get("statusCodeDistribution") or {}).items()}
        errs = o.get("errorDistribution") or {}
        # oha -z cuts the requests in flight when its time is up: those are the load
        # generator stopping, not failures, and are reported apart.
        cut = errs.pop("aborted due to deadline", 0)
        ok = codes.get("200", 0)
        total = sum(codes.values()) + sum(errs.values())
        result["load"] = {"requests": total, "ok": ok, "status_codes": codes,
                          "errors": errs, "cut_at_deadline": cut, "rps": o.get("summary", {}).get("requestsPerSec"),
                          "p50_ms": (o.get("latencyPercentiles") or {}).get("p50", 0) * 1000,
                          "p99_ms": (o.get("latencyPercentiles") or {}).get("p99", 0) * 1000}

        idle.use_again()
        idle.close()
        # descriptors back to baseline: give the proxy a moment to see the closes
        deadline = time.monotonic() + 30
        while fd_count(pid) > result["fds_baseline"] and time.monotonic() < deadline:
            time.sleep(0.5)
        result["fds_after"] = fd_count(pid)
        result["idle_errors"] = idle.errors[:20]
        result["idle_error_count"] = len(idle.errors)
    finally:
        if idle:
            idle.close()
        bench.kill_group(proxy, grace=15)
        nginx.stop()
        log.close()

    result["capture_bytes"] = os.path.getsize(capture) if os.path.exists(capture) else 0
    errors = (result["load"]["requests"] - result["load"]["ok"]) + result["idle_error_count"]
    result["errors_total"] = errors
    first, end = result["rss_kib_after_first_minute"], result["rss_kib_end_of_load"]
    growth = (end - first) / first if first else None
    result["rss_growth_after_first_minute"] = growth
    checks = {
        "rss_within_10_percent": growth is not None and growth <= 0.10,
        "fds_back_to_baseline": result["fds_after"] <= result["fds_baseline"],
        "zero_errors": errors == 0,
        "all_idle_connections_opened": result["idle_opened"] == a.idle,
    }
    result["checks"] = checks
    json_out = a.json_out or os.path.join(work, "soak.json")
    with open(json_out, "w") as f:
        json.dump(result, f, indent=2)

    mib = lambda k: f"{k / 1024:.1f} MiB" if k else "?"  # noqa: E731
    print(f"soak: {a.minutes:g} min of W1 at {a.rate}/s (c={a.concurrency}) + {a.idle} idle keep-alive connections")
    print(f"  requests            {result['load']['requests']} ({result['load']['rps']:.1f}/s), "
          f"p50 {result['load']['p50_ms']:.2f} ms, p99 {result['load']['p99_ms']:.2f} ms")
    print(f"  errors              {errors} (load {result['load']['requests'] - result['load']['ok']}, "
          f"idle {result['idle_error_count']})")
    print(f"  RSS start           {mib(result['rss_kib_start'])}")
    print(f"  RSS after 1 min     {mib(first)}")
    print(f"  RSS end of load     {mib(end)} ({growth * 100:+.1f} %)" if growth is not None
          else f"  RSS end of load     {mib(end)}")
    print(f"  RSS peak (sampled)  {mib(result['rss_kib_peak'])}")
    print(f"  fds baseline/idle/after  {result['fds_baseline']}/{result['fds_with_idle']}/{result['fds_after']}")
    print(f"  capture             {result['capture_bytes'] / 1e6:.1f} MB")
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    print(f"  figures: {json_out}")
    if not a.keep_workdir:
        for p in ("w1.bin", "soak.jsonl"):
            try:
                os.remove(os.path.join(work, p))
            except OSError:
                pass
        if a.json_out:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
