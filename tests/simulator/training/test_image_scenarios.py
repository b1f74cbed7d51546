"""The image data sets in scenarios: CIFAR and SVHN files from dataset.path through a convolutional run."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from tests.builders import scenario_dict
from tests.simulator.training.test_images import write_cifar10, write_svhn

from wafersim.config import ConfigError, load_scenario
from wafersim.runner import prepare, run
from wafersim.training.data import load_dataset, train_size

NET = [{"type": "conv", "out": 4, "kernel": 3, "stride": 2}, {"type": "pool", "kind": "max", "size": 3, "stride": 2},
       {"type": "dense", "out": 10}]


def image_scenario(tmp_path, name: str, folder, **dataset) -> object:
    data = scenario_dict(layers=(3072, 10), algorithm="cp", samples=8)
    data["model"] = {"input": [3, 32, 32], "layers": NET, "activation": "relu", "init": "he", "bias": True}
    data["dataset"] = {"name": name, "path": str(folder), "test_fraction": 0.25, **dataset}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path, [])


@pytest.mark.parametrize("version", ["binary", "python"])
def test_a_cifar10_folder_trains_a_conv_network(tmp_path, version):
    write_cifar10(tmp_path / "cifar", version, per_batch=2, n_test=3)
    s = image_scenario(tmp_path, "cifar10", tmp_path / "cifar")
    prepared = prepare(s, "s.yaml")
    assert len(prepared.data.y_train) == 10 and len(prepared.data.y_test) == 3  # the files' own split
    assert prepared.data.X_train.shape == (10, 3072) and 0 <= prepared.data.X_train.min()
    result = run(s, progress=False)
    assert result.status == "completed" and result.metrics["samples_trained"] == 8


def test_normalize_standardizes_each_channel_by_the_training_images(tmp_path):
    write_cifar10(tmp_path / "cifar", "binary", per_batch=2, n_test=3)
    data = load_dataset("cifar10", tmp_path / "cifar", 0.25, 0, n_features=3072, n_classes=10, normalize=True)
    images = data.X_train.reshape(-1, 3, 32, 32).astype(np.float64)
    np.testing.assert_allclose(images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert abs(data.X_test.mean()) < 1  # the test images by the training statistics, not their own


def test_svhn_and_its_training_count(tmp_path):
    write_svhn(tmp_path / "svhn", n_train=5, n_test=3)
    assert train_size("svhn", tmp_path / "svhn", 0.25) == 5
    s = image_scenario(tmp_path, "svhn", tmp_path / "svhn")
    assert len(prepare(s, "s.yaml").data.y_train) == 5


def test_a_subset_keeps_the_files_proportion(tmp_path):
    write_cifar10(tmp_path / "cifar", "binary", per_batch=4, n_test=4)  # 20 : 4
    data = load_dataset("cifar10", tmp_path / "cifar", 0.25, 0, n_features=3072, n_classes=10, samples=12)
    assert (len(data.y_train), len(data.y_test)) == (10, 2)
    assert train_size("cifar10", tmp_path / "cifar", 0.25, 12) == 10


def test_image_keys_belong_to_image_sets(tmp_path):
    for dataset, message in (({"name": "digits", "normalize": True}, "dataset.normalize standardizes the channels"),
                             ({"name": "cifar10", "extra": True}, "dataset.extra appends SVHN's extra images")):
        data = scenario_dict(layers=(64, 10), samples=8)
        data["dataset"] = {**dataset, "path": str(tmp_path)}
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError, match=message):
            load_scenario(path, [])


def test_a_model_whose_input_is_not_the_images_is_named(tmp_path):
    from wafersim.training.data import DataError

    write_cifar10(tmp_path / "cifar", "binary")
    data = scenario_dict(layers=(784, 10), samples=8)
    data["dataset"] = {"name": "cifar10", "path": str(tmp_path / "cifar")}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match="model.layers.0. is 784 but the cifar10 inputs have 3072 features"):
        prepare(load_scenario(path, []), str(path))


def test_the_shipped_cifar10_scenario_runs_on_a_folder_of_batches(tmp_path):
    """scenarios/nin-cifar10.yaml as a user runs it, its dataset.path set to (tiny, generated) batches."""
    from pathlib import Path

    write_cifar10(tmp_path / "cifar-10-batches-py", "python", per_batch=2, n_test=4)
    scenario = Path(__file__).parents[3] / "scenarios" / "nin-cifar10.yaml"
    s = load_scenario(scenario, [f"dataset.path={tmp_path}", "training.epochs=1"])
    assert s.model.n_layers == 6 and s.model.grouping == "conv_pool"
    result = run(s, progress=False)
    assert result.status == "completed" and result.metrics["samples_trained"] == 10
    assert [row["kind"] for row in result.metrics["layers"]] == ["conv", "conv+pool"] * 3
