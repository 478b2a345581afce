"""precsweep.quantize and precsweep.format_info: the same bits as the `precsweep quantize` CLI
for every mode over 2^20 values per format (with --seed/--stream/--offset for stochastic
rounding), in place and out-of-place results, errors, and the format constants."""
import concurrent.futures
import subprocess
import zlib

import numpy as np
import pytest

import precsweep

# One of each kind: IEEE with subnormals, bf16's wide exponent, the OCP fn and fnuz encodings
# (saturating), a flushing format, and fixed point. (Every format against the exact reference:
# tests/test_formats.cpp; here the point is that the binding is the CLI's kernel and key.)
FORMATS = ["fp16", "bf16", "fp8-e4m3", "fp8-e5m2fnuz,saturate", "E3M2,no-subnormals", "Q4.6"]
MODES = ["toward_zero", "nearest_even", "up", "down", "stochastic"]
N = 1 << 20
KEY = dict(seed=12345, stream=7, offset=1000)


def values(fmt):
    """N float32: random bit patterns (every kind of binary32 value: NaN, inf, subnormal), and
    values spread over the format's range, where most of the rounding decisions are."""
    rng = np.random.default_rng(zlib.crc32(fmt.encode()))
    info = precsweep.format_info(fmt)
    bits = rng.integers(0, 2**32, N // 4, dtype=np.uint64).astype(np.uint32).view(np.float32)
    lo, hi = np.log2(info["min_subnormal"]) - 2, np.log2(info["max"]) + 1
    mags = np.exp2(rng.uniform(lo, hi, N - N // 4)) * rng.choice([-1.0, 1.0], N - N // 4)
    with np.errstate(over="ignore"):  # magnitudes past binary32's range become inf, on purpose
        return np.concatenate([bits, mags.astype(np.float32)])


def cli(binary, fmt, mode, text, n):
    """`precsweep quantize` of the tokens in text (n of them), as float32."""
    args = [binary, "quantize", "--format", fmt, "--rounding", mode]
    if mode == "stochastic":
        args += ["--seed", str(KEY["seed"]), "--stream", str(KEY["stream"]),
                 "--offset", str(KEY["offset"])]
    run = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    return np.fromiter(map(float.fromhex, run.stdout.split()), np.float64, n).astype(np.float32)


def same_bits(a, b):
    """Equal as bit patterns, any NaN equal to any NaN (the CLI prints NaNs without payload)."""
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.uint32),
                                                                b[~nan].view(np.uint32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_binding_equals_cli_bit_for_bit(binary, fmt):
    x = values(fmt)
    text = "\n".join(map(float.hex, x.tolist()))  # exact; "nan", "inf", "-inf" as such
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        expected = dict(zip(MODES, pool.map(lambda m: cli(binary, fmt, m, text, x.size), MODES)))
    for mode in MODES:
        got = precsweep.quantize(x, fmt, mode, **KEY) if mode == "stochastic" else \
            precsweep.quantize(x, fmt, mode)
        assert got.shape == x.shape and got.dtype == np.float32
        bad = np.flatnonzero(~((got == expected[mode]) | (np.isnan(got) & np.isnan(expected[mode]))))
        assert same_bits(got, expected[mode]), (
            f"{fmt} {mode}: {bad.size} differ, first x={x[bad[0]]!r} "
            f"binding={got[bad[0]]!r} cli={expected[mode][bad[0]]!r}")


def test_the_installed_package_is_tested():
    """tests/python_package.sh runs these from outside the source tree on purpose: the package
    under test is what pip installed (extension and precsweep.analysis), not the checkout."""
    import precsweep._ext
    import precsweep.analysis
    for module in (precsweep, precsweep._ext, precsweep.analysis):
        assert "site-packages" in module.__file__, module.__file__


def test_in_place_returns_x_and_shapes_are_kept():
    x = np.linspace(-3, 3, 6 * 7, dtype=np.float32).reshape(6, 7)
    want = precsweep.quantize(x, "E4M3")
    assert not np.array_equal(want, x)            # a new array; x untouched so far
    y = precsweep.quantize(x, "E4M3", out=x)
    assert y is x and np.array_equal(x, want)
    out = np.empty_like(x)
    assert precsweep.quantize(x[:3], "fp16", "up", out=out[:3]) is not None
    assert precsweep.quantize(np.float32([]), "bf16").size == 0


def test_stochastic_streams_and_offsets():
    x = np.full(4096, 1.0 + 2.0**-12, dtype=np.float32)
    a = precsweep.quantize(x, "fp16", "stochastic", seed=1)
    assert np.array_equal(a, precsweep.quantize(x, "fp16", "stochastic", seed=1))
    assert not np.array_equal(a, precsweep.quantize(x, "fp16", "stochastic", seed=1, stream=1))
    # The tail rounded on its own with offset=k equals the tail of the whole array.
    tail = precsweep.quantize(x[100:], "fp16", "stochastic", seed=1, offset=100)
    assert np.array_equal(tail, a[100:])
    assert set(np.unique(a)) == {np.float32(1.0), np.float32(1.0 + 2.0**-10)}


def test_pieces_and_shapes_do_not_change_the_bits():
    """Out of place, the binding rounds in cache-sized pieces of whole rows (or of one long
    row) on several threads; every shape of the same values gives one call's bits."""
    x = np.random.default_rng(3).standard_normal(3 * 70000, dtype=np.float32)
    for mode in ["stochastic", "nearest_even"]:
        flat = x.copy()
        precsweep.quantize(flat, "E4M3", mode, seed=9, stream=2, out=flat)  # in place: one call
        for shape in [(3, 70000), (70000, 3), (600, 350), (2, 3, 35000)]:
            got = precsweep.quantize(x.reshape(shape), "E4M3", mode, seed=9, stream=2)
            assert np.array_equal(got.ravel(), flat), (mode, shape)


def test_aliases():
    x = np.float32([3.14159, 1000.0, -0.3])
    for a, b in [("bfloat16", "bf16"), ("float8_e4m3fn", "fp8-e4m3"), ("half", "fp16"),
                 ("float8_e5m2", "fp8-e5m2")]:
        assert np.array_equal(precsweep.quantize(x, a), precsweep.quantize(x, b), equal_nan=True)
    for r in ["nearest", "nearest-even", "rne", "NEAREST_EVEN"]:
        assert np.array_equal(precsweep.quantize(x, "fp16", r), precsweep.quantize(x, "fp16"))


def test_bad_input_is_a_clear_error():
    x = np.ones(4, dtype=np.float32)
    with pytest.raises(TypeError, match="float32"):
        precsweep.quantize(np.ones(4), "fp16")
    with pytest.raises(ValueError, match="C-contiguous"):
        precsweep.quantize(np.ones((4, 4), dtype=np.float32)[:, 1], "fp16")
    with pytest.raises(ValueError, match="precsweep formats"):
        precsweep.quantize(x, "fp9")
    with pytest.raises(ValueError, match="did you mean 'stochastic'"):
        precsweep.quantize(x, "fp16", "stochastik")
    with pytest.raises(ValueError, match="shape"):
        precsweep.quantize(x, "fp16", out=np.ones(5, dtype=np.float32))
    ro = np.ones(4, dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        precsweep.quantize(x, "fp16", out=ro)


def test_format_info():
    e4m3 = precsweep.format_info("fp8-e4m3")
    assert (e4m3["bias"], e4m3["max"], e4m3["min_normal"], e4m3["min_subnormal"],
            e4m3["epsilon"], e4m3["encoding"], e4m3["block_size"]) == \
        (7, 448.0, 2.0**-6, 2.0**-9, 2.0**-3, "fn", 1)
    fp16 = precsweep.format_info("half")
    assert (fp16["name"], fp16["max"], fp16["min_subnormal"]) == ("E5M10", 65504.0, 2.0**-24)
    assert precsweep.format_info("Q8.8")["max"] == 128 - 2.0**-8


def test_torch_tensor_through_numpy_without_a_copy():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-2, 2, 100)
    before = t.clone()
    precsweep.quantize(t.numpy(), "E3M1", out=t.numpy())
    assert not torch.equal(t, before)
    assert torch.equal(t, torch.from_numpy(precsweep.quantize(before.numpy(), "E3M1")))
