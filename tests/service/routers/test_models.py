"""GET /v2/models: names, versions, input spec, thresholds and test metrics."""

from __future__ import annotations

from contract.spec import CHANNELS, JOINT_FILE, file_version


def test_models_list(client, models_dir):
    response = client.get("/v2/models")

    assert response.status_code == 200
    models = {m["role"]: m for m in response.json()["models"]}
    assert set(models) == {"classifier", "segmenter"}
    classifier, segmenter = models["classifier"], models["segmenter"]
    assert classifier["name"] == "tiny-classifier" and segmenter["name"] == "tiny-segmenter"
    assert classifier["version"] == segmenter["version"] == file_version(models_dir / JOINT_FILE)
    assert classifier["input"] == {
        "shape": [None, 32, 32, 3],
        "dtype": "float32",
        "channels": list(CHANNELS),
        "range": [0.0, 255.0],
    }
    assert classifier["threshold"] == 0.5
    assert classifier["metrics"] == {"roc_auc": 0.97, "accuracy": 0.93}
    assert segmenter["metrics"] == {"dice": 0.81}
    assert classifier["architecture"] == "tiny-cnn" and classifier["parameters"] > 0


def test_threshold_settings_override_the_card(make_client):
    client = make_client(classifier_threshold=0.99, segmenter_threshold=0.2)

    models = {m["role"]: m for m in client.get("/v2/models").json()["models"]}

    assert models["classifier"]["threshold"] == 0.99 and models["segmenter"]["threshold"] == 0.2


def test_models_without_card(tmp_path, models_dir, make_client):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / JOINT_FILE).write_bytes((models_dir / JOINT_FILE).read_bytes())

    # the .keras file alone (no card, so no ONNX export named): what the keras runtime serves
    models = {
        m["role"]: m for m in make_client(models_dir=bare, runtime="keras").get("/v2/models").json()["models"]
    }

    assert models["classifier"]["name"] == "classifier" and models["segmenter"]["name"] == "segmenter"
    assert models["classifier"]["threshold"] == 0.5 and models["classifier"]["metrics"] is None


def test_models_list_says_which_runtime_and_threads_won_and_the_timings(client):
    listed = client.get("/v2/models").json()
    choice = listed["runtime_choice"]
    timed = [c for c in choice["candidates"] if c["ms"] is not None]

    assert choice["measured"] and len(timed) >= 2 and choice["seconds"] > 0
    fastest = min(timed, key=lambda c: c["ms"])
    assert (listed["runtime"], listed["intra_op_threads"], listed["precision"]) == (
        fastest["runtime"],
        fastest["threads"],
        fastest["precision"],
    )
    assert all(c["threads"] <= choice["cores_per_call"] <= choice["cores"] for c in choice["candidates"])
    assert (listed["tta"], listed["tta_source"]) == ("none", "card")
