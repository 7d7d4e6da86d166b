"""The shipped fault-injection scenarios, each run against a real controller (a `cellctl run`
child process) and the simulated cell, as `cellsim run --scenario` runs them for a test rig;
and the runner itself: it fails a scenario whose expectation is wrong, names a broken file,
and writes JUnit XML a CI server reads."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from sim.scenario.runner import ScenarioError, ScenarioRunner, load_scenario, run_scenarios

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((REPO / "config" / "scenarios").glob("*.yaml"))
CELL_CONFIG = REPO / "config" / "cell.yaml"
LINKS = ("plc", "power_source", "robot")


def test_at_least_twenty_scenarios_cover_every_link_and_fault_kind():
    verbs_by_device: dict[str, set[str]] = {device: set() for device in LINKS}
    verbs: set[str] = set()
    for path in SCENARIOS:
        for event in load_scenario(path).events:
            verb, *args = event.do.split()
            verbs.add(verb)
            if args and args[0] in LINKS:
                verbs_by_device[args[0]].add(verb)
    assert len(SCENARIOS) >= 20
    for device in LINKS:
        assert {"link_cut", "stall", "corrupt", "truncate", "garbage"} <= verbs_by_device[device]
    assert {"slow", "modbus_exception", "half_open"} <= verbs
    assert {
        "arc_start_failure", "arc_break", "wire_stick", "gas_fault", "gas_pressure_low",
        "power_source_error", "estop", "door_open", "light_curtain_block", "air_pressure_low",
    } <= verbs  # fmt: skip


# Above every scenario's own timeout (``timeout_s``, 120 s unless its file says): a scenario
# that never ends is then failed by its runner, with its state, its parts and the controller's
# log, not cut off by pytest-timeout's (pyproject.toml) with a stack of the event loop waiting.
SCENARIO_TEST_TIMEOUT_S = 60 + max(load_scenario(p).timeout_s for p in SCENARIOS)


@pytest.mark.timeout(SCENARIO_TEST_TIMEOUT_S)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, tmp_path: Path):
    # The bounds are real-time ones. `make test` runs two workers, so a scenario may run
    # beside another test's cell: a cell PC is never idle either.
    scenario = load_scenario(path)
    result = asyncio.run(ScenarioRunner(scenario, path, CELL_CONFIG, tmp_path).run())
    report = "\n".join(
        [f"{path.name}: {result.error or ''}"]
        + [f"  [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in result.checks]
    )
    assert result.passed, f"{report}\n(logs in {result.work})\n{_logs_of(result.work)}"
    # Every cause that stopped the cell was judged: reaction and the safe window both.
    if scenario.expect.faults and scenario.expect.reaction_within_ms:
        assert any(c.name.startswith("reaction to") for c in result.checks), report


WRONG_EXPECTATION = """\
name: door-but-expecting-estop
description: The door opens, but the file expects an e-stop fault and a good part.
part: coupon-fillet-80
parts: 1
events:
  - at: {part: 1, seam: 1, phase: welding, delay_s: 0.1}
    do: door_open
  - at: {after_fault: F101, delay_s: 0.3}
    do: door_close
expect:
  faults: [F100]
  reaction_within_ms: 100
  parts_good: 1
"""


def _codes(detail: str) -> set[str]:
    """The fault codes of a check's detail ("raised: ['F101']", "others: ['F101', 'F131']")."""
    return set(re.findall(r"F\d{3}", detail))


def test_the_runner_fails_a_wrong_expectation_and_writes_junit(tmp_path: Path):
    good = REPO / "config" / "scenarios" / "door-opened-while-welding.yaml"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(WRONG_EXPECTATION)
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--scenario", str(good), str(wrong),
         "--junit", str(junit), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL door-but-expecting-estop" in run.stdout

    suites = ElementTree.parse(junit).getroot()
    assert suites.tag == "testsuites"
    by_name = {suite.get("name"): suite for suite in suites}
    good_failures = {
        case.get("name"): case.find("failure").get("message")
        for case in by_name["door-opened-while-welding"].iter("testcase")
        if case.find("failure") is not None
    }
    # The good scenario passes: no tolerance for a link lost "under load" (it had one while the
    # suite's cells starved each other's simulated devices; see drivers/realtime.py).
    assert not good_failures, (good_failures, run.stdout)
    assert "PASS door-opened-while-welding" in run.stdout
    assert "1 of 2 scenario(s) passed; 2 faults injected, 2 reactions judged" in run.stdout

    failed = by_name["door-but-expecting-estop"]
    assert int(failed.get("failures")) >= 2  # the fault, "no other faults", the good part
    failures = {
        case.get("name"): case.find("failure").get("message")
        for case in failed.iter("testcase")
        if case.find("failure") is not None
    }
    raised = _codes(failures["fault F100 raised"])
    assert raised == {"F101"}, failures
    assert f"[FAIL] fault F100 raised: {failures['fault F100 raised']}" in run.stdout
    assert _codes(failures["no other faults"]) == raised
    # The door's own reaction was still measured and met: the runner judges what happened.
    passed_checks = [c.get("name") for c in failed.iter("testcase") if c.find("failure") is None]
    assert "reaction to 'door_open' within 100 ms" in passed_checks


def test_a_broken_scenario_file_is_named_with_its_field_and_nothing_runs(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(WRONG_EXPECTATION.replace("parts: 1", "parts: many"))
    typo = tmp_path / "typo.yaml"
    typo.write_text(WRONG_EXPECTATION.replace("  faults: [F100]", "  fautls: [F100]"))
    with pytest.raises(ScenarioError) as caught:
        asyncio.run(run_scenarios([broken, typo], CELL_CONFIG, tmp_path / "work"))
    message = str(caught.value)
    assert f"{broken}: parts: Input should be a valid integer" in message
    assert f"{typo}: expect.fautls: Extra inputs are not permitted" in message
    assert not (tmp_path / "work").exists()  # nothing started


def test_an_unknown_verb_or_a_missing_device_is_refused_when_read(tmp_path: Path):
    slam = tmp_path / "slam.yaml"
    slam.write_text(WRONG_EXPECTATION.replace("do: door_open", "do: door_slam"))
    cut = tmp_path / "cut.yaml"
    cut.write_text(WRONG_EXPECTATION.replace("do: door_open", "do: link_cut welder"))
    with pytest.raises(ScenarioError, match=r"slam.yaml: events.0.do: .*unknown verb 'door_slam'"):
        load_scenario(slam)
    with pytest.raises(ScenarioError, match=r"cut.yaml: events.0.do: .*link_cut needs a device"):
        load_scenario(cut)


def _logs_of(work: Path | None, lines: int = 60) -> str:
    """The ends of a failed scenario's logs, in the failure's text: CI keeps no files."""
    if work is None:
        return ""
    parts = []
    for name in ("controller.log", "sim-events.log"):
        path = work / name
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last {len(tail)} lines of {name}:\n" + "\n".join(tail))
    return "\n".join(parts)
