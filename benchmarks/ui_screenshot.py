"""Take the README's screenshot: the Prefect UI with a samoflow convoy running.

Run: `.venv/bin/python -m benchmarks.ui_screenshot [OUT.png]` (needs Debian's `chromium`).
It serves samoflow on a throwaway home (`samoflow up`), starts a 3-member convoy of the
scripted agent, photographs the flow-runs page with headless Chromium, then `samoflow down`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from samoflow.cli.demo import make_demo_project

SLOW_FULL = "\n".join(
    ['name = "slow"']
    + [
        f'[[steps]]\nsleep = 5\noverview = "{"init" if i == 0 else "update"}"\nsignal = {signal}'
        for i, signal in enumerate(
            [
                '{ status = "continue", phase = "investigation" }',
                '{ status = "continue", phase = "requirements" }',
                '{ status = "waiting", for = "qa" }',
                '{ status = "waiting", for = "plan_approval" }',
                '{ status = "continue", phase = "testing" }',
                '{ status = "continue", phase = "quality" }',
                '{ status = "continue", phase = "done" }',
                '{ status = "done", summary = "shipped" }',
            ]
        )
    ]
)


def chromium_screenshot(url: str, out: Path) -> None:
    profile = tempfile.mkdtemp(prefix="chromium-")
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1500,950",
            "--virtual-time-budget=6000",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main(out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="samoflow-ui-"))
    env = {**os.environ, "SAMOFLOW_HOME": str(work / "home"), "PREFECT_HOME": str(work / "ph")}
    env.pop("PREFECT_API_URL", None)
    repo = make_demo_project(work)
    (work / "slow.toml").write_text(SLOW_FULL)
    sessions = "\n".join(
        f'[[sessions]]\nname = "{n}"\ntask = "{n} feature"\nscenario = "{work / "slow.toml"}"\n'
        "auto_approve = true\n"
        for n in ("auth", "billing", "search")
    )
    plan = work / "plan.toml"
    plan.write_text(f'name = "release"\n{sessions}')
    samoflow = [sys.executable, "-m", "samoflow.cli"]
    subprocess.run([*samoflow, "up", "--port", "4388", "--repo", str(repo)], env=env, check=True)
    try:
        api = {**env, "PREFECT_API_URL": "http://127.0.0.1:4388/api"}
        convoy = subprocess.Popen([*samoflow, "convoy", str(plan), "--repo", str(repo)], env=api)
        histories = repo / ".samoflow" / "sessions"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # photograph mid-run: two members have iterated
            if len(list(histories.glob("*/_signal_history.jsonl"))) >= 2:
                break
            time.sleep(0.5)
        chromium_screenshot("http://127.0.0.1:4388/runs", out)
        convoy.wait(timeout=300)
    finally:
        subprocess.run([*samoflow, "down"], env=env, check=False)
    print(f"screenshot: {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui-convoy.png").resolve())
