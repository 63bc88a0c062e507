"""Fixed-width chunks (S1) and context windows (S2): counts, contents, padding."""

from __future__ import annotations

import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.frontends import chunk_frames, context_windows, num_chunks, num_context_windows


def _frames(T: int, B: int = 2, C: int = 2, F: int = 3) -> torch.Tensor:
    # value encodes the frame index, so contents are easy to check
    return torch.arange(T, dtype=torch.float32).expand(B, C, F, T) + 1000 * torch.arange(B).reshape(B, 1, 1, 1)


def test_s1_chunks_drop_tail() -> None:
    x = _frames(313)
    chunks = chunk_frames(x, 32)
    assert chunks.shape == (2, 9, 2, 3, 32)
    for j in range(9):
        torch.testing.assert_close(chunks[:, j], x[..., 32 * j : 32 * (j + 1)])


def test_chunks_pad_tail_and_overlap() -> None:
    x = _frames(313)
    padded = chunk_frames(x, 32, tail="pad")
    assert padded.shape[1] == 10 == num_chunks(313, 32, tail="pad")
    last = padded[0, -1, 0, 0]
    torch.testing.assert_close(last[:25], torch.arange(288.0, 313.0))
    assert torch.all(last[25:] == 312.0)  # replicate the last frame
    overlapping = chunk_frames(x, 32, hop=16)
    assert overlapping.shape[1] == (313 - 32) // 16 + 1
    torch.testing.assert_close(overlapping[:, 3], x[..., 48:80])
    assert chunk_frames(_frames(64), 32, tail="pad").shape[1] == 2  # no empty extra chunk


def test_short_clip_is_padded_to_one_chunk() -> None:
    x = _frames(20)
    out = chunk_frames(x, 32, pad_mode="constant", pad_value=-1.0)
    assert out.shape == (2, 1, 2, 3, 32)
    torch.testing.assert_close(out[:, 0, ..., :20], x)
    assert torch.all(out[..., 20:] == -1.0)


def test_s2_context_window_count() -> None:
    assert num_context_windows(313, 64, 8) == 32  # ceil(249 / 8)
    assert num_context_windows(72, 64, 8) == 1  # (T - P) a multiple of L: the formula leaves the last fit out
    assert num_context_windows(73, 64, 8) == 2
    x = _frames(313)
    windows = context_windows(x, 64, 8)
    assert windows.shape == (2, 32, 2, 3, 64)
    for i in (0, 5, 31):
        torch.testing.assert_close(windows[:, i], x[..., 8 * i : 8 * i + 64])


@pytest.mark.parametrize("T", [64, 40])
def test_context_windows_short_clip(T: int) -> None:
    x = _frames(T)
    windows = context_windows(x, 64, 8)
    assert windows.shape == (2, 1, 2, 3, 64)
    torch.testing.assert_close(windows[:, 0, ..., :T], x)
    assert torch.all(windows[0, 0, ..., T:] == T - 1)


def test_window_errors() -> None:
    with pytest.raises(ConfigError, match=r"\(B, C, F, T\)"):
        chunk_frames(torch.zeros(3, 10), 4)
    with pytest.raises(ConfigError, match="tail must be"):
        chunk_frames(_frames(10), 4, tail="keep")
    with pytest.raises(ConfigError, match="width must be a positive integer"):
        chunk_frames(_frames(10), 0)
    with pytest.raises(ConfigError, match="pad_mode"):
        context_windows(_frames(10), 16, 4, pad_mode="zeros")
