"""Can a user name be told from the time a wrong login takes? Password checks with mixed hashes.

    .venv/bin/python bench/webhook_auth_timing.py [--rounds 5]
    .venv/bin/python bench/webhook_auth_timing.py --tree /path/to/other/checkout  # before/after

Builds the webhook's PasswordVerifier for a users file with a pbkdf2 user first and a scrypt
user (Werkzeug's default parameters for both, as ``alertloop hash-password --method`` makes
them), then times, interleaved, a wrong login for: an unknown user, the scrypt user, the
pbkdf2 user. Prints the median of ``--rounds`` for each and its ratio to the unknown user's:
the CPU time of the checking thread (what an attacker on a quiet server measures; steady on a
busy machine) and the wall time. The target is 1.00 for all; the unit test
``test_every_slow_check_costs_the_same_whatever_the_hash_mix`` checks the same by counting
hash calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree of the service")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree))
    from alertloop.services.webhook.passwords import PasswordVerifier, hash_password

    users = {
        "old-pbkdf2": hash_password("right-1", "pbkdf2"),
        "new-scrypt": hash_password("right-2", "scrypt"),
    }
    verifier = PasswordVerifier(users)
    cases = {
        "unknown user": "nobody",
        "scrypt user, wrong password": "new-scrypt",
        "pbkdf2 user, wrong password": "old-pbkdf2",
    }
    print(f"service from {args.tree}; load average {os.getloadavg()[0]:.2f} (2 cores)")
    print("methods: " + ", ".join(h.split("$")[0] for h in users.values()))
    cpu: dict[str, list[float]] = {case: [] for case in cases}
    wall: dict[str, list[float]] = {case: [] for case in cases}
    for round_no in range(args.rounds):
        for case, name in cases.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            assert not verifier.verify(name, f"wrong-{round_no}")
            cpu[case].append(time.thread_time() - start_cpu)
            wall[case].append(time.perf_counter() - start)
    base_cpu = statistics.median(cpu["unknown user"])
    base_wall = statistics.median(wall["unknown user"])
    print(
        f"\n{'wrong login of':30} {'CPU ms':>8} {'vs unknown':>11} {'wall ms':>8} {'vs unknown':>11}"
    )
    for case in cases:
        c, w = statistics.median(cpu[case]), statistics.median(wall[case])
        print(
            f"{case:30} {c * 1000:8.0f} {c / base_cpu:11.2f} {w * 1000:8.0f} {w / base_wall:11.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
