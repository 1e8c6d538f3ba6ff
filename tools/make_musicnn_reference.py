"""Regenerate tests/fixtures/musicnn_reference.npz: musicnn's own TensorFlow outputs on a fixed input.

Muzo never depends on TensorFlow. This script runs once, by hand, in a throwaway
environment OUTSIDE the repository, and stores small arrays that the parity test
(tests/test_pretrained_musicnn.py) compares Muzo's PyTorch port against:

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0 librosa
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python tools/make_musicnn_reference.py

The input is two 3 s patches (187 frames x 96 mel bands) of a deterministic synthetic
signal (tones, a chirp, noise bursts), turned into musicnn's input representation in
float32 (log10(10000 x + 1) of librosa's mel power spectrogram at 16 kHz, n_fft 512,
hop 256). musicnn's own extractor casts to float16 before the log; that is avoided on
purpose (it overflows to inf on loud clips).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "musicnn_reference.npz"
SR, N_FFT, HOP, N_MELS, N_FRAMES = 16000, 512, 256, 96, 187


def synthetic_signal(seconds: float = 6.2, seed: int = 0) -> np.ndarray:
    """A reproducible music-like test signal, float32 in [-1, 1]: harmonic tones, a chirp, noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for f0, start in [(110.0, 0.0), (220.0, 1.0), (330.0, 2.5), (147.0, 4.0)]:
        env = np.clip((t - start) * 8, 0, 1) * np.exp(-np.clip(t - start, 0, None) * 0.8)
        y += sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)) * env
    y += 0.2 * np.sin(2 * np.pi * (200 + 600 * t) * t) * (t > 3)
    beats = (np.mod(t, 0.5) < 0.05).astype(float)
    y += 0.3 * rng.standard_normal(t.size) * beats
    return (y / np.abs(y).max()).astype(np.float32)


def musicnn_input(y: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T.astype(np.float32)
    logmel = np.log10(10000 * mel + 1)
    return np.stack([logmel[i * N_FRAMES:(i + 1) * N_FRAMES] for i in range(logmel.shape[0] // N_FRAMES)])


def tensorflow_outputs(batch: np.ndarray, model: str) -> dict[str, np.ndarray]:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import musicnn
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        logits, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, is_training, model, 50)
        tags = tf.nn.sigmoid(logits)
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, os.path.join(os.path.dirname(musicnn.__file__), model) + "/")
        values = sess.run([tags, penultimate, mean_pool, max_pool], feed_dict={x: batch, is_training: False})
    return dict(zip(["tags", "penultimate", "mean_pool", "max_pool"], values))


def main() -> None:
    batch = musicnn_input(synthetic_signal())
    arrays = {"input": batch}
    for model in ("MSD_musicnn", "MTT_musicnn"):
        for name, value in tensorflow_outputs(batch, model).items():
            arrays[f"{model}/{name}"] = np.asarray(value, dtype=np.float32)
    import tensorflow as tf
    arrays["tensorflow_version"] = np.array(tf.__version__)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} KB): " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
