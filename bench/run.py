#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side benchmark of the process sensor: an exec storm with no agent and with vigil
exporting to a file, alternating modes round by round (A B A B ...), on the same machine in one
run. Reports median execs/s, overhead against no agent, the agent's CPU seconds per 1,000 execs
(its own utime+stime from /proc), events expected vs exported, and drops."""
import argparse, json, os, platform, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def start_agent(vigil, workdir, node):
    export = os.path.join(workdir, "events.log")
    err = open(os.path.join(workdir, "agent.stderr"), "w")
    proc = subprocess.Popen([vigil, "--node-name", node, "--export-filename", export,
                             "--export-file-max-size-mb", "1000"], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 30
    while time.time() < deadline:  # ready once the /proc scan (done after attach) is exported
        if os.path.exists(export) and os.path.getsize(export) > 0:
            return proc, export, err
        time.sleep(0.05)
    proc.kill()
    sys.exit("vigil did not start; see " + err.name)


def count_events(export, binary):
    execs = exits = 0
    with open(export, "rb") as f:
        for line in f:
            if binary.encode() not in line:
                continue
            event = json.loads(line)
            if "process_exec" in event and event["process_exec"]["process"].get("binary") == binary:
                execs += 1
            elif "process_exit" in event and event["process_exit"]["process"].get("binary") == binary:
                exits += 1
    return execs, exits


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--execs", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vigil", default=os.path.join(ROOT, ".build/release/vigil"))
    ap.add_argument("--driver", default=os.path.join(ROOT, ".build/bench/exec_storm"))
    ap.add_argument("--json", default=os.path.join(ROOT, ".build/bench/results.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root to load BPF programs")

    workdir = tempfile.mkdtemp(prefix="vigil-bench-")
    binary = os.path.join(workdir, "storm-true")
    shutil.copy("/bin/true", binary)
    modes = ["no agent", "vigil (process sensor, file export)"]
    results = {m: [] for m in modes}
    try:
        for r in range(args.rounds):
            for mode in modes:
                agent = None
                if mode != "no agent":
                    agent, export, err = start_agent(args.vigil, workdir, f"bench-{r}")
                    cpu0 = cpu_seconds(agent.pid)
                elapsed = float(subprocess.check_output(
                    [args.driver, binary, str(args.execs), str(args.concurrency)]))
                row = {"execs_per_s": args.execs / elapsed}
                if agent:
                    # Let the reader drain (it polls every 20 ms), then stop cleanly.
                    deadline = time.time() + 20
                    while time.time() < deadline and count_events(export, binary)[1] < args.execs:
                        time.sleep(0.1)
                    cpu1 = cpu_seconds(agent.pid)
                    agent.send_signal(signal.SIGTERM)
                    agent.wait(timeout=30)
                    err.close()
                    log = open(err.name).read()
                    execs, exits = count_events(export, binary)
                    drops = [kv.split("=")[1] for kv in log.split() if kv.startswith(("kernel_drops=", "queue_drops="))]
                    row.update(cpu_per_1000=(cpu1 - cpu0) / args.execs * 1000, exported_execs=execs,
                               exported_exits=exits, drops="/".join(drops))
                    os.remove(export)
                results[mode].append(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    base = statistics.median(r["execs_per_s"] for r in results["no agent"])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"exec storm: {args.execs} execs x {args.rounds} rounds, concurrency {args.concurrency}, "
          f"kernel {platform.release()}, {os.cpu_count()} CPUs, commit {commit}")
    print(f"| mode | median execs/s | min-max | vs no agent | agent CPU s / 1000 execs | exec+exit events exported (expected {args.execs} each) | drops kernel/queue |")
    print("|---|---|---|---|---|---|---|")
    for mode in modes:
        rows = results[mode]
        rates = [r["execs_per_s"] for r in rows]
        med = statistics.median(rates)
        line = f"| {mode} | {med:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | {100 * (med / base - 1):+.1f}% |"
        if mode == "no agent":
            line += " - | - | - |"
        else:
            cpu = statistics.median(r["cpu_per_1000"] for r in rows)
            exported = ", ".join(f'{r["exported_execs"]}+{r["exported_exits"]}' for r in rows)
            drops = ", ".join(r["drops"] for r in rows)
            line += f" {cpu:.3f} | {exported} | {drops} |"
        print(line)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"kernel": platform.release(), "commit": commit, "execs": args.execs, "results": results}, f, indent=1)
    lost = any(r["exported_execs"] != args.execs or r["exported_exits"] != args.execs for r in results[modes[1]])
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
