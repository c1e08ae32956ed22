"""data.yaml's ``path:``: found from the YAML's folder, from the current directory, the moved-folder fallback,
nothing found; printed once by ``python -m data.prepare`` and recorded in prepare_report.json per dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.annotations import DataError, parse_yolo
from data.annotations.yolo_path import AS_WRITTEN, FROM_CURRENT_DIRECTORY, FROM_YAML_FOLDER, MOVED
from data.prepare.cli import main
from test_yolo import add_pair, add_yolo, write

ENTRIES = ("train: train/images\nval: valid/images\ntest: test/images\n"
           "nc: 2\nnames: {0: With Helmet, 1: Without Helmet}\n")


def export(yaml_dir: Path, path_line: str, dataset_dir: Path | None = None) -> Path:
    """The issue's layout: data.yaml in ``yaml_dir`` with ``path_line``; train/valid/test in ``dataset_dir``."""
    dataset_dir = dataset_dir or yaml_dir
    write(yaml_dir / "data.yaml", f"{path_line}\n{ENTRIES}")
    add_pair(dataset_dir / "train/images", "t1", "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    add_pair(dataset_dir / "valid/images", "v1", "1 0.25 0.25 0.1 0.1\n")
    add_pair(dataset_dir / "test/images", "c1", "0 0.75 0.75 0.1 0.1\n")
    return yaml_dir


def prepare_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--min-side", "0", "--split", "1,0,0"])
    out, err = capsys.readouterr()
    return code, out, err


def report_of(out: Path) -> dict:
    return json.loads((out / "prepare_report.json").read_text())


def test_relative_path_from_the_yaml_folder_is_printed_once_and_recorded(tmp_path, capsys, monkeypatch):
    root = export(tmp_path / "src", "path: datasets/helmet", tmp_path / "src/datasets/helmet")
    monkeypatch.chdir(tmp_path)  # no datasets/helmet here: only the YAML's folder finds it
    code, out, _ = prepare_cli(capsys, "--format", "yolo", "--root", str(root), "--out", str(tmp_path / "out"))
    folder = root.resolve() / "datasets/helmet"
    note = f"data.yaml path: 'datasets/helmet' -> {folder} ({FROM_YAML_FOLDER})"
    assert code == 0 and out.count("note: ") == 1 and f"note: src: {note}\n" in out
    assert report_of(tmp_path / "out")["by_dataset"]["src"]["dataset_dir"] == {
        "path": "datasets/helmet", "folder": str(folder), "found": FROM_YAML_FOLDER, "tried": [], "note": note}
    assert report_of(tmp_path / "out")["crops"] == 4


def test_relative_path_from_the_current_directory_as_ultralytics_trains(tmp_path, monkeypatch):
    """The issue's dataset: ``path: datasets/helmet`` written for training from the repository's backend/."""
    root = export(tmp_path / "backend/datasets/helmet", "path: datasets/helmet")
    monkeypatch.chdir(tmp_path / "backend")
    res = parse_yolo(root)
    assert sorted(r.image.name for r in res.records) == ["c1.jpg", "t1.jpg", "v1.jpg"]
    assert res.dataset_dir["found"] == FROM_CURRENT_DIRECTORY and res.dataset_dir["folder"] == str(root.resolve())
    assert res.dataset_dir["tried"] == [str(root.resolve() / "datasets/helmet")]


def test_a_folder_found_from_both_places_names_the_one_ultralytics_would_use(tmp_path, monkeypatch):
    root = export(tmp_path / "src", "path: hats", tmp_path / "src/hats")
    (tmp_path / "run/hats").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "run")
    res = parse_yolo(root)
    assert res.dataset_dir["folder"] == str(root.resolve() / "hats")
    assert res.dataset_dir["note"].endswith(f"Ultralytics, run from here, would use {tmp_path.resolve() / 'run/hats'} "
                                            "(it tries the current directory first)")


@pytest.mark.parametrize("path_line", ["path: datasets/helmet", "path: /nowhere/written/on/another/machine"])
def test_a_moved_dataset_folder_uses_the_yaml_folder_with_one_note(tmp_path, capsys, monkeypatch, path_line):
    root = export(tmp_path / "moved", path_line)
    monkeypatch.chdir(tmp_path)
    code, out, _ = prepare_cli(capsys, "--format", "yolo", "--root", str(root), "--out", str(tmp_path / "out"))
    record = report_of(tmp_path / "out")["by_dataset"]["moved"]["dataset_dir"]
    written = path_line.removeprefix("path: ")
    tried = ([str(root.resolve() / written), str(tmp_path.resolve() / written)] if not written.startswith("/")
             else [written])
    assert code == 0 and report_of(tmp_path / "out")["crops"] == 4
    assert record["found"] == MOVED and record["folder"] == str(root.resolve()) and record["tried"] == tried
    assert out.count("note: ") == 1 and f"note: moved: {record['note']}\n" in out
    assert f"data.yaml path: {written!r} is not a folder (" in record["note"]
    assert f"using the YAML's folder {root.resolve()}, which holds its train/val/test entries" in record["note"]
    if written.startswith("/"):
        assert f"{written} ({AS_WRITTEN})" in record["note"]


def test_nothing_found_is_one_error_line_naming_every_place_tried(tmp_path, capsys, monkeypatch):
    root = export(tmp_path / "src", "path: datasets/helmet")
    for image in (root / "valid/images").iterdir():
        image.unlink()
    (root / "valid/images").rmdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = prepare_cli(capsys, "--format", "yolo", "--root", str(root), "--out", str(tmp_path / "out"))
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    for place in (f"{root.resolve() / 'datasets/helmet'} ({FROM_YAML_FOLDER})",
                  f"{tmp_path.resolve() / 'datasets/helmet'} ({FROM_CURRENT_DIRECTORY})",
                  f"nor the YAML's folder {root.resolve()} (it lacks val: 'valid/images')", "DATASETS_DIR"):
        assert place in err
    assert not (tmp_path / "out").exists()


def test_a_folder_found_from_the_current_directory_outside_the_root_is_refused(tmp_path, monkeypatch):
    root = export(tmp_path / "src", "path: datasets/helmet")
    (tmp_path / "datasets/helmet").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=rf"path: 'datasets/helmet' resolves \({FROM_CURRENT_DIRECTORY}\) to "
                                        r".*datasets/helmet, outside the dataset root"):
        parse_yolo(root)


def test_a_flat_layout_ignores_path_and_records_nothing(tmp_path):
    add_yolo(tmp_path, "a", "0 0.5 0.5 0.2 0.2\n")
    write(tmp_path / "data.yaml", "path: gone\nnames: [helmet]\n")
    res = parse_yolo(tmp_path)
    assert [len(r.objects) for r in res.records] == [1] and res.dataset_dir is None


def test_several_sources_record_their_own_path_resolution(tmp_path, capsys, monkeypatch):
    moved = export(tmp_path / "moved", "path: datasets/helmet")
    plain = export(tmp_path / "plain", "")
    monkeypatch.chdir(tmp_path)
    code, out, _ = prepare_cli(capsys, "--source", f"yolo:{moved}", "--source", f"yolo:{plain}",
                               "--out", str(tmp_path / "out"))
    by_dataset = report_of(tmp_path / "out")["by_dataset"]
    assert code == 0 and by_dataset["moved"]["dataset_dir"]["found"] == MOVED
    assert by_dataset["plain"]["dataset_dir"] == {"path": None, "folder": str(plain.resolve()),
                                                  "found": "the YAML's folder (no path:)", "tried": [], "note": ""}
    assert out.count("note: ") == 1 and "note: moved: data.yaml path: 'datasets/helmet' is not a folder" in out
