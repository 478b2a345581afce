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


@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp4", "mx:E3M2:5", "nvfp4"])
def test_block_formats_block_along_the_last_axis(fmt):
    """Blocks restart at each row, also when the row length is not a multiple of k: the same
    as rounding each row padded with zeros to whole blocks (zeros change no block's or the
    tensor's largest magnitude), in place and out of place, on one thread or several."""
    rng = np.random.default_rng(5)
    rows, cols = 301, 45
    x = (rng.standard_normal((rows, cols)) * np.exp2(rng.integers(-20, 20, (rows, 1)))
         ).astype(np.float32)
    k = precsweep.format_info(fmt)["block_size"]
    padded = np.zeros((rows, -(-cols // k) * k), np.float32)
    padded[:, :cols] = x
    want = precsweep.quantize(padded.ravel(), fmt).reshape(padded.shape)[:, :cols]
    assert np.array_equal(precsweep.quantize(x, fmt), want)
    inplace = x.copy()
    precsweep.quantize(inplace, fmt, out=inplace)
    assert np.array_equal(inplace, want)
    # a row that is a whole number of blocks: the flat array's bits
    flat = x[:, :cols // k * k].copy()
    assert np.array_equal(precsweep.quantize(flat, fmt).ravel(),
                          precsweep.quantize(flat.ravel(), fmt))


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
    assert fp16["scale_format"] is None
    mx = precsweep.format_info("mxfp8-e4m3")
    assert (mx["block_size"], mx["scale_format"], mx["max"], mx["encoding"]) == \
        (32, "E8M0", 448.0, "fn")
    nv = precsweep.format_info("nvfp4")
    assert (nv["block_size"], nv["scale_format"], nv["max"], nv["element"]) == \
        (16, "fp8-e4m3", 6.0, "fp4-e2m1")


def test_torch_tensor_through_numpy_without_a_copy():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-2, 2, 100)
    before = t.clone()
    precsweep.quantize(t.numpy(), "E3M1", out=t.numpy())
    assert not torch.equal(t, before)
    assert torch.equal(t, torch.from_numpy(precsweep.quantize(before.numpy(), "E3M1")))


ACCUMULATORS = ["E5M10", "E5M10:stochastic", "bf16:toward_zero,chunk=16",
                "E4M3:up,chunk=5,outer=E5M10:down", "Q8.8:nearest_even", "E8M12:stochastic,chunk=8"]


def dot_cli(binary, acc, lines, seed, stream):
    """`precsweep dot` of the given lines (each [a1, b1, a2, b2, ...]), as float32."""
    fmt, _, rest = acc.partition(",")
    fmt, _, mode = fmt.partition(":")
    args = [binary, "dot", "--format", fmt, "--rounding", mode or "nearest_even",
            "--seed", str(seed), "--stream", str(stream)]
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        args += [f"--{key}", value]
    text = "\n".join(" ".join(map(float.hex, line)) for line in lines)
    run = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    return np.array([float.fromhex(v) for v in run.stdout.split()], np.float32)


@pytest.mark.parametrize("acc", ACCUMULATORS)
def test_dot_and_matmul_equal_the_cli_bit_for_bit(binary, acc):
    """matmul's element (i, j) is `precsweep dot` of row i of a and column j of b as line
    i * N + j (its stochastic counter); precsweep.dot with index=i*N+j is the same."""
    rng = np.random.default_rng(zlib.crc32(acc.encode()))
    M, K, N = 7, 37, 5
    scale = np.exp2(rng.integers(-6, 6, (M, K)))  # wide magnitudes: swamping happens
    a = (rng.standard_normal((M, K)) * scale).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    lines = [np.column_stack([a[i], b[:, j]]).ravel().tolist() for i in range(M) for j in range(N)]
    want = dot_cli(binary, acc, lines, seed=11, stream=4).reshape(M, N)
    got, stats = precsweep.matmul(a, b, acc, seed=11, stream=4, return_stats=True)
    assert got.dtype == np.float32 and same_bits(got, want), acc
    assert stats["additions"] == M * N * K and 0 <= stats["swamped"] <= M * N * K
    for i, j in [(0, 0), (3, 2), (M - 1, N - 1)]:
        d = precsweep.dot(a[i], np.ascontiguousarray(b[:, j]), acc, seed=11, stream=4,
                          index=i * N + j)
        assert np.float32(d).view(np.uint32) == want[i, j].view(np.uint32)


def test_dot_pinned_sums_and_keywords():
    """The accumulation issue's pinned sums, and the keyword arguments overriding the text."""
    ones = np.ones(4096, np.float32)
    assert precsweep.dot(ones, ones, "E5M10") == 2048.0             # 2048 + 1 rounds to 2048
    assert precsweep.dot(ones, ones, "E5M10", chunk=64) == 4096.0   # 64 runs of 64, fp32 outer
    assert precsweep.dot(ones, ones, "E5M10,chunk=64") == 4096.0
    assert precsweep.dot(ones, ones, "E5M10", chunk=64, outer="E5M10") == 4096.0
    a, b = np.float32([1.0, 2.0**-12]), np.ones(2, np.float32)
    assert precsweep.dot(a, b, "E5M10") == 1.0                       # lost in nearest_even
    assert precsweep.dot(a, b, "E5M10", "up") == 1.0 + 2.0**-10     # kept, rounded up
    total, stats = precsweep.dot(a, b, "E5M10", return_stats=True)
    assert stats == {"additions": 2, "swamped": 1}


def test_matmul_shapes_and_errors():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    c = precsweep.matmul(a, b, "bf16")
    assert c.shape == (2, 3, 5)
    assert np.array_equal(c.reshape(6, 5), precsweep.matmul(a.reshape(6, 4), b, "bf16"))
    assert precsweep.matmul(a[0, 0], b).shape == (5,)
    assert precsweep.matmul(a, np.ascontiguousarray(b[:, 0])).shape == (2, 3)
    # fp32 in the sequential order: within a few ulps of numpy's (BLAS's) order
    assert np.allclose(precsweep.matmul(a, b), a @ b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="summed axis"):
        precsweep.matmul(a, b.T.copy())
    with pytest.raises(ValueError, match="1-D"):
        precsweep.dot(a, b)
    with pytest.raises(TypeError, match="float32"):
        precsweep.matmul(a.astype(np.float64), b)
    with pytest.raises(ValueError, match="chunk"):
        precsweep.dot(b[0], b[1], "E5M10", chunk=-1)
    with pytest.raises(ValueError, match="stochastic"):
        precsweep.dot(b[0], b[1], "E8M23:stochastic")
