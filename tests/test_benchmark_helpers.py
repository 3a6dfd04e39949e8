"""The benchmark scripts' measurement helpers (`eeg2img_hf.utils.benchmark`) and `scripts/bench_train_gan.py` at
tiny size: the FLOP count equals the analytic count of known ops (including a double backward), and the training
benchmark prints one JSON line with consistent figures."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from eeg2img_hf.utils.benchmark import ISA_FLAGS, PhaseProfile, count_flops, environment, matmul_flops_per_s

from testing_utils import load_script


@pytest.fixture(scope="module")
def bench_train_gan():
    return load_script("bench_train_gan")


def test_count_flops_matmul_and_conv_forward_backward():
    a, b = torch.randn(7, 5), torch.randn(5, 3)
    assert count_flops(lambda: a @ b) == 2 * 7 * 5 * 3

    conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 9, 11)
    forward = 2 * (2 * 9 * 11) * 4 * 3 * 9  # output pixels x out channels x (in channels x 3 x 3) multiply-adds
    assert count_flops(lambda: conv(x)) == forward
    # backward: gradients for weights only (x needs none), then for weights and input
    assert count_flops(lambda: conv(x).sum().backward()) == 2 * forward
    x.requires_grad_(True)
    assert count_flops(lambda: conv(x).sum().backward()) == 3 * forward


def test_count_flops_sees_a_double_backward():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 9, 11, requires_grad=True)

    def r1_like():
        (grad,) = torch.autograd.grad(torch.tanh(conv(x)).sum(), x, create_graph=True)
        grad.square().sum().backward()

    single = count_flops(lambda: torch.autograd.grad(torch.tanh(conv(x)).sum(), x))
    assert count_flops(r1_like) > single > 0


def test_matmul_peak_positive_and_checked():
    assert matmul_flops_per_s(64, repeats=2) > 0
    with pytest.raises(ValueError, match="size and repeats"):
        matmul_flops_per_s(0)


def test_bench_train_gan_tiny(bench_train_gan, capsys):
    module = bench_train_gan
    result = module.main(["--preset", "tiny", "--steps", "3", "--warmup", "1", "--threads", "1"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(line) == result
    assert result["timed_steps"] == 4  # rounded up to a multiple of the tiny preset's r1_interval (2)
    assert result["gflops_per_step_plain"] > 0 and result["gflops_r1_extra"] > 0
    assert result["sec_per_kimg"] == pytest.approx(result["sec_per_step"] * 1000 / result["batch_size"], rel=0.01)
    assert 0 < result["fraction_of_matmul_peak"] < 2


def test_bench_train_gan_profile_splits_the_step_into_phases(bench_train_gan, capsys):
    result = bench_train_gan.main(["--preset", "tiny", "--steps", "2", "--warmup", "1", "--threads", "1",
                                   "--profile", "--augment-p", "0.5"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    profile = result["profile"]
    assert {"generator_main", "discriminator_main", "r1_reg", "ada_augmentation", "optimizer", "ema",
            "data_loading", "other"} <= set(profile)
    assert sum(phase["share_of_wall"] for phase in profile.values()) == pytest.approx(1.0, abs=0.01)
    assert sum(phase["ms_per_step"] for phase in profile.values()) == pytest.approx(
        1000 * result["sec_per_step"], rel=0.01)
    # the phases' FLOPs add up to the step's (counted apart, amortised the same way)
    total = sum(phase["gflops_per_step"] for phase in profile.values())
    assert total == pytest.approx(result["gflops_per_step_plain"] + result["gflops_r1_extra"] / 2, abs=0.01)
    assert profile["r1_reg"]["gflops_per_step"] > 0 and profile["ada_augmentation"]["gflops_per_step"] > 0
    assert result["augment_p"] == 0.5 and set(result["environment"]["isa_flags"]) <= set(ISA_FLAGS)


def test_bench_train_gan_refuses_bad_options(bench_train_gan, capsys):
    module = bench_train_gan
    for argv, message in ((["--steps", "0"], "--steps"), (["--stylegan-config", "{"], "not JSON"),
                          (["--stylegan-config", "[1]"], "JSON object"), (["--augment-p", "1.5"], "--augment-p")):
        with pytest.raises(SystemExit) as exit_info:
            module.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_environment_records_cpu_isa_torch_threads_and_seeds():
    env = environment({"train": 3})
    assert env["torch"] == torch.__version__ and env["threads"] == torch.get_num_threads()
    assert env["seeds"] == {"train": 3} and env["cpu_model"]
    assert set(env["isa_flags"]) <= set(ISA_FLAGS)
    assert env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert json.loads(json.dumps(env)) == env  # goes into result JSONs as it is


def test_spread_runs_a_command_under_each_isa_level_and_thread_count(capsys):
    spread = load_script("bench_spread")
    assert spread.flatten({"a": {"b": 1.5}, "c": [2], "ok": True, "name": "x"}) == {"a.b": 1.5, "c.0": 2.0}
    probe = ("import json, os; isa = os.environ['ATEN_CPU_CAPABILITY']; n = int(os.environ['OMP_NUM_THREADS']); "
             "print(json.dumps({'figure': {'value': 0.5 + 0.1 * (isa == 'avx2') + 0.01 * n, 'threads': {threads}}}))")
    result = spread.main(["--isa", "default,avx2", "--threads", "1,2", "--", sys.executable, "-c", probe])
    assert set(result["settings"]) == {"default, 1 thread", "default, 2 threads", "avx2, 1 thread", "avx2, 2 threads"}
    assert result["settings"]["avx2, 2 threads"] == {"figure.value": pytest.approx(0.62), "figure.threads": 2.0}
    assert result["spread"]["figure.value"] == pytest.approx(0.11)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["spread"] == result["spread"]
    with pytest.raises(SystemExit):
        spread.main(["--threads", "0", "--", sys.executable, "-c", "print(1)"])


def test_phase_profile_gives_each_phase_its_own_time_and_flops():
    profile = PhaseProfile()
    a = torch.randn(8, 8)
    inner = profile.wrap("inner", lambda: a @ a)

    def outer_work():
        a @ a @ a  # two matmuls of the outer phase itself
        return inner()

    outer = profile.wrap("outer", outer_work)
    with profile.counting_flops():
        assert torch.equal(outer(), a @ a)
    assert profile.flops == {"inner": 2 * 8**3, "outer": 2 * 2 * 8**3}  # exclusive: inner's matmul not in outer
    assert profile.calls == {"inner": 1, "outer": 1}
    outer()  # not counting: time only
    assert profile.flops["outer"] == 2 * 2 * 8**3 and profile.calls["outer"] == 2
    assert all(seconds >= 0 for seconds in profile.seconds.values()) and profile.seconds["outer"] > 0
    with pytest.raises(ZeroDivisionError):  # a phase that raises still closes
        profile.wrap("failing", lambda: 1 / 0)()
    assert profile.calls["failing"] == 1 and not profile._open


def test_bench_encoder_options_and_worker(capsys):
    bench = load_script("bench_encoder")
    args = bench.parse_args(["--archs", "lstm,cnn", "--gradient-checkpointing", "--shape", "4,32", "--repeats", "2"])
    assert args.runs == ["lstm", "cnn", "cnn+checkpointing"] and args.shape == (4, 32)
    assert bench.parse_args(["--archs", "lstm,tsconv", "--native-lstm"]).runs == ["lstm", "lstm+native", "tsconv"]
    for argv, message in ((["--archs", "lstm", "--gradient-checkpointing"], "CNN only"),
                          (["--archs", "cnn", "--native-lstm"], "LSTM only"),
                          (["--archs", "cnn,rnn"], "unknown architecture"), (["--shape", "4"], "--shape"),
                          (["--repeats", "0"], "--repeats")):
        with pytest.raises(SystemExit) as exit_info:
            bench.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    run = bench.worker("cnn", steps=1, batch_size=4, shape=(4, 32), checkpointing=True)
    assert run["train_samples_per_s"] > 0 and run["peak_rss_gb"] > 0 and run["paper_epochs"] == 4096
    summary = bench.summarize([run, {**run, "train_samples_per_s": 3 * run["train_samples_per_s"]}])
    assert summary["train_samples_per_s"] == pytest.approx(2 * run["train_samples_per_s"], abs=0.06)
    assert [r["train_samples_per_s"] for r in summary["runs"]] == [run["train_samples_per_s"],
                                                                 3 * run["train_samples_per_s"]]
