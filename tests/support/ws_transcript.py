"""The transcript both WebSocket test clients keep (ws_client.py and ws_h2.py): one entry per
message sent or received, written as JSON for the test to compare with the proxy's log."""

import base64
import json


def entry(kind, opcode, data):
    if opcode == 1:
        return {"type": kind, "opcode": 1, "data": data}
    return {"type": kind, "opcode": opcode, "data": base64.b64encode(data).decode()}


def finish(path, transcript, failures):
    """Writes the transcript to |path| (when given), prints the verdict; the exit status."""
    if path:
        with open(path, "w") as out:
            json.dump(transcript, out)
    if failures:
        for failure in failures:
            print("FAIL " + failure, flush=True)
        return 1
    print("OK", flush=True)
    return 0
