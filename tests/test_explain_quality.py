"""Whether maps explain the model: where cells sit (geometry), the metrics' conventions (Quantus, with a flat map a
miss), faithfulness and the randomisation check on models whose truth is known, finer layers, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import TINY_SIZE
from data.synthetic import generate
from explain import metrics, quality
from explain.cli import main
from explain.export_explainers import load_explainers
from explain.geometry import MapGeometry, layer_geometry, upsample
from explain.layers import layer_names, resolve_layer
from lightning_modules.models import build_model

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")


# --- geometry: a cell sits on its receptive field ----------------------------------------------------
def uniform_features(conventions: str) -> nn.Module:
    """The slim feature extractor with every convolution averaging, every batch norm the identity and inputs kept
    in ReLU6's linear range: each output cell's receptive field is symmetric about its centre."""
    model = build_model("slim_mobilenet", conventions=conventions).eval()
    with torch.no_grad():
        for m in model.features.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_(), m.running_var.fill_(1.0 - m.eps), m.weight.fill_(1.0), m.bias.zero_()
    return model.features


@pytest.mark.parametrize("conventions,size", [("torchvision", 320), ("tf", 320), ("tf", 321)])  # fields meet no border
def test_layer_geometry_is_where_an_interior_cell_draws_its_input_from(conventions, size):
    features = uniform_features(conventions)
    geometry = layer_geometry(features, size)
    x = torch.full((1, 3, size, size), 0.01, requires_grad=True)
    out = features(x)
    r, c = out.shape[-2] // 2, out.shape[-1] // 2  # an interior cell: its field meets no border
    out[0, :, r, c].sum().backward()
    weight = x.grad[0].sum(0).numpy()
    rows, cols = np.indices(weight.shape)
    centre = (float((weight * rows).sum() / weight.sum()), float((weight * cols).sum() / weight.sum()))
    assert centre == pytest.approx((geometry.offset + geometry.stride * r, geometry.offset + geometry.stride * c), abs=1e-3)
    assert geometry.stride == 16 and geometry.cells == out.shape[-1]


def test_tf_padding_and_symmetric_padding_place_cells_on_opposite_sides_of_the_naive_tiles():
    tiles = MapGeometry.tiles(96, 6)
    symmetric = layer_geometry(build_model("slim_mobilenet").features, 96)
    tf = layer_geometry(build_model("slim_mobilenet", conventions="tf").features, 96)
    assert (symmetric.offset, tiles.offset, tf.offset) == (0.0, 7.5, 15.0)
    one_hot = np.zeros((6, 6), np.float32)
    one_hot[2, 3] = 1.0
    for geometry in (symmetric, tiles, tf):
        peak = np.unravel_index(np.argmax(upsample(one_hot, 96, geometry)), (96, 96))
        assert peak == (int(geometry.offset + 2 * 16), int(geometry.offset + 3 * 16))  # the first of a tie at x.5


def test_tiles_upsampling_is_captums_bilinear_interpolation():
    from captum.attr import LayerAttribution

    maps = np.random.default_rng(0).random((3, 6, 6)).astype(np.float32)
    captum = LayerAttribution.interpolate(torch.from_numpy(maps)[:, None], (96, 96), interpolate_mode="bilinear")
    np.testing.assert_allclose(upsample(maps, 96), captum[:, 0].numpy(), atol=1e-6)


# --- the metrics' conventions ----------------------------------------------------------------------
def test_pointing_game_counts_a_flat_map_as_a_miss_and_agrees_with_ours_elsewhere():
    rng = np.random.default_rng(1)
    maps = rng.random((20, 32, 32)).astype(np.float32)
    maps[:3] = 0.0                    # all-zero
    maps[3] = 0.5                     # all-equal
    boxes = [(4.0, 4.0, 20.0, 20.0)] * 20
    hits = quality.pointing_game(maps, boxes)
    assert hits[:4].tolist() == [0.0] * 4 and quality.is_flat(maps).sum() == 4
    ours = [float(metrics.pointing_hit(m, b)) for m, b in zip(maps, boxes)]  # the hand-written metric it replaces
    assert hits.tolist() == ours


def test_relevance_mass_is_the_share_of_the_map_in_the_box_and_equals_energy_in_box():
    rng = np.random.default_rng(2)
    maps = rng.random((10, 32, 32)).astype(np.float32)
    maps[0] = 0.0
    boxes = [(2.0, 3.0, 17.0, 25.0)] * 10
    mass = quality.relevance_mass(maps, boxes)
    np.testing.assert_allclose(mass, [metrics.energy_in_box(m, b) for m, b in zip(maps, boxes)], atol=1e-6)
    assert mass[0] == 0.0


class LooksAtOneCorner(nn.Module):
    """A classifier whose class-0 evidence is the brightness of the top-left 16x16 pixels, and nothing else."""

    def forward(self, x):
        evidence = (x[:, :, :16, :16].mean((1, 2, 3)) - 0.5) * 2
        return torch.stack([evidence, -evidence], dim=1)


def test_faithfulness_ranks_the_map_of_what_the_model_uses_above_the_centre_and_a_wrong_map():
    pixels = np.full((4, 48, 48, 3), 30, np.uint8)
    pixels[:, :16, :16] = 230  # a bright corner the model reads; perturbation greys it out
    targets = np.zeros(4, int)
    right = np.zeros((4, 48, 48), np.float32)
    right[:, :16, :16] = 1.0
    wrong = np.zeros((4, 48, 48), np.float32)
    wrong[:, 32:, 32:] = 1.0
    settings = quality.PerturbationSettings(patch=8, regions=4)
    scores = {name: quality.faithfulness(LooksAtOneCorner(), pixels, maps, targets, settings).mean()
              for name, maps in (("right", right), ("centre", quality.centre_maps(4, 48)), ("wrong", wrong))}
    assert scores["right"] > scores["centre"] >= scores["wrong"] == pytest.approx(0.0)


def test_the_randomisation_check_fails_a_map_that_ignores_the_model_and_passes_gradcam(tiny_export):
    runtimes = load_explainers(tiny_export.out, saved_model=False)
    images, _ = generate(8, seed=0, size=TINY_SIZE, start=900)
    targets = runtimes.explainers["pytorch"].attribute(images).targets
    from explain.verdict import sanity_method

    _, gradcam = sanity_method(runtimes.explainers["pytorch"], runtimes.model, runtimes.spec)
    edges = lambda model, x, t: np.repeat(np.abs(np.diff(x.mean(1), axis=-1, append=0))[:, None], 1, 1)[:, 0]  # noqa: E731
    assert np.median(quality.randomisation(runtimes.model.model, edges, images, targets)) == pytest.approx(1.0)
    assert np.median(quality.randomisation(runtimes.model.model, gradcam, images, targets)) < 0.9


# --- layers ----------------------------------------------------------------------------------------
def test_an_earlier_layer_gives_a_finer_map_and_a_wrong_name_lists_the_valid_ones():
    model = build_model("slim_mobilenet").eval()
    assert resolve_layer(model, "slim_mobilenet", 96, "features.5").geometry.cells == 12
    assert resolve_layer(model, "slim_mobilenet", 96, layer_names(model)[-1]).last
    from data.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'features.99' is not a layer .* valid: features.0, features.1"):
        resolve_layer(model, "slim_mobilenet", 96, "features.99")


@pytest.fixture(scope="module")
def finer_run(tiny_export, tmp_path_factory):
    """``python -m explain --layer features.5 --method hirescam --quality`` on 4 synthetic crops and a 6x6 px image."""
    root = tmp_path_factory.mktemp("finer")
    images, _ = generate(4, seed=0, size=TINY_SIZE, start=1000)
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / f"img{i}.png")
    Image.fromarray(images[0]).resize((6, 6)).save(root / "tiny.png")
    out = root / "out"
    rc = main(["--artifacts", str(tiny_export.out), "--images", str(root), "--out", str(out), "--layer", "features.5",
               "--method", "hirescam", "--quality"])
    return rc, json.loads((out / "explain_parity.json").read_text())


@pytest.mark.slow
def test_an_earlier_layer_compares_the_int8_model_through_occlusion_run_alike_in_pytorch(finer_run):
    rc, report = finer_run
    assert rc == 0
    summary = report["summary"]
    assert summary["methods"] == {"pytorch": "hirescam", "pytorch_occlusion": "occlusion", "tflite_int8": "occlusion"}
    assert set(summary["parity"]) == {"pytorch_occlusion_vs_tflite_int8"}  # like with like only
    assert summary["map_shape"]["pytorch"] == [12, 12]
    assert summary["parity"]["pytorch_occlusion_vs_tflite_int8"]["spearman"]["median"] > 0.5


@pytest.mark.slow
def test_quality_gives_each_runtime_a_verdict_naming_its_method(finer_run):
    _, report = finer_run
    verdicts = {name: block["verdict"] for name, block in report["quality"]["runtimes"].items()}
    assert set(verdicts) == {"pytorch", "pytorch_occlusion", "tflite_int8"}
    assert "hirescam: AOPC" in verdicts["pytorch"] and "occlusion: AOPC" in verdicts["tflite_int8"]
    assert "localised: n/a (no head boxes)" in verdicts["pytorch"]  # loose images: no manifest, no boxes
    assert "which the int8 occlusion repeats" in verdicts["tflite_int8"]
    for line in verdicts.values():
        assert ("faithful (" in line or "not shown faithful (" in line) and "sanity check " in line


@pytest.mark.slow
def test_an_image_smaller_than_the_map_is_a_counted_skip(finer_run):
    _, report = finer_run
    assert report["summary"]["images"] == 4 and report["summary"]["skipped_images"] == 1
    (skip,) = report["skipped"]
    assert skip["path"].endswith("tiny.png") and "6x6 px is smaller than the 12x12 map" in skip["reason"]


def test_a_layer_that_does_not_exist_is_exit_2_listing_the_valid_names(tiny_export, tmp_path, capsys):
    rc = main(["--artifacts", str(tiny_export.out), "--synthetic", "2", "--out", str(tmp_path / "out"),
               "--layer", "features.99"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "valid: features.0, features.1" in err[0]
