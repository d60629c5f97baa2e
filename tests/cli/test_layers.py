"""The registry commands stand on the SDK alone: running one loads no server, store or domain code."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.ports import closed_port

PROBE = """
import json, sys
from click.testing import CliRunner
from model_service.cli.main import main
result = CliRunner().invoke(main, ["ls", "--retries", "0", "--url", sys.argv[1]])
below = {"server", "stores", "domain", "config"}
loaded = sorted(m for m in sys.modules if m.startswith("model_service.") and m.split(".")[1] in below)
print(json.dumps({"exit": result.exit_code, "loaded": loaded}))
"""


def test_a_registry_command_imports_only_the_sdk():
    out = subprocess.run([sys.executable, "-c", PROBE, f"http://127.0.0.1:{closed_port()}"], capture_output=True,
                         text=True, check=True, timeout=60)

    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"exit": 6, "loaded": []}
