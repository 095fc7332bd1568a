"""The OCI runtime-tools validation suite against the embedded runtime (as stevedore-runc).

tests/runtime-validation/build makes the suite from the Go module proxy (cached in
~/.cache/stevedore, so only the first run on a machine builds it);
tests/runtime-validation/run runs every validation program, with the containers' state
in a private --root, and deletes with --force whatever a program leaves there. Every
test point that passes in tests/runtime-validation/expected-stevedore.txt must still
pass; new passes are printed (refresh the file with the run script to keep them)."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "runtime-validation"
EXPECTED = SUITE / "expected-stevedore.txt"
# Programs whose container cannot work under AddressSanitizer: process_rlimits sets
# RLIMIT_AS to 1 GiB before exec, and the sanitized init cannot map anything after it.
NOT_UNDER_ASAN = {"process_rlimits"}


def passes(results):
    """The passing test points of a results file, as a multiset of (program, description):
    numbers are left out, since some programs number their points in map order."""
    ok = Counter()
    for line in Path(results).read_text().splitlines():
        if line.startswith("#"):
            continue
        program, _, status, *description = line.split(" ", 3)
        if status == "ok":
            ok[program, description[0] if description else ""] += 1
    return ok


def test_runtime_validation(stevedore_bin, tmp_path):
    subprocess.run([SUITE / "build"], check=True, stdout=sys.stderr, timeout=1800)
    out = tmp_path / "out"
    r = subprocess.run([SUITE / "run", stevedore_bin, out], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=900)
    print(r.stdout, r.stderr, sep="\n")
    assert r.returncode == 0, f"the validation run failed: {r.stderr}"

    expected, now = passes(EXPECTED), passes(out / "results")
    ldd = subprocess.run(["ldd", stevedore_bin], capture_output=True, text=True).stdout
    if "libasan" in ldd:
        print(f"sanitizer build: not checked: {', '.join(sorted(NOT_UNDER_ASAN))}")
        expected = Counter({k: n for k, n in expected.items() if k[0] not in NOT_UNDER_ASAN})
    lost = sorted((expected - now).elements())
    gained = sorted((now - expected).elements())
    if gained:
        print(f"{len(gained)} test points pass now that {EXPECTED.name} lists as failing:")
        for program, description in gained:
            print(f"  {program}: {description}")
    if lost:
        details = []
        for program in sorted({p for p, _ in lost}):
            err = (out / "tap" / f"{program}.err").read_text().strip()
            runtime_log = out / "tap" / f"{program}.runtime.log"
            log = runtime_log.read_text().strip() if runtime_log.exists() else ""
            details.append(f"--- {program} stderr:\n{err[-2000:]}\n--- runtime log:\n{log[-2000:]}")
        regressions = "\n".join(f"  {p}: {d}" for p, d in lost)
        raise AssertionError(f"{len(lost)} test points passed before and fail now:\n{regressions}\n"
                             + "\n".join(details))
