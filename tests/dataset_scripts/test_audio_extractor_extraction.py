"""`extract_features` / `emoje-prepare` with every audio extractor: the cache key follows the extractor and its
settings, worker processes and `accelerate launch` give the one-process features."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dataset_scripts import build_corpus, load_prepared, read_prepared_metadata
from dataset_scripts.features import extract_features
from tests.audio_fixtures import save_tiny_encoder
from tests.dataset_fixtures import make_meld_tree
from tests.synthetic_data import REPO_ROOT, subprocess_env


@pytest.fixture(scope="module")
def meld(tmp_path_factory):
    root = tmp_path_factory.mktemp("meld")
    make_meld_tree(root)
    return root


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return save_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-wavlm")


def _audio(dataset) -> list:
    return [row["audio_features"] for split in dataset for row in dataset[split]]


def test_each_extractor_and_setting_has_its_own_cache_and_metadata_record(meld, encoder, tmp_path):
    pytest.importorskip("opensmile", reason="the egemaps route needs the opensmile extra")
    from dataset_scripts.schema import dataset_metadata

    dataset = build_corpus("meld", str(meld))
    specs = ["logmel", "egemaps", {"name": "egemaps", "level": "functionals"}, {"name": "encoder", "model": str(encoder)}]
    dims = []
    for spec in specs:
        prepared = extract_features(dataset, ["audio"], audio_extractor=spec, cache_dir=tmp_path / "cache", progress=False)
        dims.append(len(next(row for row in _audio(prepared) if row)[0]))
        assert dataset_metadata(prepared)["features"]["audio"]["extractor"]["audio_features"]["feature_dim"] == dims[-1]
    assert dims == [80, 25, 88, 32]
    namespace = next((tmp_path / "cache").iterdir())
    assert len([path for path in namespace.iterdir() if path.name.startswith("audio-")]) == len(specs)


@pytest.mark.slow
def test_worker_processes_reload_the_encoder_and_give_the_same_features(meld, encoder, tmp_path):
    dataset = build_corpus("meld", str(meld))
    spec = {"name": "encoder", "model": str(encoder), "pooling": "frames"}
    one = extract_features(dataset, ["audio"], audio_extractor=spec, cache_dir=tmp_path / "one", progress=False)
    two = extract_features(dataset, ["audio"], audio_extractor=spec, cache_dir=tmp_path / "two", progress=False, num_workers=2)
    assert _audio(one) == _audio(two)


@pytest.mark.slow
def test_accelerate_launch_with_a_speech_encoder_gives_the_one_process_dataset(meld, encoder, tmp_path):
    def command(output, launch: bool) -> list[str]:
        prefix = ["-m", "accelerate.commands.launch", "--config_file",
                  str(REPO_ROOT / "training" / "configs" / "accelerate" / "cpu_2proc.yaml"), "-m"] if launch else ["-m"]
        return [sys.executable, *prefix, "dataset_scripts.cli", "meld", "--data-dir", str(meld), "--output", str(output),
                "--features", "audio", "--audio-features", str(encoder), "--audio-option", "pooling=frames",
                "--cache-dir", str(tmp_path / f"cache-{launch}"), "--no-progress"]  # fmt: skip

    for launch in (False, True):
        done = subprocess.run(command(tmp_path / f"out-{launch}", launch), cwd=REPO_ROOT, env=subprocess_env(),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    single, launched = load_prepared(tmp_path / "out-False"), load_prepared(tmp_path / "out-True")
    np.testing.assert_allclose(
        np.concatenate([np.asarray(r, np.float32) for r in _audio(launched) if r]),
        np.concatenate([np.asarray(r, np.float32) for r in _audio(single) if r]), atol=1e-6,
    )
    record = read_prepared_metadata(tmp_path / "out-True")["features"]["audio"]["extractor"]["audio_features"]
    assert record["name"] == "encoder" and record["settings"]["pooling"] == "frames"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--audio-features", "egemap"], "--audio-features egemap: unknown audio extractor 'egemap' (did you mean 'egemaps'?)"),
        (["--audio-features", "egemaps", "--audio-option", "layer=6"], "--audio-features egemaps --audio-option layer=6: "),
        (["--audio-features", "logmel", "--audio-option", "max_frames"], "must be key=value"),
        (["--audio-features", "/no/such/encoder"], "cannot load the speech encoder '/no/such/encoder'"),
        (["--audio-features", "egemaps", "--audio-device", "cuda"], "apply to a speech encoder, not to egemaps"),
    ],
)
def test_bad_audio_options_are_one_line_errors_with_exit_code_2(meld, tmp_path, capsys, options, message):
    from dataset_scripts.cli import main

    argv = ["meld", "--data-dir", str(meld), "--output", str(tmp_path / "out"), "--features", "audio", "--no-progress"]
    with pytest.raises(SystemExit) as info:
        main(argv + options)
    error = capsys.readouterr().err
    assert info.value.code == 2 and message in error and "Traceback" not in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
