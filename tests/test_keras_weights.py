"""Keras applications' MobileNetV2 weights in the project's MobileNetV2: read, mapped once, and run in TensorFlow's
conventions so that the network computes what Keras computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import REPO
from lightning_modules.models import build_model
from lightning_modules.models.keras_weights import KerasWeightsError, read_keras_mobilenet_v2

SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "mobilenet_v2-imagenet"
# float32 sums taken in another order over ~52 layers: measured 4e-6 (alpha 0.35) to 1.4e-5 (alpha 1.0) of the
# largest activation (ReLU6: 6) on the shared files at 96-160 px; a wrong padding, epsilon or channel order is
# off by 1e-2 or more.
RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def keras():
    import tf_keras

    return tf_keras


def randomise(model, seed: int = 0) -> None:
    """Every weight random, batch-norm variances positive: a mapping error cannot hide behind 0s and 1s."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            layer.set_weights([(rng.random(v.shape) * 0.5 + 0.5 if "variance" in w.name else rng.normal(0, 0.3, v.shape))
                               .astype(np.float32) for v, w in zip(values, layer.weights)])


@pytest.fixture(scope="module")
def tiny_keras_file(keras, tmp_path_factory):
    """A randomly initialised Keras MobileNetV2 (alpha 0.35, no top) saved as Keras saves weights files."""
    model = keras.applications.MobileNetV2(alpha=0.35, include_top=False, weights=None, input_shape=(64, 64, 3))
    randomise(model)
    path = tmp_path_factory.mktemp("keras") / "mobilenet_v2_0.35_tiny_no_top.h5"
    model.save_weights(str(path))
    return path


def keras_features(keras, alpha: float, size: int, weights, x: np.ndarray) -> np.ndarray:
    model = keras.applications.MobileNetV2(alpha=alpha, include_top=False, weights=None, input_shape=(size, size, 3))
    model.load_weights(str(weights))
    return model(x * 2.0 - 1.0, training=False).numpy()  # Keras's preprocess_input: x / 127.5 - 1 on bytes


def our_features(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.forward_features(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("size", [64, 65])  # even: SAME pads bottom/right only; odd: symmetrically
def test_the_model_reproduces_keras_on_a_random_keras_mobilenet_v2(keras, tiny_keras_file, size):
    x = np.random.default_rng(1).random((3, size, size, 3), dtype=np.float32)
    model = build_model("mobilenet_v2", width_mult=0.35, pretrained_path=str(tiny_keras_file)).eval()
    assert model.conventions == "tf"
    assert relative_error(our_features(model, x), keras_features(keras, 0.35, size, tiny_keras_file, x)) < RELATIVE_TOLERANCE


def test_torchvision_conventions_with_a_keras_file_are_allowed_but_compute_something_else(keras, tiny_keras_file, capsys):
    x = np.random.default_rng(2).random((2, 64, 64, 3), dtype=np.float32)
    model = build_model("mobilenet_v2", width_mult=0.35, pretrained_path=str(tiny_keras_file), conventions="torchvision")
    assert "running them in torchvision conventions, as asked" in capsys.readouterr().err
    assert relative_error(our_features(model.eval(), x), keras_features(keras, 0.35, 64, tiny_keras_file, x)) > 1e-2


def test_every_tensor_is_mapped_once_in_torchvision_names(tiny_keras_file):
    keras_weights = read_keras_mobilenet_v2(tiny_keras_file)
    reference = build_model("mobilenet_v2", width_mult=0.35).features.state_dict()
    assert keras_weights.alpha == 0.35 and keras_weights.conventions == "tf" and keras_weights.dropped == ()
    assert sorted(keras_weights.state_dict) == sorted(f"features.{k}" for k in reference)
    import h5py
    with h5py.File(tiny_keras_file) as f:
        kernels = [f"{layer}/{name}" for layer in f.attrs["layer_names"] for name in f[layer].attrs["weight_names"]]
    assert len(kernels) == 260  # and 52 batch-norm counters, which Keras does not keep
    assert len(keras_weights.state_dict) == 260 + 52


def test_a_file_with_the_imagenet_classifier_drops_it_and_says_so(keras, tmp_path, capsys):
    model = keras.applications.MobileNetV2(alpha=0.35, include_top=True, weights=None, input_shape=(32, 32, 3), classes=7)
    path = tmp_path / "with_top.h5"
    model.save_weights(str(path))
    assert read_keras_mobilenet_v2(path).dropped == ("predictions",)
    built = build_model("mobilenet_v2", width_mult=0.35, pretrained_path=str(path))
    assert "ImageNet classifier predictions dropped" in capsys.readouterr().err
    assert built.classifier.out_features == 2


@pytest.mark.skipif(not SHARED_WEIGHTS.is_dir(), reason=f"the shared ImageNet weights are not on this machine ({SHARED_WEIGHTS})")
def test_the_shared_imagenet_0_35_file_matches_keras_at_96_px(keras):
    path = SHARED_WEIGHTS / "mobilenet_v2_0.35_224_no_top.h5"
    x = np.random.default_rng(3).random((4, 96, 96, 3), dtype=np.float32)
    model = build_model("mobilenet_v2", width_mult=0.35, pretrained_path=str(path)).eval()
    assert read_keras_mobilenet_v2(path).alpha == 0.35  # from the shapes; the file name is not read
    assert relative_error(our_features(model, x), keras_features(keras, 0.35, 96, path, x)) < RELATIVE_TOLERANCE


def test_conventions_change_only_the_arithmetic_not_the_parameters():
    tv, tf = build_model("slim_mobilenet"), build_model("slim_mobilenet", conventions="tf")
    assert [(k, v.shape) for k, v in tv.state_dict().items()] == [(k, v.shape) for k, v in tf.state_dict().items()]
    tf.load_state_dict(tv.state_dict())
    x = torch.rand(1, 3, 96, 96)
    assert tf.eval().forward_features(x).shape == tv.eval().forward_features(x).shape == (1, 256, 6, 6)
    assert not torch.allclose(tf(x), tv(x))


# --- bad input: one line, exit 2 -------------------------------------------------------------------------

def other_network_file(keras, tmp_path):
    model = keras.applications.MobileNet(alpha=0.25, include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "mobilenet_1_0_224_tf_no_top.h5"  # a Keras MobileNetV1 weights file
    model.save_weights(str(path))
    return path


def truncated_file(tiny_keras_file, tmp_path):
    path = tmp_path / "cut.h5"
    data = tiny_keras_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def not_hdf5_file(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("<html>404 Not Found</html>\n")  # what a failed download often saves
    return path


@pytest.mark.parametrize("case,arch_kwargs,message", [
    ("other network", {}, "layer 'conv1' has no place in MobileNetV2"),
    ("truncated", {}, "truncated or damaged HDF5"),
    ("not hdf5", {}, "is not an HDF5 file"),
    ("alpha", {"width_mult": 1.0}, "holds MobileNetV2 alpha 0.35 (read off its tensor shapes), but the model has "
                                   "width_mult 1.0"),
    ("conventions", {"conventions": "keras"}, "conventions must be one of ['torchvision', 'tf'], got 'keras'"),
    ("missing", {}, "weights file not found"),
])
def test_bad_weights_files_are_one_line_and_exit_2(keras, tiny_keras_file, tmp_path, capsys, case, arch_kwargs, message):
    from lightning_modules.fit import main as fit_main

    path = {"other network": lambda: other_network_file(keras, tmp_path),
            "truncated": lambda: truncated_file(tiny_keras_file, tmp_path),
            "not hdf5": lambda: not_hdf5_file(tmp_path),
            "missing": lambda: tmp_path / "nowhere.h5"}.get(case, lambda: tiny_keras_file)()
    kwargs = {"width_mult": 0.35, "pretrained_path": str(path), **arch_kwargs}
    with pytest.raises(SystemExit) as stopped:
        fit_main(["--config", str(REPO / "configs" / "mobilenet_v2.yaml"), f"--model.arch_kwargs={kwargs}",
                  f"--trainer.logger.init_args.save_dir={tmp_path}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_another_networks_file_names_its_first_layer(keras, tmp_path):
    with pytest.raises(KerasWeightsError, match=r"layer 'conv1' has no place in MobileNetV2 \(\d+ such layers\)"):
        read_keras_mobilenet_v2(other_network_file(keras, tmp_path))
