"""The demo's programs agree with SciPy at a tiny size (timings are never asserted)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import pytest

from jaxsparse import _demo


def test_power_iteration_matches_scipy():
    c = _demo.power_iteration(n=300, density=0.02, iters=20, repeats=1)
    assert c.rel_diff < 1e-12
    assert c.details["eig_rel_diff"] < 1e-12
    assert 300 < c.jax_value < 310  # n I shifts the spectrum to about n


def test_poisson_cg_matches_scipy():
    c = _demo.poisson_cg(k=12, rtol=1e-10)
    assert c.details["info"] == c.details["scipy_info"] == 0
    assert c.jax_value < 1e-10 and c.scipy_value < 1e-10
    assert c.rel_diff < 1e-9


@pytest.mark.parametrize("n_devices", [1, 4])
def test_run_prints_both_programs(n_devices):
    out = io.StringIO()
    power, cg = _demo.run(n=200, density=0.02, iters=5, grid=8, rtol=1e-8, out=out,
                          n_devices=n_devices)
    text = out.getvalue()
    assert "devices:" in text
    if n_devices == 1:
        assert "single device" in text and "sharding plan" not in text
    else:
        assert "4-device mesh" in text and text.count("sharding plan: 4 shards") == 2
    lines = [line.split()[0] for line in text.splitlines() if line.startswith("  ")]
    assert lines.count("SciPy") == 2 and lines.count("jaxsparse") == 2
    assert "power iteration" in text and "2-D Poisson" in text
    assert len(re.findall(r"jaxsparse is \d+\.\d\dx (faster|slower) than SciPy", text)) == 2
    assert "products on the native CPU kernels" in text or "'xla' backend" in text
    assert power.rel_diff < 1e-10 and power.details["eig_rel_diff"] < 1e-12
    assert cg.details["info"] == cg.details["scipy_info"] == 0 and cg.rel_diff < 1e-6


def test_speed_verdict_says_faster_or_slower():
    assert _demo.speed_verdict(2.0, 1.0) == "jaxsparse is 2.00x faster than SciPy"
    assert _demo.speed_verdict(1.0, 4.0) == "jaxsparse is 4.00x slower than SciPy"


def test_cli_help():
    result = subprocess.run(
        [sys.executable, "-m", "jaxsparse", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "demo" in result.stdout


def test_the_two_programs_are_timed_alternately():
    """SciPy's runs and ours interleave, so the machine's drift within minutes falls on
    both alike, after untimed warm-up rounds of both; each side's median and last result
    come back."""
    calls = []

    def program(name, value):
        def run():
            calls.append(name)
            return value + calls.count(name)
        return run

    scipy_s, scipy_out, jax_s, jax_out = _demo._paired_median_times(
        program("scipy", 10), program("jax", 20), repeats=3, warmup=2)
    assert calls == ["scipy", "jax"] * 5
    assert (scipy_out, jax_out) == (15, 25)
    assert scipy_s >= 0 and jax_s >= 0


def test_warmup_rounds_are_not_timed():
    """A program slow in its first rounds (a cold start) is timed from its warm rounds."""
    def cold_start(slow_calls):
        calls = []

        def run():
            calls.append(1)
            if len(calls) <= slow_calls:
                time.sleep(0.05)
            return len(calls)
        return run

    scipy_s, _, jax_s, _ = _demo._paired_median_times(
        cold_start(2), cold_start(2), repeats=3, warmup=2)
    assert scipy_s < 0.05 and jax_s < 0.05
    scipy_s, _, jax_s, _ = _demo._paired_median_times(
        cold_start(5), cold_start(0), repeats=3, warmup=2)
    assert scipy_s >= 0.05 and jax_s < 0.05
