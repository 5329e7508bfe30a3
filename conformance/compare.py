#!/usr/bin/env python3
"""Compares one suite's JUnit report with conformance/expectations.txt.

Usage: compare.py SUITE JUNIT_XML EXPECTATIONS [VERSION]

SUITE is "cryptoki" (a cargo-nextest report of the cryptoki crate's tests)
or "python-pkcs11" (a pytest report). Prints the suite's pass/fail/skip
counts, then every difference from the expectations file:
  - unexpected failures: a test failed or skipped that is not listed (or is
    listed with the other outcome);
  - now passing (remove from expectations): a listed test passed;
  - stale entries: a listed test is not in the run (renamed or removed).
Exits 1 on any difference, so the list only shrinks. Set
CONFORMANCE_VERBOSE=1 to also print every expected failure and skip with
what the run reported.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

CATEGORIES = ("bug:", "mechanisms:", "outside:")


def load_expectations(path, suite):
    """Returns {test_id: (outcome, reason)} for SUITE; exits on a bad line.

    Lines: "reason NAME CATEGORY: text" names a reason; "SUITE TEST-ID
    fail|skip CATEGORY: text" or "SUITE TEST-ID fail|skip =NAME" lists a test.
    """
    out, named = {}, {}
    with open(path, encoding="utf-8") as f:
        lines = list(enumerate(f, 1))
    for n, line in lines:
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "reason":
            if not parts[2].startswith(CATEGORIES):
                sys.exit(f"{path}:{n}: a reason starts with one of {', '.join(CATEGORIES)}")
            named[parts[1]] = parts[2].strip()
    for n, line in lines:
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("reason "):
            continue
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[3].startswith("="):
            if parts[3][1:] not in named:
                sys.exit(f"{path}:{n}: no 'reason {parts[3][1:]}' line")
            alias = parts[3]
            parts[3] = named[parts[3][1:]]
        else:
            alias = None
        if len(parts) < 4 or parts[2] not in ("fail", "skip") or not parts[3].startswith(CATEGORIES):
            sys.exit(f"{path}:{n}: want 'SUITE TEST-ID fail|skip CATEGORY: reason' (or '=NAME') "
                     f"with CATEGORY one of {', '.join(CATEGORIES)}: {line}")
        if parts[0] != suite:
            continue
        if parts[1] in out:
            sys.exit(f"{path}:{n}: {parts[1]} listed twice")
        out[parts[1]] = (parts[2], parts[3], alias)
    return out


def text_of(case, tag):
    return "".join(e.text or "" for e in case.iter(tag))


def cryptoki_results(root):
    """nextest report: id = test binary::test name. A passing test that
    printed a "SKIP:" line skipped itself (the crate's own convention)."""
    res = {}
    for case in root.iter("testcase"):
        binary = case.get("classname", "").split("::", 1)[-1]
        tid = f"{binary}::{case.get('name')}"
        out = text_of(case, "system-out") + text_of(case, "system-err")
        fail = case.find("failure")
        if fail is None:
            fail = case.find("error")
        if fail is not None:
            lines = out.splitlines()
            detail = fail.get("message") or ""
            for i, l in enumerate(lines):
                if "panicked at" in l:
                    detail = " ".join(x.strip() for x in lines[i : i + 3])
                    break
            kw = [l.strip() for l in lines if "keyward[" in l]
            if kw:
                detail += " | " + kw[-1]
            res[tid] = ("fail", detail)
        elif case.find("skipped") is not None:
            res[tid] = ("skip", case.find("skipped").get("message") or "#[ignore]")
        else:
            m = re.search(r"SKIP:[^\n]*?(?=test \w+ \.\.\.|$)", out, re.M)
            res[tid] = ("skip", m.group(0).strip()) if m else ("pass", "")
    return res


def pytest_results(root):
    """pytest report: id = file::Class::test, as pytest names it (tests/ dropped)."""
    res = {}
    for case in root.iter("testcase"):
        parts = case.get("classname", "").split(".")
        if parts and parts[0] == "tests":
            parts = parts[1:]
        tid = "::".join([parts[0] + ".py"] + parts[1:] + [case.get("name")])
        fail = case.find("failure")
        if fail is None:
            fail = case.find("error")
        skip = case.find("skipped")
        if fail is not None:
            detail = (fail.get("message") or "").split("\n", 1)[0][:200]
            kw = [l.strip() for l in text_of(case, "system-err").splitlines() if "keyward[" in l]
            if kw:
                detail += " | " + kw[-1]
            res[tid] = ("fail", detail)
        elif skip is not None:
            res[tid] = ("skip", skip.get("message") or "")
        else:
            res[tid] = ("pass", "")
    return res


def main():
    suite, junit, expectations = sys.argv[1:4]
    version = sys.argv[4] if len(sys.argv) > 4 else ""
    expected = load_expectations(expectations, suite)
    root = ET.parse(junit).getroot()
    results = cryptoki_results(root) if suite == "cryptoki" else pytest_results(root)

    counts = {"pass": 0, "fail": 0, "skip": 0}
    for outcome, _ in results.values():
        counts[outcome] += 1
    unexpected, now_passing, changed = [], [], []
    for tid, (outcome, detail) in sorted(results.items()):
        want = expected.get(tid)
        if outcome == "pass":
            if want:
                now_passing.append((tid, want))
        elif want is None:
            unexpected.append((tid, outcome, detail))
        elif want[0] != outcome:
            changed.append((tid, want[0], outcome, detail))
    stale = sorted(t for t in expected if t not in results)

    by_cat = {}
    for tid, (outcome, reason, _) in expected.items():
        if tid in results and results[tid][0] != "pass":
            cat = reason.split(":", 1)[0]
            by_cat[cat] = by_cat.get(cat, 0) + 1
    cats = ", ".join(f"{n} {c}" for c, n in sorted(by_cat.items()))
    print(f"conformance {suite} {version}: {counts['pass']} passed / {counts['fail']} failed / "
          f"{counts['skip']} skipped of {len(results)} tests (expected failures and skips: {cats or 'none'})")

    if os.environ.get("CONFORMANCE_VERBOSE"):
        for tid, (outcome, detail) in sorted(results.items()):
            if outcome != "pass" and tid in expected:
                print(f"  expected {outcome}: {tid}: {expected[tid][1]}\n      run said: {detail}")
    if unexpected:
        print(f"unexpected failures ({len(unexpected)}; fix them, or list them with a reason in {expectations}):")
        for tid, outcome, detail in unexpected:
            print(f"  {suite} {tid} {outcome}   <- {detail}")
    if changed:
        print("outcome changed (update the entry):")
        for tid, want, outcome, detail in changed:
            print(f"  {tid}: listed {want}, now {outcome}   <- {detail}")
    if now_passing:
        print(f"now passing (remove from expectations) ({len(now_passing)}):")
        for tid, (outcome, reason, alias) in now_passing:
            print(f"  {suite} {tid} {outcome} {alias or reason}")
    if stale:
        print("stale entries (not in this run; remove or rename):")
        for tid in stale:
            print(f"  {suite} {tid}")
    if not results:
        print(f"no test results in {junit}")
        return 1
    return 1 if (unexpected or changed or now_passing or stale) else 0


if __name__ == "__main__":
    sys.exit(main())
