#!/usr/bin/env python3
"""`make demo`: the whole system as a robot and a cloud server would run it, on one machine.

- cloud_node and edge_node start as separate processes (their console scripts, the YAML of prosem_bringup/config/);
- camera_replay plays the bundled camera sequence, one scene at a time (a cat, a cup of coffee, a
  rocket, an easy-VQA shape image), 640x480;
- scripted questions go through the real `prosem/query` service: a first answer from what the cloud
  already holds (min_fidelity 0) and refined answers that make the cloud pull more layers;
- prints a table (question, answer, layers, bytes, fidelity, latency), writes out/demo.json and
  the plot out/demo.png.

As root the edge and the cloud sit in two network namespaces joined by a 1 Mbit/s token-bucket
link (prosem_core.bench.netns); otherwise they talk over loopback. The first line says which.
Exits non-zero when anything fails (a process dies, the service errs, no frames arrive, time runs out).
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.prefix) / "bin"
CONFIG = ROOT / "ros2_ws" / "src" / "prosem_bringup" / "config"
CAMERA_RATE_HZ = 2.0  # the edge encodes every frame; the cloud keeps 16, i.e. 8 s of history
FIRST_FRAME_WAIT_S = 60.0  # start-up: models load in both processes
SCENE_FRAME_WAIT_S = 30.0  # a loaded host can stall DDS for seconds
NEW_FRAMES_PER_SCENE = 3  # frames past the last one held before a scene switch, before asking
STEADY_S = 0.6  # a second look this much later must find the stream steady (no backlog burst)
SCENE_ATTEMPTS = 2  # a scene whose frame was evicted mid-questions is asked again once


@dataclass
class Question:
    text: str
    min_fidelity: float
    expect: tuple[str, ...] = ()  # any of these words in the answer counts as right ("" = unknown)
    timeout_s: float = 3.0


@dataclass
class Row:
    scene: str
    question: str
    min_fidelity: float
    answer: str = ""
    confidence: float = 0.0
    frame_seq: int = -1
    layers: int = 0
    bytes: int = 0
    fidelity: float = 0.0
    fidelity_reached: bool = False
    latency_s: float = 0.0
    client_latency_s: float = 0.0
    expect: list[str] = field(default_factory=list)
    correct: bool | None = None
    error: str = ""


def shapes_questions() -> list[Question]:
    """Questions and answers of easy-VQA test image 0 (the 'shapes' scene), from the data set itself."""
    import easy_vqa

    questions, answers, image_ids = easy_vqa.get_test_questions()
    pairs = [(q, a) for q, a, i in zip(questions, answers, image_ids) if i == 0]
    wanted = {"what is the red shape?": 0.0, "what is the color of the shape?": 0.99, "does the image contain a circle?": 0.995}
    out = [Question(q, wanted[q], (a,)) for q, a in pairs if q in wanted]
    return out or [Question(q, 0.5, (a,)) for q, a in pairs[:3]]


def scenes() -> list[tuple[str, list[Question]]]:
    what = "what is in the image?"
    return [
        ("cat", [Question(what, 0.0, ("cat", "tabby", "lynx")), Question(what, 0.995, ("cat", "tabby", "lynx")),
                 Question("is there a cat?", 0.99, ("yes",))]),
        ("coffee", [Question(what, 0.0, ("cup", "coffee", "espresso", "mug")),
                    Question(what, 0.99, ("cup", "coffee", "espresso", "mug"))]),
        ("rocket", [Question(what, 0.995, ("missile", "rocket", "projectile", "shuttle"))]),
        ("shapes", shapes_questions()),
    ]


# ------------------------------------------------------------------------------------------------
# Processes on each side of the link
# ------------------------------------------------------------------------------------------------
class Sides:
    """Starts processes on the 'edge' or 'cloud' side: in two namespaces over a shaped link (root),
    or plainly on this host (loopback). Logs go to out/demo_logs/<name>.log."""

    def __init__(self, shaped: bool, rate_bps: int, log_dir: Path):
        self.shaped = shaped
        self.domain = random.SystemRandom().randint(101, 200)  # away from the test suite's 1..100
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.link = None
        self.rate_bps = rate_bps

    def __enter__(self) -> Sides:
        if self.shaped:
            from prosem_core.bench.netns import LinkConfig, ShapedLink

            self.link = ShapedLink(LinkConfig(rate_bps=self.rate_bps)).__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self.link is not None:
            self.link.__exit__(*exc)

    def env(self) -> dict[str, str]:
        env = {"ROS_DOMAIN_ID": str(self.domain), "PYTHONUNBUFFERED": "1"}
        if self.shaped:
            from prosem_core.bench.netns import dds_env

            env.update(dds_env(self.domain))
        else:
            from prosem_core.bench.netns import LARGE_FRAMES_PROFILE

            env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
            # Raw 640x480 frames (921,600 B) overflow Fast DDS's default 512 KB shared-memory segment
            # and fall back to lossy UDP fragments; the shipped profile enlarges the segment.
            env["FASTDDS_DEFAULT_PROFILES_FILE"] = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", str(LARGE_FRAMES_PROFILE))
        return env

    def start(self, name: str, side: str, argv: list[str], pipe: bool = False) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        kwargs = dict(stdout=subprocess.PIPE if pipe else log, stderr=log, text=True)
        if pipe:
            kwargs["stdin"] = subprocess.PIPE
            kwargs["bufsize"] = 1
        if self.link is not None:
            proc = self.link.run_in(side, argv, env=self.env(), **kwargs)
        else:
            proc = subprocess.Popen(argv, env={**os.environ, **self.env()}, start_new_session=True, **kwargs)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if self.link is not None:
            self.link.stop(proc)
            return
        if proc.poll() is None:
            os.killpg(proc.pid, 2)  # SIGINT: rclpy shuts down cleanly
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=5)

    def dead(self) -> list[str]:
        return [f"{n} (exit {p.returncode})" for n, p in self.procs.items() if p.poll() is not None]


class Client:
    """The query client process: one JSON request per line in, one response per line out."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout_s: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            return {"error": f"query client silent for {timeout_s:.0f} s"}
        if line is None:
            return {"error": f"query client exited ({self.proc.poll()})"}
        return json.loads(line)

    def set_param(self, node: str, name: str, value: str) -> dict:
        self.proc.stdin.write(json.dumps({"set_param": {"node": node, "name": name, "value": value}}) + "\n")
        self.proc.stdin.flush()
        return self.read(25.0)

    def ask(self, question: str, frame_seq: int = -1, min_fidelity: float = 0.0, timeout_s: float = 2.0) -> dict:
        self.proc.stdin.write(json.dumps({"question": question, "frame_seq": frame_seq,
                                          "min_fidelity": min_fidelity, "timeout_s": timeout_s}) + "\n")
        self.proc.stdin.flush()
        return self.read(timeout_s + 15.0)


_T0 = time.monotonic()


def say(text: str) -> None:
    """Progress on stderr with the time since start (the table goes to stdout)."""
    print(f"[{time.monotonic() - _T0:5.1f} s] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
def wait_new_frame(client: Client, after_seq: int, wait_s: float, sides: Sides) -> dict:
    """Poll the latest frame (min_fidelity 0: nothing is pulled) until one newer than `after_seq`
    plus NEW_FRAMES_PER_SCENE is held, i.e. surely from the scene now on camera, and the stream is
    steady: a second look STEADY_S later finds at most a frame or two more (right after start-up a
    backlog of queued frames can arrive in a burst and push the chosen frame out of the cloud's window)."""
    deadline = time.monotonic() + wait_s
    last = {}
    while time.monotonic() < deadline:
        if sides.dead():
            raise RuntimeError(f"process died: {', '.join(sides.dead())}")
        last = client.ask("what is in the image?", -1, 0.0, 0.5)
        if last.get("success") and last["frame_seq"] >= after_seq + NEW_FRAMES_PER_SCENE:
            time.sleep(STEADY_S)
            again = client.ask("what is in the image?", -1, 0.0, 0.5)
            if again.get("success") and again["frame_seq"] - last["frame_seq"] <= 2:
                return again
            continue
        time.sleep(0.25)
    raise RuntimeError(f"no new camera frame reached the cloud within {wait_s:.0f} s (last reply: {last})")


def ask_scene(client: Client, scene: str, questions: list[Question], frame: int) -> list[Row]:
    rows = []
    for q in questions:
        reply = client.ask(q.text, frame, q.min_fidelity, q.timeout_s)
        row = Row(scene, q.text, q.min_fidelity, expect=list(q.expect))
        if "error" in reply and "success" not in reply:
            row.error = reply["error"]
        elif not reply["success"]:
            row.error = reply["error"] or "success=false"
        else:
            row.answer, row.confidence = reply["answer"], reply["confidence"]
            row.frame_seq, row.layers, row.bytes = reply["frame_seq"], reply["layers_used"], reply["bytes_used"]
            row.fidelity, row.fidelity_reached = reply["fidelity"], reply["fidelity_reached"]
            row.latency_s, row.client_latency_s = reply["latency_s"], reply["client_latency_s"]
            if q.expect:
                row.correct = any(w in row.answer.lower() for w in q.expect)
        rows.append(row)
    return rows


def run_demo(shaped: bool, rate_bps: int, out: Path, deadline: float, push_layers: int) -> tuple[list[Row], dict]:
    log_dir = out / "demo_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    info: dict = {}
    with Sides(shaped, rate_bps, log_dir) as sides:
        sides.start("cloud_node", "cloud", [str(BIN / "cloud_node"), "--ros-args", "--params-file", str(CONFIG / "cloud.yaml")])
        sides.start("edge_node", "edge", [str(BIN / "edge_node"), "--ros-args", "--params-file", str(CONFIG / "edge.yaml"),
                                          "-p", f"max_layers_per_frame:={push_layers}"])
        # One camera for the whole run, started now so its start-up overlaps the nodes' model loading;
        # scenes are switched through its `source` parameter.
        all_scenes = scenes()
        sides.start("camera_replay", "edge", [str(BIN / "camera_replay"), "--ros-args",
                                              "-p", f"source:=demo:{all_scenes[0][0]}", "-p", f"rate_hz:={CAMERA_RATE_HZ}",
                                              "-p", "frames_per_scene:=25", "-p", "loop:=true"])
        client = Client(sides.start("query_client", "cloud", [sys.executable, str(ROOT / "scripts/demo_query_client.py"),
                                                                "prosem/query", "60"], pipe=True))
        ready = {}
        ready_by = time.monotonic() + 70.0
        while time.monotonic() < ready_by:
            if sides.dead():  # a node that fails at start (bad parameter, missing model) ends the demo now
                raise RuntimeError(f"process died: {', '.join(sides.dead())}")
            try:
                ready = json.loads(client.lines.get(timeout=0.5) or "{}")
                break
            except queue.Empty:
                continue
        if not ready.get("ready"):
            raise RuntimeError(f"query service not available: {ready.get('error')}")
        say("query service up")
        last_seq = -1
        for index, (scene, questions) in enumerate(all_scenes):
            if time.monotonic() > deadline:
                raise RuntimeError("out of time")
            if index > 0:
                # The newest frame held now is the last one that can only be the old scene; a few
                # more may still be in the edge's hands (slot, encoder, in flight): NEW_FRAMES_PER_SCENE.
                held = client.ask("what is in the image?", -1, 0.0, 0.5)
                last_seq = max(last_seq, held.get("frame_seq", -1) if held.get("success") else -1)
                switched = client.set_param("/camera_replay", "source", f"demo:{scene}")
                if not switched.get("successful"):
                    raise RuntimeError(f"camera did not switch to {scene}: {switched}")
            for attempt in range(SCENE_ATTEMPTS):
                first = wait_new_frame(client, last_seq, FIRST_FRAME_WAIT_S if index == 0 else SCENE_FRAME_WAIT_S, sides)
                frame = first["frame_seq"]
                say(f"scene {scene}: frame {frame} held, asking {len(questions)} question(s)")
                scene_rows = ask_scene(client, scene, questions, frame)
                evicted = [r for r in scene_rows if "not held" in r.error]
                if not evicted or attempt == SCENE_ATTEMPTS - 1:
                    break
                # The frame left the cloud's window mid-scene (a burst of frames): ask again about a
                # newer one, and say so; the rows of the failed attempt are dropped.
                say(f"scene {scene}: frame {frame} was evicted ({evicted[0].error}); asking again")
                last_seq = max(last_seq, frame)
            rows.extend(scene_rows)
            last_seq = max([first["frame_seq"]] + [r.frame_seq for r in rows if r.scene == scene])
            if sides.dead():
                raise RuntimeError(f"process died: {', '.join(sides.dead())}")
        if sides.link is not None:
            info["edge_link_counters"] = sides.link.counters("edge")
            info["cloud_link_counters"] = sides.link.counters("cloud")
    return rows, info


# ------------------------------------------------------------------------------------------------
def jpeg_reference() -> dict[str, int]:
    """Bytes of the first frame of each scene as JPEG q90 (what full_cloud would send), for scale."""
    from prosem_core import images
    from prosem_core.frame_sources import demo_frames

    return {name: len(images.encode_jpeg(frame, 90)) for name, frame in demo_frames(tuple(s for s, _ in scenes()), 1)}


def print_table(rows: list[Row]) -> None:
    head = f"{'scene':7} {'question':34} {'min_fid':>7} {'answer':40} {'layers':>6} {'bytes':>6} {'fidelity':>8} {'latency':>8}  ok"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.error:
            print(f"{r.scene:7} {r.question[:34]:34} {r.min_fidelity:7.3f} ERROR: {r.error}")
            continue
        ok = "-" if r.correct is None else ("yes" if r.correct else "NO")
        reached = "" if r.fidelity_reached else "*"
        print(f"{r.scene:7} {r.question[:34]:34} {r.min_fidelity:7.3f} {r.answer[:40]:40} {r.layers:6d} {r.bytes:6d} "
              f"{r.fidelity:7.3f}{reached:1} {r.latency_s * 1000:6.0f}ms  {ok}")
    if any(not r.fidelity_reached and not r.error for r in rows):
        print("* min_fidelity not reached within timeout_s: answered with the layers held")


def plot(rows: list[Row], jpeg: dict[str, int], path: Path, link_text: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if not r.error]
    labels = [f"{r.scene}: {r.question[:28]}\n(min fid {r.min_fidelity:.3f}) -> {r.answer[:26]}" for r in ok]
    y = list(range(len(ok)))[::-1]
    fig, (ax_b, ax_l) = plt.subplots(1, 2, figsize=(14, 0.55 * len(ok) + 2.2), sharey=True)
    colors = ["tab:green" if r.correct else ("tab:red" if r.correct is False else "tab:gray") for r in ok]
    ax_b.barh(y, [r.bytes for r in ok], color=colors)
    for yi, r in zip(y, ok):
        ax_b.text(r.bytes, yi, f" {r.bytes} B, {r.layers} layers, fid {r.fidelity:.3f}", va="center", fontsize=7)
        ax_b.plot([jpeg.get(r.scene, 0)], [yi], "k|", markersize=14)
    ax_b.set_xscale("log")
    ax_b.set_xlabel("bytes the answer used (log); | = the frame as JPEG q90")
    ax_b.set_yticks(y, labels, fontsize=7)
    ax_l.barh(y, [r.latency_s * 1000 for r in ok], color=colors)
    for yi, r in zip(y, ok):
        ax_l.text(r.latency_s * 1000, yi, f" {r.latency_s * 1000:.0f} ms", va="center", fontsize=7)
    ax_l.set_xlabel("query latency at the cloud (ms)")
    fig.suptitle(f"ProSem demo over {link_text}: green = expected answer, red = not, grey = no ground truth", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="folder for demo.json, demo.png and logs")
    parser.add_argument("--loopback", action="store_true", help="do not shape the link even as root")
    parser.add_argument("--rate-bps", type=int, default=1_000_000, help="shaped link rate (root only)")
    parser.add_argument("--time-limit", type=float, default=115.0, help="give up after this many seconds")
    parser.add_argument("--push-layers", type=int, default=1,
                        help="layers the edge pushes per frame (0 = all the rate controller allows); the cloud "
                             "pulls the rest when a question asks for more fidelity")
    args = parser.parse_args(argv)
    start = time.monotonic()
    for exe in ("cloud_node", "edge_node", "camera_replay"):
        if not (BIN / exe).is_file():
            print(f"demo: {BIN / exe} missing; run `make setup` first", file=sys.stderr)
            return 1
    from prosem_core.bench.netns import unavailable_reason

    why_not = None if not args.loopback else "--loopback given"
    why_not = why_not or unavailable_reason()
    shaped = why_not is None
    link_text = (f"a {args.rate_bps / 1e6:g} Mbit/s shaped link between two network namespaces" if shaped
                 else f"loopback (no shaped link: {why_not})")
    print(f"ProSem demo: edge and cloud over {link_text}", flush=True)
    pushed = "as many layers as the rate controller allows" if args.push_layers == 0 else f"{args.push_layers} layer(s)"
    print(f"the edge pushes {pushed} per frame; questions with a higher min_fidelity make the cloud pull more", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        rows, info = run_demo(shaped, args.rate_bps, args.out, start + args.time_limit - 15.0, args.push_layers)
        failure = None
    except Exception as exc:  # report what happened, with the process logs, and fail
        rows, info, failure = [], {}, f"{type(exc).__name__}: {exc}"
    elapsed = time.monotonic() - start
    if failure:
        print(f"demo FAILED after {elapsed:.1f} s: {failure}", file=sys.stderr)
        for log in sorted((args.out / "demo_logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-8:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        return 1
    print_table(rows)
    jpeg = jpeg_reference()
    errors = [r for r in rows if r.error]
    judged = [r for r in rows if r.correct is not None]
    print(f"\n{len(rows) - len(errors)}/{len(rows)} questions answered, "
          f"{sum(bool(r.correct) for r in judged)}/{len(judged)} with the expected answer; "
          f"JPEG q90 of these frames: {', '.join(f'{k} {v / 1000:.1f} KB' for k, v in jpeg.items())}")
    if "edge_link_counters" in info:
        c = info["edge_link_counters"]
        print(f"uplink (edge -> cloud veth, kernel counters): {c['tx_bytes'] / 1000:.1f} KB in {c['tx_packets']} packets")
    summary = {"link": "shaped" if shaped else "loopback", "link_text": link_text, "rate_bps": args.rate_bps if shaped else None,
               "push_layers": args.push_layers,
               "elapsed_s": elapsed, "rows": [asdict(r) for r in rows], "jpeg_q90_bytes": jpeg, **info}
    (args.out / "demo.json").write_text(json.dumps(summary, indent=2))
    plot(rows, jpeg, args.out / "demo.png", link_text)
    print(f"wrote {args.out / 'demo.json'} and {args.out / 'demo.png'} ({elapsed:.1f} s)")
    if errors:
        print(f"demo FAILED: {len(errors)} question(s) got no answer", file=sys.stderr)
        return 1
    if elapsed > args.time_limit:
        print(f"demo FAILED: took {elapsed:.0f} s (limit {args.time_limit:.0f} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
