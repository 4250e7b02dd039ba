#!/usr/bin/env python3
"""Runs the README's client examples, as written, against a running server.

The README marks each checked code block with a comment line right above it:
``<!-- readme-check: NAME -->``. This script finds those blocks and runs them:

- ``env`` (sh): the ``export`` lines that point clients at the server. They are run first,
  and every other example runs in the environment they leave.
- ``cli`` (sh): the AWS CLI example, with bash.
- ``boto3`` (python): the boto3 example, with this interpreter.
- ``js`` (js): the JS SDK v3 example, as an ES module inside conformance/js (where
  ``npm ci`` installed @aws-sdk/client-chime-sdk-meetings).

The one change made to the README's text is the server's address: ``http://127.0.0.1:8080``
becomes ``CONVENE_ENDPOINT``. Every example runs twice: as written, and with
``AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS`` replaced by ``AWS_ENDPOINT_URL`` (the variable for
every service). No other AWS_* variable, profile or configuration file is visible to them.

    CONVENE_ENDPOINT=http://127.0.0.1:8080 python3 conformance/readme_examples.py

Needs: ``aws`` on PATH (or AWS_CLI), boto3 in this interpreter, node, and
``npm ci`` done in conformance/js. The last line is ``readme: N passed, M failed``.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_ADDRESS = "http://127.0.0.1:8080"
SERVICE_VAR = "AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS"
GLOBAL_VAR = "AWS_ENDPOINT_URL"
EXPECTED = {"env": "sh", "cli": "sh", "boto3": "python", "js": "js"}


def blocks(readme: str):
    """{name: (language, code)} of the marked blocks."""
    found = {}
    pattern = re.compile(
        r"^<!-- readme-check: (\w+) -->\n```(\w+)\n(.*?)^```$", re.M | re.S
    )
    for m in pattern.finditer(readme):
        found[m.group(1)] = (m.group(2), m.group(3))
    return found


def clean_env():
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("CONVENE_")
    }
    env["AWS_CONFIG_FILE"] = "/nonexistent/aws-config"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/aws-credentials"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def env_after(export_block: str, base: dict) -> dict:
    """The environment after running the README's export lines."""
    script = export_block + "\nenv -0\n"
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=base,
        capture_output=True,
        check=True,
    ).stdout
    env = {}
    for item in out.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    env.pop("_", None)
    return env


def run(name, lang, code, env):
    if lang == "sh":
        argv = ["bash", "-euo", "pipefail", "-c", code]
        cwd = ROOT
    elif lang == "python":
        argv = [sys.executable, "-c", code]
        cwd = ROOT
    elif lang == "js":
        cwd = ROOT / "conformance" / "js"
        fd, path = tempfile.mkstemp(prefix=".readme-", suffix=".mjs", dir=cwd)
        with os.fdopen(fd, "w") as f:
            f.write(code)
        argv = ["node", path]
    else:
        raise SystemExit(f"readme block {name}: unknown language {lang}")
    try:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    finally:
        if lang == "js":
            os.unlink(path)


def main():
    endpoint = os.environ.get("CONVENE_ENDPOINT", "").strip()
    if not endpoint:
        print("CONVENE_ENDPOINT must be set, e.g. http://127.0.0.1:8080", file=sys.stderr)
        return 2
    readme = (ROOT / "README.md").read_text()
    found = blocks(readme)
    passed = failed = 0
    for name, lang in EXPECTED.items():
        if found.get(name, (None,))[0] != lang:
            print(f"FAIL README has no `{lang}` block marked `<!-- readme-check: {name} -->`")
            failed += 1
    if failed:
        print(f"readme: {passed} passed, {failed} failed")
        return 1
    export_block = found["env"][1]
    if SERVICE_VAR not in export_block:
        print(f"FAIL the env block does not set {SERVICE_VAR}")
        print(f"readme: {passed} passed, 1 failed")
        return 1
    aws = os.environ.get("AWS_CLI")
    base = clean_env()
    if aws:
        base["PATH"] = str(Path(aws).parent) + os.pathsep + base.get("PATH", "")
    print(f"README examples against {endpoint}")
    for var in (SERVICE_VAR, GLOBAL_VAR):
        exports = export_block.replace(README_ADDRESS, endpoint).replace(SERVICE_VAR, var)
        env = env_after(exports, base)
        endpoint_vars = sorted(k for k in env if k.startswith("AWS_ENDPOINT_URL"))
        assert endpoint_vars == [var], endpoint_vars
        for name in ("cli", "boto3", "js"):
            lang, code = found[name]
            code = code.replace(README_ADDRESS, endpoint).replace(SERVICE_VAR, var)
            if README_ADDRESS in found[name][1] or "endpoint" in code.lower().replace(
                "endpoint, key and region", ""
            ):
                print(f"FAIL {name}: the example names an endpoint itself")
                failed += 1
                continue
            r = run(name, lang, code, env)
            if r.returncode == 0:
                passed += 1
                print(f"ok   {name} with {var}")
            else:
                failed += 1
                print(f"FAIL {name} with {var} (exit {r.returncode}):")
                tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
                print("     " + "\n     ".join(tail))
    print(f"readme: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
