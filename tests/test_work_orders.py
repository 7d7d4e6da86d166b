"""Work-order files from the MES, read on their own: every refusal names file, line and
field (``cellctl.trace.orders``)."""

from __future__ import annotations

import datetime as dt

import pytest

from cellctl.trace.orders import OrderFileError, parse_orders

NUMBERS = {"A12-100-01": "bracket-a12", "LB-200-07": "loader-boom-side-plate"}


def test_a_json_list_and_a_csv_give_the_same_orders():
    json_text = (
        '{"orders": [\n'
        '  {"order": "WO-1", "part_number": "A12-100-01", "quantity": 3,\n'
        '   "due": "2026-12-05T14:00"},\n'
        '  {"order": "WO-2", "part_number": "LB-200-07", "quantity": 1,\n'
        '   "due": "2026-12-06T06:00"}\n'
        "]}\n"
    )
    csv_text = (
        "order,part_number,quantity,due\n"
        "WO-1,A12-100-01,3,2026-12-05T14:00\n"
        "WO-2,LB-200-07,1,2026-12-06T06:00\n"
    )
    from_json = parse_orders(json_text, "mes.json", NUMBERS)
    assert from_json == parse_orders(csv_text, "mes.csv", NUMBERS)
    assert [o["part_program"] for o in from_json] == ["bracket-a12", "loader-boom-side-plate"]
    assert from_json[0]["due_at"] == dt.datetime(2026, 12, 5, 14, 0).timestamp()


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.json", '[\n {"order": "WO-1", "part_number": "A12-100-01",\n  "quantity": 0,\n'
         '  "due": "2026-12-05T14:00"}\n]', "a.json:3: quantity: expected a whole number"),
        ("b.json", '{"order": "WO-1", "part_number": "A12-100-01", "quantity": 2,\n'
         ' "due": "tomorrow"}', "b.json:2: due: expected a date and time"),
        ("c.json", '{"order": "WO-1", "part_number": "A12-100-01", "quantity": 2,\n'
         ' "due": "2026-12-05T14:00", "priority": 1}', "c.json:2: priority: unknown field"),
        ("d.json", '{"order": "WO-1", "quantity": 2, "due": "2026-12-05T14:00"}',
         "d.json:1: part_number: missing"),
        ("e.json", '{"order": "WO-1", "part_number": [', "e.json:1: not valid JSON"),
        ("f.csv", "order,part_number,due\nWO-1,A12-100-01,2026-12-05T14:00\n",
         "f.csv:1: quantity: column missing"),
        ("g.csv", "order,part_number,quantity,due\nWO-1,A12-100-01,2,2026-12-05T14:00\n"
         "WO-2,A12-100-01,2,2026-12-05T14:00,extra\n", "g.csv:3: more values than the header"),
        ("h.csv", "order,part_number,quantity,due\n", "h.csv:1: no orders in the file"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_file_line_and_field(name, text, expected):
    with pytest.raises(OrderFileError) as refused:
        parse_orders(text, name, NUMBERS)
    assert str(refused.value).startswith(expected), str(refused.value)


async def test_a_file_is_taken_whole_and_a_repeated_order_is_rejected_not_lost(tmp_path):
    from cellctl.config.trace_models import WorkOrderSettings
    from cellctl.records.store import AsyncStore
    from cellctl.trace.orders import WorkOrderQueue

    folder = tmp_path / "orders"
    (folder / "accepted").mkdir(parents=True)
    (folder / "rejected").mkdir()
    store = AsyncStore(tmp_path / "production.db", cell="cell-01")
    remarks: list[tuple[str, str]] = []
    try:
        queue = WorkOrderQueue(
            WorkOrderSettings(part_numbers=NUMBERS), folder, store, lambda text: None,
            lambda code, detail: remarks.append((code, detail)),
        )  # fmt: skip
        order = '{"order": "WO-5", "part_number": "LB-200-07", "quantity": 2, "due": "%s"}'
        (folder / "a.json").write_text(order % "2026-12-05T14:00")
        assert await queue.take(folder / "a.json")
        assert [(o["order_no"], o["made"]) for o in queue.open] == [("WO-5", 0)]
        assert queue.current["part_program"] == "loader-boom-side-plate"
        # The MES sends it again (another file, another due time): refused whole, kept.
        (folder / "b.json").write_text(order % "2026-12-06T14:00")
        assert not await queue.take(folder / "b.json")
        assert (folder / "rejected" / "b.json").exists()
        error = (folder / "rejected" / "b.json.error.txt").read_text()
        assert error == "b.json:1: work order WO-5 is already known\n"
        assert remarks == [("F195", "b.json:1: work order WO-5 is already known")]
        assert len(queue.open) == 1
        # The same file name again is kept beside the first, not over it.
        (folder / "b.json").write_text("not json at all {")
        assert not await queue.take(folder / "b.json")
        assert len(list((folder / "rejected").glob("b*.json"))) == 2
    finally:
        store.close()
