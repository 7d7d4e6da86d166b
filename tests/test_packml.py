"""The PackML state machine: every legal transition, and a refusal for every illegal command."""

from __future__ import annotations

import pytest

from cellctl.cell.packml import (
    MODE_CHANGE_STATES,
    STATE_COMPLETE,
    TRANSITIONS,
    Command,
    CommandRefused,
    Mode,
    State,
    StateMachine,
)

LEGAL = [
    (source, command, target)
    for command, (sources, target) in TRANSITIONS.items()
    for source in sorted(sources)
]
ILLEGAL = [
    (source, command)
    for command, (sources, _) in TRANSITIONS.items()
    for source in State
    if source not in sources
]


@pytest.mark.parametrize(("source", "command", "target"), LEGAL)
def test_every_legal_command_leads_where_the_table_says(source, command, target):
    machine = StateMachine(initial=source)
    seen = []
    machine.subscribe(seen.append)
    assert machine.fire(command) is target
    assert machine.state is target
    assert seen[-1].from_state is source
    assert seen[-1].to_state is target
    assert seen[-1].cause == command


@pytest.mark.parametrize(("source", "command"), ILLEGAL)
def test_every_illegal_command_is_refused_naming_the_state(source, command):
    machine = StateMachine(initial=source)
    with pytest.raises(CommandRefused, match=f"{command} refused in state {source.label}"):
        machine.fire(command)
    assert machine.state is source


@pytest.mark.parametrize(("acting", "following"), sorted(STATE_COMPLETE.items()))
def test_acting_states_complete_into_their_wait_state(acting, following):
    machine = StateMachine(initial=acting)
    assert machine.state_complete() is following


def test_wait_states_do_not_complete_by_themselves():
    for state in set(State) - set(STATE_COMPLETE):
        with pytest.raises(CommandRefused, match="a wait state waits for a command"):
            StateMachine(initial=state).state_complete()


def test_a_whole_production_cycle_and_the_abort_path():
    machine = StateMachine()
    path = [machine.state]
    for step in ("reset", None, "start", None, None, None, "reset", None):
        machine.fire(step) if step else machine.state_complete()
        path.append(machine.state)
    assert [s.label for s in path] == [
        "Stopped", "Resetting", "Idle", "Starting", "Execute", "Completing", "Complete",
        "Resetting", "Idle",
    ]  # fmt: skip
    machine.fire("start")
    machine.state_complete()
    machine.fire("abort", cause="F100")
    machine.state_complete()
    assert machine.state is State.ABORTED
    with pytest.raises(CommandRefused, match="allowed now: clear"):
        machine.fire("reset")
    machine.fire("clear")
    machine.state_complete()
    assert machine.state is State.STOPPED


def test_manual_mode_has_no_cycle_to_start_and_modes_change_only_at_rest():
    machine = StateMachine(initial=State.IDLE)
    machine.set_mode(Mode.MANUAL)
    with pytest.raises(CommandRefused, match="not used in manual mode"):
        machine.fire(Command.START)
    machine.set_mode("dry_run")
    machine.fire("start")
    with pytest.raises(CommandRefused, match="modes change only in"):
        machine.set_mode(Mode.PRODUCTION)
    assert machine.mode is Mode.DRY_RUN
    with pytest.raises(CommandRefused, match="unknown mode"):
        StateMachine(initial=State.IDLE).set_mode("turbo")
    assert {s.label for s in MODE_CHANGE_STATES} == {"Stopped", "Idle", "Aborted"}


def test_unknown_commands_are_refused_not_ignored():
    with pytest.raises(CommandRefused, match="unknown command"):
        StateMachine().fire("jump")


def test_allowed_commands_follow_the_table():
    assert StateMachine(initial=State.EXECUTE).allowed_commands() == [
        Command.STOP, Command.HOLD, Command.SUSPEND, Command.ABORT,
    ] or set(StateMachine(initial=State.EXECUTE).allowed_commands()) == {
        Command.STOP, Command.HOLD, Command.SUSPEND, Command.ABORT,
    }  # fmt: skip
    assert StateMachine(initial=State.ABORTED).allowed_commands() == [Command.CLEAR]
