"""Parsers read a program's output line by line: metrics and intermediate values."""

from __future__ import annotations

from pathlib import Path

from tunefleet.worker import parsers as p


def feed_all(parser: p.Parser, lines: list[tuple[str, str]]) -> list[tuple[int, float]]:
    steps: list[tuple[int, float]] = []
    for stream, line in lines:
        steps += list(parser.feed(stream, line))
    return steps


def test_json_lines_last_object_wins_and_steps_are_intermediate() -> None:
    parser = p.JsonLines("loss")
    steps = feed_all(parser, [
        ("stdout", '{"step": 0, "loss": 0.9}'),
        ("stdout", "progress 10%"),
        ("stdout", '{"step": 1, "loss": 0.5}'),
        ("stderr", '{"loss": 123}'),
        ("stdout", '{"loss": 0.7, "acc": 0.1}'),
        ("stdout", '{"loss": 0.4, "acc": 0.8}'),
        ("stdout", "{not json"),
    ])
    assert steps == [(0, 0.9), (1, 0.5)]
    assert parser.metrics == {"loss": 0.4, "acc": 0.8}


def test_regex_named_groups_and_step_pattern() -> None:
    parser = p.Regex(r"throughput=(?P<tput>[0-9.]+)", r"epoch (?P<step>\d+) loss (?P<value>[0-9.]+)")
    steps = feed_all(parser, [
        ("stdout", "epoch 0 loss 2.5"),
        ("stdout", "epoch 1 loss 1.5 throughput=10"),
        ("stdout", "throughput=12.5"),
    ])
    assert steps == [(0, 2.5), (1, 1.5)]
    assert parser.metrics == {"tput": 12.5}


def test_key_values() -> None:
    parser = p.KeyValues()
    feed_all(parser, [("stdout", "crf=23 preset=medium bytes=493866 psnr=44.19 ssim=0.995")])
    assert parser.metrics == {"crf": 23.0, "preset": "medium", "bytes": 493866.0, "psnr": 44.19,
                              "ssim": 0.995}


def test_result_file(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text('{"score": 3.5}')
    parser = p.ResultFile("out.json")
    parser.finish(tmp_path)
    assert parser.metrics == {"score": 3.5}
    missing = p.ResultFile("nope.json")
    missing.finish(tmp_path)
    assert missing.metrics == {}


def test_hpl_reads_its_output_file(tmp_path: Path) -> None:
    (tmp_path / "hpccoutf.txt").write_text(
        "T/V                N    NB     P     Q               Time                 Gflops\n"
        "WR11C2R4        2000    64     1     1               0.17              3.120e+01\n"
        "WR11C2R4        2000   128     1     1               0.15              3.562e+01\n"
        "HPL_Tflops=0.0352061\n"
    )
    parser = p.HplParser()
    parser.finish(tmp_path)
    assert parser.metrics["gflops"] == 35.62 and parser.metrics["hpl_seconds"] == 0.15


def test_db_bench_results_and_periodic_stats() -> None:
    parser = p.DbBenchParser()
    stats = ("2026/11/22-18:19:01  ... thread 0: (109000,109000) ops and (108699.4,108699.4) "
             "ops/second in (1.002765,1.002765) seconds\r2026/11/22-18:19:02  ... thread 0: "
             "(100000,209000) ops and (99608.5,104151.4) ops/second in (1.003930,2.006695) seconds")
    steps = feed_all(parser, [
        ("stderr", stats),
        ("stdout", "fillrandom   :       6.888 micros/op 145152 ops/sec 0.689 seconds 100000 operations;"),
        ("stdout", "readrandom   :       3.002 micros/op 333103 ops/sec 0.300 seconds"),
    ])
    assert steps == [(1, 108699.4), (2, 99608.5)]
    assert parser.metrics == {"fillrandom_micros_op": 6.888, "fillrandom_ops_s": 145152.0,
                              "readrandom_micros_op": 3.002, "readrandom_ops_s": 333103.0}


def test_ffmpeg_quality_lines() -> None:
    parser = p.FfmpegParser()
    feed_all(parser, [
        ("stderr", "[Parsed_ssim_3 @ 0x55] SSIM Y:0.994203 (22.368178) U:0.99 V:0.99 All:0.995135 (23.12)"),
        ("stderr", "[Parsed_psnr_2 @ 0x55] PSNR y:44.07 u:44.25 v:44.65 average:44.195681 min:42.99"),
        ("stdout", "bytes=493866"),
    ])
    assert parser.metrics == {"ssim": 0.995135, "psnr": 44.195681, "bytes": 493866.0}
