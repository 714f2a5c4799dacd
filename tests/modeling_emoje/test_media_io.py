"""media_io: audio cutting/resampling, video frame sampling, and clear errors for bad media (real files)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import soundfile as sf

from modeling_emoje.media_io import MediaDecodeError, iter_video_frames, load_audio, resample


def _write_video(path, num_frames=20, rate=10, size=(48, 64), audio=False):
    """A tiny mp4/avi/mkv/ts whose frame i is a flat grey of value 10 * i, with an optional 16 kHz chirp track."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        if audio:
            audio_stream = container.add_stream("mp2" if path.suffix in (".avi", ".ts") else "aac", rate=16000)
            audio_stream.layout = "mono"
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio:
            t = np.arange(int(16000 * num_frames / rate)) / 16000
            wave = (0.5 * np.sin(2 * np.pi * (200 + 100 * t) * t)).astype(np.float32)
            for first in range(0, len(wave), 1152):
                frame = av.AudioFrame.from_ndarray(wave[None, first : first + 1152], format="flt", layout="mono")
                frame.sample_rate, frame.pts = 16000, first
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


def test_cut_conversation_at_stm_times(media_dir, telephone_turns):
    wav_path = media_dir / "conversation" / "sample.wav"
    full = load_audio(wav_path)
    assert full.dtype == np.float32 and full.ndim == 1 and len(full) == 30 * 16000
    assert len(telephone_turns) == 13
    for turn in telephone_turns:
        start, end = turn.start, turn.end
        cut = load_audio(wav_path, start=start, end=end)
        first, last = round(start * 16000), round(end * 16000)
        assert len(cut) == last - first
        np.testing.assert_array_equal(cut, full[first:last])


def test_cut_at_another_rate_and_past_the_end(media_dir):
    wav_path = media_dir / "conversation" / "sample.wav"
    cut = load_audio(wav_path, sampling_rate=8000, start=6.68, end=7.16)
    assert abs(len(cut) - round(0.48 * 8000)) <= 1
    tail = load_audio(wav_path, start=29.5, end=31.0)  # end past the file is clipped
    assert len(tail) == 8000
    with pytest.raises(MediaDecodeError, match="no audio samples"):
        load_audio(wav_path, start=31.0, end=32.0)
    with pytest.raises(ValueError, match="sample.wav") as info:
        load_audio(wav_path, start=5.0, end=4.0)
    assert not isinstance(info.value, MediaDecodeError)


@pytest.mark.parametrize("orig_sr", [8000, 22050, 44100, 48000])
def test_resample_keeps_length_and_pitch(orig_sr):
    t = np.arange(orig_sr) / orig_sr  # 1 s
    tone = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    out = resample(tone, orig_sr, 16000)
    assert out.dtype == np.float32 and len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over 1 s
    np.testing.assert_array_equal(resample(tone, orig_sr, orig_sr), tone)
    with pytest.raises(ValueError):
        resample(tone, 0, 16000)


def test_resampled_files_decode_to_the_same_length(media_dir, tmp_path):
    clip = load_audio(media_dir / "conversation" / "sample.wav", start=8.0, end=11.0)
    for rate in (8000, 44100):
        path = tmp_path / f"clip_{rate}.flac"
        sf.write(path, resample(clip, 16000, rate), rate)
        back = load_audio(path)
        assert abs(len(back) - len(clip)) <= 1
        n = min(len(back), len(clip))
        assert np.corrcoef(back[:n], clip[:n])[0, 1] > 0.8


def test_audio_track_of_a_video(media_dir):
    wav = load_audio(media_dir / "video" / "single_face.mp4")  # mp3 stereo 44.1 kHz inside mp4
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) / 16000 - 2.42) < 0.05
    cut = load_audio(media_dir / "video" / "single_face.mp4", start=1.0, end=2.0)
    assert len(cut) == 16000
    np.testing.assert_allclose(cut[200:-200], wav[16200:31800], atol=1e-4)


def test_silent_track_is_reported(media_dir):
    path = media_dir / "video" / "WolfgangLanger_Pexels.mp4"  # its audio track is digital silence
    with pytest.raises(MediaDecodeError, match="silent") as info:
        load_audio(path, end=2.0)
    assert info.value.path == str(path) and "WolfgangLanger_Pexels.mp4" in str(info.value)
    zeros = load_audio(path, end=2.0, silence_threshold=None)
    assert len(zeros) == 32000 and not zeros.any()


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.wav"
    for call in (lambda p: load_audio(p), lambda p: iter_video_frames(p)):
        with pytest.raises(MediaDecodeError, match="nope.wav") as info:
            call(missing)
        assert info.value.reason == "file not found" and info.value.path == str(missing)
    rng = np.random.default_rng(0)
    for name in ("garbage.wav", "garbage.mp4"):
        bad = tmp_path / name
        bad.write_bytes(rng.bytes(4096))
        with pytest.raises(MediaDecodeError, match=name):
            load_audio(bad)
        with pytest.raises(MediaDecodeError, match=name):
            list(iter_video_frames(bad))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaDecodeError, match="empty"):
        load_audio(empty)


def test_error_is_a_picklable_value_error():
    err = pickle.loads(pickle.dumps(MediaDecodeError("/x/clip.mp4", "no audio stream")))
    assert isinstance(err, ValueError)
    assert (err.path, err.reason) == ("/x/clip.mp4", "no audio stream")
    assert "clip.mp4" in str(err) and "no audio stream" in str(err)


def test_stream_missing(media_dir, tmp_path):
    video_only = _write_video(tmp_path / "video_only.mp4")
    with pytest.raises(MediaDecodeError, match="no audio stream"):
        load_audio(video_only)
    with pytest.raises(MediaDecodeError, match="no video stream"):
        iter_video_frames(media_dir / "conversation" / "sample.wav")


def test_video_frame_sampling(tmp_path):
    path = _write_video(tmp_path / "ramp.mp4", num_frames=20, rate=10)  # 2 s, frame i has value 10 * i
    frames = list(iter_video_frames(path, fps=5.0))
    assert len(frames) == 10
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for f in frames)
    np.testing.assert_allclose([f.mean() for f in frames], np.arange(0, 200, 20), atol=3)
    # max_frames spreads the samples over the whole clip instead of keeping only its start
    spread = list(iter_video_frames(path, fps=5.0, max_frames=4))
    np.testing.assert_allclose([f.mean() for f in spread], [0, 50, 100, 150], atol=3)
    assert len(list(iter_video_frames(path, fps=100.0))) == 20  # never more than the video has
    cut = list(iter_video_frames(path, fps=10.0, start=0.5, end=1.0))
    np.testing.assert_allclose([f.mean() for f in cut], [50, 60, 70, 80, 90], atol=3)
    with pytest.raises(ValueError):
        iter_video_frames(path, fps=0)


def test_real_video_frames(media_dir):
    frames = list(iter_video_frames(media_dir / "video" / "single_face.mp4", fps=5.0))
    assert len(frames) == math.ceil(2.4 * 5)
    assert frames[0].shape == (360, 640, 3) and frames[0].dtype == np.uint8
    small = next(iter(iter_video_frames(media_dir / "video" / "no_face.mp4", max_frames=1, max_size=320)))
    assert small.shape == (180, 320, 3)
    cut = list(iter_video_frames(media_dir / "video" / "WolfgangLanger_Pexels.mp4", fps=5.0, start=10.0, end=12.0))
    assert len(cut) == 10


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv", ".ts"])
def test_cuts_agree_with_full_decoding_in_every_container(tmp_path, suffix):
    path = _write_video(tmp_path / f"clip{suffix}", audio=True)  # 2 s
    frames = list(iter_video_frames(path, fps=10.0, start=0.5, end=1.0))
    np.testing.assert_allclose([f.mean() for f in frames], [50, 60, 70, 80, 90], atol=3)
    full = load_audio(path)
    cut = load_audio(path, start=0.5, end=1.0)  # seeks: must land where a full decode puts 0.5 s
    assert len(cut) == 8000
    assert np.corrcoef(cut[1024:], full[8000 + 1024 : 16000])[0, 1] > 0.99
