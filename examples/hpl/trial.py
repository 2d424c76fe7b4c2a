"""One HPL run through HPC Challenge (Debian's ``hpcc``): write hpccinf.txt, run hpcc under mpirun.

    python3 trial.py --n 2000 --nb 128 --grid 1x2 --pfact 2 --bcast 1 --depth 1

hpcc reads ``hpccinf.txt`` (an HPL.dat plus 4 PTRANS lines) from the current directory
and appends its results to ``hpccoutf.txt`` there, which this script deletes first; the
``hpl`` parser reads the ``WR...  N  NB  P  Q  Time  Gflops`` row from that file.
The grid P x Q sets the number of MPI ranks, P*Q. The defaults are those of hpcc's own
example input (/usr/share/doc/hpcc/examples/_hpccinf.txt) but for the grid, 1x1 here
instead of 2x2 (four ranks would oversubscribe a 2-core machine).

hpcc runs its whole suite every time (RandomAccess, PTRANS, DGEMM, STREAM, FFT, then HPL),
sized from N: the run takes seconds while HPL itself takes a fraction of one. A run whose
residual check fails exits with an error, so that a wrong answer never counts as fast.
Prints one line: ``gflops=... hpl_s=... n=... nb=... grid=PxQ ranks=... wall_s=...``.

Needs hpcc and Open MPI (Debian's ``hpcc`` package), best with an optimized BLAS
(``libopenblas0-pthread``: about 10x the reference BLAS hpcc is linked against).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

INPUT = """\
HPLinpack benchmark input file
Innovative Computing Laboratory, University of Tennessee
HPL.out      output file name (if any)
8            device out (6=stdout,7=stderr,file)
1            # of problems sizes (N)
{n}          Ns
1            # of NBs
{nb}         NBs
0            PMAP process mapping (0=Row-,1=Column-major)
1            # of process grids (P x Q)
{p}          Ps
{q}          Qs
16.0         threshold
1            # of panel fact
{pfact}      PFACTs (0=left, 1=Crout, 2=Right)
1            # of recursive stopping criterium
{nbmin}      NBMINs (>= 1)
1            # of panels in recursion
2            NDIVs
1            # of recursive panel fact.
{rfact}      RFACTs (0=left, 1=Crout, 2=Right)
1            # of broadcast
{bcast}      BCASTs (0=1rg,1=1rM,2=2rg,3=2rM,4=Lng,5=LnM)
1            # of lookahead depth
{depth}      DEPTHs (>=0)
2            SWAP (0=bin-exch,1=long,2=mix)
64           swapping threshold
0            L1 in (0=transposed,1=no-transposed) form
0            U  in (0=transposed,1=no-transposed) form
1            Equilibration (0=no,1=yes)
8            memory alignment in double (> 0)
##### This line (no. 32) is ignored (it serves as a separator). ######
0                               Number of additional problem sizes for PTRANS
1200 10000 30000                values of N
0                               number of additional blocking sizes for PTRANS
40 9 8 13 13 20 16 32 64        values of NB
"""

ROW = re.compile(r"^W[RC]\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)", re.MULTILINE)


def grid(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"expected PxQ such as 1x2, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=1000, help="problem size (matrix order)")
    ap.add_argument("--nb", type=int, default=80, help="block size")
    ap.add_argument("--grid", type=grid, default=(1, 1), help="process grid PxQ; P*Q MPI ranks")
    ap.add_argument("--pfact", type=int, choices=range(3), default=2, help="0=left 1=Crout 2=Right")
    ap.add_argument("--nbmin", type=int, default=4, help="recursive stopping criterion")
    ap.add_argument("--rfact", type=int, choices=range(3), default=1, help="0=left 1=Crout 2=Right")
    ap.add_argument("--bcast", type=int, choices=range(6), default=1,
                    help="0=1rg 1=1rM 2=2rg 3=2rM 4=Lng 5=LnM")
    ap.add_argument("--depth", type=int, default=1, help="lookahead depth")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads per rank")
    args = ap.parse_args()

    p, q = args.grid
    ranks = p * q
    Path("hpccinf.txt").write_text(INPUT.format(
        n=args.n, nb=args.nb, p=p, q=q, pfact=args.pfact, nbmin=args.nbmin, rfact=args.rfact,
        bcast=args.bcast, depth=args.depth))
    out = Path("hpccoutf.txt")
    out.unlink(missing_ok=True)  # hpcc appends to it

    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    # --bind-to none: by default Open MPI pins rank 0 to core 0 in *every* mpirun, so two
    # trials running at once would share one core. --oversubscribe: more ranks than cores.
    argv = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
            "-np", str(ranks), "-x", "OPENBLAS_NUM_THREADS", "-x", "OMP_NUM_THREADS", "hpcc"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace")
    except FileNotFoundError:
        sys.exit("trial.py: mpirun not found; install hpcc (scripts/install-example-tools.sh)")
    wall = time.perf_counter() - t0
    text = out.read_text(errors="replace") if out.exists() else ""
    if proc.returncode != 0 or not text:
        sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
        sys.exit(f"trial.py: mpirun/hpcc exited with code {proc.returncode}"
                 + ("" if text else " and wrote no hpccoutf.txt"))
    hpl = text[text.find("Begin of HPL section"):]
    row = ROW.search(hpl)
    passed = re.search(r"(\d+) tests completed and passed residual checks", hpl)
    if not row or not passed or int(passed.group(1)) < 1:
        sys.stderr.write(hpl[-3000:])
        sys.exit("trial.py: HPL gave no result that passed its residual check")
    print(f"gflops={float(row.group(6)):g} hpl_s={row.group(5)} n={args.n} nb={args.nb} "
          f"grid={p}x{q} ranks={ranks} wall_s={wall:.2f}", flush=True)


if __name__ == "__main__":
    main()
