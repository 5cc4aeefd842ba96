"""oha, the load generator of bench/scale and bench/fixed-rate: installed once with cargo.

`cargo install --locked` of a pinned version into TOOLS (default ~/.cache/muster-bench-tools),
kept while `oha --version` names that version; the first install compiles for a few minutes.
oha reports latency percentiles to 99.99 % from every request (its `-q` with
`--latency-correction` holds a rate and measures from when each request was due).
"""

import os
import subprocess
from pathlib import Path

OHA_VERSION = "1.16.0"
TOOLS = Path(os.environ.get("TOOLS", Path.home() / ".cache" / "muster-bench-tools"))


def oha_bin(log_dir, log=print):
    oha = TOOLS / "bin" / "oha"
    try:
        if OHA_VERSION in subprocess.run([str(oha), "--version"], capture_output=True, text=True).stdout:
            return str(oha)
    except OSError:
        pass
    log(f"cargo install oha {OHA_VERSION} into {TOOLS} (a few minutes, once)")
    TOOLS.mkdir(parents=True, exist_ok=True)
    with open(Path(log_dir) / "oha-install.log", "w") as f:
        subprocess.run(["cargo", "install", "oha", "--locked", "--version", OHA_VERSION, "--root", str(TOOLS)],
                       check=True, stdout=f, stderr=f, cwd=TOOLS)
    return str(oha)
