"""trace.json: a valid Chrome trace-event file with one slice per op and one flow per message."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from wafersim.trace import chrome_trace, write_trace
from tests.builders import fake_asgd_results

REQUIRED = {"M": {"ph", "pid", "name", "args"}, "X": {"ph", "pid", "tid", "ts", "dur", "name", "cat", "args"},
            "i": {"ph", "pid", "tid", "ts", "name", "cat", "s", "args"},
            "s": {"ph", "pid", "tid", "ts", "name", "cat", "id"},
            "f": {"ph", "pid", "tid", "ts", "name", "cat", "id", "bp"}}


def check_structure(trace: dict, n_ops: int, n_messages: int) -> dict[int, str]:
    """Assert the trace's invariants; return the track names by tid."""
    events = trace["traceEvents"]
    for event in events:
        assert REQUIRED[event["ph"]] <= set(event), event
    phases = Counter(e["ph"] for e in events)
    assert phases["X"] == n_ops
    assert phases["s"] == phases["f"] == n_messages and phases["i"] == 2 * n_messages
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    assert set(starts) == set(finishes) and len(starts) == n_messages
    for flow_id, s in starts.items():
        f = finishes[flow_id]
        assert (s["name"], s["cat"]) == (f["name"], f["cat"]) and s["ts"] <= f["ts"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    timed = [e for e in events if e["ph"] != "M"]
    assert {e["tid"] for e in timed} <= set(names)
    per_track = defaultdict(list)
    for e in timed:
        per_track[e["tid"]].append(e)
    for track in per_track.values():
        stamps = [e["ts"] for e in track]
        assert stamps == sorted(stamps)
        slices = [(e["ts"], e["ts"] + e["dur"]) for e in track if e["ph"] == "X"]
        assert all(end <= start for (_, end), (start, _) in zip(slices[:-1], slices[1:]))
    return names


def test_run_trace_has_one_slice_per_op_and_one_flow_per_message(tiny_runs):
    result = tiny_runs["cp"]
    trace = chrome_trace(result.metrics, result.ops, result.messages)
    names = check_structure(trace, len(result.ops["start"]), len(result.messages["sent"]))
    assert names == {0: "I/O port (0,-1)", 1: "L1 (0,0)", 2: "L2 (0,1)", 3: "L3 (0,2)"}
    slices = sorted((e["tid"], e["ts"], e["dur"], e["name"]) for e in trace["traceEvents"] if e["ph"] == "X")
    letters = "FBUSR"
    want = sorted((k, s, e - s, f"{letters[c]} {n}") for k, c, n, s, e in zip(
        *(result.ops[col].tolist() for col in ("layer", "kind", "sample", "start", "end"))))
    assert slices == want
    assert trace["otherData"]["time_unit"] == "1 us of trace time = 1 simulated cycle"
    assert trace["otherData"]["clock_hz"] == 1.0e9


def test_message_endpoints_are_on_the_sender_and_receiver_tracks(tiny_runs):
    result = tiny_runs["cp"]
    trace = chrome_trace(result.metrics, result.ops, result.messages)
    flows = {(e["id"], e["ph"]): e for e in trace["traceEvents"] if e["ph"] in "sf"}
    m = result.messages
    tid = {(0, -1): 0, (0, 0): 1, (0, 1): 2, (0, 2): 3}
    for i in range(len(m["sent"])):
        s, f = flows[(i + 1, "s")], flows[(i + 1, "f")]
        assert (s["tid"], s["ts"]) == (tid[(int(m["src_row"][i]), int(m["src_col"][i]))], int(m["sent"][i]))
        assert (f["tid"], f["ts"]) == (tid[(int(m["dst_row"][i]), int(m["dst_col"][i]))], int(m["arrival"][i]))


def test_workers_shards_and_every_message_kind():
    fake = fake_asgd_results()
    trace = chrome_trace(fake.metrics, fake.ops, fake.messages)
    names = check_structure(trace, 12, 8)
    assert names == {0: "I/O port (0,-1)", 1: "W1 L1 (0,0)", 2: "W1 L2 (0,1)", 3: "W2 L1 (1,0)",
                     4: "W2 L2 (1,1)", 5: "S1 (0,2)", 6: "S2 (1,2)"}
    cats = sorted(e["cat"] for e in trace["traceEvents"] if e["ph"] == "s")
    assert cats == sorted(["activations", "activations", "deltas", "labels", "gradients", "weight requests",
                           "weights", "all-reduce chunks"])
    assert sorted(e["name"] for e in trace["traceEvents"] if e["ph"] == "X" and e["tid"] >= 5) == [
        "R 1", "S 0", "U 0", "U 1"]


def test_ops_without_messages():
    fake = fake_asgd_results()
    trace = chrome_trace(fake.metrics, fake.ops, {})
    check_structure(trace, 12, 0)


def test_file_is_json_and_byte_identical(tiny_runs, tmp_path):
    result = tiny_runs["mbgd"]
    a, b = write_trace(result, tmp_path / "a.json"), write_trace(result, tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()
    trace = json.loads(a.read_text())
    check_structure(trace, len(result.ops["start"]), len(result.messages["sent"]))
    assert trace == json.loads(json.dumps(chrome_trace(result.metrics, result.ops, result.messages)))


@pytest.mark.parametrize("kind", ["x", "e", "y"])
def test_tags_of_sample_messages_name_the_sample(tiny_runs, kind):
    from wafersim.records import MESSAGE_KINDS

    result = tiny_runs["sgd"]
    trace = chrome_trace(result.metrics, result.ops, result.messages)
    m = result.messages
    tags = sorted(m["tag"][m["kind"] == MESSAGE_KINDS[kind]].tolist())
    from wafersim.records import MESSAGE_NAMES
    got = sorted(int(e["name"].rsplit(" ", 1)[1]) for e in trace["traceEvents"]
                 if e["ph"] == "s" and e["cat"] == MESSAGE_NAMES[kind])
    assert got == tags and len(tags) > 0
