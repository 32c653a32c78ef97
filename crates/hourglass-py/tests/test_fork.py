"""After the library has worked in a process, a fork()ed child gets a clear error instead of
hanging on a thread pool it no longer has; a spawned child works."""

import multiprocessing as mp

import numpy as np
import pytest

import hourglass
from conftest import small_blobs


def _score_in_child(path, queue):
    try:
        det = hourglass.load(path)
        queue.put(("ok", float(det.decision_function(small_blobs(10))[0])))
    except Exception as e:  # reported to the parent, which asserts on it
        queue.put((type(e).__name__, str(e)))


def _run(context, path, det):
    queue = context.Queue()
    child = context.Process(target=_score_in_child, args=(str(path), queue))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail(f"the {context.get_start_method()} child hung")
    return queue.get(timeout=5)


def test_forked_child_raises_and_spawned_child_scores(tmp_path):
    X = small_blobs()
    det = hourglass.AnomalyDetector(epochs=2, ensemble=1, random_state=0).fit(X)
    path = tmp_path / "m.safetensors"
    det.save(path)

    kind, message = _run(mp.get_context("fork"), path, det)
    assert kind == "RuntimeError", message
    assert "spawn" in message

    kind, value = _run(mp.get_context("spawn"), path, det)
    assert kind == "ok", value
    expected = det.decision_function(small_blobs(10))[0]
    np.testing.assert_allclose(value, expected, rtol=1e-5)
