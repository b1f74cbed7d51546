"""Export a run as a Chrome trace-event JSON file (trace.json) for Perfetto or chrome://tracing.

Time: one microsecond of trace time is one simulated cycle (`ts` and `dur` are cycles);
`otherData.clock_hz` converts cycles to seconds. Layout: one process (the chip), one
track (tid) per PE in use, named by its label and coordinates, plus the I/O port when
it sends; one complete slice ("X") per op; per message an instant event ("i") on the
sender at the send cycle and on the receiver at the arrival cycle, joined by a flow
("s"/"f" with the message's id) so the viewer draws an arrow. The file is a pure
function of the results folder, with events in a fixed order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .records import KIND_LETTERS, MESSAGE_KEY_OF_CODE, MESSAGE_NAMES, OP_CATEGORIES
from .tracks import pe_tracks

PID = 1
PORT_TID = 0
PHASE_ORDER = {"X": 0, "i": 1, "s": 2, "f": 3}  # at equal time and track: slices, then markers, then flows


def _thread(tid: int, name: str) -> list[dict]:
    return [{"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}},
            {"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}]


def chrome_trace(metrics: dict, ops: dict[str, np.ndarray], messages: dict[str, np.ndarray]) -> dict:
    """The trace as a dictionary: {"traceEvents": [...], "otherData": {...}}."""
    tracks = pe_tracks(metrics, ops or None)
    tid_of = {(t.row, t.col): i + 1 for i, t in enumerate(tracks)}
    names = {i + 1: t.name for i, t in enumerate(tracks)}
    n_msg = len(messages["sent"]) if messages else 0
    if n_msg:
        src = list(zip(messages["src_row"].tolist(), messages["src_col"].tolist()))
        dst = list(zip(messages["dst_row"].tolist(), messages["dst_col"].tolist()))
        for coord in sorted(set(src + dst) - set(tid_of)):
            if coord[1] < 0:
                tid_of[coord], names[PORT_TID] = PORT_TID, f"I/O port ({coord[0]},{coord[1]})"
            else:
                tid_of[coord] = max(names, default=0) + 1
                names[tid_of[coord]] = f"PE ({coord[0]},{coord[1]})"
    scen = metrics["scenario"]
    meta = [{"ph": "M", "pid": PID, "name": "process_name",
             "args": {"name": f"{scen['training']['algorithm'].upper()} on {scen['hardware']['name']} ({scen['name']})"}}]
    for tid in sorted(names):
        meta += _thread(tid, names[tid])

    events = []
    if ops:
        for row, col, kind, sample, layer, start, end in zip(*(ops[c].tolist() for c in (
                "row", "col", "kind", "sample", "layer", "start", "end"))):
            events.append({"ph": "X", "pid": PID, "tid": tid_of[(row, col)], "ts": start, "dur": end - start,
                           "name": f"{KIND_LETTERS[kind]} {sample}", "cat": OP_CATEGORIES[kind],
                           "args": {"sample": sample, "layer": layer}})
    for i in range(n_msg):
        kind = MESSAGE_NAMES[MESSAGE_KEY_OF_CODE[int(messages["kind"][i])]]
        tag, nbytes = int(messages["tag"][i]), int(messages["nbytes"][i])
        sent, arrival = int(messages["sent"][i]), int(messages["arrival"][i])
        a, b = tid_of[src[i]], tid_of[dst[i]]
        args = {"tag": tag, "bytes": nbytes, "from": names[a], "to": names[b], "sent": sent, "arrival": arrival}
        common = {"pid": PID, "cat": kind, "name": f"{kind} {tag}"}
        events += [{**common, "ph": "i", "s": "t", "tid": a, "ts": sent, "args": {**args, "event": "send"}},
                   {**common, "ph": "s", "tid": a, "ts": sent, "id": i + 1},
                   {**common, "ph": "i", "s": "t", "tid": b, "ts": arrival, "args": {**args, "event": "arrival"}},
                   {**common, "ph": "f", "bp": "e", "tid": b, "ts": arrival, "id": i + 1}]
    events.sort(key=lambda e: (e["ts"], e["tid"], PHASE_ORDER[e["ph"]], e.get("id", 0), e["name"]))
    other = {"time_unit": "1 us of trace time = 1 simulated cycle", "clock_hz": scen["hardware"]["clock_hz"],
             "scenario": scen["name"], "algorithm": scen["training"]["algorithm"], "ops": len(ops["start"]) if ops
             else 0, "messages": n_msg}
    return {"traceEvents": meta + events, "otherData": other}


def write_trace(results, path: Path) -> Path:
    """Write `results` (anything with metrics, ops and messages) as trace.json: one event per line,
    keys sorted, so equal runs give equal bytes."""
    trace = chrome_trace(results.metrics, results.ops, results.messages)
    lines = ",\n".join(json.dumps(event, sort_keys=True, separators=(",", ":")) for event in trace["traceEvents"])
    other = json.dumps(trace["otherData"], sort_keys=True)
    Path(path).write_text(f'{{"otherData":{other},\n"traceEvents":[\n{lines}\n]}}\n')
    return Path(path)
