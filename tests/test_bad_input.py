"""A bad-input corpus, written at test time (no audio in the repository), thrown at
`muzo train`, `muzo predict` with a network and a Random Forest, and the Python API.

For every case: the documented exit status, no traceback, valid JSON, the bad file named
in one line, and the good files' results exactly as when they are predicted alone.
"""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import tiny_dataset, tone, write

pytestmark = pytest.mark.slow  # two `muzo train` runs and about 20 `muzo` commands: 1-3 minutes on 2 cores


def _muzo(*args, cwd=None, shell_suffix=""):
    command = [sys.executable, "-m", "muzo_lib.cli", *map(str, args)]
    if shell_suffix:
        import shlex
        return subprocess.run(" ".join(map(shlex.quote, command)) + shell_suffix, shell=True, capture_output=True,
                              text=True, cwd=cwd)
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/muzo-was-pwned",))


def write_bad_corpus(folder):
    """Bad files -> what must be said about them: ("error", text) or ("warning", text)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = write(folder / "source.wav", tone(4.0))
    cases = {}

    def bad(name, kind, text, data=None, signal=None, **kwargs):
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        else:
            write(path, signal, **kwargs)
        cases[name] = (kind, text)

    huge, inf, nan = tone(4.0), tone(4.0), tone(4.0)
    huge[2000:2100], inf[100], nan[100] = 1e17, np.inf, np.nan
    bad("empty.wav", "error", "empty file", data=b"")
    bad("text.wav", "error", "not decodable", data=b"hello, I am text " * 20)
    bad("header_only.wav", "error", "", data=good.read_bytes()[:30])
    bad("random.mp3", "error", "", data=np.random.default_rng(0).bytes(5000))
    bad("pickle.wav", "error", "not decodable", data=pickle.dumps(_Evil()))
    bad("huge.wav", "error", "absurd sample values", signal=huge, subtype="FLOAT")
    bad("inf.wav", "error", "NaN or infinite", signal=inf, subtype="FLOAT")
    bad("nan.wav", "error", "NaN or infinite", signal=nan, subtype="FLOAT")
    bad("silence.wav", "warning", "silent", signal=np.zeros(22050 * 4, dtype=np.float32))
    bad("dc.wav", "warning", "no signal (DC only)", signal=np.full(22050 * 4, 0.3, dtype=np.float32))
    bad("blip.wav", "warning", "too short", signal=tone(0.05))
    good.unlink()
    return cases


def write_good_corpus(folder):
    """Odd but valid audio: every one must be predicted."""
    y = tone(2.0, freq=330)  # short: the Random Forest's descriptors cost about 1 s per file on 2 busy cores
    write(folder / "pcm24.wav", y, subtype="PCM_24")
    write(folder / "pcm8.wav", y, subtype="PCM_U8")
    write(folder / "float.wav", y, subtype="FLOAT")
    write(folder / "low_8k.wav", tone(2.0, sr=8000), sr=8000)
    write(folder / "high_96k.wav", tone(2.0, sr=96000), sr=96000)
    write(folder / "six.wav", np.stack([y] * 6, axis=1))
    write(folder / "clip.flac", y)
    write(folder / "clip.ogg", y)
    write(folder / "clip.mp3", y)
    write(folder / "clip.opus", tone(2.0, sr=48000), sr=48000, format="OGG", subtype="OPUS")
    write(folder / "clip.au", y)
    write(folder / "LOUD.WAV", y)
    write(folder / "mélodie ♪.wav", y)
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A dataset with bad files among good ones, the two models `muzo train` made from it,
    and a separate folder of bad and of odd-but-good files to predict."""
    root = tmp_path_factory.mktemp("bad-input")
    data = tiny_dataset(root / "data", per_genre=5, seconds=4.0)
    train_cases = write_bad_corpus(data / "rock")
    write(data / "jazz" / "jazz_0.mp3", tone(4.0))  # same track id as jazz_0.wav
    env_run = root / "runs"
    trained = {}
    for arch, output, extra in (("cnn", root / "cnn.pt", ["--epochs", "1", "--segment-seconds", "1"]),
                                ("rf", root / "rf.skops", ["--trees", "10"])):
        trained[arch] = _muzo("train", "--data-dir", data, "--architecture", arch, "--output", output,
                              "--run-dir", env_run / arch, *extra)
    bad_cases = write_bad_corpus(root / "predict" / "bad")
    good_names = write_good_corpus(root / "predict" / "good")
    return dict(root=root, data=data, trained=trained, train_cases=train_cases, bad_cases=bad_cases,
                good_names=good_names, models={"cnn": root / "cnn.pt", "rf": root / "rf.skops"})


def _strict_json(text):
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def _no_traceback(done):
    assert "Traceback" not in done.stderr and "Error:" not in done.stderr.replace("AudioDecodeError", ""), done.stderr


@pytest.mark.parametrize("arch", ["cnn", "rf"])
def test_train_skips_and_names_each_bad_file_and_keeps_one_of_two_same_name_files(corpus, arch):
    done = corpus["trained"][arch]
    assert done.returncode == 0, done.stderr
    _no_traceback(done)
    assert f"saved {arch} model" in done.stdout and "test accuracy" in done.stdout
    lines = done.stderr.splitlines()
    for name, (kind, text) in corpus["train_cases"].items():
        named = [line for line in lines if f"rock/{name}:" in line]
        assert len(named) == 1 and text in named[0] and named[0].startswith("skipped "), (name, named)
    assert sum("jazz_0.mp3" in line and "jazz_0.wav" in line for line in lines) == 1   # the one skipped, the one kept
    assert not any(line.startswith("skipped skipped") for line in lines)
    assert not os.path.exists("/tmp/muzo-was-pwned")


@pytest.mark.parametrize("arch", ["cnn", "rf"])
def test_predict_reports_each_bad_file_and_leaves_good_results_untouched(corpus, arch):
    bad_dir, good_dir = corpus["root"] / "predict" / "bad", corpus["root"] / "predict" / "good"
    model = corpus["models"][arch]
    alone = _muzo("predict", good_dir, "--model", model, "--json")
    assert alone.returncode == 0, alone.stderr
    expected = {os.path.basename(r["file"]): r for r in _strict_json(alone.stdout)}
    assert sorted(expected) == corpus["good_names"] and all(r["error"] is None and r["genre"] for r in expected.values())

    bad_files = [bad_dir / name for name in corpus["bad_cases"]]
    mixed = _muzo("predict", *bad_files[:6], good_dir, *bad_files[6:], bad_dir / "missing.wav", "--model", model, "--json")
    assert mixed.returncode == 0, mixed.stderr
    _no_traceback(mixed)
    results = {os.path.basename(r["file"]): r for r in _strict_json(mixed.stdout)}
    for name, good in expected.items():
        _same_result(results[name], good)  # the bad files changed nothing for the good ones
    lines = mixed.stderr.splitlines()
    for name, (kind, text) in {**corpus["bad_cases"], "missing.wav": ("error", "no such file")}.items():
        r = results[name]
        assert [line for line in lines if name in line] and len([line for line in lines if name in line]) == 1
        if kind == "error":
            assert text in r["error"] and r["genre"] is None and r["confidence"] is None
        else:
            assert r["error"] is None and text in r["warning"] and r["genre"] is None
            assert r["confidence"] == pytest.approx(1 / 3)  # chance, never a confident answer


def _same_result(got: dict, expected: dict, tolerance: float = 1e-5) -> None:
    """Equal JSON results: the same genre, warnings and keys; probabilities equal to ``tolerance``.

    A good file's segments are batched with different neighbours when bad files sit beside it,
    so oneDNN picks other blockings for other batch sizes and sums each convolution (about a
    thousand products per output in float32) in another order: on an AVX2 CPU the probabilities
    then differ in the 7th digit (float32 rounding, ~1e-7 relative, grown through four blocks).
    1e-5 is a hundred times that and still far below any change a bad neighbour could cause."""
    assert got.keys() == expected.keys()
    def walk(a, b, where):
        if isinstance(b, float):
            assert isinstance(a, float) and abs(a - b) <= tolerance, (where, a, b)
        elif isinstance(b, dict):
            assert a.keys() == b.keys(), where
            for k in b:
                walk(a[k], b[k], f"{where}.{k}")
        elif isinstance(b, list):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        else:
            assert a == b, (where, a, b)
    walk(got, expected, expected["file"])


def test_predict_table_marks_no_signal_files(corpus):
    bad_dir = corpus["root"] / "predict" / "bad"
    done = _muzo("predict", bad_dir / "silence.wav", bad_dir / "dc.wav", "--model", corpus["models"]["cnn"],
                 "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "(silent)" in done.stdout and "(no signal (DC only))" in done.stdout
    assert "UserWarning" not in done.stderr


def test_only_bad_files_exit_1_with_valid_json(corpus):
    bad_dir = corpus["root"] / "predict" / "bad"
    done = _muzo("predict", bad_dir / "huge.wav", bad_dir / "empty.wav", "--model", corpus["models"]["rf"], "--json")
    assert done.returncode == 1
    _no_traceback(done)
    assert [r["error"] is not None for r in _strict_json(done.stdout)] == [True, True]


def test_api_gives_the_same_answers_as_the_command(corpus):
    from muzo_lib.inference.prediction import load_model, predict_files

    bad_dir = corpus["root"] / "predict" / "bad"
    for arch in ("cnn", "rf"):
        model = load_model(corpus["models"][arch], device="cpu")
        results = predict_files(model, sorted(bad_dir.iterdir()), progress=False)
        by_name = {os.path.basename(r.path): r for r in results}
        for name, (kind, text) in corpus["bad_cases"].items():
            said = by_name[name].error if kind == "error" else by_name[name].warning
            assert said is not None and text in said and "\n" not in said, (arch, name)


# ---------------------------------------------------------------- one-line errors

def _one_line_error(done, text):
    assert done.returncode == 2, (done.returncode, done.stderr)
    _no_traceback(done)
    assert text in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("device", ["nonsense", "meta"])
def test_bad_devices(corpus, device):
    data = corpus["data"]
    _one_line_error(_muzo("predict", data / "pop", "--model", corpus["models"]["cnn"], "--device", device),
                    "expected cpu, cuda")
    _one_line_error(_muzo("train", "--data-dir", data, "--architecture", "cnn", "--output", corpus["root"] / "x.pt",
                          "--device", device), "expected cpu, cuda")


def test_cuda_asked_for_where_there_is_none(corpus):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = _muzo("predict", corpus["data"] / "pop", "--model", corpus["models"]["cnn"], "--device", "cuda")
    _one_line_error(done, "CUDA is not available")


@pytest.mark.parametrize("output, text", [("__DIR__", "is a folder"), ("/dev/null/x.pt", "cannot write"),
                                          ("/proc/x.pt", "cannot write")])
def test_unwritable_outputs_fail_before_training(corpus, output, text):
    target = str(corpus["root"]) if output == "__DIR__" else output
    if output == "__DIR__":
        target = str(corpus["root"] / "adir.pt")
        os.makedirs(target, exist_ok=True)
    done = _muzo("train", "--data-dir", corpus["data"], "--architecture", "cnn", "--output", target, "--epochs", "1")
    _one_line_error(done, text)  # one line: not even the scan's summary ran


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(corpus, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = _muzo("train", "--data-dir", corpus["data"], "--architecture", "rf", "--output", locked / "m.skops")
    _one_line_error(done, "cannot write")


def test_too_short_segments_are_refused(corpus):
    done = _muzo("train", "--data-dir", corpus["data"], "--architecture", "cnn", "--output", corpus["root"] / "s.pt",
                 "--segment-seconds", "0.01")
    _one_line_error(done, "at least 0.5 s")


def test_too_few_tracks_to_validate_is_an_error_not_a_silent_success(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=1)
    done = _muzo("train", "--data-dir", data, "--architecture", "rf", "--output", tmp_path / "m.skops",
                 "--run-dir", tmp_path / "run")
    assert done.returncode == 2 and "too few" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.skops").exists()


def test_a_closed_pipe_is_not_a_traceback(corpus):
    done = _muzo("predict", corpus["root"] / "predict" / "good", "--model", corpus["models"]["cnn"], "--json",
                 shell_suffix=" | head -2")
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr


def test_quiet_silences_library_warnings(tmp_path):
    script = ("import sys, warnings\n"
              "import muzo_lib.data.runs as runs\n"
              "def noisy(*a, **k):\n"
              "    warnings.warn('a library speaking up', UserWarning)\n"
              "    raise ValueError('stop here')\n"
              "runs.prepare_run = noisy\n"
              "from muzo_lib.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    args = ["train", "--data-dir", str(tiny_dataset(tmp_path / "d", per_genre=1)), "--architecture", "rf",
            "--output", str(tmp_path / "m.skops")]
    loud = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    quiet = subprocess.run([sys.executable, "-c", script, *args, "--quiet"], capture_output=True, text=True)
    assert "a library speaking up" in loud.stderr
    assert "a library speaking up" not in quiet.stderr and quiet.stderr.strip() == "muzo train: stop here"


def test_papermill_with_impossible_split_sizes_names_them(run_notebook, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as info:
        run_notebook("00_dataset_tour.ipynb", run_dir=str(tmp_path / "run"), valid_size=0.9, test_size=0.9)
    assert info.value.ename == "ValueError" and "valid_size (0.9) and test_size (0.9)" in info.value.evalue
