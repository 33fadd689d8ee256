"""Ask vLLM's own argument parser whether it accepts command lines, without starting a server.

Why: the GPU presets cannot be run where deeprag is developed, so a flag vLLM does not know, or a value it
refuses, would only show up on the cluster. Runs inside the vLLM venv (it imports vllm and the stdlib only):

    python -I check_vllm_args.py < argvs.json

stdin: a JSON list of argv lists, each what `python -m vllm.entrypoints.openai.api_server` gets after its
module name. stdout: a JSON list, one {"ok": bool, "error": str} per argv, in order; vLLM's logs go to stderr.

That module's `__main__` runs vllm.entrypoints.launchers.api_server.entry.main, which builds its parser as
below, parses, then runs validate_parsed_serve_args before it starts anything; this does the same. The parser
is the same Python code in vLLM's CPU and CUDA builds: which flags exist does not depend on the platform (only
--mm-processor-device's choices gain the GPU's device type). Not seen here: values vLLM checks only when it
builds its configs for a model and hardware (--distributed-executor-backend is a free string to the parser; of
--speculative-config it checks only that it is JSON).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys


def main() -> None:
    os.environ["VLLM_LOGGING_STREAM"] = "ext://sys.stderr"  # keep stdout for the JSON answer
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))
    results = []
    for argv in json.load(sys.stdin):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                validate_parsed_serve_args(parser.parse_args(argv))
            results.append({"ok": True, "error": ""})
        except SystemExit:  # argparse prints its (long) usage, then "PROG: error: MESSAGE", and exits
            results.append({"ok": False, "error": stderr.getvalue().strip().splitlines()[-1]})
        except (TypeError, ValueError) as exc:  # raised by validate_parsed_serve_args and parse_args itself
            results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
