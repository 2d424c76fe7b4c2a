"""One x264 encode, scored against its source: prints ``bytes=... psnr=... ssim=...``.

    python3 trial.py --crf 23 --preset medium                   # ffmpeg's libx264 defaults
    python3 trial.py --crf 26 --preset slow --tune psnr --aq-mode 0 --bframes 5

The source is a synthetic clip (lavfi ``testsrc2``, 640x360, 30 fps, 2 s) written once
as raw y4m to ``--source`` (default ``source.y4m``); concurrent trials share it (the
first one makes it under a lock). The encode runs with ``-threads 1`` so that size and
quality repeat exactly; the quality is measured with ffmpeg's psnr and ssim filters.
Output, one line on stdout (the ``keyvalue`` parser reads it):

    bytes=297467 kbps=1190 psnr=44.169008 ssim=0.995372 encode_s=0.93

Needs ffmpeg built with libx264 (Debian's ``ffmpeg`` package).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow", "placebo")
TUNES = ("none", "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode",
         "zerolatency")
COMPARE = ("[0:v]settb=AVTB,setpts=PTS-STARTPTS,split[a][b];"
           "[1:v]settb=AVTB,setpts=PTS-STARTPTS,split[c][d];[a][c]psnr;[b][d]ssim")


def run(argv: list[str]) -> str:
    """Run ffmpeg; its stderr, or exit with it when ffmpeg fails."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        sys.exit(f"trial.py: {argv[0]} exited with code {proc.returncode}")
    return proc.stderr


def make_source(path: Path, size: str, fps: int, seconds: float) -> None:
    """Write the test clip to ``path`` unless it is there; safe when trials race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.y4m")
        run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds:g}", "-pix_fmt", "yuv420p",
             str(tmp)])
        os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--crf", type=float, default=23)
    ap.add_argument("--preset", choices=PRESETS, default="medium")
    ap.add_argument("--tune", choices=TUNES, default="none")
    ap.add_argument("--aq-mode", type=int, choices=range(4), default=None,
                    help="x264 adaptive quantization mode (the preset's when not given)")
    ap.add_argument("--bframes", type=int, default=None,
                    help="most consecutive B-frames (the preset's when not given)")
    ap.add_argument("--threads", type=int, default=1, help="encoder threads (1: exact repeats)")
    ap.add_argument("--source", default="source.y4m", help="the test clip, made if missing")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--output", default="out.mp4")
    ap.add_argument("--keep", action="store_true", help="keep the encoded file")
    args = ap.parse_args()

    source = Path(args.source)
    make_source(source, args.size, args.fps, args.seconds)

    encode = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
              "-c:v", "libx264", "-preset", args.preset, "-crf", f"{args.crf:g}",
              "-threads", str(args.threads)]
    if args.tune != "none":
        encode += ["-tune", args.tune]
    x264 = [f"{k}={v}" for k, v in (("aq-mode", args.aq_mode), ("bframes", args.bframes))
            if v is not None]
    if x264:
        encode += ["-x264-params", ":".join(x264)]
    t0 = time.perf_counter()
    run([*encode, args.output])
    encode_s = time.perf_counter() - t0

    report = run(["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", args.output,
                  "-i", str(source), "-lavfi", COMPARE, "-f", "null", "-"])
    psnr = re.search(r"PSNR .*average:([0-9.]+|inf)", report)
    ssim = re.search(r"SSIM .*All:([0-9.]+)", report)
    if not (psnr and ssim):
        sys.stderr.write(report[-4000:])
        sys.exit("trial.py: no PSNR/SSIM in ffmpeg's report")
    size = os.path.getsize(args.output)
    if not args.keep:
        os.remove(args.output)
    kbps = size * 8 / 1000 / args.seconds
    print(f"bytes={size} kbps={kbps:.0f} psnr={psnr.group(1)} ssim={ssim.group(1)} "
          f"encode_s={encode_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
