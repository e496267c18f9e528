"""Ask a running TensorBoard, through its HTTP data API, what it serves; write it as JSON.

    python tests/tensorboard_client.py PORT OUT_JSON [DEADLINE_S]

Waits (at most ``DEADLINE_S`` seconds) until the server answers and lists a
run with scalar tags, then saves ``/data/runs``, the scalars plugin's tags
and every tag's values, the graphs plugin's ``info`` and each run's graph.
Exits 1 if the server never got there. Standard library only.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def main(port, out, deadline_s=60.0):
    base = f"http://127.0.0.1:{port}"

    def get(path, **query):
        url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    start, last_error = time.monotonic(), None
    while True:
        try:
            runs = json.loads(get("/data/runs"))
            tags = json.loads(get("/data/plugin/scalars/tags"))
            if runs and any(tags.get(run) for run in runs):
                break
        except (OSError, urllib.error.URLError, ValueError) as error:
            last_error = error  # not up yet
        if time.monotonic() - start > deadline_s:
            print(f"TensorBoard served no scalars within {deadline_s} s: {last_error}")
            return 1
        time.sleep(0.5)
    result = {
        "seconds_to_ready": round(time.monotonic() - start, 1),
        "runs": runs,
        "scalar_tags": tags,
        "scalars": {
            run: {
                tag: json.loads(get("/data/plugin/scalars/scalars", run=run, tag=tag))
                for tag in run_tags
            }
            for run, run_tags in tags.items()
        },
        "graph_info": json.loads(get("/data/plugin/graphs/info")),
    }
    result["graphs"] = {
        run: get("/data/plugin/graphs/graph", run=run)
        for run, info in result["graph_info"].items()
        if info.get("run_graph")
    }
    with open(out, "w") as f:
        json.dump(result, f)
    print(f"TensorBoard ready after {result['seconds_to_ready']} s; runs {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], *map(float, sys.argv[3:4])))
