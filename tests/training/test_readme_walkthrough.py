"""The README's "Use it on your own machines" block, run line by line (slow).

Each ``soundsentry`` line goes through the CLI entry point in this process, except the backgrounded ``serve``,
which starts the real console script on a free port; the shell lines (token, curl) run in bash. The data set is
shrunk and the device pinned by appending options to the ``synth`` and ``fit`` lines; nothing else is changed.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest

from soundsentry.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
TINY_SYNTH = ["--scale", "0.1", "--seconds", "0.5"]
# The flagship trains nothing: only the device is pinned (the data set is already tiny).
TINY_FIT = ["train.accelerator=cpu"]


def walkthrough_commands() -> list[str]:
    """The commands of the README block between the walkthrough markers, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert match, "README.md lost its walkthrough block"
    return [line.strip() for line in match.group(1).replace("\\\n", " ").splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_walkthrough_block_has_the_documented_steps() -> None:
    verbs = [shlex.split(c, comments=True)[:2] for c in walkthrough_commands()]
    soundsentry = [v[1] for v in verbs if v[0] == "soundsentry"]
    assert soundsentry == ["synth", "fit", "score-dir", "export-onnx", "score-dir", "watch", "serve", "report"]
    assert [v[0] for v in verbs if v[0] != "soundsentry"] == ["head", "curl", "curl"]


def _without_curl(tmp_path: Path, port: int, endpoint: str) -> str:
    """What the README's curl line gets, through httpx where the machine has no curl."""
    headers = {"Authorization": f"Bearer {Path('token').read_text().strip()}"}
    if endpoint == "metrics":
        return httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=60).text
    clip = sorted((tmp_path / "mydata" / "fan" / "test").glob("*_normal_*.wav"))[0]
    return httpx.post(
        f"http://127.0.0.1:{port}/score",
        data={"machine_type": "fan", "section": "00"},
        files={"files": (clip.name, clip.read_bytes(), "audio/wav")},
        headers=headers,
        timeout=60,
    ).text


@pytest.mark.slow
def test_readme_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    server: subprocess.Popen[bytes] | None = None
    answers: dict[str, str] = {}
    try:
        for command in walkthrough_commands():
            argv = shlex.split(command, comments=True)
            if argv[0] != "soundsentry":
                line = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                endpoint = "metrics" if "/metrics" in line else "score"
                if argv[0] == "curl" and shutil.which("curl") is None:
                    answers[endpoint] = _without_curl(tmp_path, port, endpoint)
                    continue
                done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120, check=True)
                if argv[0] == "curl":
                    answers[endpoint] = done.stdout
                continue
            args = argv[1:]
            if args[-1] == "&":  # the service: the real console script, in the background, on a free port
                args = [a for a in args[:-1]]
                args[args.index("--port") + 1] = str(port)
                exe = Path(sys.executable).with_name("soundsentry")
                server = subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                deadline = time.monotonic() + 90
                while True:
                    assert server.poll() is None, f"serve exited: {server.stderr.read().decode()}"  # type: ignore[union-attr]
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "serve did not answer /health within 90 s"
                    time.sleep(0.2)
                continue
            if args[0] == "synth":
                args += TINY_SYNTH
            elif args[0] == "fit":
                args += [a for kv in TINY_FIT for a in ("--set", kv)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert main(args) == 0, command
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    results = _read_csv(tmp_path / "results.csv")
    assert results and all(r["decision"] in {"normal", "anomaly"} and not r["error"] for r in results)
    assert {(r["machine_type"], r["section"]) for r in results} == {("fan", "00"), ("fan", "01")}
    meta = json.loads((tmp_path / "detector" / "detector.json").read_text())
    assert all(g["expected_false_alarm_rate"] == pytest.approx(0.05) for g in meta["groups"])
    onnx = {r["path"]: r for r in _read_csv(tmp_path / "results_onnx.csv")}
    for r in results:
        assert float(onnx[r["path"]]["anomaly_score"]) == pytest.approx(float(r["anomaly_score"]), rel=1e-3, abs=1e-4)
    watched = [json.loads(line) for line in (tmp_path / "watch.jsonl").read_text().splitlines()]
    by_path = {r["path"]: r for r in results}
    assert sorted(w["path"] for w in watched) == sorted(by_path)  # watch scored each file once, as score-dir did
    assert all(w["decision"] == by_path[w["path"]]["decision"] for w in watched)
    assert re.search(r'soundsentry_decisions_total\{.*machine_type="fan".*\} 1\.0', answers["metrics"])
    answer = json.loads(answers["score"])
    (result,) = answer["results"]
    assert answer["machine_type"] == "fan" and result["decision"] in {"normal", "anomaly"}
    html = (tmp_path / "report.html").read_text()
    assert "ROC" in html and "data:image/png;base64," in html
